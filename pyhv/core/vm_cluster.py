# ONE VM across the cluster, on the image (docs/cluster-vm.md "How a cluster VM starts"; docs/dsm.md). Every
# node runs this after the cluster formed (bootarg pyhv.vm=1):
#
#   before formation   vm_cluster_home_bytes: this node's layout (pyhv's reservation sized for a VM of up to
#                      pyhv.vm_max_nodes nodes like this one, home share, cache pool); the home share is the
#                      RAM this node announces in the cluster table
#   after BOOT         vm_cluster_prepare: the VmConfig from the table (vmconfig_cluster), stage 2 (home
#                      range mapped RWX, the rest faults in through the DSM), the DSM, the devices, vPSCI,
#                      the cross-node half (remote_vm_init); node 0 also loads the guest into its home pages
#                      and moves pyhv's log off the console
#   barrier            joiners send MSG_VM_READY; node 0 waits for every member (pyhv/core/vmready.py)
#   run                vm_cluster_run on CPU 0 after the other CPUs were started: node 0 becomes vCPU 0 at
#                      the kernel entry, every other CPU waits for its vCPU's PSCI CPU_ON; from now on the
#                      NIC interrupt and CPU 0's EL2 timer drive the cluster (pyhv/cluster/service.py)
#
# Local CPU c runs global vCPU vcpu_base + c; the DSM's vCPU index is c. A stage-2 fault on guest RAM calls
# dsm_fault_begin under the service lock and, if the page must come from another node, waits with the
# service's mark / check / sleep (other nodes' requests are served meanwhile, by whichever CPU polls).

from typing import Final

from pyhv.lang import Static, Struct, addr_of, irq_wait, kprint, range, symbol_addr, u8, u16, u32, u64

from pyhv.arch.gic import gic_version
from pyhv.arch.stage2 import stage2_init, stage2_install, stage2_map_range, stage2_pool_pages_for
from pyhv.arch.stage2_desc import S2_RWX
from pyhv.arch.timer import TIMER_HYP_PPI, timer_arm_ticks, timer_freq_hz, timer_now
from pyhv.arch.traps import DeviceIrqOps, trap_set_device_irq_ops
from pyhv.cluster.bootargs import bootarg_u32
from pyhv.cluster.node import cluster_send_wait, cluster_step
from pyhv.cluster.service import ServiceOps, service_irq, service_next_deadline, service_poll, service_set_ops
from pyhv.cluster.servicelock import service_start
from pyhv.cluster.table import cluster_my_node, cluster_table
from pyhv.cluster.transport import PEER_LOST, transport_peer_state
from pyhv.cluster.netstats import cluster_print_net_stats
from pyhv.cluster.nic_probe import nic_irq_ops
from pyhv.cluster.wire import MSG_POWER, MSG_VM_READY
from pyhv.core.console_rx import console_rx_claim, console_rx_init
from pyhv.core.guestfault import guestfault_set_ops
from pyhv.core.hostinfo import hostinfo
from pyhv.core.power import power_off
from pyhv.core.remote import POWER_MSG_BYTES, REMOTE_POWER_OFF, PowerMsg, remote_gic_kick, remote_service
from pyhv.core.remote_call import remote_vm_init
from pyhv.core.remote_uart import remote_uart_input, remote_uart_poll
from pyhv.core.remote_map import RemotePhysOps
from pyhv.core.vcpu import vcpu_run
from pyhv.core.vm import vm_activate, vm_find_payload, vm_load_guest, vm_parse_payload, vm_place_guest, \
    vm_secondary_main, vm_set_bootargs, vm_stage2_pool_pages
from pyhv.core.vm_devices import (
    VM_ERR_CONFIG, VM_ERR_MEMORY, VM_ERR_PAYLOAD, VM_OK, VM_UART_OPS, vm_log_console, vm_setup_devices,
)
from pyhv.core.vm_dsm import FAULT_SPIN_US, VM_DSM_FAULT_OPS, VM_DSM_OPS, vm_dsm_kick_cpu, vm_dsm_set_trace
from pyhv.core.vm_stats import vm_cluster_print_progress, vm_cluster_print_stats
from pyhv.core.vmconfig import VM_RAM_BASE, VMCFG_OK
from pyhv.core.vmconfig_cluster import vmconfig_cluster, vmconfig_guest_ram_bytes
from pyhv.core.vmlayout import VMLAYOUT_OK, NodeLayout, vm_layout_node, vm_layout_print
from pyhv.core.vmready import VM_READY_MSG_BYTES, VmReadyMsg, vmready_state
from pyhv.core.vmstate import vm_cpu_index, vm_state
from pyhv.core.vpsci import vpsci_init
from pyhv.core.wfx import WfeOps, wfx_set_wfe_ops
from pyhv.dsm.hold import dsm_hold_deadline
from pyhv.dsm.fault import dsm_init, dsm_poll
from pyhv.dsm.types import DSM_PAGE_BYTES, DsmConfig, dsm_meta_bytes, dsm_ops_set
from pyhv.vdev.vpl011 import vpl011_reset, vpl011_set_ops

SZ_8K: Final = u64(0x2000)
DEFAULT_MAX_NODES: Final = u32(4)        # pyhv.vm_max_nodes: the VM size pyhv's reservation is sized for
READY_WAIT_S: Final = u64(60)            # how long node 0 waits for every member's MSG_VM_READY
WFE_SLEEP_US: Final = u64(50)           # longest sleep of a trapped WFE


class VmCluster(Struct):
    layout: NodeLayout
    stats_ticks: u64        # pyhv.vm_stats_s: print the counters this often while the VM runs (0: never)
    stats_next: u64
    max_nodes: u32          # pyhv.vm_max_nodes at layout time
    s2_pool_base: u64
    meta_base: u64


_vc: Final = Static(VmCluster)


# --- before formation: this node's share ------------------------------------------------------------------

def _image_end() -> u64:
    return (symbol_addr("_end") + SZ_8K - 1) & ~(SZ_8K - 1)


def vm_cluster_home_bytes() -> u64:
    # This node's home share of guest RAM (what it announces in the cluster table), 0 if the node is too
    # small (printed). pyhv's reservation is sized for a VM of up to pyhv.vm_max_nodes nodes of this size:
    # the stage-2 pool for that much guest RAM, the DSM's tables for that many pages.
    info = hostinfo()
    vc = _vc.get()
    n = bootarg_u32("pyhv.vm_max_nodes", DEFAULT_MAX_NODES)
    vc.max_nodes = n if n >= 2 and n <= 16 else DEFAULT_MAX_NODES
    guest_bound = info.ram_size * u64(vc.max_nodes)
    s2_pages = stage2_pool_pages_for(guest_bound) + (vc.max_nodes - 1) * 4
    host_pages = info.ram_size // DSM_PAGE_BYTES
    meta = dsm_meta_bytes(guest_bound // DSM_PAGE_BYTES, host_pages, host_pages)
    lay = vc.layout
    if vm_layout_node(info.ram_size, guest_bound // DSM_PAGE_BYTES, u32(2), _image_end() - info.ram_base,
                      u64(s2_pages), meta, lay) != VMLAYOUT_OK:
        return u64(0)
    vc.s2_pool_base = _image_end()
    vc.meta_base = vc.s2_pool_base + lay.s2_pool_bytes
    vm_layout_print(lay)
    kprint("vm: reservation sized for a VM of up to %u nodes of %u MiB (pyhv.vm_max_nodes)\n", vc.max_nodes,
           u32(info.ram_size >> 20))
    return lay.home_bytes


# --- the cluster service on this node --------------------------------------------------------------------

def _wfe_sleep() -> None:
    # A trapped WFE: sleep until any interrupt, at most WFE_SLEEP_US (the guest's own event stream is
    # 100 us). CPU 0's EL2 timer is also the cluster timer: never later than the next cluster deadline (the
    # poll in the timer interrupt re-arms it).
    now = timer_now()
    deadline = now + timer_freq_hz() * WFE_SLEEP_US // 1000000
    if vm_cpu_index() == 0:
        nd = service_next_deadline()
        if nd < deadline:
            deadline = nd
    timer_arm_ticks(deadline - now if deadline > now else u64(1))
    irq_wait()


VM_WFE_OPS: Final = WfeOps(sleep=_wfe_sleep)


def _after_poll() -> None:
    dsm_poll()
    remote_service()
    remote_uart_poll()
    vc = _vc.get()
    if vc.stats_ticks != 0 and timer_now() >= vc.stats_next:
        vc.stats_next = timer_now() + vc.stats_ticks
        vm_cluster_print_progress()


VM_SERVICE_OPS: Final = ServiceOps(this_cpu=vm_cpu_index, wake_cpu=vm_dsm_kick_cpu, after_poll=_after_poll,
                                   next_deadline=dsm_hold_deadline)


def _irq(intid: u32) -> bool:
    # CPU 0, while the VM runs: the NIC's interrupt, and (offered by vcpu.py after its own handling) the EL2
    # timer, armed at the next cluster deadline by every poll.
    if intid == nic_irq_ops().intid():
        nic_irq_ops().irq()
        service_irq()
        return True
    if intid == TIMER_HYP_PPI:
        service_irq()
        return True
    if console_rx_claim(intid):         # node 0: host input for the guest console, wherever the UART is
        remote_uart_input()
        return True
    return False


VM_CLUSTER_IRQ_OPS: Final = DeviceIrqOps(handle=_irq)


def _power_off() -> None:
    vm_cluster_print_stats()
    power_off()


VM_CLUSTER_PHYS_OPS: Final = RemotePhysOps(kick=remote_gic_kick, power_off=_power_off)


# --- after BOOT: this node's part of the VM ---------------------------------------------------------------

def _setup_dsm(me: u16) -> u32:
    st = vm_state()
    cfg = st.cfg
    vc = _vc.get()
    lay = vc.layout
    info = hostinfo()
    d = DsmConfig()
    d.ram_ipa_base = VM_RAM_BASE
    d.home_host_base = info.ram_base + lay.home_offset
    d.pool_host_base = info.ram_base + lay.pool_offset
    d.meta_host_base = vc.meta_base
    d.pool_pages = u32(lay.pool_pages)
    d.nodes = cfg.nr_mem
    d.vcpus = info.ncpus
    d.me = me
    for n in range(u32(0), cfg.nr_mem):
        d.first_gpn[n] = u32((cfg.mem[n].ipa_base - VM_RAM_BASE) // DSM_PAGE_BYTES)
        d.home_pages[n] = u32(cfg.mem[n].size_bytes // DSM_PAGE_BYTES)
    total = vmconfig_guest_ram_bytes(cfg) // DSM_PAGE_BYTES
    need = dsm_meta_bytes(total, u64(d.home_pages[me]), lay.pool_pages)
    if need > lay.dsm_meta_bytes:
        kprint("vm: the DSM needs %u KiB of tables for this VM, the reservation has %u KiB: boot every node "
               "with pyhv.vm_max_nodes=%u\n", u32(need >> 10), u32(lay.dsm_meta_bytes >> 10), cfg.nr_mem)
        return VM_ERR_MEMORY
    dsm_ops_set(VM_DSM_OPS)
    dsm_init(d)
    guestfault_set_ops(VM_DSM_FAULT_OPS)
    return VM_OK


def _setup_stage2(me: u16) -> u32:
    st = vm_state()
    cfg = st.cfg
    vc = _vc.get()
    pages = vm_stage2_pool_pages(cfg)
    if u64(pages) * 4096 > vc.layout.s2_pool_bytes:
        kprint("vm: this VM needs %u stage-2 table pages, the reservation has %u: boot every node with "
               "pyhv.vm_max_nodes=%u\n", pages, u32(vc.layout.s2_pool_bytes // 4096), cfg.nr_mem)
        return VM_ERR_MEMORY
    stage2_init(vc.s2_pool_base, pages)
    stage2_install()
    home = cfg.mem[me]
    stage2_map_range(home.ipa_base, hostinfo().ram_base + vc.layout.home_offset, home.size_bytes, S2_RWX)
    return VM_OK


def vm_cluster_prepare(console_base: u64) -> u32:
    # On CPU 0 of every node once the cluster table is final. VM_OK or a VM_ERR_* (reported).
    st = vm_state()
    t = cluster_table()
    me = cluster_my_node()
    info = hostinfo()
    service_set_ops(VM_SERVICE_OPS)
    if me == 0 and not vm_find_payload():
        kprint("vm: pyhv.vm=1 but node 0 has no guest payload (QEMU -initrd payload.bin)\n")
        return VM_ERR_PAYLOAD
    if me == 0 and vm_parse_payload() != VM_OK:
        return VM_ERR_PAYLOAD
    total_vcpus = u32(0)
    for n in range(u32(0), t.count):
        total_vcpus += t.entries[n].vcpu_count
    if vmconfig_cluster(st.cfg, t, total_vcpus, u32(0), gic_version()) != VMCFG_OK:
        return VM_ERR_CONFIG
    st.nr_vcpus = st.cfg.nr_vcpus
    st.vcpu_base = t.entries[me].vcpu_base
    st.ram_host_base = info.ram_base + _vc.get().layout.home_offset   # host PA of this node's home region
    err = VM_OK
    if me == 0:
        # The guest is placed in node 0's region (cfg.mem[0]); vm_ipa_to_host is meaningful here only.
        st.guest_uart_base = console_base
        err = vm_set_bootargs()
        if err == VM_OK:
            err = vm_place_guest()
    if err == VM_OK:
        err = _setup_stage2(me)
    if err == VM_OK:
        err = _setup_dsm(me)
    if err == VM_OK:
        err = vm_setup_devices()
    if err == VM_OK and me == 0:
        err = vm_load_guest()
    if err != VM_OK:
        return err
    if me == 0:
        console_rx_init(console_base)   # host input -> the vPL011 (before its reset masks the host RX irq)
    vpl011_set_ops(VM_UART_OPS)
    vpl011_reset()
    vpsci_init(st.cfg, u32(0))
    remote_vm_init(VM_CLUSTER_PHYS_OPS)
    cfg = st.cfg
    kprint("vm: node %u: vcpus %u-%u of %u, home ipa 0x%x (%u MiB), guest ram %u MiB on %u nodes, gic v%u\n",
           u32(me), st.vcpu_base, st.vcpu_base + info.ncpus - 1, cfg.nr_vcpus, cfg.mem[me].ipa_base,
           u32(cfg.mem[me].size_bytes >> 20), u32(vmconfig_guest_ram_bytes(cfg) >> 20), cfg.nr_mem,
           cfg.gic_version)
    if me == 0:
        vm_log_console(console_base)
    return VM_OK


def _report_ready(status: u32) -> None:
    m = VmReadyMsg()
    m.status = status
    cluster_send_wait(u16(0), MSG_VM_READY, u8(0), u32(0), addr_of(m), VM_READY_MSG_BYTES)


def _all_ready() -> bool:
    # Node 0: every joiner reported. Prints and powers the cluster off when one failed or was lost.
    t = cluster_table()
    r = vmready_state()
    deadline = timer_now() + timer_freq_hz() * READY_WAIT_S
    want = ((u32(1) << t.count) - 1) & ~u32(1)
    while (r.ready & want) != want:
        if r.failed != 0:
            return False
        for n in range(u32(1), t.count):
            if transport_peer_state(u16(n)) == PEER_LOST:
                kprint("vm: node %u was lost before the VM started\n", n)
                return False
        if timer_now() >= deadline:
            kprint("vm: not every node set up its part of the VM within %u s (ready mask 0x%x of 0x%x)\n",
                   u32(READY_WAIT_S), r.ready, want)
            return False
        cluster_step()
    return True


def vm_cluster_barrier(prepared: u32) -> bool:
    # After vm_cluster_prepare on every node (CPU 0, before the other CPUs start). True: run the VM.
    me = cluster_my_node()
    if me != 0:
        _report_ready(prepared)
        return prepared == VM_OK
    if prepared != VM_OK or not _all_ready():
        kprint("vm: the VM does not start\n")
        return False
    kprint("vm: every node is ready; starting vCPU 0\n")
    return True


def vm_cluster_abort() -> None:
    # The VM does not start. Node 0 tells every other member to power off (MSG_POWER, as a guest
    # SYSTEM_OFF would), lets the frames go out, then every node powers off with its counters.
    t = cluster_table()
    if cluster_my_node() == 0:
        m = PowerMsg()
        m.kind = REMOTE_POWER_OFF
        m.vcpu = u32(0)
        for n in range(u32(1), t.count):
            if transport_peer_state(u16(n)) != PEER_LOST:
                cluster_send_wait(u16(n), MSG_POWER, u8(0), u32(0), addr_of(m), POWER_MSG_BYTES)
        deadline = timer_now() + timer_freq_hz() // 10
        while timer_now() < deadline:
            cluster_step()
    cluster_print_net_stats()
    power_off()


def vm_cluster_activate() -> None:
    # Before the other CPUs start: from now on the NIC interrupt and CPU 0's EL2 timer serve the cluster.
    vc = _vc.get()
    vc.stats_ticks = u64(bootarg_u32("pyhv.vm_stats_s", u32(0))) * timer_freq_hz()
    vc.stats_next = timer_now() + vc.stats_ticks
    vm_dsm_set_trace(bootarg_u32("pyhv.dsm_trace", u32(0)), bootarg_u32("pyhv.fault_spin_us", FAULT_SPIN_US))
    vm_activate()
    service_start()
    trap_set_device_irq_ops(VM_CLUSTER_IRQ_OPS)
    vm_state().trap_wfe = True
    wfx_set_wfe_ops(VM_WFE_OPS)


def vm_cluster_run() -> None:
    # CPU 0 of every node, after vm_cluster_activate and the start of the other CPUs. Never returns.
    service_poll()                      # arms CPU 0's cluster timer
    if cluster_my_node() == 0:
        cfg = vm_state().cfg
        vcpu_run(u32(0), cfg.kernel_ipa, cfg.dtb_ipa)
        return
    vm_secondary_main(u64(0))
