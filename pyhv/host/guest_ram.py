"""`pyhv run --mem` with a guest: the size is the GUEST's RAM, and the launcher adds pyhv's share to QEMU's
-m (host tooling, not dialect; issue 13 item 5).

On one node pyhv keeps the first part of the host RAM (its image and stacks up to `_end`, rounded to 8 KiB,
plus the stage-2 table pool, the whole rounded up to 2 MiB) and gives the guest the rest, rounded down to
2 MiB (pyhv/core/vm.py `_setup_memory`, pyhv/core/vmlayout.py). The share grows with the host RAM (the
pool is sized from it), so the launcher finds the host RAM whose remainder is exactly the guest's size by
running the very same dialect functions (vm_layout_node, stage2_pool_pages_for) under CPython, with `_end`
read from the built ELF. The guest size is rounded up to 2 MiB.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from pyhv.host.boards import Board, RegionKind

MiB = 1 << 20
ALIGN = 2 * MiB
IMAGE_ALIGN = 0x2000                # vm.py: the stage-2 pool starts at _end rounded up to 8 KiB
NM = "aarch64-linux-gnu-nm"


class GuestRamError(ValueError):
    """--mem cannot be honoured (bad syntax, too small)."""


def parse_size(text: str) -> int:
    """QEMU's -m syntax: a number with an optional K/M/G/T suffix (no suffix: MiB, as QEMU)."""
    m = re.fullmatch(r"\s*(\d+)\s*([KMGT]?)i?B?\s*", text, re.IGNORECASE)
    if m is None:
        raise GuestRamError(f"--mem {text!r}: expected a size such as 256M or 1G")
    scale = {"": MiB, "K": 1 << 10, "M": MiB, "G": 1 << 30, "T": 1 << 40}[m.group(2).upper()]
    return int(m.group(1)) * scale


def image_end(elf: Path) -> int:
    """Address of the linker symbol `_end` in the built hypervisor."""
    out = subprocess.run([NM, "--defined-only", str(elf)], check=True, capture_output=True, text=True).stdout
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[2] == "_end":
            return int(parts[0], 16)
    raise GuestRamError(f"{elf}: no _end symbol")


def ram_base(board: Board) -> int:
    return min(r.base for r in board.memory_map if r.kind is RegionKind.RAM)


def guest_home_bytes(host_ram_bytes: int, fixed_bytes: int) -> tuple[int, int]:
    """(pyhv's share, the guest's RAM) of a single node with this host RAM: what pyhv computes at boot."""
    from pyhv.arch.stage2 import stage2_pool_pages_for
    from pyhv.core.printk import NULL_CONSOLE_OPS, printk_set_console
    from pyhv.core.vmlayout import VMLAYOUT_OK, NodeLayout, vm_layout_node
    from pyhv.lang import u32, u64
    from pyhv.lang.machine import Machine

    machine = Machine()                 # a mock node: vm_layout_node may print (its too-small message)
    node = machine.add_node(cpus=1)
    with machine.on_cpu(node, 0):
        printk_set_console(NULL_CONSOLE_OPS)
        lay = NodeLayout()
        pool = stage2_pool_pages_for(u64(host_ram_bytes))
        ok = vm_layout_node(u64(host_ram_bytes), u64(0), u32(1), u64(fixed_bytes), u64(pool), u64(0),
                            lay) == VMLAYOUT_OK
    if not ok:
        raise GuestRamError(f"a node with {host_ram_bytes // MiB} MiB cannot hold pyhv and a guest")
    return int(lay.reserved_bytes), int(lay.home_bytes)


def host_ram_for_guest(guest_bytes: int, fixed_bytes: int) -> tuple[int, int]:
    """(QEMU's -m in bytes, the guest RAM pyhv will give) for a wanted guest RAM, rounded up to 2 MiB."""
    want = max(ALIGN, (guest_bytes + ALIGN - 1) // ALIGN * ALIGN)
    host = want + (fixed_bytes + ALIGN - 1) // ALIGN * ALIGN + ALIGN      # the image plus a first guess
    for _ in range(16):                 # the share grows slowly with the RAM: a fixed point in 2-3 steps
        share, home = guest_home_bytes(host, fixed_bytes)
        if home == want:
            return host, home
        host = want + share
    raise GuestRamError(f"no host RAM size gives the guest exactly {want // MiB} MiB")


def qemu_mem_for_guest(mem: str, board: Board, elf: Path) -> tuple[str, str]:
    """(QEMU -m value, one line saying what was done) for `--mem mem` meaning the guest's RAM."""
    fixed = (image_end(elf) + IMAGE_ALIGN - 1) // IMAGE_ALIGN * IMAGE_ALIGN - ram_base(board)
    host, home = host_ram_for_guest(parse_size(mem), fixed)
    note = (f"--mem {mem} is the guest's RAM: QEMU gets -m {host // MiB}M, pyhv keeps {(host - home) // MiB} MiB "
            f"of it, the guest has {home // MiB} MiB")
    return f"{host // MiB}M", note
