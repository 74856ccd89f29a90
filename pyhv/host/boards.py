"""Board records: what the build and the QEMU runner know about a target board (host tooling, not dialect).

A board is data. `targets/<board>/board.py` defines one frozen `Board` named `BOARD`; the build
(`compiler/build.py`, `compiler/board_gen.py`) turns it into `board.h`, the EL2 stage-1 tables and (for boards
without a firmware-made device tree) the host DTB, and `pyhv/host/qemu.py` turns it into a QEMU command line.
Nothing here is measured at run time: the counter frequency, the real RAM size and the CPU count come from the
device tree the hypervisor receives in x0.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from enum import Enum
from pathlib import Path


class RegionKind(Enum):
    RAM = "ram"          # normal memory, write-back cacheable in the EL2 stage-1 map
    DEVICE = "device"    # device-nGnRE, execute-never


class BootMethod(Enum):
    PSCI = "psci"               # secondaries started with PSCI CPU_ON -> pyhv_secondary_entry(x0 = index)
    SPIN_TABLE = "spin-table"   # secondaries released through cpu-release-addr -> pyhv_spin_entry


class PowerOff(Enum):
    PSCI_SYSTEM_OFF = "psci-system-off"   # SMC SYSTEM_OFF (QEMU virt exits with status 0)
    BCM2835_WATCHDOG = "bcm2835-wdt"      # PM watchdog reset with the "halt" partition (QEMU exits: -no-reboot)


class DtbSource(Enum):
    QEMU = "qemu"            # QEMU generates the host DTB (virt)
    GENERATED = "generated"  # the build writes host.dtb from this record (rpi4)


class OutputFormat(Enum):
    IMAGE = "image"          # build/<target>/pyhv.bin, booted with -kernel
    SD_CARD = "sd-card"      # build/<target>/sdcard/{kernel8.img, config.txt}


@dataclass(frozen=True)
class Region:
    """One range of the host physical address map."""
    base: int
    size: int
    kind: RegionKind
    name: str = ""

    @property
    def end(self) -> int:
        return self.base + self.size


@dataclass(frozen=True)
class Gic:
    """GIC frame bases. GICv3: dist + redist; GICv2: dist + cpu (+ hyp/vcpu interfaces for the vGIC)."""
    version: int
    dist_base: int
    redist_base: int = 0     # GICv3 only
    cpu_base: int = 0        # GICv2 only: GICC
    hyp_base: int = 0        # GICv2 only: GICH (virtual interface control)
    vcpu_base: int = 0       # GICv2 only: GICV (what the guest sees as its GICC)


@dataclass(frozen=True)
class Board:
    """One target board. Every field is used by the build or by the QEMU runner."""
    name: str
    qemu_machine: str                 # -M value (without per-run options such as gic-version)
    qemu_extra_args: tuple[str, ...]  # fixed extra QEMU arguments for this machine
    cpu_model: str
    max_cpus: int                     # capacity of per-CPU storage; -smp may be lower
    default_cpus: int                 # -smp when the user gives none
    default_mem: str                  # -m when the user gives none ("" = the machine's fixed RAM)
    stack_size_bytes: int             # per-CPU EL2 stack
    load_addr: int                    # where the image is linked and where the loader puts it
    memory_map: tuple[Region, ...]    # EL2 stage-1 identity map (1 GiB granules, 2 MiB where mixed)
    gics: tuple[Gic, ...]             # supported GICs; the first is the default
    uart_base: int
    uart_kind: str                    # "pl011"
    nic_kind: str                     # "virtio-net" | "genet" | "none"
    boot_method: BootMethod
    power_off: PowerOff
    dtb_source: DtbSource
    output_format: OutputFormat
    spin_table_release_addrs: tuple[int, ...] = ()   # spin-table only: cpu-release-addr per CPU
    watchdog_base: int = 0            # BCM2835_WATCHDOG power-off only: PM/watchdog block
    dtb_ram_bytes: int = 0            # generated DTB only: RAM size written to /memory (a loader may fix it)
    log_uart_base: int = 0            # generated DTB only: a second UART for pyhv's log (rpi4: the mini UART)
    payload_addr: int = 0             # SD card only: where config.txt's `initramfs` puts the guest payload

    def gic(self, version: int | None) -> Gic:
        """The GIC record for `version` (None = the board's default)."""
        if version is None:
            return self.gics[0]
        for gic in self.gics:
            if gic.version == version:
                return gic
        raise ValueError(f"board {self.name} has no GICv{version} "
                         f"(has: {', '.join('v%d' % g.version for g in self.gics)})")


def load_board(target_dir: Path) -> Board:
    """Import `target_dir/board.py` and return its `BOARD` record."""
    path = Path(target_dir) / "board.py"
    spec = importlib.util.spec_from_file_location(f"pyhv_target_{Path(target_dir).name.replace('-', '_')}",
                                                  path)
    if spec is None or spec.loader is None:
        raise FileNotFoundError(f"{path}: cannot load board record")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    board = getattr(module, "BOARD", None)
    if not isinstance(board, Board):
        raise TypeError(f"{path}: must define BOARD = Board(...)")
    validate_board(board)
    return board


def validate_board(board: Board) -> None:
    """Reject records the build cannot honour (overlaps, misaligned regions, missing spin-table addresses)."""
    regions = sorted(board.memory_map, key=lambda r: r.base)
    for a, b in zip(regions, regions[1:]):
        if a.end > b.base:
            raise ValueError(f"board {board.name}: regions {a.name or hex(a.base)} and "
                             f"{b.name or hex(b.base)} overlap")
    for r in regions:
        if r.base % (2 << 20) or r.size % (2 << 20):
            raise ValueError(f"board {board.name}: region {r.name or hex(r.base)} is not 2 MiB aligned")
        if r.end > 1 << 39:
            raise ValueError(f"board {board.name}: region {r.name or hex(r.base)} is beyond the 39-bit map")
    if board.boot_method is BootMethod.SPIN_TABLE and len(board.spin_table_release_addrs) < board.max_cpus:
        raise ValueError(f"board {board.name}: spin-table boot needs one release address per CPU")
    if board.stack_size_bytes % 16 or board.load_addr % 4096:
        raise ValueError(f"board {board.name}: stack size must be 16-byte and load address 4 KiB aligned")
    if not board.gics:
        raise ValueError(f"board {board.name}: no GIC")
