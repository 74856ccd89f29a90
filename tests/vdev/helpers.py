"""Guest-style register access for the vGIC tests: accesses go through the real MMIO dispatch
(pyhv.core.mmio) into the front ends' register tables."""

from __future__ import annotations

from pyhv.lang import u8, u32, u64

from pyhv.core.mmio import MmioAccess, MmioCatalog, MmioDevice, mmio_dispatch, mmio_register, mmio_set_catalog
from pyhv.vdev.vgicv2_dist import VGICV2_DIST_DEVICE
from pyhv.vdev.vgicv3_dist import VGICV3_DIST_DEVICE
from pyhv.vdev.vgicv3_redist import VGICV3_REDIST_DEVICE

GICD = 0x0800_0000
GICR = 0x080A_0000
_DEVICES = (VGICV3_DIST_DEVICE, VGICV3_REDIST_DEVICE, VGICV2_DIST_DEVICE)


def _device(i: u32) -> MmioDevice:
    return _DEVICES[int(i)]


CATALOG = MmioCatalog(device=_device)


def map_gic(version: int, nr_vcpus: int) -> None:
    mmio_set_catalog(CATALOG)
    if version == 3:
        assert mmio_register(u64(GICD), u64(0x10000), u32(0)) == 0
        assert mmio_register(u64(GICR), u64(0x20000 * nr_vcpus), u32(1)) == 0
    else:
        assert mmio_register(u64(GICD), u64(0x1000), u32(2)) == 0


def access(vcpu: int, ipa: int, width: int, value: int = 0, write: bool = False) -> int:
    acc = MmioAccess()
    acc.ipa = u64(ipa)
    acc.width_bytes = u8(width)
    acc.is_write = write
    acc.value = u64(value)
    assert mmio_dispatch(u32(vcpu), acc) == 0
    return int(acc.value)


def gicd_write(vcpu: int, off: int, value: int, width: int = 4) -> None:
    access(vcpu, GICD + off, width, value, True)


def gicd_read(vcpu: int, off: int, width: int = 4) -> int:
    return access(vcpu, GICD + off, width)


def gicr_write(frame: int, off: int, value: int, width: int = 4, vcpu: int = 0) -> None:
    access(vcpu, GICR + frame * 0x20000 + off, width, value, True)


def gicr_read(frame: int, off: int, width: int = 4, vcpu: int = 0) -> int:
    return access(vcpu, GICR + frame * 0x20000 + off, width)
