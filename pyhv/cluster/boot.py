# The cluster bring-up of one node on real hardware / QEMU (entered from hv_main when the bootargs carry
# `pyhv.role=`): virtio-net probe -> NicOps -> cluster_init -> membership until BOOT -> the cluster table
# and the clock estimate on the console -> an optional soak -> wait for the switch's skew markers ->
# counters -> power off. Everything runs on the boot CPU (CPU 0), which also takes the NIC's receive
# interrupt: the SPI is routed to CPU 0 only, so the driver needs no lock. An idle node sleeps in WFI until
# that interrupt or its EL2 timer (pyhv/cluster/idle.py).
#
# Bootargs (all optional except pyhv.role):
#   pyhv.role=bootstrap|joiner  pyhv.cluster=NAME (default "pyhv")  pyhv.nodes=N (bootstrap: BOOT once N
#   nodes are set up; default 1)  pyhv.soak=PAIRS (requests this node sends; pyhv.soak_window=W of them
#   in flight, 1..4, default 4)  pyhv.markers=K (markers to wait for)  pyhv.wait_ms=MS (longest wait for
#   formation / for the markers; default 60000)
#   pyhv.linger_ms=MS (serving time before power-off when no markers are awaited; default 500)
#   pyhv.lost_ms=MS (silence after which a peer this node waits on is declared lost; default 10000)
#   pyhv.burst=N (before the soak: N one-way pages to every other member while they do the same; "burst:"
#   lines, pyhv/cluster/burst.py; give it to every node)
#
# Console lines (the same format on every node; tests parse them, docs/protocol.md "QEMU bring-up"):
#   cluster: start role=<bootstrap|joiner> name=<NAME> id=0x<id> mac <m> mtu <n> pcnt=<counter>
#   cluster: node <id> mac <m> cpus <n> vcpus <a>-<b> ram <MiB> MiB mtu <n>      (one per member)
#   cluster: formed, <N> nodes, me=<id> pcnt=<counter> vcnt=<guest counter>
#   clock: node <id> cntvoff=<signed ticks> rtt_min=<ticks> rounds=<n> rejected=<n> freq=<Hz>

from typing import Final

from pyhv.lang import i64, kprint, range, u8, u16, u32, u64

from pyhv.arch.gic import GIC_PRIO_DEFAULT, gic_enable_ppi, gic_enable_spi, gic_nr_irqs
from pyhv.arch.timer import TIMER_HYP_PPI, timer_freq_hz, timer_now
from pyhv.arch.traps import DeviceIrqOps, trap_set_device_irq_ops
from pyhv.cluster.burst import burst_report, burst_run
from pyhv.cluster.bootargs import bootarg_eq, bootarg_find, bootarg_name_id, bootarg_print, bootarg_u32
from pyhv.cluster.clocksync import CLOCK_SYSREG_OPS, clocksync_guest_counter, clocksync_set_ops, clocksync_state
from pyhv.cluster.marker import marker_state
from pyhv.cluster.membership import membership_booted
from pyhv.cluster.node import cluster_init, cluster_step
from pyhv.cluster.soak import soak_report_served, soak_run
from pyhv.cluster.table import (
    ROLE_BOOTSTRAP, ROLE_JOINER, ClusterConfig, cluster_my_node, cluster_name_id, cluster_self, cluster_table,
)
from pyhv.cluster.netstats import cluster_print_net_stats
from pyhv.core.fdt import FDT_NONE
from pyhv.core.hostinfo import hostinfo
from pyhv.core.power import power_off
from pyhv.core.vm_cluster import vm_cluster_abort, vm_cluster_barrier, vm_cluster_home_bytes, vm_cluster_prepare
from pyhv.core.printk import printk_begin, printk_char, printk_end, printk_hex, printk_str, printk_udec
from pyhv.cluster.nic_probe import nic_irq_ops, nic_probe

DEFAULT_WAIT_MS: Final = u32(60000)
DEFAULT_LINGER_MS: Final = u32(500)
DEFAULT_LOST_MS: Final = u32(10000)     # silence after which a peer we wait on is declared lost
MAX_LOST_MS: Final = u32(4000000)       # lost_after_us must fit a u32
IDLE_MAX_US_IRQ: Final = u32(100000)    # with the NIC interrupt: a frame wakes us; look around every 100 ms
IDLE_MAX_US_POLL: Final = u32(1000)     # without one: poll the NIC every millisecond


def cluster_boot_requested() -> bool:
    return bootarg_find("pyhv.role") != FDT_NONE


def _ticks_ms(ms: u32) -> u64:
    return u64(ms) * timer_freq_hz() // 1000


def _print_mac(mac: u64) -> None:
    for i in range(u32(0), u32(6)):
        if i != 0:
            printk_char(u8(0x3A))
        printk_hex((mac >> (u32(40) - i * 8)) & 0xFF, u32(2))


def _config(cfg: ClusterConfig, role: u32) -> bool:
    # False: a VM was asked for (pyhv.vm=1) and this node's RAM cannot hold its share (printed).
    info = hostinfo()
    cfg.role = role
    cid = bootarg_name_id("pyhv.cluster")
    cfg.cluster_id = cid if cid != FDT_NONE else cluster_name_id("pyhv")
    cfg.cpus = info.ncpus
    cfg.ram_bytes = info.ram_size
    if vm_cluster_requested():
        cfg.ram_bytes = vm_cluster_home_bytes()     # the home share of guest RAM (docs/dsm.md "Memory layout")
        if cfg.ram_bytes == 0:
            return False
    cfg.freq_hz = timer_freq_hz()
    cfg.min_nodes = bootarg_u32("pyhv.nodes", u32(1))
    # QEMU under TCG on a shared host: round trips of ~0.3-2 ms, scheduling stalls of milliseconds to tens
    # of ms. The retransmit timeout follows the measured round trips but never drops below 5 ms (and the
    # clock sync rejects samples slower than that floor).
    cfg.rto_init_us = u32(20000)
    cfg.rto_min_us = u32(5000)
    cfg.rto_max_us = u32(500000)
    cfg.ack_delay_us = u32(1000)
    cfg.keepalive_us = u32(500000)
    lost_ms = bootarg_u32("pyhv.lost_ms", DEFAULT_LOST_MS)
    cfg.lost_after_us = (lost_ms if lost_ms <= MAX_LOST_MS else MAX_LOST_MS) * 1000
    cfg.announce_us = u32(100000)
    cfg.resync_us = u32(200000)
    cfg.probe_gap_us = u32(2000)
    cfg.idle_max_us = IDLE_MAX_US_IRQ if _nic_irq_usable() else IDLE_MAX_US_POLL
    return True


def vm_cluster_requested() -> bool:
    # pyhv.vm=1: after formation the nodes run ONE VM together (pyhv/core/vm_cluster.py).
    return bootarg_eq("pyhv.vm", "1")


def _nic_irq_usable() -> bool:
    intid = nic_irq_ops().intid()
    return intid >= 32 and intid < gic_nr_irqs()


def _cluster_irq(intid: u32) -> bool:
    if intid != nic_irq_ops().intid():
        return False
    nic_irq_ops().irq()
    return True


CLUSTER_IRQ_OPS: Final = DeviceIrqOps(handle=_cluster_irq)


def _enable_irqs() -> None:
    # The EL2 timer wakes an idle node at its next deadline; the NIC's SPI (when the DTB names a usable
    # one) wakes it for a frame. Both on this CPU.
    gic_enable_ppi(TIMER_HYP_PPI, GIC_PRIO_DEFAULT)
    if _nic_irq_usable():
        trap_set_device_irq_ops(CLUSTER_IRQ_OPS)
        gic_enable_spi(nic_irq_ops().intid(), GIC_PRIO_DEFAULT)
        kprint("cluster: nic irq %u -> cpu 0\n", nic_irq_ops().intid())
    else:
        kprint("cluster: the nic has no usable interrupt (intid %u); polling it every %u us\n",
               nic_irq_ops().intid(), IDLE_MAX_US_POLL)


def _print_start() -> None:
    me = cluster_self()
    printk_begin()
    printk_str("cluster: start role=")
    printk_str("bootstrap" if me.cfg.role == ROLE_BOOTSTRAP else "joiner")
    printk_str(" name=")
    if bootarg_find("pyhv.cluster") != FDT_NONE:
        bootarg_print("pyhv.cluster")
    else:
        printk_str("pyhv")
    printk_str(" id=0x")
    printk_hex(u64(me.cfg.cluster_id), u32(4))
    printk_str(" mac ")
    _print_mac(me.mac)
    printk_str(" mtu ")
    printk_udec(u64(me.mtu))
    printk_str(" pcnt=")
    printk_udec(timer_now())
    printk_str("\n")
    printk_end()


def cluster_print_table() -> None:
    t = cluster_table()
    for i in range(u32(0), t.count):
        e = t.entries[i]
        printk_begin()
        printk_str("cluster: node ")
        printk_udec(u64(i))
        printk_str(" mac ")
        _print_mac(e.mac)
        printk_str(" cpus ")
        printk_udec(u64(e.vcpu_count))
        printk_str(" vcpus ")
        printk_udec(u64(e.vcpu_base))
        printk_str("-")
        printk_udec(u64(e.vcpu_base + e.vcpu_count - 1))
        printk_str(" ram ")
        printk_udec(e.ram_bytes >> 20)
        printk_str(" MiB mtu ")
        printk_udec(u64(e.mtu))
        printk_str("\n")
        printk_end()


def _serve_until(deadline: u64, markers: u64) -> bool:
    # Keep the node serving until `markers` markers arrived (True) or the deadline passed (False);
    # markers == 0: until the deadline.
    while timer_now() < deadline:
        if markers != 0 and marker_state().received >= markers:
            return True
        cluster_step()
    return markers == 0


def cluster_boot_main(console_base: u64) -> bool:
    # Without pyhv.vm=1 never returns: the node powers off at the end (or on any failure, with a message).
    # With it: True once this node's part of the VM across the cluster is set up and every node is ready
    # (the caller starts the CPUs and runs it: pyhv/core/vm_cluster.py); False after a failure (powered off).
    role = ROLE_JOINER
    if bootarg_eq("pyhv.role", "bootstrap"):
        role = ROLE_BOOTSTRAP
    elif not bootarg_eq("pyhv.role", "joiner"):
        kprint("cluster: pyhv.role must be bootstrap or joiner; powering off\n")
        power_off()
        return False
    if not nic_probe():
        kprint("cluster: without a NIC this node cannot join a cluster; powering off\n")
        power_off()
        return False
    clocksync_set_ops(CLOCK_SYSREG_OPS)
    cfg = ClusterConfig()
    if not _config(cfg, role):
        kprint("cluster: this node cannot take part in the VM; powering off\n")
        power_off()
        return False
    _enable_irqs()
    cluster_init(cfg)
    _print_start()
    wait = _ticks_ms(bootarg_u32("pyhv.wait_ms", DEFAULT_WAIT_MS))
    deadline = timer_now() + wait
    while not membership_booted():
        if timer_now() >= deadline:
            kprint("cluster: not formed within the wait (%u of %u nodes known); powering off\n",
                   cluster_table().count, cfg.min_nodes)
            cluster_print_net_stats()
            power_off()
            return False
        cluster_step()
    t = cluster_table()
    now = timer_now()
    kprint("cluster: formed, %u nodes, me=%u pcnt=%u vcnt=%u\n", t.count, u32(cluster_my_node()), now,
           clocksync_guest_counter())
    cluster_print_table()
    ck = clocksync_state()
    kprint("clock: node %u cntvoff=%d rtt_min=%u rounds=%u rejected=%u freq=%u\n", u32(cluster_my_node()),
           i64(ck.cntvoff), ck.min_rtt, ck.rounds, ck.rejected, timer_freq_hz())
    if vm_cluster_requested():
        if vm_cluster_barrier(vm_cluster_prepare(console_base)):
            return True
        vm_cluster_abort()
        return False
    burst = bootarg_u32("pyhv.burst", u32(0))
    if burst != 0:
        burst_run(burst, True, wait)
    pairs = bootarg_u32("pyhv.soak", u32(0))
    if pairs != 0:
        soak_run(pairs, bootarg_u32("pyhv.soak_window", u32(4)))
    markers = u64(bootarg_u32("pyhv.markers", u32(0)))
    if markers != 0:
        kprint("marker: waiting for %u markers\n", markers)
        if not _serve_until(timer_now() + wait, markers):
            kprint("marker: only %u of %u markers arrived\n", marker_state().received, markers)
    else:
        _serve_until(timer_now() + _ticks_ms(bootarg_u32("pyhv.linger_ms", DEFAULT_LINGER_MS)), u64(0))
    if pairs != 0:
        soak_report_served()
    if burst != 0:
        burst_report()
    ck = clocksync_state()
    kprint("clock: node %u final cntvoff=%d rtt_min=%u rounds=%u rejected=%u steps=%u\n",
           u32(cluster_my_node()), i64(ck.cntvoff), ck.min_rtt, ck.rounds, ck.rejected, ck.steps)
    cluster_print_net_stats()
    kprint("cluster: node %u powering off\n", u32(cluster_my_node()))
    power_off()
    return False
