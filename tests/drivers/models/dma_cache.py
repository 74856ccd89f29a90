"""A CPU data cache over memory that a non-coherent bus master (a DMA engine) also reads and writes.

The mock machine's memory (`read_memory` / `write_memory`, i.e. what struct views and `mem_*` intrinsics
touch) is taken to be **what the CPU sees**: its cache plus memory behind it. This model keeps the other
side, **DRAM as a bus master sees it**, line by line (64-byte lines, as on the Cortex-A72), and connects the
two only where the architecture does (ARM DDI 0487, D7.5 "Cache maintenance"):

* `DC CVAC` (clean) writes a dirty line back to DRAM;
* `DC IVAC` (invalidate) drops the line: the CPU's next read fetches DRAM (dirty data is lost);
* `DC CIVAC` does both;
* a device write goes to DRAM only; a device read sees DRAM only.

The model takes the worst case everywhere the architecture allows it, so a driver that is missing a
maintenance operation fails deterministically:

* every line is always present in the cache (speculative prefetch may fetch any line of normal memory at
  any time), so the CPU keeps reading its stale copy until it invalidates;
* a line the CPU has written since the last clean/invalidate is dirty; a line never cleaned or invalidated
  counts as dirty too (its contents may sit only in the cache: a zeroed .bss, for instance);
* DRAM that no clean ever reached holds a poison pattern, not what the CPU wrote;
* right after every device write, each dirty line it touched is evicted (written back over the DMA data),
  the worst moment for a driver that left dirty lines in a receive buffer.

`violations` lists what a driver did wrong in ways the data alone might not show.
"""

from __future__ import annotations

from pyhv.lang.machine import MockNode, read_memory, write_memory

LINE = 64
POISON = 0xA5


class NoncoherentDma:
    def __init__(self, node: MockNode) -> None:
        self.node = node
        self.dram: dict[int, bytes] = {}        # line address -> what a bus master reads there
        self.synced: dict[int, bytes] = {}      # line address -> the CPU's copy when last clean
        self.ops: list[tuple[str, int]] = []    # every maintenance operation, in order
        self.violations: list[str] = []
        self.disabled_ops: set[str] = set()     # ops the model ignores (to show a test failing)
        node.dc_hook = self._maintain

    # --- the CPU side ---------------------------------------------------------------------------------

    def _cpu_line(self, line: int) -> bytes:
        return read_memory(line, LINE)

    def _dirty(self, line: int) -> bool:
        return self.synced.get(line) != self._cpu_line(line)

    def _clean(self, line: int) -> None:
        if self._dirty(line):
            data = self._cpu_line(line)
            self.dram[line] = data
            self.synced[line] = data

    def _invalidate(self, line: int) -> None:
        data = self.dram.get(line, bytes([POISON]) * LINE)
        write_memory(line, data)
        self.synced[line] = data

    def _maintain(self, op: str, addr: int) -> None:
        line = addr & ~(LINE - 1)
        self.ops.append((op, line))
        if op in self.disabled_ops:
            return
        if op in ("cvac", "cvap", "cvadp"):
            self._clean(line)
        elif op == "ivac":
            self._invalidate(line)
        elif op == "civac":
            self._clean(line)
            self._invalidate(line)
        elif op == "cvau":
            pass                                    # to the point of unification only: not for DMA
        else:
            self.violations.append(f"dc {op} at {addr:#x}: not modelled")

    # --- the device side ------------------------------------------------------------------------------

    def device_read(self, addr: int, n: int) -> bytes:
        out = bytearray()
        while n > 0:
            line = addr & ~(LINE - 1)
            off = addr - line
            take = min(n, LINE - off)
            out += self.dram.get(line, bytes([POISON]) * LINE)[off:off + take]
            addr, n = addr + take, n - take
        return bytes(out)

    def device_write(self, addr: int, data: bytes) -> None:
        touched = []
        pos = 0
        while pos < len(data):
            line = (addr + pos) & ~(LINE - 1)
            off = addr + pos - line
            take = min(len(data) - pos, LINE - off)
            old = bytearray(self.dram.get(line, bytes([POISON]) * LINE))
            old[off:off + take] = data[pos:pos + take]
            self.dram[line] = bytes(old)
            touched.append(line)
            pos += take
        for line in touched:                        # the worst-timed eviction of a dirty line
            if self._dirty(line):
                self.violations.append(f"dirty line {line:#x} written back over DMA data")
                data_cpu = self._cpu_line(line)
                self.dram[line] = data_cpu
                self.synced[line] = data_cpu
