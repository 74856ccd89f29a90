"""A vCPU idling in WFI must be woken for an SGI that is sent again while the previous one is still on its
pending list (delivered, acknowledged and EOId in the LRs, but not synced because the vCPU never exited).
Before the fix the second SGI queued silently and waited for the target's next unrelated exit — Linux on
GICv2 with 4 vCPUs idled through its boot (docs/wfi-policy.md)."""

from __future__ import annotations

import pytest

from pyhv.lang import u32

from pyhv.vdev.vgic_lr import vgic_flush_to_lrs, vgic_sync_from_lrs

from .conftest import KICKS, Vm
from .helpers import gicd_write, map_gic

IPI = 1


def _send_sgi_0_to_1(vm: Vm) -> None:
    if vm.version == 2:
        gicd_write(0, 0xF00, (1 << (16 + 1)) | IPI)         # GICD_SGIR: CPUTargetList = CPU 1
    else:
        from pyhv.vdev.vgic import vgic_send_sgi
        vgic_send_sgi(u32(0), u32(1), u32(IPI))


@pytest.mark.parametrize("version", [2, 3])
def test_an_sgi_sent_again_to_an_idle_vcpu_kicks_it(version: int) -> None:
    vm = Vm(version, nr_vcpus=4, nr_lrs=4)
    with vm.on(0):
        map_gic(version, 4)
        gicd_write(0, 0x000, 0x3)                           # GICD_CTLR: both groups enabled
        if version == 2:
            gicd_write(1, 0x100, 0xFFFF)                    # vCPU 1's banked ISENABLER0: SGIs on
        else:
            from .helpers import gicr_write
            gicr_write(1, 0x10100, 0xFFFF, vcpu=1)          # vCPU 1's redistributor ISENABLER0
        _send_sgi_0_to_1(vm)
        assert KICKS == [1]
    with vm.on(1):                                          # vCPU 1 exits for the kick, runs the guest
        vgic_sync_from_lrs(u32(1))
        vgic_flush_to_lrs(u32(1))
        assert vm.guest_ack(1) == IPI
        vm.guest_eoi(1, IPI)                                # ... and idles in WFI without another exit
    KICKS.clear()
    with vm.on(0):
        _send_sgi_0_to_1(vm)
        assert KICKS == [1]                                 # the idle vCPU must be woken
    with vm.on(1):
        vgic_sync_from_lrs(u32(1))
        vgic_flush_to_lrs(u32(1))
        assert vm.guest_ack(1) == IPI                       # and then sees the second SGI
