"""The deterministic simulator running the real cluster code: transport under faults, membership in every
start order, clock sync under drift, node loss, replay, and a CI campaign of some hundreds of seeds."""

from __future__ import annotations

import itertools

import pytest

from pyhv.sim.cli import sim_main
from pyhv.sim.scenario import Scenario, run_seed
from pyhv.sim.world import Faults

LOSSY = "loss=0.05,dup=0.01,reorder=0.05,jitter_us=40"


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("mtu", [0, 1500])
def test_two_nodes_exchange_requests_exactly_once_under_loss_dup_reorder(seed: int, mtu: int) -> None:
    r = run_seed(seed, 2, Faults().parse(f"{LOSSY},mtu={mtu}"), requests=8)
    assert r.failures == []


@pytest.mark.parametrize("order", list(itertools.permutations(range(3))))
def test_three_nodes_form_one_cluster_in_every_start_order(order: tuple[int, ...]) -> None:
    r = Scenario(11, 3, Faults(), requests=2, order=list(order)).run()
    assert r.failures == []


@pytest.mark.parametrize("seed", [5, 6, 7])
def test_guest_counters_stay_within_the_skew_bound_under_drift(seed: int) -> None:
    r = run_seed(seed, 3, Faults().parse("drift_ppm=100,asym_us=40"), requests=1)
    assert r.failures == []
    assert r.skew_ns <= r.bound_ns


def test_a_stopped_node_is_reported_lost_not_a_hang() -> None:
    sc = Scenario(3, 3, Faults().parse("stop=1"), requests=12)
    r = sc.run()
    assert r.failures == []
    consoles = "".join(n.mock.console_text() for n in sc.world.nodes if n.index != sc.stop_index)
    if sc.lost_ok:
        assert "lost: silent for" in consoles


@pytest.mark.parametrize("seed", [4, 8, 15])
def test_a_restarted_node_is_readmitted_under_its_id(seed: int) -> None:
    sc = Scenario(seed, 3, Faults().parse(f"restart=1,{LOSSY}"), requests=6)
    r = sc.run()
    assert r.failures == []             # includes: same id, one table everywhere, every live node booted
    assert sc.reborn is not None
    boot = next(n for n in sc.world.nodes if n.user["bootstrap"]).mock.console_text()
    assert f"({sc.reborn.mac:x}) restarted: readmitted with its id" in boot
    assert "booted" in sc.reborn.mock.console_text()


def test_same_seed_replays_exactly() -> None:
    a = run_seed(21, 3, Faults().parse(LOSSY), requests=3)
    b = run_seed(21, 3, Faults().parse(LOSSY), requests=3)
    assert (a.frames, a.sim_ns, a.skew_ns) == (b.frames, b.sim_ns, b.skew_ns)


def test_cli_prints_a_summary(capsys: pytest.CaptureFixture[str]) -> None:
    assert sim_main(["--seeds", "2", "--requests", "2"]) == 0
    assert "sim: 2 seeds, 0 failed" in capsys.readouterr().out


MIXES = ["", LOSSY, "loss=0.02,dup=0.02,drift_ppm=50,asym_us=30,mtu=1500", "reorder=0.1,drift_ppm=100,mtu=-1",
         "restart=1,loss=0.05,dup=0.01,drift_ppm=50"]


@pytest.mark.parametrize("mix", MIXES)
def test_campaign(mix: str, capsys: pytest.CaptureFixture[str]) -> None:
    """CI campaign: 50 seeds per fault mix (250 in all); a failure prints the replay command."""
    rc = sim_main(["--seeds", "50", "--seed", "1000", "--requests", "2", "--faults", mix])
    out = capsys.readouterr().out
    assert rc == 0, out
