"""Guest images for the boot tests: the default Linux guest (built by `pyhv guest build` under build/guest,
never by the tests: it downloads Debian packages) and small bare-metal guests assembled with keystone."""

from __future__ import annotations

import re
from pathlib import Path

from pyhv.host.bench_guest import GUEST_RAM_IPA, assemble  # noqa: F401  (re-exported for the tests)

REPO = Path(__file__).resolve().parents[2]
GUEST_DIR = REPO / "build" / "guest"


def linux_guest() -> tuple[Path, Path] | None:
    """(Image, initramfs) of the default guest, or None when `pyhv guest build` has not been run."""
    kernel, initrd = GUEST_DIR / "Image", GUEST_DIR / "initramfs.cpio"
    return (kernel, initrd) if kernel.is_file() and initrd.is_file() else None


# A guest that asks for the PSCI version over HVC, prints it on its PL011 (0x0900_0000) as
# "hello from the guest, psci version 0x10001" and powers the VM off.
HELLO_GUEST = """
    ldr x0, =0x84000000
    hvc #0
    mov x5, x0
    ldr x1, =0x09000000
    adr x2, msg
loop:
    ldrb w3, [x2], #1
    cbz w3, done
    str w3, [x1]
    b loop
done:
    add w3, w5, #0x30
    str w3, [x1]
    mov w3, #10
    str w3, [x1]
    ldr x0, =0x84000008
    hvc #0
hang:
    b hang
msg:
    .asciz "hello from the guest, psci version 0x1000"
"""


# A guest that misbehaves on purpose and prints one letter per answer it got right, then powers off:
#   N  an unknown SMCCC function (0xC2000005) answers NOT_SUPPORTED (-1)
#   A  a load from 0x0A00_0000 (no device) is answered with a synchronous external abort (its vector at
#      VBAR_EL1 + 0x200 notes it in x9 and steps over the load)
#   P  PSCI CPU_ON of an MPIDR the VM does not have answers INVALID_PARAMETERS (-2)
#   R  a write to the read-only GICD_TYPER is ignored (the value reads back unchanged)
BAD_GUEST = """
    adr x0, vectors
    msr vbar_el1, x0
    isb
    ldr x20, =0x09000000
    ldr x0, =0xC2000005
    hvc #0
    cmn x0, #1
    b.ne t2
    mov w3, #0x4e
    str w3, [x20]
t2:
    ldr x2, =0x0A000000
    mov x9, #0
    ldr w4, [x2]
    cmp x9, #1
    b.ne t3
    mov w3, #0x41
    str w3, [x20]
t3:
    ldr x0, =0xC4000003
    ldr x1, =0xFF00
    ldr x2, =0x40000000
    mov x3, #0
    hvc #0
    cmn x0, #2
    b.ne t4
    mov w3, #0x50
    str w3, [x20]
t4:
    ldr x2, =0x08000004
    ldr w5, [x2]
    mvn w6, w5
    str w6, [x2]
    ldr w7, [x2]
    cmp w5, w7
    b.ne t5
    mov w3, #0x52
    str w3, [x20]
t5:
    mov w3, #10
    str w3, [x20]
    ldr x0, =0x84000008
    hvc #0
hang:
    b hang
    .align 11
vectors:
    .skip 0x200
    mov x9, #1
    mrs x10, elr_el1
    add x10, x10, #4
    msr elr_el1, x10
    eret
"""


# A guest that checks its EL1 timers (pyhv/vdev/vptimer.py, vtimer.py) and prints one letter per check passed:
#   C  the physical counter lies between two reads of the virtual counter (both are the guest's time)
#   T  CNTP_TVAL = 100000 gives a CVAL 1..100000 ticks ahead of the physical counter
#   I  with IMASK set, ISTATUS rises by polling once the counter passes CVAL (no interrupt needed)
#   P  the physical timer interrupts once (INTID 30) when its handler masks it with IMASK, CVAL left behind
#   V  the same for the virtual timer (INTID 27): no interrupt storm (issue 13 item 2)
# GICv3 set-up: GICD_CTLR ARE + Group 1, redistributor 0 awake, PPIs 27/30 group 1, priority 0x80 (word
# writes; byte writes work too since issue 13's GICR_IPRIORITYR fix), enabled;
# ICC_SRE/PMR/IGRPEN1 by their S3_0_C12 encodings. Each interrupt check waits 20 ms with IRQs open.
TIMER_GUEST = """
    ldr x20, =0x09000000
    adr x0, vectors
    msr vbar_el1, x0
    isb
    mrs x1, cntvct_el0
    isb
    mrs x2, cntpct_el0
    isb
    mrs x3, cntvct_el0
    cmp x1, x2
    b.hi t_tval
    cmp x2, x3
    b.hi t_tval
    mov w4, #0x43
    str w4, [x20]
t_tval:
    ldr x1, =100000
    msr cntp_tval_el0, x1
    mrs x2, cntp_cval_el0
    mrs x3, cntpct_el0
    sub x4, x2, x3
    cmp x4, x1
    b.hi t_poll
    cbz x4, t_poll
    mov w4, #0x54
    str w4, [x20]
t_poll:
    mov x1, #3
    msr cntp_ctl_el0, x1
    mov x1, #1000
    msr cntp_tval_el0, x1
poll:
    mrs x2, cntp_ctl_el0
    tbz x2, #2, poll
    mrs x3, cntpct_el0
    mrs x4, cntp_cval_el0
    cmp x3, x4
    b.lo t_gic
    mov w4, #0x49
    str w4, [x20]
t_gic:
    mov x1, #0
    msr cntp_ctl_el0, x1
    ldr x1, =0x08000000
    mov w2, #0x12
    str w2, [x1]
    ldr x1, =0x080A0000
    ldr w2, [x1, #0x14]
    bic w2, w2, #2
    str w2, [x1, #0x14]
    ldr x1, =0x080B0000
    ldr w2, =0x48000000
    str w2, [x1, #0x80]
    ldr w3, =0x80808080
    str w3, [x1, #0x418]
    str w3, [x1, #0x41c]
    str w2, [x1, #0x100]
    mov x2, #1
    msr s3_0_c12_c12_5, x2
    isb
    mov x2, #0xf0
    msr s3_0_c4_c6_0, x2
    mov x2, #1
    msr s3_0_c12_c12_7, x2
    isb
    mov x10, #0
    mov x9, #0
    mrs x1, cntpct_el0
    msr cntp_cval_el0, x1
    mov x1, #1
    msr cntp_ctl_el0, x1
    msr daifclr, #2
    bl wait
    msr daifset, #2
    cmp x10, #1
    b.ne t_virt
    cmp x9, #30
    b.ne t_virt
    mov w4, #0x50
    str w4, [x20]
t_virt:
    mov x10, #0
    mov x9, #0
    mrs x1, cntvct_el0
    msr cntv_cval_el0, x1
    mov x1, #1
    msr cntv_ctl_el0, x1
    msr daifclr, #2
    bl wait
    msr daifset, #2
    cmp x10, #1
    b.ne done
    cmp x9, #27
    b.ne done
    mov w4, #0x56
    str w4, [x20]
done:
    mov w4, #10
    str w4, [x20]
    ldr x0, =0x84000008
    hvc #0
hang:
    b hang
wait:
    mrs x5, cntfrq_el0
    mov x6, #50
    udiv x5, x5, x6
    mrs x6, cntvct_el0
    add x5, x5, x6
spin:
    mrs x6, cntvct_el0
    cmp x6, x5
    b.lo spin
    ret
    .align 11
vectors:
    .skip 0x280
    mrs x11, s3_0_c12_c12_0
    add x10, x10, #1
    mov x9, x11
    cmp x11, #27
    b.ne not_virt
    mov x12, #3
    msr cntv_ctl_el0, x12
    b eoi
not_virt:
    cmp x11, #30
    b.ne eoi
    mov x12, #3
    msr cntp_ctl_el0, x12
eoi:
    msr s3_0_c12_c12_1, x11
    isb
    eret
"""


def guest_ram_mib(text: str, host_mib: int) -> int:
    """Guest RAM from pyhv's layout line (the reservation is sized at boot, pyhv/core/vmlayout.py)."""
    m = re.search(r"vm: host RAM (\d+) MiB: pyhv keeps (\d+) KiB, guest home (\d+) MiB", text)
    assert m is not None, text[-3000:]
    kept_kib, home_mib = int(m.group(2)), int(m.group(3))
    assert int(m.group(1)) == host_mib and kept_kib % 2048 == 0 and 2048 <= kept_kib <= 16 * 1024
    assert home_mib == host_mib - kept_kib // 1024
    return home_mib
