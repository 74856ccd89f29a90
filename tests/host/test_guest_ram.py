"""`pyhv run --mem` with a guest means the guest's RAM (issue 13 item 5): the launcher's arithmetic
(pyhv/host/guest_ram.py) against pyhv's own layout functions, and its size parser."""

from __future__ import annotations

import pytest

from pyhv.host.guest_ram import GuestRamError, guest_home_bytes, host_ram_for_guest, parse_size

MiB = 1 << 20
IMAGE_BYTES = 5840 << 10        # the qemu-virt image's _end - RAM base, as a boot of it printed


def test_sizes_are_read_as_qemu_reads_them() -> None:
    assert parse_size("256M") == 256 * MiB and parse_size("1G") == 1024 * MiB
    assert parse_size("300") == 300 * MiB and parse_size("2048k") == 2 * MiB and parse_size("1GiB") == 1 << 30
    with pytest.raises(GuestRamError):
        parse_size("lots")


@pytest.mark.parametrize("guest_mib", [2, 64, 256, 504, 1024, 3000, 16384])
def test_the_host_ram_chosen_leaves_exactly_the_guest_size(guest_mib: int) -> None:
    host, home = host_ram_for_guest(guest_mib * MiB, IMAGE_BYTES)
    assert home == guest_mib * MiB
    share, home_at_boot = guest_home_bytes(host, IMAGE_BYTES)
    assert home_at_boot == guest_mib * MiB and host == home + share
    # and no smaller host RAM would do: one 2 MiB step less leaves the guest short (or no room at all)
    try:
        assert guest_home_bytes(host - 2 * MiB, IMAGE_BYTES)[1] < guest_mib * MiB
    except GuestRamError:
        assert guest_mib == 2


def test_a_size_off_the_2_mib_grain_is_rounded_up() -> None:
    assert host_ram_for_guest(255 * MiB, IMAGE_BYTES)[1] == 256 * MiB


def test_a_512_mib_node_is_what_504_mib_of_guest_ram_needs() -> None:
    # a qemu-virt boot with -m 512M prints "pyhv keeps 8192 KiB, guest home 504 MiB"
    assert host_ram_for_guest(504 * MiB, IMAGE_BYTES)[0] == 512 * MiB
