"""Guest images for the boot tests: the default Linux guest (built by `pyhv guest build` under build/guest,
never by the tests: it downloads Debian packages) and small bare-metal guests assembled with keystone."""

from __future__ import annotations

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
