# EL2 exception handlers called by the vectors in runtime/asm (docs/runtime.md): synchronous exceptions,
# IRQs, and everything else (FIQ, SError, vectors we never expect). Once a VM runs (trap_set_guest_ops,
# pyhv/core/vm.py), exceptions taken from the guest and every IRQ go to the vCPU code (pyhv/core/vcpu.py)
# through the GuestTrapOps slot, so arch never imports core. Otherwise the syndrome is decoded once
# (pyhv/arch/esr.py); only BRK is survivable at EL2 (the trap self-test), anything else is reported and
# panics. IRQs are acknowledged at the GIC, dispatched, and ended. A physical SError taken from the guest
# (HCR_EL2.AMO routes it here) is the guest's: it gets a virtual SError (HCR_EL2.VSE, ARM DDI 0487 D1.14.x
# "Virtual SError"; the hardware clears VSE when the guest takes it) and a rate-limited warning.

from typing import Callable, Final

from pyhv.lang import (
    range, Ops, OpsSlot, PerCpu, Static, Struct, isb, kprint, panic, sysreg_read, sysreg_write, u32, u64,
)

from pyhv.arch.esr import EC_BRK64, Esr, esr_decode, esr_ec_name
from pyhv.arch.frame import TrapFrame
from pyhv.arch.gic import GIC_FIRST_SPECIAL, gic_ack, gic_eoi
from pyhv.arch.timer import TIMER_HYP_PPI, timer_handle_irq
from pyhv.core.printk import printk_begin, printk_cstr_at, printk_end, printk_hex, printk_str
from pyhv.core.ratelimit import RateLimit, ratelimit_allow
from pyhv.core.symtab import SymHit, symtab_lookup

BRK_INSN_BYTES: Final = u64(4)          # BRK is always a 32-bit A64 instruction
HCR_VSE: Final = u64(1 << 8)            # HCR_EL2.VSE: a virtual SError is pending for EL1
VECTOR_GROUP_LOWER_A64: Final = u64(2)  # vector groups (kind >> 2) taken from a lower EL
VECTOR_GROUP_LOWER_A32: Final = u64(3)
VECTOR_KIND_SERROR: Final = u64(3)
TRAP_WARN_BURST: Final = u32(10)


class TrapCpu(Struct):
    brks: u64               # BRK traps taken and skipped
    spurious_irqs: u64      # acknowledges that returned INTID 1020-1023
    unhandled_irqs: u64     # INTIDs nobody handles


class GuestTrapOps(Ops):
    sync: Callable[[TrapFrame], None]   # a synchronous exception taken from the guest (EL1/EL0)
    irq: Callable[[TrapFrame], None]    # any IRQ while a VM is active (from the guest or from irq_wait)


class GuestTraps(Struct):
    installed: bool
    serrors: u64            # guest SErrors turned into virtual SErrors
    rl: RateLimit


class DeviceIrqOps(Ops):
    # Host device interrupts (SPIs) pyhv itself owns, e.g. the cluster NIC's. One table per node: its
    # owner dispatches among its devices. Runs on the CPU the SPI is routed to, with IRQs masked.
    handle: Callable[[u32], bool]       # (intid) True if one of this table's devices raised it


class DeviceIrqs(Struct):
    installed: bool


_trap_cpu: Final = PerCpu(TrapCpu)
_guest_traps: Final = Static(GuestTraps)
_guest_ops: Final = OpsSlot(GuestTrapOps)
_device_irqs: Final = Static(DeviceIrqs)
_device_ops: Final = OpsSlot(DeviceIrqOps)


def trap_set_guest_ops(ops: GuestTrapOps) -> None:
    # pyhv/core/vm.py, once the VM is set up: guest exceptions go to the vCPU code from now on.
    _guest_ops.set(ops)
    _guest_traps.get().installed = True


def trap_set_device_irq_ops(ops: DeviceIrqOps) -> None:
    _device_ops.set(ops)
    _device_irqs.get().installed = True


def trap_device_irq(intid: u32) -> bool:
    # Hand `intid` to the device interrupt table (called before the EOI); False if nobody claims it.
    if not _device_irqs.get().installed:
        return False
    return _device_ops.get().handle(intid)


def _from_lower_el(f: TrapFrame) -> bool:
    return (f.spsr & 0xC) != 0x8           # SPSR_EL2.M[3:2] = exception level taken from


def trap_brk_count() -> u64:
    return _trap_cpu.get().brks


def trap_print_addr_symbol(addr: u64) -> None:
    # "<name+0xoff>", or "<?>" when the address precedes every symbol. Call between printk_begin/end.
    hit = SymHit()
    if symtab_lookup(addr, hit):
        printk_str("<")
        printk_cstr_at(hit.name_addr)
        printk_str("+0x")
        printk_hex(hit.offset, u32(0))
        printk_str(">")
    else:
        printk_str("<?>")


def _print_trap_line(f: TrapFrame) -> None:
    # trap: ESR_EL2=0x<esr> ELR_EL2=0x<elr> <symbol+0xoff>
    printk_begin()
    printk_str("trap: ESR_EL2=0x")
    printk_hex(f.esr, u32(0))
    printk_str(" ELR_EL2=0x")
    printk_hex(f.elr, u32(0))
    printk_str(" ")
    trap_print_addr_symbol(f.elr)
    printk_str("\n")
    printk_end()


def _print_frame(f: TrapFrame, e: Esr) -> None:
    kprint("  EC=0x%x (%s) IL=%u ISS=0x%x FAR_EL2=0x%x SPSR_EL2=0x%x SP=0x%x\n",
           e.ec, esr_ec_name(e.ec), u32(1) if e.il else u32(0), e.iss, f.far, f.spsr, f.sp)
    for i in range(u32(31)):
        if (i & 3) == 3 or i == 30:
            kprint("  x%u=0x%016x\n", u32(i), f.x[i])
        else:
            kprint("  x%u=0x%016x", u32(i), f.x[i])


def arch_trap_sync(f: TrapFrame) -> None:
    if _guest_traps.get().installed and _from_lower_el(f):
        _guest_ops.get().sync(f)
        return
    e = Esr()
    esr_decode(f.esr, e)
    _print_trap_line(f)
    if e.ec == EC_BRK64:
        _trap_cpu.get().brks += 1
        f.elr += BRK_INSN_BYTES
        return
    _print_frame(f, e)
    panic("unhandled synchronous exception at EL2")


def arch_trap_irq(f: TrapFrame) -> None:
    if _guest_traps.get().installed:
        _guest_ops.get().irq(f)
        return
    intid = gic_ack()
    if intid >= GIC_FIRST_SPECIAL:
        _trap_cpu.get().spurious_irqs += 1
        return
    if intid == TIMER_HYP_PPI:
        timer_handle_irq()
    elif not trap_device_irq(intid):
        _trap_cpu.get().unhandled_irqs += 1
        kprint("warning: irq %u has no handler\n", intid)
    gic_eoi(intid)


def _vector_name(kind: u64) -> str:
    # Vector table slots: 4 groups (EL2 with SP_EL0, EL2 with SP_EL2, lower EL AArch64, lower EL AArch32)
    # of 4 kinds (synchronous, IRQ, FIQ, SError).
    k = kind & 3
    if k == 0:
        return "synchronous"
    if k == 1:
        return "irq"
    if k == 2:
        return "fiq"
    return "serror"


def arch_trap_unexpected(f: TrapFrame, kind: u64) -> None:
    g = _guest_traps.get()
    group = kind >> 2
    if g.installed and (kind & 3) == VECTOR_KIND_SERROR and \
            (group == VECTOR_GROUP_LOWER_A64 or group == VECTOR_GROUP_LOWER_A32):
        g.serrors += 1
        if ratelimit_allow(g.rl, TRAP_WARN_BURST):
            kprint("guest serror (esr 0x%x) at pc 0x%x: virtual serror injected\n", f.esr, f.elr)
        sysreg_write("hcr_el2", sysreg_read("hcr_el2") | HCR_VSE)
        isb()
        return
    _print_trap_line(f)
    kprint("unexpected exception: vector %u (%s), group %u\n", kind, _vector_name(kind), kind >> 2)
    e = Esr()
    esr_decode(f.esr, e)
    _print_frame(f, e)
    panic("unexpected exception at EL2")
