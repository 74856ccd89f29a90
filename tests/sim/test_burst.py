"""Bidirectional one-way page bursts (the DSM's traffic: pages and invalidations both ways, sent from
handlers) in the deterministic simulator: every node sends N page-sized one-way messages to every other at
once, at 1500 MTU (3 fragments a page) and jumbo, under loss, duplication and reordering. Each message must
arrive exactly once, whole and in per-sender order, and every burst must complete (pyhv/sim/scenario.py
`_check_burst`, `_done`). On the old transport two nodes deadlocked here: a sender with a full TX ring read
only acks and dropped the peer's data, so neither burst ever completed (and neither peer was declared lost)."""

from __future__ import annotations

import pytest

from pyhv.sim.cli import sim_main
from pyhv.sim.scenario import Scenario
from pyhv.sim.world import NS, Faults

LOSSY = "loss=0.05,dup=0.01,reorder=0.05,jitter_us=40"


@pytest.mark.parametrize("mtu", [1500, 0])
@pytest.mark.parametrize("faults", ["", LOSSY])
def test_two_nodes_burst_pages_at_each_other_and_both_complete(mtu: int, faults: str) -> None:
    sc = Scenario(3, 2, Faults().parse(f"{faults},mtu={mtu}"), requests=2, burst=40, until_ns=NS)
    r = sc.run()
    assert r.failures == []
    for n in sc.world.nodes:
        text = n.mock.console_text()
        assert "burst: done sent=40 " in text and " complete=1 " in text


def test_three_nodes_with_mixed_mtus_burst_all_pairs() -> None:
    r = Scenario(9, 3, Faults().parse("loss=0.02,dup=0.01,reorder=0.02,mtu=-1"), requests=2, burst=24,
                 until_ns=NS).run()
    assert r.failures == []


@pytest.mark.parametrize("mix", ["loss=0.05,dup=0.01,reorder=0.05,mtu=1500", "loss=0.02,dup=0.02,mtu=0"])
def test_burst_campaign(mix: str, capsys: pytest.CaptureFixture[str]) -> None:
    """CI campaign: 12 seeds per mix of 2-node bursts of 24 pages each way; a failure prints its replay."""
    rc = sim_main(["--seeds", "12", "--seed", "500", "--nodes", "2", "--requests", "1", "--burst", "24",
                   "--faults", mix])
    out = capsys.readouterr().out
    assert rc == 0, out
