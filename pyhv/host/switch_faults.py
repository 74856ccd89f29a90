"""Fault and link models of the cluster switch (host tooling, not dialect): the fault configuration (all
off by default, all driven by one seeded random.Random), the bandwidth token bucket with its "1g" preset,
and parsers for the command-line spellings ("5%", "1g", "100m", "250us").

Faults apply per delivered copy (a broadcast to three ports draws three times), in this order:
loss -> duplication -> reordering (hold the copy, send it after the next copy to the same port, or after
reorder_hold_s) -> delay + jitter (uniform in [0, jitter]) -> bandwidth (token bucket per egress port).
Garbage injection draws once per delivered copy and sends a malformed frame to the same port.
"""

from __future__ import annotations

from dataclasses import dataclass

ETH_WIRE_OVERHEAD = 24        # preamble + SFD 8, FCS 4, inter-frame gap 12: bytes a frame costs beyond itself


@dataclass(frozen=True)
class Bandwidth:
    bits_per_s: float
    burst_bytes: int = 0      # 0: pure serialisation (each frame waits for the previous one to leave)
    overhead_bytes: int = ETH_WIRE_OVERHEAD


BANDWIDTH_PRESETS = {
    "1g": Bandwidth(1e9),         # one gigabit Ethernet port: serialisation incl. preamble, FCS and IFG
    "100m": Bandwidth(1e8),
    "10g": Bandwidth(1e10),
}


@dataclass(frozen=True)
class FaultConfig:
    seed: int = 0
    loss: float = 0.0             # probability a copy is dropped
    dup: float = 0.0              # probability a copy is sent twice
    reorder: float = 0.0          # probability a copy is held back behind the next one
    reorder_hold_s: float = 0.005
    delay_s: float = 0.0          # fixed one-way delay added to every copy
    jitter_s: float = 0.0         # plus uniform [0, jitter_s]
    bandwidth: Bandwidth | None = None
    garbage: float = 0.0          # probability a malformed frame follows a copy
    garbage_kinds: tuple[str, ...] = ()   # () = every kind in switch_frames.GARBAGE_KINDS

    def __post_init__(self) -> None:
        for name in ("loss", "dup", "reorder", "garbage"):
            p = getattr(self, name)
            if not 0.0 <= p <= 1.0:
                raise ValueError(f"{name} must be a probability in [0, 1], got {p}")
        for name in ("delay_s", "jitter_s", "reorder_hold_s"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must not be negative")

    @property
    def timed(self) -> bool:
        """True when copies may leave later than they arrive (delay, jitter or a bandwidth limit)."""
        return self.delay_s > 0 or self.jitter_s > 0 or self.bandwidth is not None


class TokenBucket:
    """Departure times of frames through one egress link. Tokens are bytes, refilled at the link rate up to
    burst_bytes; a frame costs its length plus the per-frame overhead. Departures are monotonic (FIFO)."""

    def __init__(self, bw: Bandwidth) -> None:
        self.rate = bw.bits_per_s / 8.0
        self.burst = float(bw.burst_bytes)
        self.overhead = bw.overhead_bytes
        self.tokens = self.burst
        self.last: float | None = None

    def departure(self, now: float, frame_len: int) -> float:
        cost = float(frame_len + self.overhead)
        t = now if self.last is None else max(now, self.last)
        if self.last is not None:
            self.tokens = min(self.burst, self.tokens + (t - self.last) * self.rate)
        self.last = t
        if self.tokens >= cost:
            self.tokens -= cost
            return t
        leave = t + (cost - self.tokens) / self.rate
        self.tokens = 0.0
        self.last = leave
        return leave


def parse_probability(text: str) -> float:
    """'0.05' or '5%'."""
    value = float(text[:-1]) / 100.0 if text.endswith("%") else float(text)
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{text}: not a probability")
    return value


def parse_duration(text: str) -> float:
    """Seconds from '0.002', '2ms', '250us', '1s'."""
    for suffix, scale in (("us", 1e-6), ("ms", 1e-3), ("s", 1.0)):
        if text.endswith(suffix):
            return float(text[:-len(suffix)]) * scale
    return float(text)


def parse_bandwidth(text: str) -> Bandwidth:
    """A preset ('1g', '100m', '10g') or bits per second with an optional k/m/g suffix ('250m')."""
    low = text.lower()
    if low in BANDWIDTH_PRESETS:
        return BANDWIDTH_PRESETS[low]
    scale = {"k": 1e3, "m": 1e6, "g": 1e9}.get(low[-1:], 1.0)
    number = low[:-1] if scale != 1.0 else low
    value = float(number) * scale
    if value <= 0:
        raise ValueError(f"{text}: bandwidth must be positive")
    return Bandwidth(value)
