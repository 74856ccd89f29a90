"""Directed hostile-frame campaign (issue 12): valid headers carrying out-of-range or contradictory fields,
forged sources, replays, non-advancing acks and floods, fed to the real receive path of a node in each of its
three states (pyhv/sim/hostile_node.py: bootstrap, seeking joiner, formed joiner) while the node's timers
run and a legit peer keeps acking. Seeded and reproducible: `campaign(state, seed, frames)` always feeds the
same frames. Checks, on every frame: no panic (nor any exception), the frame in exactly one WireStats
bucket; after every batch: no peer with frames in flight and no progress past the loss timeout; at the end:
the node still serves its legit peer (answers an ECHO) or, seeking, still answers an ANNOUNCE.

    python3 -m pyhv.host.cli hostile --frames 200000 --seed 1     (all three states; figures in docs/bench.md)
"""

from __future__ import annotations

import argparse
import random
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from pyhv.lang import Panic, u16, u32

from pyhv.cluster.membership import M_SEEKING, membership_state
from pyhv.cluster.msgtable import msgtable_row
from pyhv.cluster.table import cluster_self
from pyhv.cluster.transport import transport_peer
from pyhv.cluster.wire import (
    DROP_REASONS, MSG_BOOT, F_ACK, F_RELIABLE, F_REPLY, MAC_BROADCAST, MSG_ACK, MSG_ANNOUNCE, MSG_CLOCK_PROBE,
    MSG_CLOCK_REPLY, MSG_CLUSTER_TABLE, MSG_ECHO, MSG_JOIN, MSG_TYPES, MSG_WELCOME,
)
from pyhv.sim.hostile_node import (
    ATTACKER_MAC, BOOT_MAC, JOINER_MAC, STATES, AccountingError, FrameSpec, HostileNode, StallError,
)

DROP_NAMES = ("NONE", "ETHERTYPE", "MAGIC", "VERSION", "TRUNCATED", "OVERSIZE", "CHECKSUM", "FOREIGN_CLUSTER",
              "UNKNOWN_TYPE", "SHORT_MSG", "WRONG_DST", "NOT_MEMBER", "BAD_FRAGMENT", "DUPLICATE", "OUT_OF_ORDER",
              "STRAY_REPLY", "PEER_LOST", "BAD_KIND", "STALE_STREAM", "BACKLOG_FULL", "SPOOFED", "BAD_FIELD",
              "RATE_LIMITED")
EXTREME_U32 = (0, 1, 2, 15, 16, 17, 63, 64, 0xFF, 0xFFFF, 0x10000, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF)
EXTREME_U64 = EXTREME_U32 + (1 << 32, 1 << 63, (1 << 64) - 1)
BATCH = 32


@dataclass
class CampaignResult:
    state: str
    seed: int
    frames: int = 0
    rx_frames: int = 0
    rx_ok: int = 0
    drops: Counter[str] = field(default_factory=Counter)
    kinds: Counter[str] = field(default_factory=Counter)
    panics: list[str] = field(default_factory=list)
    stalls: list[str] = field(default_factory=list)
    unaccounted: list[str] = field(default_factory=list)
    lost: int = 0
    forged_welcomes: int = 0    # seeking: WELCOMEs forged with the bootstrap's MAC that were taken (needs the key)
    live: bool = False
    liveness: str = ""
    seconds: float = 0.0


Gen = Callable[[random.Random, HostileNode], list[bytes]]


def _src_mac(r: random.Random, h: HostileNode) -> int:
    return r.choice([ATTACKER_MAC, ATTACKER_MAC, h.peer_mac, h.peer_mac, BOOT_MAC, JOINER_MAC, h.mac,
                     0x02_00_00_00_01_00 + r.randrange(16), r.randrange(1 << 48)])


def _node_id(r: random.Random, h: HostileNode) -> int:
    me = int(cluster_self().node)
    return r.choice([h.peer_node, h.peer_node, me, 0, 1, r.randrange(2, 16), 16, 0x1234, 0xFFFF,
                     r.randrange(1 << 16)])


def _extreme_payload(r: random.Random, length: int, base: bytes = b"") -> bytes:
    p = bytearray(base[:length].ljust(length, b"\0")) if base else bytearray(r.randbytes(length))
    for _ in range(r.randrange(1, 6)):
        if length >= 8 and r.random() < 0.4:
            off = r.randrange(0, length - 7) & ~7
            p[off:off + 8] = r.choice(EXTREME_U64).to_bytes(8, "little")
        elif length >= 4:
            off = r.randrange(0, length - 3) & ~3
            p[off:off + 4] = r.choice(EXTREME_U32).to_bytes(4, "little")
    return bytes(p)


def _stream_fields(r: random.Random, h: HostileNode) -> tuple[int, int, int]:
    """seq/ack/epochs/src near the legit peer's stream: mostly what the node takes, sometimes not."""
    p = transport_peer(u16(h.peer_node))
    seq = int(p.rx_next)
    ack = int(p.sent)
    return (r.choice([seq, seq, seq, seq + 1, seq - 1, seq + 1000, r.randrange(1 << 32)]) & 0xFFFFFFFF,
            r.choice([int(p.una), int(p.una), ack, ack + 1, int(p.una) - 1, r.randrange(1 << 32)]) & 0xFFFFFFFF,
            r.choice([h.legit_epochs()] * 5 + [0, 0x12, 0x21, 0xFF, r.randrange(256)]))


def _reliable(r: random.Random, h: HostileNode, msg_type: int, payload: bytes, flags: int = 0) -> FrameSpec:
    me = int(cluster_self().node)
    seq, ack, epochs = _stream_fields(r, h)
    return FrameSpec(msg_type, payload, flags=flags | int(F_RELIABLE | F_ACK), src_node=_node_id(r, h),
                     dst_node=r.choice([me, me, me, me, 0xFFFF, r.randrange(1 << 16)]),
                     req_id=r.choice([0, 1, r.randrange(1 << 32)]), src_mac=_src_mac(r, h), seq=seq, ack=ack,
                     epochs=epochs)


def g_welcome(r: random.Random, h: HostileNode) -> list[bytes]:
    payload = h.welcome_payload(node=r.choice(EXTREME_U32), epoch=r.choice(EXTREME_U32 + (1, 1, 2)),
                                status=r.choice([0, 0, 0, 1, 2, 3, 4, 0xFFFFFFFF]),
                                mac=r.choice([h.mac, h.mac, h.mac, r.randrange(1 << 48)]),
                                bootstrap_mac=r.choice([BOOT_MAC, BOOT_MAC, ATTACKER_MAC, r.randrange(1 << 48)]))
    return [h.build(FrameSpec(int(MSG_WELCOME), payload, src_node=_node_id(r, h), src_mac=_src_mac(r, h)))]


def g_announce(r: random.Random, h: HostileNode) -> list[bytes]:
    mac = r.choice([BOOT_MAC, ATTACKER_MAC, h.mac, 0, int(MAC_BROADCAST), 0x01_00_5E_00_00_01])
    src = r.choice([mac, mac, _src_mac(r, h)])
    return [h.build(FrameSpec(int(MSG_ANNOUNCE), _extreme_payload(r, 24, h.announce_payload(mac)), src_mac=src,
                              dst_mac=int(MAC_BROADCAST)))]


def g_join(r: random.Random, h: HostileNode) -> list[bytes]:
    mac = r.choice([BOOT_MAC, JOINER_MAC, h.mac, 0, int(MAC_BROADCAST), 0x03_00_00_00_00_01,
                    0x02_77_00_00_00_00 + r.randrange(1 << 16), r.randrange(1 << 48)])
    payload = h.join_payload(mac, cpus=r.choice([0, 1, 2, 2, 4, 64, 65, 0xFFFFFFFF]),
                             mtu=r.choice([0, 33, 1072, 1499, 1500, 9000, 9000, 0xFFFFFFFF]),
                             freq=r.choice([62_500_000] * 4 + [0, 54_000_000]),
                             incarnation=r.choice([0, 0x1234, r.randrange(1 << 32)]),
                             ram=r.choice([0, 1 << 28, (1 << 64) - 1]))
    return [h.build(FrameSpec(int(MSG_JOIN), payload, src_mac=r.choice([mac, mac, mac, _src_mac(r, h)]),
                              src_node=_node_id(r, h)))]


def g_table(r: random.Random, h: HostileNode) -> list[bytes]:
    me = int(cluster_self().node)
    base = h.table_payload(count=r.choice([0, 1, 2, 3, 16, 17]), my_node=me if me < 16 else 1,
                           generation=r.choice([0, 2, 100, 0xFFFFFFFF]))
    payload = _extreme_payload(r, len(base), base) if r.random() < 0.7 else base
    return [h.build(_reliable(r, h, int(MSG_CLUSTER_TABLE), payload))]


def g_clock(r: random.Random, h: HostileNode) -> list[bytes]:
    t = r.choice([int(MSG_CLOCK_PROBE), int(MSG_CLOCK_REPLY)])
    return [h.build(_reliable(r, h, t, _extreme_payload(r, 32)))]


def g_any_type(r: random.Random, h: HostileNode) -> list[bytes]:
    t = r.randrange(int(MSG_TYPES))
    lo = int(msgtable_row(u32(t)).min_len)
    length = min(4160, r.choice([lo, lo, lo + r.randrange(64), r.randrange(lo, 4161)]))
    flags = r.choice([0, 0, 0, int(F_REPLY)])
    return [h.build(_reliable(r, h, t, _extreme_payload(r, length), flags))]


def g_ack(r: random.Random, h: HostileNode) -> list[bytes]:
    _, ack, epochs = _stream_fields(r, h)
    me = int(cluster_self().node)
    spec = FrameSpec(int(MSG_ACK), flags=int(F_ACK), src_node=_node_id(r, h), dst_node=me, ack=ack,
                     epochs=epochs, src_mac=r.choice([h.peer_mac, h.peer_mac, _src_mac(r, h)]))
    return [h.build(spec)]


def g_fragment(r: random.Random, h: HostileNode) -> list[bytes]:
    count = r.randrange(1, 5)
    msg_len = r.randrange(8, 4161)
    out = []
    seq = int(transport_peer(u16(h.peer_node)).rx_next)
    for i in range(count):
        plen = r.choice([msg_len // count, msg_len, r.randrange(0, msg_len + 1)])
        spec = FrameSpec(int(MSG_ECHO), r.randbytes(plen), flags=int(F_RELIABLE | F_ACK), src_node=h.peer_node,
                         dst_node=int(cluster_self().node), seq=seq + i, req_id=r.choice([0, 7]),
                         epochs=h.legit_epochs(), src_mac=h.peer_mac, frag_count=count,
                         frag_index=r.choice([i, i, i, r.randrange(count)]), msg_len=msg_len)
        out.append(h.build(spec))
    return out


def g_flood(r: random.Random, h: HostileNode) -> list[bytes]:
    n = r.randrange(10, 60)
    what = r.randrange(4)
    if what == 0:           # JOINs from made-up MACs (table exhaustion)
        macs = [0x02_55_00_00_00_00 + r.randrange(1 << 24) for _ in range(n)]
        return [h.build(FrameSpec(int(MSG_JOIN), h.join_payload(m), src_mac=m)) for m in macs]
    if what == 1:           # the legit peer's ECHO requests, never acking the replies (issue 12 item 2)
        p = transport_peer(u16(h.peer_node))
        return [h.build(FrameSpec(int(MSG_ECHO), r.randbytes(r.choice([8, 4160])), flags=int(F_RELIABLE),
                                  src_node=h.peer_node, dst_node=int(cluster_self().node),
                                  seq=(int(p.rx_next) + i) & 0xFFFFFFFF, req_id=1 + i, epochs=h.legit_epochs(),
                                  src_mac=h.peer_mac)) for i in range(n)]
    if what == 2:           # acks that advance nothing
        p = transport_peer(u16(h.peer_node))
        return [h.build(FrameSpec(int(MSG_ACK), flags=int(F_ACK), src_node=h.peer_node,
                                  dst_node=int(cluster_self().node), ack=int(p.una), epochs=h.legit_epochs(),
                                  src_mac=h.peer_mac)) for _ in range(n)]
    frame = r.choice(g_any_type(r, h) + g_welcome(r, h) + g_announce(r, h))
    return [frame] * n      # one frame, many times


POLL = b""                                      # in a generator's frames: run cluster_poll here


def g_forged_formation(r: random.Random, h: HostileNode) -> list[bytes]:
    """Issue 12 item 1 generalised: a whole admission forged with the bootstrap's MAC (it is in every
    ANNOUNCE) but with an out-of-range or contradictory id / epoch, then TABLE, CLOCK_REPLYs and BOOT to it."""
    node = r.choice(EXTREME_U32 + (1, 2, 15))
    epoch = r.choice([0, 1, 1, 2, 15, 16, 0xFFFFFFFF])
    epochs = (1 << 4) | (epoch & 0xF)
    out = [h.build(FrameSpec(int(MSG_ANNOUNCE), h.announce_payload(), src_mac=BOOT_MAC,
                             dst_mac=int(MAC_BROADCAST))),
           h.build(FrameSpec(int(MSG_WELCOME), h.welcome_payload(node, epoch=epoch), src_mac=BOOT_MAC)), POLL]
    msgs = [(int(MSG_CLUSTER_TABLE), h.table_payload(count=r.choice([2, 3, 16, 17]), my_node=node & 0xF))]
    msgs += [(int(MSG_CLOCK_REPLY), h.clock_reply_payload(i)) for i in range(4)]
    for seq, (t, payload) in enumerate(msgs):
        out.append(h.build(FrameSpec(t, payload, flags=int(F_RELIABLE | F_ACK), src_node=0, dst_node=node & 0xFFFF,
                                     seq=seq, epochs=epochs, src_mac=BOOT_MAC)))
    out.append(POLL)
    out.append(h.build(FrameSpec(int(MSG_BOOT), (2).to_bytes(4, "little"), flags=int(F_RELIABLE | F_ACK),
                                 src_node=0, dst_node=node & 0xFFFF, seq=5, epochs=epochs, src_mac=BOOT_MAC)))
    return out


class Replayer:
    """Replays frames seen earlier: the node's own (reflected) and those fed to it."""

    def __init__(self) -> None:
        self.seen: list[bytes] = []

    def remember(self, frames: list[bytes]) -> None:
        for f in frames:
            if f == POLL:
                continue
            if len(self.seen) < 4096:
                self.seen.append(f)
            else:
                self.seen[hash(f) % 4096] = f

    def gen(self, r: random.Random, h: HostileNode) -> list[bytes]:
        pool = self.seen + h.sent[-256:]
        return [r.choice(pool) for _ in range(r.randrange(1, 8))] if pool else []


GENERATORS: dict[str, tuple[Gen, int]] = {
    "welcome": (g_welcome, 3), "announce": (g_announce, 2), "join": (g_join, 3), "table": (g_table, 3),
    "clock": (g_clock, 2), "any_type": (g_any_type, 6), "ack": (g_ack, 3), "fragment": (g_fragment, 2),
    "flood": (g_flood, 1), "forged_formation": (g_forged_formation, 1),
}


def _liveness(h: HostileNode) -> tuple[bool, str]:
    if h.state == "seeking":
        if int(membership_state().state) != int(M_SEEKING):
            return True, f"not seeking any more (state {int(membership_state().state)}: a frame forged the " \
                         f"bootstrap's MAC)"
        before = len(h.sent)
        h.feed(h.build(FrameSpec(int(MSG_ANNOUNCE), h.announce_payload(), src_mac=BOOT_MAC,
                                 dst_mac=int(MAC_BROADCAST))), check=False)
        ok = any(f[14 + 3] == int(MSG_JOIN) for f in h.sent[before:])
        return ok, "answered a fresh ANNOUNCE with JOIN" if ok else "no JOIN for a fresh ANNOUNCE"
    if not h.legit_peer_active():
        return False, f"the legit peer was declared lost:\n{h.node.console_text()[-600:]}"
    req = 0x5EED
    h.feed(h.legit(int(MSG_ECHO), (41).to_bytes(8, "little"), req_id=req), check=False)
    for _ in range(400):
        for f in h.sent:
            if (f[14 + 3] == int(MSG_ECHO) and f[14 + 4] & int(F_REPLY)
                    and int.from_bytes(f[14 + 20:14 + 24], "little") == req):
                return True, "answered the legit peer's ECHO"
        h.feed(h.legit_ack(), check=False)
        h.advance_us(1000)
        h.poll()
    return False, "the legit peer's ECHO was never answered"


def _feed(res: CampaignResult, h: HostileNode, frame: bytes, kind: str) -> bool:
    """Feed one frame; False if the node crashed (it must then be replaced)."""
    try:
        h.feed(frame)
    except AccountingError as e:
        res.unaccounted.append(f"{kind}: {e}")
    except (Panic, Exception) as e:             # any exception is a crash of the hypervisor
        res.panics.append(f"{kind}: {type(e).__name__}: {e} frame={frame[:80].hex()}")
        return False
    return True


def _poll(res: CampaignResult, h: HostileNode) -> bool:
    """Run the node's cluster_poll (timers) and check for stalls; False if it crashed."""
    try:
        h.poll()
        h.check_no_stall()
    except StallError as e:
        res.stalls.append(str(e))
    except (Panic, Exception) as e:
        res.panics.append(f"poll: {type(e).__name__}: {e}")
        return False
    return True


def campaign(state: str, seed: int, frames: int) -> CampaignResult:
    r = random.Random(f"hostile:{state}:{seed}")
    res = CampaignResult(state, seed)
    names = list(GENERATORS)
    weights = [GENERATORS[n][1] for n in names]
    replay = Replayer()
    start = time.monotonic()
    h = HostileNode(state)
    totals = [0] * (2 + int(DROP_REASONS))
    left = 0                                    # seeking: generator rounds since the node left SEEKING

    def retire(node: HostileNode) -> None:
        b = node.buckets()
        for i, v in enumerate(b):
            totals[i] += v
        node.close()

    try:
        while res.frames < frames:
            in_batch = 0
            while in_batch < BATCH:
                kind = "replay" if r.random() < 0.1 else r.choices(names, weights)[0]
                batch = replay.gen(r, h) if kind == "replay" else GENERATORS[kind][0](r, h)
                replay.remember(batch)
                in_batch += len(batch)
                for frame in batch:
                    if frame == POLL:
                        if not _poll(res, h):
                            retire(h)
                            h = HostileNode(state)
                        continue
                    res.kinds[kind] += 1
                    res.frames += 1
                    if not _feed(res, h, frame, kind):
                        retire(h)
                        h = HostileNode(state)
                if state == "seeking" and int(membership_state().state) != int(M_SEEKING):
                    # A WELCOME forged with the bootstrap's MAC (it is in every ANNOUNCE) admitted or refused
                    # the joiner: only the cluster key can tell it apart. Keep attacking that node for a few
                    # batches (frames to its new id), then go on with a fresh seeking node.
                    left += 1
                    if left == 1:
                        res.forged_welcomes += 1
                    elif left > 8:
                        retire(h)
                        h = HostileNode(state)
                        left = 0
            h.advance_us(r.randrange(0, 20_000))
            if h.legit_peer_active() and r.random() < 0.9 and not _feed(res, h, h.legit_ack(), "legit"):
                retire(h)
                h = HostileNode(state)
            if not _poll(res, h):
                retire(h)
                h = HostileNode(state)
        res.live, res.liveness = _liveness(h)
        res.lost = h.node.console_text().count(" lost: ")
    finally:
        retire(h)
    res.rx_frames, res.rx_ok = totals[0], totals[1]
    for i in range(int(DROP_REASONS)):
        if totals[2 + i]:
            res.drops[DROP_NAMES[i]] = totals[2 + i]
    if res.rx_frames != res.rx_ok + sum(res.drops.values()):
        res.unaccounted.append(f"totals: rx_frames {res.rx_frames} != rx_ok {res.rx_ok} + drops")
    res.seconds = time.monotonic() - start
    return res


def report(res: CampaignResult) -> str:
    drops = " ".join(f"{k}={v}" for k, v in sorted(res.drops.items(), key=lambda kv: -kv[1]))
    return (f"hostile: state={res.state} seed={res.seed} frames={res.frames} rx_frames={res.rx_frames} "
            f"rx_ok={res.rx_ok} dropped={sum(res.drops.values())} panics={len(res.panics)} "
            f"stalls={len(res.stalls)} unaccounted={len(res.unaccounted)} peers_lost={res.lost} "
            f"forged_welcomes_taken={res.forged_welcomes} "
            f"live={int(res.live)} seconds={res.seconds:.1f}\n  drops: {drops}\n  liveness: {res.liveness}")


def hostile_main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="pyhv hostile", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--frames", type=int, default=20000, help="hostile frames per state")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--state", choices=STATES + ("all",), default="all")
    args = ap.parse_args(argv)
    bad = 0
    for state in (STATES if args.state == "all" else (args.state,)):
        res = campaign(state, args.seed, args.frames)
        print(report(res), flush=True)
        for line in (res.panics + res.stalls + res.unaccounted)[:20]:
            print("  FAIL " + line)
        if res.panics or res.stalls or res.unaccounted or not res.live:
            bad += 1
            print(f"  replay: python3 -m pyhv.host.cli hostile --state {state} --seed {args.seed} "
                  f"--frames {args.frames}")
    return 1 if bad else 0
