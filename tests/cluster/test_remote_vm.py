"""One VM of 2 nodes x 2 vCPUs (3 for power-off) over the real cluster code in the simulator: MMIO of the
PL011, the GIC distributor and the redistributors from any node, SGIs and SPIs to vCPUs of another node,
vPSCI across nodes and SYSTEM_OFF from node 1. Expected values come from the specs (PL011 TRM, GIC
IHI 0069H / IHI 0048B, PSCI DEN 0022) and the VM's layout, not from the code under test."""

from __future__ import annotations

import pytest

from pyhv.lang import addr_of, i32, sizeof, struct_at, u16, u32, u64

from pyhv.cluster.node import transport_wait_reply
from pyhv.cluster.requests import Reply, transport_request
from pyhv.cluster.wire import MSG_PSCI
from pyhv.core.remote import REMOTE_PSCI_CPU_ON, PsciMsg, PsciReply

from pyhv.core.remote import remote_stats
from pyhv.core.remote_uart import remote_uart_stats
from pyhv.core.vpsci import vpsci_vcpu_started, vpsci_vcpu_state, VpsciBoot
from pyhv.sim.world import Faults, SimNode
from pyhv.vdev.vgic import vgic_kick, vgic_state
from pyhv.vdev.vgic_remote import vgic_remote_stats
from pyhv.vdev.vgicv3_sysreg import vgicv3_sgi_write
from tests.cluster.vmcluster import GICD, GICR, UART, UART_INTID, VmCluster

LOSSY = "loss=0.1,dup=0.1,reorder=0.05,jitter_us=40"

# PL011 (Arm DDI 0183): FR.TXFE bit 7, FR.RXFE bit 4; UARTPeriphID0 = 0x11; CR UARTEN | TXE; IMSC/ICR TX bit 5.
PL011_FR, PL011_PERIPHID0, PL011_CR, PL011_IMSC, PL011_ICR = 0x018, 0xFE0, 0x030, 0x038, 0x044
FR_IDLE = (1 << 7) | (1 << 4)
# GICv3 (IHI 0069H): GICD_CTLR ARE [4] | EnableGrp1 [1]; GICR_TYPER.Last [4], Processor_Number [23:8],
# Affinity_Value [63:32]; GICD_TYPER ITLinesNumber [4:0], CPUNumber [7:5], IDbits [23:19], No1N [25].
GICD_CTLR_ARE_GRP1 = (1 << 4) | (1 << 1)
GICR_SGI_ISENABLER0 = 0x10100
PSCI_CPU_ON, PSCI_AFFINITY_INFO, PSCI_SYSTEM_OFF = 0xC400_0003, 0xC400_0004, 0x8400_0008
SUCCESS, INVALID_PARAMETERS, ALREADY_ON, ON_PENDING = 0, -2, -4, -5
AFF_ON, AFF_OFF, AFF_ON_PENDING = 0, 1, 2
ENTRY = 0x4008_0000


def sgi1r(intid: int, aff1: int = 0, targets: int = 0, irm: bool = False) -> int:
    return (intid << 24) | (aff1 << 16) | targets | ((1 << 40) if irm else 0)


def mpidr(node: int, cpu: int) -> int:
    return node << 8 | cpu


def _psci_request(node: int, vcpu: int) -> int:
    """A raw MSG_PSCI CPU_ON request, as a node with a wrong vCPU map would send it; the PSCI status."""
    m = PsciMsg()
    m.op, m.vcpu, m.entry = REMOTE_PSCI_CPU_ON, u32(vcpu), u64(ENTRY)
    req = transport_request(u16(node), MSG_PSCI, addr_of(m), u32(sizeof(PsciMsg)))
    out = Reply()
    assert req != 0 and transport_wait_reply(req, out) == 0
    return int(i32(struct_at(PsciReply, addr_of(out.data)).result))


def listed(vcpu: int) -> list[int]:
    """The INTIDs on a vCPU's pending list in this node's vGIC."""
    c = vgic_state().vcpus[vcpu]
    return [int(c.ap_list[i]) for i in range(int(c.ap_count))]


def _node0_v3(vc: VmCluster, node: SimNode) -> None:
    log = vc.log()
    vc.write(0, GICD, GICD_CTLR_ARE_GRP1)                   # what Linux's boot CPU does
    for v in (0, 1):                                        # each vCPU enables its own SGIs (local frame)
        vc.write(v, GICR + v * 0x20000 + GICR_SGI_ISENABLER0, 0xFFFF)
    log.results["ctlr"] = True
    vc.wait_for(lambda: vc.log_of(1).results.get("sgi_enabled") is True)
    log.results["sent_list"] = int(vgicv3_sgi_write(u32(0), u64(sgi1r(3, aff1=1, targets=0b10)), True))
    log.results["sent_irm"] = int(vgicv3_sgi_write(u32(0), u64(sgi1r(4, irm=True)), True))
    log.results["sgis"] = True
    vgic_kick(u32(3))                                       # what any vGIC path does for a vCPU it queued for
    vc.wait_for(lambda: vc.log_of(1).results.get("cpu_on_done") is True)
    # vCPU 1 begins running on node 0 (as vm_secondary_main does after the kick)
    log.results["v1_started"] = bool(vpsci_vcpu_started(u32(1), VpsciBoot()))
    log.results["started"] = True


def _node1_v3(vc: VmCluster, node: SimNode) -> None:
    r = vc.log().results
    vc.wait_for(lambda: vc.log_of(0).results.get("ctlr") is True)
    vc.wait_for(lambda: int(vgic_state().grp_enable) != 0)  # the distributor's group enables reached us
    r["grp_enable"] = int(vgic_state().grp_enable)
    for v in (2, 3):                                        # each vCPU enables its own SGIs (local frame)
        vc.write(v, GICR + v * 0x20000 + GICR_SGI_ISENABLER0, 0xFFFF)
    r["sgi_enabled"] = True
    # --- MMIO of node 0's devices, written back into the trapped register
    r["fr"] = vc.access(2, UART + PL011_FR, 2)
    r["periphid0"] = vc.read(3, UART + PL011_PERIPHID0)
    r["gicd_typer"] = vc.read(2, GICD + 0x4)
    r["gicr_typer"] = [vc.read(2, GICR + f * 0x20000 + 0x8, 8) for f in range(4)]
    for c in b"hi from node 1\n":
        vc.write(3, UART, c, 1)
    # --- SGIs from node 0
    vc.wait_for(lambda: vc.log_of(0).results.get("sgis") is True)
    vc.wait_for(lambda: int(vgic_remote_stats().sgis_raised) == 3)     # one-way messages: may be in flight
    vc.wait_for(lambda: int(remote_stats().kicks_received) == 1)       # node 0 kicked vCPU 3: a MSG_KICK
    r["v3_kicks"] = vc.log().kicks.count((3, 1))
    st = vgic_state()
    r["sgi3_on_v3"] = bool(st.vcpus[3].private[3].pending_latch) and 3 in listed(3)
    r["sgi4_on"] = [bool(st.vcpus[v].private[4].pending_latch) for v in (2, 3)]
    # --- an SPI routed to vCPU 2: the UART's, level-sensitive, raised by node 0's PL011
    vc.write(2, GICD + 0x100 + 4, 1 << (UART_INTID - 32))           # GICD_ISENABLER1
    vc.write(2, GICD + 0x6000 + 8 * UART_INTID, mpidr(1, 0), 8)     # GICD_IROUTER -> vCPU 2
    r["irouter"] = vc.read(3, GICD + 0x6000 + 8 * UART_INTID, 8)
    kicks_before = len(vc.log().kicks)
    vc.write(2, UART + PL011_CR, 0x101)                              # UARTEN | TXE: TX interrupt raw
    vc.write(2, UART + PL011_IMSC, 1 << 5)                           # unmask it: the line goes high
    spi = st.spis[UART_INTID - 32]
    # The UART is node 1's by now (it moved after 16 accesses in a row): its line goes to the distributor
    # on node 0 (LINE), which sends node 1 the SPI — an interrupt arrives a little after the write.
    r["uart_here"] = bool(remote_uart_stats().here)
    vc.wait_for(lambda: bool(spi.line_level) and UART_INTID in listed(2))
    r["spi_high"] = True
    r["spi_kick"] = (2, 0) in vc.log().kicks[kicks_before:]
    vc.write(2, UART + PL011_ICR, 1 << 5)                            # the guest's handler clears it
    vc.wait_for(lambda: not bool(spi.line_level))
    r["spi_low"] = True
    # --- vPSCI of node 0's vCPU 1
    r["aff_v1_before"] = vc.psci(2, PSCI_AFFINITY_INFO, mpidr(0, 1))[0]
    r["cpu_on_v1"] = vc.psci(2, PSCI_CPU_ON, mpidr(0, 1), ENTRY, 0x77)[0]
    r["cpu_on_v1_again"] = vc.psci(3, PSCI_CPU_ON, mpidr(0, 1), ENTRY, 0x77)[0]
    r["aff_v1_pending"] = vc.psci(2, PSCI_AFFINITY_INFO, mpidr(0, 1))[0]
    r["local_copy_v1"] = int(vpsci_vcpu_state(u32(1)))              # node 1's own record is not consulted
    r["cpu_on_v0"] = vc.psci(2, PSCI_CPU_ON, mpidr(0, 0), ENTRY, 0)[0]
    r["cpu_on_bad"] = vc.psci(2, PSCI_CPU_ON, mpidr(0, 7), ENTRY, 0)[0]
    r["cpu_on_not_theirs"] = _psci_request(0, 3)            # node 0 asked to start node 1's vCPU 3
    r["cpu_on_done"] = True
    vc.wait_for(lambda: vc.log_of(0).results.get("started") is True)
    r["cpu_on_v1_on"] = vc.psci(2, PSCI_CPU_ON, mpidr(0, 1), ENTRY, 0)[0]
    r["aff_v1_on"] = vc.psci(3, PSCI_AFFINITY_INFO, mpidr(0, 1))[0]
    r["aff_node0"] = vc.psci(3, PSCI_AFFINITY_INFO, mpidr(0, 0xFF), 1)[0]
    r["aff_v3"] = vc.psci(2, PSCI_AFFINITY_INFO, mpidr(1, 1))[0]
    # --- the guest powers the VM off from vCPU 3
    r["off"] = vc.psci(3, PSCI_SYSTEM_OFF)[1]


@pytest.mark.parametrize("faults", ["", LOSSY])
def test_gicv3_vm_across_two_nodes(faults: str) -> None:
    vc = VmCluster(seed=11, nodes=2, gic=3, faults=Faults().parse(faults), scripts={0: _node0_v3, 1: _node1_v3})
    vc.run()
    n0, n1 = vc.log_of(0), vc.log_of(1)
    r1 = n1.results
    assert r1["grp_enable"] == 2                                 # EnableGrp1, as node 0's vCPU wrote it
    assert r1["fr"] == (0, FR_IDLE)                              # x5 holds the forwarded load's value
    assert r1["periphid0"] == 0x11
    assert r1["gicd_typer"] == 2 | (3 << 5) | (9 << 19) | (1 << 25)     # 96 INTIDs, 4 vCPUs
    assert r1["gicr_typer"] == [(mpidr(v // 2, v % 2) << 32) | (v << 8) | ((1 << 4) if v == 3 else 0)
                                for v in range(4)]
    # Exactly once: every byte reached node 0's UART once, in order, and nothing else did.
    assert bytes(n0.tx) == b"hi from node 1\n" and bytes(n1.tx) == b""
    # SGIs: list form to vCPU 3 (node 1, CPU 1), IRM broadcast to 1 (local), 2 and 3
    assert n0.results["sent_list"] == 1 and n0.results["sent_irm"] == 3
    assert r1["sgi3_on_v3"] is True and r1["sgi4_on"] == [True, True]
    assert (3, 1) in n1.kicks and (2, 0) in n1.kicks and (1, 1) in n0.kicks
    # vCPU 3's CPU was kicked for SGI 3, for SGI 4 and by node 0's MSG_KICK; node 0 never kicks v2/v3 itself
    assert r1["v3_kicks"] == 3 and all(v in (0, 1) for v, _ in n0.kicks)
    # The UART SPI routed to vCPU 2 reached node 1's vGIC and kicked it; lowered again by the ICR write.
    assert r1["irouter"] == mpidr(1, 0)
    assert r1["uart_here"] is True
    assert r1["spi_high"] is True and r1["spi_kick"] is True and r1["spi_low"] is True
    # vPSCI across nodes
    assert r1["aff_v1_before"] == AFF_OFF
    assert r1["cpu_on_v1"] == SUCCESS and r1["cpu_on_v1_again"] == ON_PENDING
    assert r1["aff_v1_pending"] == AFF_ON_PENDING and r1["local_copy_v1"] == AFF_OFF
    assert r1["cpu_on_v0"] == ALREADY_ON and r1["cpu_on_bad"] == INVALID_PARAMETERS
    assert r1["cpu_on_not_theirs"] == INVALID_PARAMETERS
    assert n0.results["v1_started"] is True
    assert r1["cpu_on_v1_on"] == ALREADY_ON and r1["aff_v1_on"] == AFF_ON and r1["aff_node0"] == AFF_ON
    assert r1["aff_v3"] == AFF_OFF
    # SYSTEM_OFF from node 1 powered off both nodes
    assert n0.off and n1.off
    assert "powered the VM off; node 0 powers off" in vc.by_id(0).mock.console_text()
    # Every forwarded access was served exactly once, however many frames were lost or duplicated.
    with vc.world.on(vc.by_id(1)):
        forwarded, failed = int(remote_stats().mmio_forwarded), int(remote_stats().mmio_failed)
    with vc.world.on(vc.by_id(0)):
        served = int(remote_stats().mmio_served)
    assert failed == 0 and forwarded == served > 20
    if faults:
        assert vc.world.frames_dropped > 0 and vc.world.frames_duplicated > 0


# --- GICv2 (IHI 0048B): GICD_SGIR TargetListFilter [25:24], CPUTargetList [23:16]; banked SGI/PPI registers

def sgir(intid: int, targets: int = 0, flt: int = 0) -> int:
    return (flt << 24) | (targets << 16) | intid


PSCI_SYSTEM_RESET = 0x8400_0009


def _node0_v2(vc: VmCluster, node: SimNode) -> None:
    r = vc.log().results
    vc.write(0, GICD, 1)                                    # GICD_CTLR.EnableGrp0, as Linux's GICv2 driver
    r["ctlr"] = True
    vc.wait_for(lambda: vc.log_of(1).results.get("banked") is True)
    vc.write(0, GICD + 0xF00, sgir(5, targets=0b1000))      # list: CPU 3 (node 1)
    vc.write(0, GICD + 0xF00, sgir(6, flt=1))               # every CPU but the writer
    vc.write(1, GICD + 0xF00, sgir(7, flt=2))               # only the writer (vCPU 1, node 0)
    r["v1_sgi6_7"] = [bool(vgic_state().vcpus[1].private[i].pending_latch) for i in (6, 7)]
    r["sgis"] = True


def _node1_v2(vc: VmCluster, node: SimNode) -> None:
    r = vc.log().results
    vc.wait_for(lambda: vc.log_of(0).results.get("ctlr") is True and int(vgic_state().grp_enable) == 1)
    vc.write(2, GICD + 0x100, 1 << 27)                      # vCPU 2 enables its virtual timer PPI (banked)
    r["isenabler0"] = [vc.read(v, GICD + 0x100) for v in (2, 3)]
    r["itargetsr0"] = vc.read(2, GICD + 0x800)
    r["typer"] = vc.read(3, GICD + 0x4)
    vc.write(2, GICD + 0x104, 1 << (UART_INTID - 32))       # SPI enable: shared, node 0's distributor
    vc.write(2, GICD + 0x800 + UART_INTID, 1 << 2, 1)       # ITARGETSR byte: CPU interface 2
    r["itargetsr_spi"] = vc.read(3, GICD + 0x800 + UART_INTID, 1)
    r["banked"] = True
    vc.wait_for(lambda: vc.log_of(0).results.get("sgis") is True)
    vc.wait_for(lambda: int(vgic_remote_stats().sgis_raised) == 3)     # 5 -> vCPU 3, 6 -> vCPUs 2 and 3
    st = vgic_state()
    r["sgi5"] = [bool(st.vcpus[v].private[5].pending_latch) for v in (2, 3)]
    r["sgi5_source"] = int(st.vcpus[3].private[5].sgi_sources)
    r["sgi6"] = [bool(st.vcpus[v].private[6].pending_latch) for v in (2, 3)]
    r["sgi7"] = [bool(st.vcpus[v].private[7].pending_latch) for v in (2, 3)]
    vc.write(3, UART + PL011_CR, 0x101)
    vc.write(3, UART + PL011_IMSC, 1 << 5)                  # the UART's line goes high on node 0
    r["spi_on_v2"] = UART_INTID in listed(2) and bool(st.spis[UART_INTID - 32].line_level)
    r["reset"] = vc.psci(2, PSCI_SYSTEM_RESET)[1]


def test_gicv2_vm_across_two_nodes() -> None:
    vc = VmCluster(seed=5, nodes=2, gic=2, faults=Faults().parse(LOSSY), scripts={0: _node0_v2, 1: _node1_v2})
    vc.run()
    n0, n1 = vc.log_of(0), vc.log_of(1)
    r0, r1 = n0.results, n1.results
    # Banked registers answer for the accessing vCPU, on its own node (SGIs are always enabled on GICv2).
    assert r1["isenabler0"] == [(1 << 27) | 0xFFFF, 0xFFFF]
    assert r1["itargetsr0"] == 0x04040404                   # SGI/PPI targets read as the reader's own bit
    with vc.world.on(vc.by_id(1)):
        assert vgic_state().vcpus[2].private[27].enabled
    with vc.world.on(vc.by_id(0)):
        assert not vgic_state().vcpus[2].private[27].enabled
        assert int(vgic_state().spis[UART_INTID - 32].targets) == 1 << 2
    assert r1["typer"] == 2 | (3 << 5)                      # ITLinesNumber 2 (96 INTIDs), 4 CPUs
    assert r1["itargetsr_spi"] == 1 << 2
    # GICD_SGIR: target list, "all but me" and "only me"
    assert r1["sgi5"] == [False, True] and r1["sgi5_source"] == 1 << 0
    assert r1["sgi6"] == [True, True] and r0["v1_sgi6_7"] == [True, True]
    assert r1["sgi7"] == [False, False]
    assert (3, 1) in n1.kicks and (2, 0) in n1.kicks
    assert r1["spi_on_v2"] is True
    # SYSTEM_RESET is cluster-wide: not implemented as a restart, every node powers off and says why.
    assert n0.off and n1.off
    assert "reset is not supported yet, node 0 powers off" in vc.by_id(0).mock.console_text()
    assert "resetting a VM is not supported yet, powering off every node" in vc.by_id(1).mock.console_text()


def _reader(vc: VmCluster, node: SimNode) -> None:
    from pyhv.cluster.table import cluster_my_node, cluster_table
    me = int(cluster_my_node())
    first = int(cluster_table().entries[me].vcpu_base)
    vc.log().results["gicr_typer"] = [vc.read(first, GICR + f * 0x20000 + 0x8, 8) for f in range(6)]
    vc.log().results["read"] = True


def _reader_then_off(vc: VmCluster, node: SimNode) -> None:
    _reader(vc, node)
    vc.wait_for(lambda: all(log.results.get("read") is True for log in vc.logs))
    vc.log().results["off"] = vc.psci(2, PSCI_SYSTEM_OFF)[1]


def test_three_nodes_every_gicr_typer_from_every_node_and_system_off_from_node_1() -> None:
    vc = VmCluster(seed=3, nodes=3, gic=3, faults=Faults().parse(LOSSY),
                   scripts={0: _reader, 1: _reader_then_off, 2: _reader})
    vc.run()
    want = [(mpidr(v // 2, v % 2) << 32) | (v << 8) | ((1 << 4) if v == 5 else 0) for v in range(6)]
    for i in range(3):
        assert vc.log_of(i).results["gicr_typer"] == want, i
        assert vc.log_of(i).off, i
    for i in (0, 2):
        assert "(node 1) powered the VM off" in vc.by_id(i).mock.console_text()
