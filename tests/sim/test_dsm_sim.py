"""The DSM in the simulator (pyhv/sim/dsm_scenario.py): random reads, writes, instruction fetches, table walks
and LDX/STX increments of simulated vCPUs on 3-4 nodes through the real cluster + DSM code, with the
invariants checked after every scheduling step and at the end; under loss/dup/reorder/delay, at 1500 MTU and
jumbo, and with a node dying mid-run. Plus a CI campaign."""

from __future__ import annotations

import pytest

from pyhv.sim.cli import sim_main
from pyhv.sim.dsm_scenario import DsmScenario
from pyhv.sim.world import Faults

LOSSY = "loss=0.05,dup=0.01,reorder=0.05,jitter_us=40"


@pytest.mark.parametrize("mtu", [0, 1500])
def test_dsm_invariants_hold_under_loss_dup_reorder(mtu: int) -> None:
    sc = DsmScenario(7, 3, Faults().parse(f"{LOSSY},mtu={mtu}"), ops=30)
    r = sc.run()
    assert r.failures == []
    assert sc.sim.hist.reads > 0 and sum(sc.sim.hist.stx_ok.values()) > 0


def test_dsm_with_four_nodes_and_a_tiny_pool_evicts_and_stays_coherent() -> None:
    sc = DsmScenario(3, 4, Faults().parse("reorder=0.1,mtu=-1"), ops=15, pool_pages=1)
    r = sc.run()
    assert r.failures == []
    stats = [sc.hw[n] for n in sc.hw]
    assert stats and sum(h.monitor_clears for h in stats) > 0


@pytest.mark.parametrize("seed", [2, 5])
def test_dsm_survivors_of_a_node_loss_do_not_hang(seed: int) -> None:
    sc = DsmScenario(seed, 3, Faults().parse("stop=1"), ops=60)
    r = sc.run()
    assert r.failures == []


def test_dsm_cli_workload(capsys: pytest.CaptureFixture[str]) -> None:
    assert sim_main(["--workload", "dsm", "--seeds", "2", "--ops", "5"]) == 0
    assert "sim: 2 seeds, 0 failed" in capsys.readouterr().out


DSM_MIXES = ["", f"{LOSSY},mtu=1500", "loss=0.02,dup=0.02,reorder=0.1,mtu=-1"]


@pytest.mark.parametrize("mix", DSM_MIXES)
def test_dsm_campaign(mix: str, capsys: pytest.CaptureFixture[str]) -> None:
    """CI campaign: 20 seeds per fault mix, 8 operations per vCPU; a failure prints the replay command."""
    rc = sim_main(["--workload", "dsm", "--seeds", "20", "--seed", "500", "--ops", "8", "--faults", mix])
    assert rc == 0, capsys.readouterr().out
