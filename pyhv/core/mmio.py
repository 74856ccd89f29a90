# Emulated MMIO (docs/vm-model.md): the typed access the decoder produces (MmioAccess), the register-table
# shapes every emulated device uses (RegRow rows in one constant table per device, reached through an
# MmioDevice record), the VM's region table (which IPA range belongs to which device), and the dispatch
# from an access to a row's read/write function.
#
#   guest access -> MmioAccess -> mmio_dispatch: region (base, size, device index)
#                                   -> catalogue.device(index) -> rows: offset, size_bytes, widths
#                                   -> row.read(vcpu, offset in row) / row.write(vcpu, offset in row, value)
#
# An offset that matches no row, or an access width a row does not allow, is RAZ/WI with a rate-limited
# warning: a guest's mistake never crashes pyhv. An IPA outside every region is MMIO_UNHANDLED (the caller
# injects a data abort). Regions are registered at VM setup, before any vCPU runs; dispatch only reads the
# table, so it takes no lock.

from typing import Annotated, Callable, Final

from pyhv.lang import range, Array, Ops, OpsSlot, Static, Struct, kprint, u8, u32, u64

from pyhv.arch.frame import TrapFrame
from pyhv.core.ratelimit import RateLimit, ratelimit_allow

MMIO_HANDLED: Final = u32(0)
MMIO_UNHANDLED: Final = u32(1)          # no region: the caller injects a data abort and warns

MMIO_REG_OK: Final = u32(0)
MMIO_REG_FULL: Final = u32(1)           # MMIO_MAX_REGIONS already registered
MMIO_REG_OVERLAP: Final = u32(2)        # the range overlaps a registered region
MMIO_REG_BAD: Final = u32(3)            # empty range or one that wraps around

MMIO_MAX_REGIONS: Final = 16
MMIO_WARN_BURST: Final = u32(10)        # RAZ/WI warnings per second

# RegRow.widths: a bitmask of allowed access sizes, each bit being the size in bytes.
MMIO_W8: Final = u32(1)
MMIO_W16: Final = u32(2)
MMIO_W32: Final = u32(4)
MMIO_W64: Final = u32(8)

XZR: Final = u8(31)                     # register number 31 of a load/store data register: the zero register
A64_INSN_BYTES: Final = u64(4)


class MmioAccess(Struct):
    ipa: u64            # guest physical address accessed
    value: u64          # store: the value written (low width_bytes bytes); load: filled by dispatch
    width_bytes: u8     # 1, 2, 4 or 8
    is_write: bool
    sign_extend: bool   # load: sign-extend the value to the destination register
    reg: u8             # data register 0-30, 31 = xzr
    sixty_four: bool    # load: the destination is Xn (else Wn: the upper 32 bits end up zero)


class RegRow(Ops):
    offset: u32                             # first byte of the register (block) in the region
    size_bytes: u32                         # bytes covered (an array of registers is one row)
    widths: u32                             # allowed access sizes: MMIO_W8 | MMIO_W16 | MMIO_W32 | MMIO_W64
    read: Callable[[u32, u32], u64]         # (vcpu_id, offset within the row) -> value
    write: Callable[[u32, u32, u64], None]  # (vcpu_id, offset within the row, value)


class MmioDevice(Ops):
    row_count: Callable[[], u32]            # rows in the device's constant table
    row: Callable[[u32], RegRow]            # row i of that table (rows may be in any order)


class MmioCatalog(Ops):
    device: Callable[[u32], MmioDevice]     # device index (as registered) -> its record


class MmioRouteOps(Ops):
    access: Callable[[u32, MmioAccess], u32]    # a guest access: here or on the owner node (docs/cluster-vm.md)


class MmioRegion(Struct):
    base: u64           # IPA of the first byte
    size_bytes: u64
    device: u32         # index given to the catalogue


class MmioState(Struct):
    count: u32
    regions: Annotated[Array[MmioRegion], 16]
    raz_wi: u64         # accesses answered RAZ/WI (no row, or a width the row does not allow)
    routed: bool        # mmio_set_route was called: guest accesses go through the route
    warn: RateLimit


_mmio: Final = Static(MmioState)
_catalog: Final = OpsSlot(MmioCatalog)
_route: Final = OpsSlot(MmioRouteOps)


def mmio_set_route(r: MmioRouteOps) -> None:
    # A VM spread over several nodes: guest accesses go through `r`, which runs mmio_dispatch here or on the
    # node that owns the device (pyhv/core/remote_call.py). Without a route every access is local.
    _route.set(r)
    _mmio.get().routed = True


def mmio_guest_access(vcpu_id: u32, acc: MmioAccess) -> u32:
    # The trap path's entry: one decoded guest access by vCPU `vcpu_id` (a global id), MMIO_HANDLED or
    # MMIO_UNHANDLED exactly as mmio_dispatch answers.
    if _mmio.get().routed:
        return _route.get().access(vcpu_id, acc)
    return mmio_dispatch(vcpu_id, acc)


def mmio_has_region(ipa: u64) -> bool:
    # Does a registered region cover `ipa`?
    st = _mmio.get()
    for i in range(st.count):
        r = st.regions[i]
        if ipa >= r.base and ipa - r.base < r.size_bytes:
            return True
    return False


def mmio_set_catalog(c: MmioCatalog) -> None:
    # The VM's device catalogue: maps the device indices used by mmio_register to device records.
    _catalog.set(c)


def mmio_register(base: u64, size_bytes: u64, device: u32) -> u32:
    # Route guest accesses to [base, base+size_bytes) to `device`. Returns MMIO_REG_*.
    st = _mmio.get()
    if size_bytes == 0 or base + size_bytes < base:
        return MMIO_REG_BAD
    if st.count >= MMIO_MAX_REGIONS:
        return MMIO_REG_FULL
    for i in range(st.count):
        r = st.regions[i]
        if base < r.base + r.size_bytes and r.base < base + size_bytes:
            return MMIO_REG_OVERLAP
    r = st.regions[st.count]
    r.base = base
    r.size_bytes = size_bytes
    r.device = device
    st.count += 1
    return MMIO_REG_OK


def mmio_raz_wi_count() -> u64:
    return _mmio.get().raz_wi


def mmio_raz_read(vcpu_id: u32, offset: u32) -> u64:
    # Shared read-as-zero row function (for reserved rows of a device table).
    return u64(0)


def mmio_wi_write(vcpu_id: u32, offset: u32, value: u64) -> None:
    # Shared write-ignored row function.
    pass


def _width_mask(width_bytes: u8) -> u64:
    if width_bytes >= 8:
        return ~u64(0)
    return (u64(1) << (u32(width_bytes) * 8)) - 1


def _raz_wi(vcpu_id: u32, acc: MmioAccess, why: str) -> None:
    st = _mmio.get()
    st.raz_wi += 1
    if not acc.is_write:
        acc.value = mmio_raz_read(vcpu_id, u32(0))
    if ratelimit_allow(st.warn, MMIO_WARN_BURST):
        kprint("warning: mmio: vcpu %u %s of %u bytes at ipa 0x%x: %s, RAZ/WI\n", vcpu_id,
               "write" if acc.is_write else "read", acc.width_bytes, acc.ipa, why)


def _access_row(vcpu_id: u32, dev: MmioDevice, offset: u32, acc: MmioAccess) -> None:
    # The first row covering `offset` that allows this access width performs it. Several rows may cover
    # the same bytes with different widths (e.g. GICD_IPRIORITYR: a word row and a byte row).
    width = u32(acc.width_bytes)
    covered = False
    for i in range(dev.row_count()):
        row = dev.row(u32(i))
        if offset >= row.offset and offset - row.offset < row.size_bytes:
            covered = True
            inside = offset - row.offset + width <= row.size_bytes
            if (row.widths & width) != 0 and (offset & (width - 1)) == 0 and inside:
                if acc.is_write:
                    row.write(vcpu_id, offset - row.offset, acc.value & _width_mask(acc.width_bytes))
                else:
                    acc.value = row.read(vcpu_id, offset - row.offset) & _width_mask(acc.width_bytes)
                return
    if covered:
        _raz_wi(vcpu_id, acc, "width not allowed by the register")
    else:
        _raz_wi(vcpu_id, acc, "no such register")


def mmio_dispatch(vcpu_id: u32, acc: MmioAccess) -> u32:
    # Perform `acc` on the emulated device owning its IPA. Loads leave their value in acc.value.
    st = _mmio.get()
    for i in range(st.count):
        r = st.regions[i]
        if acc.ipa >= r.base and acc.ipa - r.base < r.size_bytes:
            offset = acc.ipa - r.base
            if offset + u64(acc.width_bytes) > r.size_bytes:
                _raz_wi(vcpu_id, acc, "access runs past the end of the region")
            else:
                _access_row(vcpu_id, _catalog.get().device(r.device), u32(offset), acc)
            return MMIO_HANDLED
    return MMIO_UNHANDLED


def mmio_load_value(acc: MmioAccess) -> u64:
    # The register value a load of acc.value produces: sign-extended per acc.sign_extend from the access
    # width, and zero-extended from 32 bits when the destination is a W register.
    v = acc.value & _width_mask(acc.width_bytes)
    if acc.sign_extend and acc.width_bytes < 8:
        sign = u64(1) << (u32(acc.width_bytes) * 8 - 1)
        if (v & sign) != 0:
            v |= ~_width_mask(acc.width_bytes)
    if not acc.sixty_four:
        v &= u64(0xFFFF_FFFF)
    return v


def mmio_load_result(frame: TrapFrame, acc: MmioAccess) -> None:
    # Write a completed load into its destination register (a load into xzr is discarded).
    if not acc.is_write and acc.reg != XZR:
        frame.x[acc.reg] = mmio_load_value(acc)


def mmio_complete_read(frame: TrapFrame, acc: MmioAccess) -> None:
    # Finish a single emulated load: destination register, then step over the instruction.
    mmio_load_result(frame, acc)
    frame.elr += A64_INSN_BYTES
