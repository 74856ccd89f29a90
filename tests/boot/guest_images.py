"""Guest images for the boot tests: the default Linux guest (built by `pyhv guest build` under build/guest,
never by the tests: it downloads Debian packages) and small bare-metal guests assembled with keystone."""

from __future__ import annotations

from pathlib import Path

from keystone import KS_ARCH_ARM64, KS_MODE_LITTLE_ENDIAN, Ks

REPO = Path(__file__).resolve().parents[2]
GUEST_DIR = REPO / "build" / "guest"
GUEST_RAM_IPA = 0x4000_0000      # a flat binary is entered at the start of guest RAM (pyhv/core/loader.py)


def linux_guest() -> tuple[Path, Path] | None:
    """(Image, initramfs) of the default guest, or None when `pyhv guest build` has not been run."""
    kernel, initrd = GUEST_DIR / "Image", GUEST_DIR / "initramfs.cpio"
    return (kernel, initrd) if kernel.is_file() and initrd.is_file() else None


def assemble(source: str, base: int = GUEST_RAM_IPA) -> bytes:
    """A flat AArch64 binary linked at `base` (named labels only: keystone rejects numeric ones)."""
    code, _ = Ks(KS_ARCH_ARM64, KS_MODE_LITTLE_ENDIAN).asm(source, base)
    return bytes(code)


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
