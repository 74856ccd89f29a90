"""The cluster code over modelled GENET NICs: the deterministic simulator's scenario (formation in a seeded
start order, a late joiner, an echo workload with page-sized requests, exactly-once and skew invariants)
with every node's NicOps going through the real GENET driver into its register-level model (with
non-coherent DMA), the models joined by the simulator's wire (seeded loss). Frames the wire delivers while
a node's link is still down or its receive ring is full are dropped by the model, as the MAC would."""

from __future__ import annotations

import pytest

from pyhv.lang import u32, u64
from pyhv.lang.machine import current_node

from pyhv.cluster.nic import NicOps
from pyhv.drivers.genet import GENET_OK, genet_init, genet_mac, genet_mtu, genet_poll, genet_send, genet_stats
from pyhv.sim.scenario import Scenario
from pyhv.sim.world import Faults, SimNode

from .models.dma_cache import NoncoherentDma
from .models.genet import GenetModel

GENET_BASE = 0xFD58_0000


class GenetScenario(Scenario):
    def __init__(self, seed: int, nodes: int, faults: Faults, requests: int) -> None:
        super().__init__(seed, nodes, faults, requests)
        self.models: dict[int, GenetModel] = {}
        self.dmas: dict[int, NoncoherentDma] = {}

    def _nic_ops(self) -> NicOps:
        w = self.world

        def me() -> SimNode:
            return w.nodes[current_node().node_id]

        node = me()
        dma = NoncoherentDma(node.mock)
        dev = GenetModel(dma, rx_prod_start=node.index * 0x1111, tx_cons_start=0xFFFF - node.index)
        node.mock.mmio.map(GENET_BASE, 0x10000, dev)
        self.models[node.index], self.dmas[node.index] = dev, dma
        assert genet_init(u64(GENET_BASE), u32(0), u64(node.mac)) == GENET_OK

        def send(addr: u64, n: u32) -> u32:
            r = genet_send(addr, n)
            for f in dev.tx_frames:
                w.transmit(me(), f)
            dev.tx_frames.clear()
            return r

        def poll(addr: u64, cap: u32) -> u32:
            q = me().rxq
            while q:
                dev.deliver(q.popleft())
            return genet_poll(addr, cap)

        return NicOps(send=send, poll=poll, mtu=genet_mtu, mac=genet_mac)


@pytest.mark.parametrize("seed", [1, 2])
def test_cluster_forms_and_serves_requests_over_genet_models_on_a_lossy_wire(seed: int) -> None:
    sc = GenetScenario(seed, 3, Faults(mtu=1500, loss=0.03), requests=8)
    result = sc.run()
    assert result.failures == []
    assert len(sc.models) == 4                                  # 3 nodes + the late joiner
    for i, dev in sc.models.items():
        assert dev.violations == [] and sc.dmas[i].violations == [], i
        with sc.world.on(sc.world.nodes[i]):
            st = genet_stats()
            assert int(st.rx_frames) > 0 and int(st.tx_frames) > 0
