"""A VM spread over simulated nodes: the REAL cluster code forms the cluster in pyhv.sim's World (seeded
loss / duplication / reordering), then every node sets up the real vGIC, vPL011, vPSCI and MMIO tables for
ONE VM of nodes x 2 vCPUs and installs the cross-node half (remote_vm_init). Each node then runs a test
script in its own thread, as one of its vCPUs would after a trap (the scripts call the same functions the
trap paths call: mmio_guest_access, smccc_handle, vgicv3_sgi_write); the physical side (kick SGIs,
power-off) is recorded per node through the RemotePhysOps slot."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from pyhv.lang import struct_copy, u8, u32, u64
from pyhv.lang.machine import current_node, read_memory, write_memory

from pyhv.arch.frame import TrapFrame
from pyhv.cluster.clocksync import ClockOps, clocksync_set_ops
from pyhv.cluster.membership import M_BOOTED, membership_state
from pyhv.cluster.nic import NicOps, nic_set
from pyhv.cluster.node import cluster_init, cluster_step
from pyhv.cluster.service import ServiceOps, service_set_ops
from pyhv.cluster.servicelock import service_start
from pyhv.cluster.table import (
    ROLE_BOOTSTRAP, ROLE_JOINER, ClusterConfig, cluster_my_node, cluster_name_id, cluster_table,
)
from pyhv.core.mmio import (
    MMIO_REG_OK, MmioAccess, mmio_complete_read, mmio_guest_access, mmio_register, mmio_set_catalog,
)
from pyhv.core.printk import ConsoleOps, printk_set_console
from pyhv.core.remote import remote_service
from pyhv.core.remote_call import remote_vm_init
from pyhv.core.remote_map import RemotePhysOps
from pyhv.core.smccc import smccc_handle
from pyhv.core.vm_devices import DEV_CLUSTERINFO, DEV_GICD_V2, DEV_GICD_V3, DEV_GICR_V3, DEV_UART, FIRST_SPI, VM_CATALOG
from pyhv.core.vmconfig import (
    CLUSTERINFO_SIZE, GIC_DIST_SIZE, UART_SIZE, VM_CLUSTERINFO_BASE, VM_GICC_BASE, VM_GICD_BASE, VM_GICR_BASE,
    VM_NR_SPIS, VM_RAM_BASE, VM_UART_BASE, VM_UART_SPI, VmConfig, vmconfig_add_mem, vmconfig_add_vcpu,
    vmconfig_gic_redist_size, vmconfig_set_numa_nodes,
)
from pyhv.core.vmstate import vm_state
from pyhv.core.vpsci import SmcccResult, vpsci_init
from pyhv.sim.world import FREQ_HZ, Faults, SimNode, World
from pyhv.vdev.vgic import vgic_init, vgic_inject, vgic_set_vcpu_mpidr
from pyhv.vdev.vgicv3_redist import vgicv3_redist_reset
from pyhv.vdev.vpl011 import (
    Vpl011Ops, vpl011_no_input_get, vpl011_no_input_wanted, vpl011_reset, vpl011_set_ops,
)

from examples.clusterinfo.clusterinfo import clusterinfo_reset

CPUS_PER_NODE = 2
GICD = int(VM_GICD_BASE)
GICR = int(VM_GICR_BASE)
UART = int(VM_UART_BASE)
UART_INTID = int(FIRST_SPI) + int(VM_UART_SPI)
M64 = (1 << 64) - 1

Script = Callable[["VmCluster", SimNode], None]


@dataclass
class NodeLog:
    """What the physical side of one node saw (host state, read by the test after the run)."""

    tx: bytearray = field(default_factory=bytearray)       # guest console bytes this node's UART sent
    kicks: list[tuple[int, int]] = field(default_factory=list)   # (global vCPU, local CPU) kick SGIs
    off: bool = False
    results: dict[str, object] = field(default_factory=dict)
    ready: bool = False
    done: bool = False


class VmCluster:
    def __init__(self, seed: int, nodes: int, gic: int, faults: Faults,
                 scripts: dict[int, Script]) -> None:
        self.world = World(seed, faults)
        self.k = nodes
        self.gic = gic
        self.scripts = scripts
        self.logs: list[NodeLog] = []
        self.sim_index: dict[int, int] = {}       # cluster node id -> World node index
        for i in range(nodes):
            self.logs.append(NodeLog())
            n = self.world.add_node(self._program, i * 30_000_000, 9000 if i % 2 == 0 else 1500)
            n.user["bootstrap"] = i == 0

    # --- the node's devices -------------------------------------------------------------------------------
    def _me(self) -> SimNode:
        return self.world.nodes[current_node().node_id]

    def log(self) -> NodeLog:
        return self.logs[self._me().index]

    def _nic_ops(self) -> NicOps:
        w = self.world

        def send(addr: u64, n: u32) -> u32:
            w.transmit(self._me(), read_memory(int(addr), int(n)))
            return u32(0)

        def poll(addr: u64, cap: u32) -> u32:
            node = self._me()
            if not node.rxq:
                return u32(0)
            frame = node.rxq.popleft()
            write_memory(int(addr), frame[:int(cap)])
            return u32(len(frame))

        return NicOps(send=send, poll=poll, mtu=lambda: u32(self._me().mtu), mac=lambda: u64(self._me().mac))

    def _set_cntvoff(self, v: u64) -> None:
        self._me().cpu.sysregs["cntvoff_el2"] = int(v)

    def _putc(self, c: u8) -> None:
        current_node().console.append(int(c))

    def _tx(self, c: u8) -> None:
        self.log().tx.append(int(c))

    def _uart_irq(self, level: bool) -> None:
        vgic_inject(u32(0), u32(UART_INTID), level)

    def _kick(self, vcpu: u32, cpu: u32) -> None:
        self.log().kicks.append((int(vcpu), int(cpu)))

    def _power_off(self) -> None:
        self.log().off = True

    # --- what every node runs -------------------------------------------------------------------------
    def _program(self, node: SimNode) -> None:
        printk_set_console(ConsoleOps(putc=self._putc))
        nic_set(self._nic_ops())
        clocksync_set_ops(ClockOps(set_cntvoff=self._set_cntvoff))
        cfg = ClusterConfig()
        cfg.role = ROLE_BOOTSTRAP if node.user["bootstrap"] else ROLE_JOINER
        cfg.cluster_id = cluster_name_id("vm")
        cfg.cpus = u32(CPUS_PER_NODE)
        cfg.ram_bytes = u64(256 << 20)
        cfg.freq_hz = u64(FREQ_HZ)
        cfg.min_nodes = u32(self.k)
        cfg.rto_init_us, cfg.rto_min_us, cfg.rto_max_us = u32(2000), u32(1000), u32(64000)
        cfg.ack_delay_us = u32(200)
        cfg.keepalive_us, cfg.lost_after_us = u32(100_000), u32(2_000_000)
        cfg.announce_us, cfg.resync_us, cfg.probe_gap_us = u32(20_000), u32(50_000), u32(1000)
        cfg.idle_max_us = u32(20_000)
        cluster_init(cfg)
        while membership_state().state != M_BOOTED:
            cluster_step()
        self.sim_index[int(cluster_my_node())] = node.index
        self._setup_vm()
        self.log().ready = True
        self.wait_for(lambda: all(log.ready for log in self.logs))
        script = self.scripts.get(int(cluster_my_node()))
        if script is not None:
            script(self, node)
        self.log().done = True
        while not self.log().off:
            cluster_step()
            remote_service()

    def _setup_vm(self) -> None:
        """The cluster-wide VmConfig from the cluster table, then the devices as vm_setup_devices makes them."""
        t = cluster_table()
        cfg = VmConfig()
        vmconfig_set_numa_nodes(cfg, t.count)
        for n in range(int(t.count)):
            for c in range(int(t.entries[n].vcpu_count)):
                vmconfig_add_vcpu(cfg, u32(n), u32(c), u32(n))
        cfg.nr_vcpus = cfg.max_vcpus
        vmconfig_add_mem(cfg, VM_RAM_BASE, u64(512 << 20), u32(0))
        cfg.gic_version = u32(self.gic)
        cfg.nr_spis = VM_NR_SPIS
        cfg.gicd_base, cfg.gicc_base, cfg.gicr_base = VM_GICD_BASE, VM_GICC_BASE, VM_GICR_BASE
        cfg.uart_base, cfg.uart_spi = VM_UART_BASE, VM_UART_SPI
        cfg.clusterinfo_base = VM_CLUSTERINFO_BASE
        st = vm_state()
        struct_copy(st.cfg, cfg)
        assert vgic_init(cfg.gic_version, cfg.max_vcpus, cfg.nr_spis) == 0
        for v in range(int(cfg.max_vcpus)):
            vgic_set_vcpu_mpidr(u32(v), cfg.vcpus[v].mpidr)
        mmio_set_catalog(VM_CATALOG)
        assert mmio_register(cfg.uart_base, UART_SIZE, DEV_UART) == MMIO_REG_OK
        clusterinfo_reset()
        assert mmio_register(cfg.clusterinfo_base, CLUSTERINFO_SIZE, DEV_CLUSTERINFO) == MMIO_REG_OK
        if self.gic == 3:
            vgicv3_redist_reset()
            assert mmio_register(cfg.gicd_base, GIC_DIST_SIZE, DEV_GICD_V3) == MMIO_REG_OK
            assert mmio_register(cfg.gicr_base, vmconfig_gic_redist_size(cfg), DEV_GICR_V3) == MMIO_REG_OK
        else:
            assert mmio_register(cfg.gicd_base, GIC_DIST_SIZE, DEV_GICD_V2) == MMIO_REG_OK
        vpl011_set_ops(Vpl011Ops(tx=self._tx, irq=self._uart_irq, rx_get=vpl011_no_input_get,
                                     rx_wanted=vpl011_no_input_wanted))
        vpl011_reset()
        vpsci_init(st.cfg, u32(0))
        remote_vm_init(RemotePhysOps(kick=self._kick, power_off=self._power_off))
        # One simulated CPU per node: it is CPU 0, nobody sleeps on it but itself.
        service_set_ops(ServiceOps(this_cpu=lambda: u32(0), wake_cpu=lambda c: None, after_poll=remote_service,
                                   next_deadline=lambda: u64(0xFFFFFFFFFFFFFFFF)))
        service_start()

    # --- for the scripts --------------------------------------------------------------------------------
    def wait_for(self, pred: Callable[[], bool]) -> None:
        """Serve the cluster (as an idle node does) until `pred()` holds."""
        while not pred():
            cluster_step()
            remote_service()

    def access(self, vcpu: int, ipa: int, width: int, value: int = 0, write: bool = False,
               reg: int = 5) -> tuple[int, int]:
        """One guest access by vCPU `vcpu` as the trap path makes it; (status, register x<reg> after it)."""
        acc = MmioAccess()
        acc.ipa, acc.width_bytes, acc.is_write, acc.value = u64(ipa), u8(width), write, u64(value)
        acc.reg, acc.sixty_four = u8(reg), width == 8
        f = TrapFrame()
        f.x[reg] = u64(0xDEAD_BEEF_DEAD_BEEF)
        status = int(mmio_guest_access(u32(vcpu), acc))
        if status == 0:
            mmio_complete_read(f, acc)
        return status, int(f.x[reg])

    def read(self, vcpu: int, ipa: int, width: int = 4) -> int:
        status, value = self.access(vcpu, ipa, width)
        assert status == 0
        return value

    def write(self, vcpu: int, ipa: int, value: int, width: int = 4) -> None:
        assert self.access(vcpu, ipa, width, value, True)[0] == 0

    def psci(self, vcpu: int, x0: int, x1: int = 0, x2: int = 0, x3: int = 0) -> tuple[int, int]:
        res = SmcccResult()
        smccc_handle(vm_state().cfg, u32(vcpu), u64(x0), u64(x1 & M64), u64(x2), u64(x3), res)
        v = int(res.x0)
        return (v - (1 << 64) if v >> 63 else v), int(res.action)

    def run(self, until_ns: int = 3_000_000_000) -> None:
        self.world.run(until_ns, lambda: all(log.off for log in self.logs))
        assert self.world.failures == [], "\n".join(self.world.failures)

    def by_id(self, node_id: int) -> SimNode:
        """The simulated node that has cluster node id `node_id`."""
        return self.world.nodes[self.sim_index[node_id]]

    def log_of(self, node_id: int) -> NodeLog:
        return self.logs[self.sim_index[node_id]]

