"""Regression: every member ends with the bootstrap's cluster table, byte for byte, even when no node joins
after BOOT. The bootstrap used to set `booted` in its table at BOOT without bumping the generation or
resending the table, so members kept booted = 0 unless a later hot-add happened to resend it (campaign
seed 100677: the late joiner was admitted just before BOOT, so nothing was resent after it)."""

from __future__ import annotations

import pytest

from pyhv.lang import addr_of
from pyhv.lang.machine import read_memory

from pyhv.cluster.membership import TABLE_MSG_BYTES
from pyhv.cluster.table import cluster_table
from pyhv.sim.scenario import Scenario, run_seed
from pyhv.sim.world import Faults

MIX = "loss=0.05,dup=0.01,reorder=0.05,jitter_us=40,drift_ppm=50"
FOUND = 100677


def _tables(sc: Scenario) -> list[tuple[int, int, bytes]]:
    """(generation, booted, raw table bytes) of every node, in node-index order."""
    out = []
    for n in sc.world.nodes:
        with sc.world.on(n):
            t = cluster_table()
            out.append((int(t.generation), int(t.booted), bytes(read_memory(int(addr_of(t)), int(TABLE_MSG_BYTES)))))
    return out


def test_found_seed_ends_with_identical_booted_tables() -> None:
    # Since the clock-sync fix (tests/sim/test_clocksync_delayed_rounds.py) joiners sync earlier, so this
    # seed no longer admits node 3 just before BOOT; the forced-race scenario below keeps that path covered
    # on every seed. The seed stays as a regression test of the end state.
    sc = Scenario(FOUND, 3, Faults().parse(MIX), requests=6)
    r = sc.run()
    assert r.failures == []
    tables = _tables(sc)
    assert {raw for _, _, raw in tables} == {tables[0][2]}
    assert all(booted == 1 for _, booted, _ in tables)


@pytest.mark.parametrize("seed", [FOUND - 3, FOUND - 2, FOUND - 1, FOUND + 1, FOUND + 2, FOUND + 3])
def test_neighbours_of_the_found_seed(seed: int) -> None:
    assert run_seed(seed, 3, Faults().parse(MIX), requests=6).failures == []


class _NoHotAdd(Scenario):
    """All four nodes start within a few ms, so every one is admitted before BOOT and none after it."""

    def build(self) -> None:
        for i, start_ms in enumerate((0, 2, 4)):
            self._add(start_ms * 1_000_000, i == 0)
        self.late = self._add(6_000_000, False)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_booted_reaches_every_member_without_a_later_join(seed: int) -> None:
    sc = _NoHotAdd(seed, 3, Faults(), requests=1)
    r = sc.run()
    assert r.failures == []
    tables = _tables(sc)
    assert {int.from_bytes(raw[4:8], "little") for _, _, raw in tables} == {4}    # count
    assert all(booted == 1 for _, booted, _ in tables)
    assert len({gen for gen, _, _ in tables}) == 1
