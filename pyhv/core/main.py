# Boot flow of the first hypervisor image: discover the board from the host DTB, bring up the console,
# the GIC, every CPU's EL2 timer interrupt and the exception frame, report each step on the console
# (docs/boot-log.md lists the exact lines), then power the node off.
#
#   boot CPU (hv_main)                        secondary CPU i (hv_secondary_main)
#   fdt -> console -> banner/cpus/ram
#   GIC distributor + CPU interface
#   CPU_ON / spin-table release  ───────────▶ GIC CPU interface, one timer IRQ, "cpu i: ... ok", done++
#   own timer IRQ, done++
#   BRK self-test ("trap:", "frame check:")
#   wait for done == N (timeout) -> power off

from typing import Final

from pyhv.lang import (
    range,
    ACQ_REL, ACQUIRE, Atomic, Static, Struct, asm_function, cpu_relax, irq_wait, kprint, panic, sev,
    sysreg_read, u32, u64, wfe,
)

from pyhv.arch.cpu import arch_cpu_init, arch_cpu_mpidr
from pyhv.arch.gic import (
    GIC_PRIO_DEFAULT, gic_enable_ppi, gic_init_cpu, gic_init_dist, gic_nr_irqs, gic_version,
)
from pyhv.arch.psci import PSCI_SUCCESS, psci_cpu_on, spin_table_release
from pyhv.arch.timer import TIMER_HYP_PPI, timer_arm_ticks, timer_freq_hz, timer_irq_count, timer_now
from pyhv.arch.traps import trap_brk_count
from pyhv.cluster.boot import cluster_boot_main, cluster_boot_requested
from pyhv.core.devices import devices_probe_console, devices_probe_gic, devices_probe_power
from pyhv.core.fdt import FDT_NONE, fdt_addr, fdt_init
from pyhv.core.hostinfo import (
    ENABLE_METHOD_PSCI, ENABLE_METHOD_SPIN_TABLE, MAX_CPUS, HostInfo, hostinfo, hostinfo_discover,
)
from pyhv.core.panic import panic_at  # noqa: F401  (linked, not called: the C build's panic() lowers to it)
from pyhv.core.power import power_off
from pyhv.core.printk import (
    NULL_CONSOLE_OPS, printk_begin, printk_cstr_at, printk_end, printk_set_console, printk_str,
)
from pyhv.core.vm_cluster import vm_cluster_activate, vm_cluster_run
from pyhv.core.vm import vm_find_payload, vm_prepare, vm_secondary_main, vm_start
from pyhv.core.vm_devices import VM_OK
from pyhv.core.vmstate import vm_is_active

PYHV_VERSION: Final = "0.1.0"
TIMER_TEST_DELAY_DIV: Final = u64(1000)     # arm the test timer 1/1000 s (1 ms) ahead
ALL_CPUS_TIMEOUT_S: Final = u64(5)          # how long the boot CPU waits for the secondaries
CURRENT_EL_EL2: Final = u64(2 << 2)         # CurrentEL value at EL2


class BootState(Struct):
    cpus_done: Atomic[u32]      # CPUs (boot CPU included) that took their timer interrupt


_boot: Final = Static(BootState)


@asm_function
def pyhv_trap_selftest() -> u64:
    # runtime/asm: loads patterns into x1-x28, `brk #0x42`, returns a mask of registers that changed.
    ...


def _take_timer_irq(cpu: u64) -> None:
    # Arm this CPU's EL2 timer 1 ms ahead, sleep until its interrupt was handled, report, count.
    before = timer_irq_count()
    gic_enable_ppi(TIMER_HYP_PPI, GIC_PRIO_DEFAULT)
    timer_arm_ticks(timer_freq_hz() // TIMER_TEST_DELAY_DIV)
    while timer_irq_count() == before:
        irq_wait()
    mpidr = arch_cpu_mpidr()
    kprint("cpu %u: mpidr 0x%x timer irq %u ok\n", cpu, mpidr, TIMER_HYP_PPI)
    _boot.get().cpus_done.fetch_add(u32(1), ACQ_REL)
    sev()


def hv_secondary_main(cpu: u64) -> None:
    # Entered on each secondary CPU (index `cpu`) from pyhv_secondary_entry / pyhv_spin_entry.
    arch_cpu_init()
    gic_init_cpu()
    if vm_is_active():
        vm_secondary_main(cpu)         # a guest payload was found: this CPU runs vCPU `cpu`
        return
    _take_timer_irq(cpu)
    while True:
        wfe()


def _print_banner(info: HostInfo) -> None:
    printk_begin()
    printk_str("pyhv ")
    printk_str(PYHV_VERSION)
    printk_str(": EL2 on ")
    if info.model_off != FDT_NONE:
        printk_cstr_at(fdt_addr(info.model_off))
    else:
        printk_str("unknown board")
    printk_str("\n")
    printk_end()


def _start_secondaries(info: HostInfo) -> None:
    for i in range(u32(1), info.ncpus):
        cpu = info.cpus[i]
        if cpu.enable_method == ENABLE_METHOD_PSCI:
            status = psci_cpu_on(cpu.mpidr, u64(i))
            if status != PSCI_SUCCESS:
                kprint("cpu %u: PSCI CPU_ON of mpidr 0x%x failed: %d\n", u32(i), cpu.mpidr, status)
        elif cpu.enable_method == ENABLE_METHOD_SPIN_TABLE:
            spin_table_release(cpu.release_addr)
        else:
            kprint("cpu %u: mpidr 0x%x has no usable enable-method; not started\n", u32(i), cpu.mpidr)


def _wait_for_cpus(ncpus: u32) -> u32:
    # Spin until every CPU reported or ALL_CPUS_TIMEOUT_S passed; returns how many reported.
    deadline = timer_now() + timer_freq_hz() * ALL_CPUS_TIMEOUT_S
    done = _boot.get().cpus_done.load(ACQUIRE)
    while done < ncpus and timer_now() < deadline:
        cpu_relax()
        done = _boot.get().cpus_done.load(ACQUIRE)
    return done


def _frame_check() -> u64:
    # The BRK self-test: the handler must run once and every register must survive the round trip.
    brks = trap_brk_count()
    mask = pyhv_trap_selftest()
    if trap_brk_count() != brks + 1:
        kprint("frame check: FAILED (the brk trap was not taken)\n")
        return u64(0xFFFFFFFFFFFFFFFF)
    if mask == 0:
        kprint("frame check: ok\n")
    else:
        kprint("frame check: FAILED mask 0x%x\n", mask)
    return mask


def hv_main(dtb: u64) -> None:
    printk_set_console(NULL_CONSOLE_OPS)
    if (sysreg_read("currentel") & 0xC) != CURRENT_EL_EL2:
        panic("pyhv must be entered at EL2")
    arch_cpu_init()
    fdt_init(dtb)
    console = devices_probe_console()
    hostinfo_discover(arch_cpu_mpidr())
    info = hostinfo()
    _print_banner(info)
    kprint("cpus: %u\n", info.ncpus_in_dtb)
    if info.ncpus_in_dtb > MAX_CPUS:
        kprint("warning: the DTB lists %u cpus; pyhv uses the first %u (MAX_CPUS)\n", info.ncpus_in_dtb,
               MAX_CPUS)
    kprint("ram: %u MiB at 0x%x\n", info.ram_size >> 20, info.ram_base)
    devices_probe_gic()
    gic_init_dist()
    gic_init_cpu()
    kprint("gic: v%u, %u irqs\n", gic_version(), gic_nr_irqs())
    kprint("counter: %u Hz\n", timer_freq_hz())
    kprint("console: pl011 at 0x%x\n", console)
    devices_probe_power()
    if cluster_boot_requested():
        # pyhv.role= in the bootargs: cluster bring-up, then power off, or (pyhv.vm=1) one VM across the
        # cluster: this node's CPUs run their vCPUs (docs/cluster-vm.md).
        if cluster_boot_main(console):
            vm_cluster_activate()
            _start_secondaries(info)
            vm_cluster_run()
        return
    if vm_find_payload():
        # A guest payload instead of the self-test (docs/vm-model.md): set the VM up, start the other
        # CPUs (they wait for the guest's CPU_ON), become vCPU 0.
        if vm_prepare(console) == VM_OK:
            _start_secondaries(info)
            vm_start()
            return
        kprint("pyhv: the guest could not be started, powering off\n")
        power_off()
        return
    _start_secondaries(info)
    _take_timer_irq(u64(0))
    mask = _frame_check()
    done = _wait_for_cpus(info.ncpus)
    if done == info.ncpus:
        kprint("all %u cpus took a timer interrupt\n", done)
    else:
        kprint("only %u of %u cpus took a timer interrupt\n", done, info.ncpus)
    if done == info.ncpus and mask == 0:
        kprint("pyhv: self-test passed, powering off\n")
    else:
        kprint("pyhv: self-test FAILED, powering off\n")
    power_off()
