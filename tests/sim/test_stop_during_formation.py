"""Regressions from the campaign `pyhv sim --seeds 300 --seed 310000 --faults
loss=0.1,asym_us=30,stop=1,mtu=-1,drift_ppm=50` (7 of 300 seeds failed before these fixes).

Seed 310032: with 10 % loss and 1500-byte MTU the cluster had not booted when a joiner stopped at 100 ms;
the bootstrap waited for SETUP_DONE from every admitted node, so the dead one held BOOT back for ever. Now
a node declared lost before BOOT is left out (the console says so) and the others boot.

Seeds 310002, ..., 310093: the stopped node's last request had been served when it stopped, so its server
counted one request more than the stopped client saw answered. That is the stop, not a duplicate: the
scenario now accepts exactly one extra request, carrying the stopped node's own token."""

from __future__ import annotations

import pytest

from pyhv.sim.scenario import Scenario
from pyhv.sim.world import Faults

MIX = "loss=0.1,asym_us=30,drift_ppm=50,stop=1,mtu=-1"


def test_a_joiner_lost_before_boot_does_not_hold_the_cluster_back() -> None:
    sc = Scenario(310032, 3, Faults().parse(MIX))
    r = sc.run()
    assert r.failures == []
    boot = next(n for n in sc.world.nodes if n.user["bootstrap"]).mock.console_text()
    assert "lost before BOOT: booting without them" in boot       # the seed still exercises the path
    assert " lost: silent for " in boot


@pytest.mark.parametrize("seed", [310002, 310093])
def test_the_stopped_nodes_last_request_may_be_served_unanswered(seed: int) -> None:
    r = Scenario(seed, 3, Faults().parse(MIX)).run()
    assert r.failures == []
