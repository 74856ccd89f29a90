"""The switch's pcap capture holds exactly the frames it delivered (parsed back here), and the Wireshark Lua
dissector (tools/wireshark/pyhv.lua) decodes frames built by the real dialect wire code: run through
tshark when it is installed, skipped otherwise."""

from __future__ import annotations

import random
import shutil
import socket
import subprocess
import tempfile
from collections import Counter
from pathlib import Path

import pytest

from pyhv.cluster.table import cluster_name_id
from pyhv.cluster.wire import FRAME_PAD, WIRE_VERSION, WireHeader, wire_push_headers, wire_seal
from pyhv.host.pcap import LINKTYPE_ETHERNET, PcapWriter, read_pcap
from pyhv.host.switch import Switch, node_socket_path, switch_socket_path
from pyhv.host.switch_frames import cluster_id, garbage_frame, marker_frame
from pyhv.lang import Array, addr_of, struct_at, u8, u16, u32, u64
from pyhv.lang.machine import read_memory, write_memory

REPO = Path(__file__).resolve().parents[2]
LUA = REPO / "tools" / "wireshark" / "pyhv.lua"
TSHARK = shutil.which("tshark")


def test_pcap_holds_every_delivered_frame(tmp_path: Path) -> None:
    pcap = tmp_path / "lan.pcap"
    with tempfile.TemporaryDirectory(prefix="pyhv-sw-") as d:
        lan = Path(d)
        socks = []
        for i in range(3):
            s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            s.bind(str(node_socket_path(lan, i)))
            s.settimeout(20)
            socks.append(s)
        macs = [bytes([2, 0, 0, 0, 0, i]) for i in range(3)]
        sw = Switch(3, lan, pcap_path=pcap, cluster="lan").start()
        delivered: Counter[bytes] = Counter()
        try:
            sent = [b"\xff" * 6 + macs[0] + b"\x88\xb5" + bytes(50),          # flooded to 1 and 2
                    macs[0] + macs[1] + b"\x08\x00" + b"unicast to 0".ljust(46, b".")]
            socks[0].sendto(sent[0], str(switch_socket_path(lan, 0)))
            delivered[socks[1].recv(65536)] += 1
            delivered[socks[2].recv(65536)] += 1
            socks[1].sendto(sent[1], str(switch_socket_path(lan, 1)))
            delivered[socks[0].recv(65536)] += 1
            sw.send_marker()
            for s in socks:
                delivered[s.recv(65536)] += 1
        finally:
            sw.stop()
            for s in socks:
                s.close()
    linktype, records = read_pcap(pcap)
    assert linktype == LINKTYPE_ETHERNET
    assert Counter(r.data for r in records) == delivered
    assert delivered[sent[0]] == 2 and delivered[sent[1]] == 1
    assert all(r.orig_len == len(r.data) and r.ts > 1e9 for r in records)
    if TSHARK:
        out = subprocess.run([TSHARK, "-r", str(pcap), "-T", "fields", "-e", "eth.type"], capture_output=True,
                             text=True, timeout=60, check=True).stdout.split()
        assert Counter(out) == Counter({"0x88b5": 5, "0x0800": 1})


def _frame(msg_type: int, flags: int, src: int, dst: int, seq: int, ack: int, req: int, payload: bytes,
           frag: tuple[int, int] = (0, 1), msg_len: int | None = None, epochs: int = 0) -> bytes:
    """A frame as a node sends it, built by the dialect wire code under CPython."""
    buf = Array(u8, 4224)
    base = int(addr_of(buf))
    write_memory(base + 48, payload)
    wire_push_headers(addr_of(buf), u64(0x525400000002), u64(0x525400000001), u32(msg_type), u8(flags),
                      u16(src), u16(dst), u32(req), u32(len(payload)),
                      u32(len(payload) if msg_len is None else msg_len), u16(cluster_name_id("lan")))
    hdr = struct_at(WireHeader, addr_of(buf) + FRAME_PAD + u64(14))
    hdr.seq, hdr.ack, hdr.frag_index, hdr.frag_count = u32(seq), u32(ack), u8(frag[0]), u8(frag[1])
    hdr.epochs = u8(epochs)
    wire_seal(addr_of(buf))
    return read_memory(base + 2, 46 + len(payload))


FIELDS = ("pyhv.type", "pyhv.flags.reliable", "pyhv.flags.ack", "pyhv.flags.reply", "pyhv.src_node",
          "pyhv.dst_node", "pyhv.seq", "pyhv.ack", "pyhv.req_id", "pyhv.frag_index", "pyhv.frag_count",
          "pyhv.payload_len", "pyhv.msg_len", "pyhv.cluster_id", "pyhv.csum_good", "pyhv.version", "pyhv.epochs")


def _bool(text: str) -> str:
    return {"True": "1", "False": "0"}.get(text, text)     # Wireshark 4.0 prints 1/0, later True/False


@pytest.mark.skipif(TSHARK is None, reason="tshark not installed (apt-get install -y tshark)")
def test_lua_dissector_decodes_dialect_built_frames(tmp_path: Path) -> None:
    cid = int(cluster_name_id("lan"))
    v = str(int(WIRE_VERSION))
    frames = [
        (_frame(2, 0, 0, 0xFFFF, 0, 0, 0, bytes(24)), ("2", "0", "0", "0", "0", "65535", "0", "0", "0", "0", "1",
                                                       "24", "24", f"0x{cid:04x}", "1", v, "0x00")),
        (_frame(10, 1 | 2 | 4, 1, 2, 77, 78, 4242, bytes(range(200)), (1, 3), 4160, epochs=0x23),
         ("10", "1", "1", "1", "1", "2", "77", "78", "4242", "1", "3", "200", "4160", f"0x{cid:04x}", "1", v,
          "0x23")),
        (_frame(0, 2, 2, 1, 0, 1000, 0, b"", epochs=0x32), ("0", "0", "1", "0", "2", "1", "0", "1000", "0", "0",
                                                             "1", "0", "0", f"0x{cid:04x}", "1", v, "0x32")),
        (marker_frame(9, 5, cid), ("11", "0", "0", "0", "65535", "65535", "0", "0", "9", "0", "1", "16", "16",
                                   f"0x{cid:04x}", "1", v, "0x00")),
    ]
    bad = garbage_frame("checksum", frames[0][0], cid, random.Random(1))
    version = garbage_frame("version", frames[0][0], cid, random.Random(1))
    pcap = tmp_path / "frames.pcap"
    with PcapWriter(pcap) as w:
        for frame, _ in frames:
            w.write(frame)
        w.write(bad)
        w.write(version)
    cmd = [str(TSHARK), "-X", f"lua_script:{LUA}", "-r", str(pcap), "-T", "fields", "-E", "separator=|"]
    for field in FIELDS + ("pyhv.marker.id",):
        cmd += ["-e", field]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "Lua" not in proc.stderr or "rror" not in proc.stderr, proc.stderr
    rows = [[_bool(v) for v in line.split("|")] for line in proc.stdout.splitlines()]
    assert len(rows) == len(frames) + 2
    for (_, want), row in zip(frames, rows):
        assert tuple(row[:len(FIELDS)]) == want
    assert rows[3][len(FIELDS)] == "9"                        # the marker's id from its payload
    assert rows[4][FIELDS.index("pyhv.csum_good")] == "0"     # the flipped checksum is flagged
    assert rows[5][FIELDS.index("pyhv.version")] not in ("", v)
    assert cluster_id("lan") == cid
