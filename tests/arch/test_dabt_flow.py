"""A guest MMIO access end to end, as the trap handler will drive it: data abort with ISV=0 -> the
instruction fetched through the guest's stage 1 and stage 2 -> typed accesses -> mmio_dispatch on a fake
device -> loaded values, base writeback and ELR in the frame."""

from __future__ import annotations

from keystone import KS_ARCH_ARM64, KS_MODE_LITTLE_ENDIAN, Ks

from pyhv.lang import u32, u64

from pyhv.arch.decode import DECODE_OK, DecodedDabt, decode_complete, decode_dabt, decode_fault_ipa
from pyhv.arch.frame import TrapFrame
from pyhv.core.mmio import (
    MMIO_HANDLED, MMIO_REG_OK, MMIO_W32, MmioCatalog, MmioDevice, RegRow, mmio_dispatch, mmio_register,
    mmio_set_catalog,
)

from .conftest import Board
from .guestpt import GUEST_RAM_IPA, HOST_RAM_PA, GuestTables, enable_stage1, setup_guest_ram, tcr

DEV_IPA = 0x0900_0000
DEV_VA = 0xFFFF_0000_0800_0000
CODE_VA = 0xFFFF_0000_0010_0000


def test_ldp_with_writeback_from_a_kernel_va_completes_into_the_frame(board: Board) -> None:
    setup_guest_ram(board)
    pt = GuestTables(board, 48)
    pt.map(CODE_VA, GUEST_RAM_IPA + 0x2000)
    enable_stage1(board, tcr(t0sz=16, t1sz=16), ttbr1=pt.root)
    word = bytes(Ks(KS_ARCH_ARM64, KS_MODE_LITTLE_ENDIAN).asm("ldp w1, w2, [x3, #8]!")[0])
    board.node.ram.write(HOST_RAM_PA + 0x2010, word)

    reads: list[int] = []

    def read_reg(vcpu: u32, off: u32) -> u64:
        reads.append(int(off))
        return u64(0xA000_0000 + int(off))

    rows = (RegRow(offset=u32(0x8), size_bytes=u32(8), widths=MMIO_W32, read=read_reg,
                   write=lambda v, o, x: None),)
    dev = MmioDevice(row_count=lambda: u32(len(rows)), row=lambda i: rows[int(i)])
    mmio_set_catalog(MmioCatalog(device=lambda i: dev))
    assert mmio_register(u64(DEV_IPA), u64(0x1000), u32(0)) == MMIO_REG_OK

    f = TrapFrame()
    f.x[3] = u64(DEV_VA)
    f.elr, f.spsr = u64(CODE_VA + 0x10), u64(0x3C5)
    f.esr, f.far = u64(0x24 << 26 | 1 << 25 | 0x06), u64(DEV_VA + 8)   # translation fault level 2, read
    board.cpu.sysregs["hpfar_el2"] = (DEV_IPA >> 12) << 4

    d = DecodedDabt()
    ipa = decode_fault_ipa(f.far, u64(board.cpu.sysregs["hpfar_el2"]))
    assert decode_dabt(f, ipa, d) == DECODE_OK and int(d.count) == 2
    for k in range(int(d.count)):
        assert mmio_dispatch(u32(0), d.acc[k]) == MMIO_HANDLED
    decode_complete(f, d)
    assert reads == [0, 4]
    assert (int(f.x[1]), int(f.x[2]), int(f.x[3])) == (0xA000_0000, 0xA000_0004, DEV_VA + 8)
    assert int(f.elr) == CODE_VA + 0x14
