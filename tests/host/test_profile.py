"""The sampling profiler (pyhv/host/profile.py): QEMU's register dump parsed per CPU, addresses mapped to the
function that holds them, the report's shares; and on real QEMU nodes, `--profile` samples every node
through its monitor and the EL2 samples land in pyhv's own functions."""

from __future__ import annotations

import shutil
from collections.abc import Callable

import pytest

from compiler.build import BuildResult
from pyhv.host.cluster_run import ClusterOptions, run_cluster
from pyhv.host.profile import (
    Sample, Symbols, elf_symbols, format_sample, load_profiles, parse_registers, parse_samples, report, where,
)
from pyhv.host.qemu import QEMU

from tests.cluster.test_qemu_cluster import TARGET


def _cpu_dump(index: int, pc: int, pstate: str) -> str:
    # the layout of QEMU 10's `info registers -a` for an AArch64 CPU (general registers elided to one row)
    return (f"CPU#{index}\n PC={pc:016x} X00=0000000000000000 X01=0000000000000000\n"
            f"X29=0000000000000000 X30=0000000000000000  SP=0000000000000000\n"
            f"PSTATE={pstate}     FPCR=00000000 FPSR=00000000\n"
            "Q00=0000000000000000:0000000000000000 Q01=0000000000000000:0000000000000000\n")


def test_a_register_dump_gives_one_sample_per_cpu_with_its_level_and_pc() -> None:
    text = "info registers -a\r\n\n" + _cpu_dump(0, 0x40081234, "400003c9 -Z-- EL2h") + \
        _cpu_dump(1, 0xFFFF800008123456, "60000005 -ZC- EL1h") + _cpu_dump(2, 0x0000AAAA00001000, "20000000 --C- EL0t")
    samples = parse_registers(text, 1.5)
    assert samples == [Sample(1.5, 0, 2, 0x40081234), Sample(1.5, 1, 1, 0xFFFF800008123456),
                       Sample(1.5, 2, 0, 0xAAAA00001000)]
    assert parse_samples("\n".join(format_sample(s) for s in samples)) == samples


def test_a_cpu_without_a_pstate_line_gives_no_sample() -> None:
    assert parse_registers("CPU#0\n PC=0000000040000000 X00=0\n", 0.0) == []


def test_an_address_belongs_to_the_function_at_or_below_it() -> None:
    syms = Symbols("0000000040000000 T _start\n0000000040000100 t helper\n0000000040000080 D data\n"
                   "0000000040000200 W weak_fn\n")
    assert syms.name(0x40000000) == "_start"
    assert syms.name(0x400000FF) == "_start"            # data symbols do not split functions
    assert syms.name(0x40000100) == "helper"
    assert syms.name(0x40000300) == "weak_fn"
    assert syms.name(0x3FFFFFFF) is None


def test_the_report_gives_each_nodes_shares_by_function() -> None:
    hv = Symbols("0000000040000000 T spin\n0000000040001000 T poll\n")
    guest = Symbols("ffff800008000000 T do_idle\n")
    samples = {0: [Sample(0.1, 0, 2, 0x40000010)] * 3 + [Sample(0.2, 1, 2, 0x40001004),
                                                         Sample(0.3, 1, 1, 0xFFFF800008000040)],
               1: [Sample(5.0, 0, 0, 0x1000)]}
    text = report(samples, hv, guest)
    assert "node 0: 5 samples over 2 CPUs" in text
    assert "EL1 20.0 %, EL2 80.0 %" in text
    assert " 60.0 %       3  EL2 spin" in text
    assert " 20.0 %       1  EL1 do_idle" in text
    assert "node 1: 1 samples over 1 CPUs" in text and "100.0 %       1  EL0" in text
    assert "node 1: 0 samples" in report(samples, hv, guest, since_s=6.0)


@pytest.mark.qemu
@pytest.mark.skipif(shutil.which(QEMU) is None or shutil.which("aarch64-linux-gnu-gcc") is None,
                    reason="needs qemu-system-aarch64 and the cross compiler")
def test_profiling_a_cluster_run_samples_every_node_inside_pyhv(
        built_image: Callable[[str], BuildResult]) -> None:
    # Two one-CPU nodes run the soak (no guest): every sample is at EL2, and its PC is in one of pyhv's
    # functions (the ELF's symbols), on both nodes.
    image = built_image("qemu-virt")
    options = ClusterOptions(cluster="prof", cpus=1, timeout_s=60, bootargs="pyhv.soak=400", mtu=9000,
                             profile_s=0.05)
    result = run_cluster(TARGET, image.out_dir, 2, options)
    assert result.ok, [(n.index, n.exit_status, n.output[-2000:]) for n in result.nodes]
    profiles = load_profiles(image.out_dir)
    assert sorted(profiles) == [0, 1]
    hv = elf_symbols(image.out_dir / "pyhv.elf")
    for node, samples in profiles.items():
        assert len(samples) >= 5, (node, len(samples))
        assert {s.cpu for s in samples} == {0} and {s.el for s in samples} == {2}, node
        assert all(hv.name(s.pc) is not None for s in samples), node
        assert samples == sorted(samples, key=lambda s: s.t)
    # a node of the soak mostly waits for frames: some of its samples are halted in a WFI of pyhv's
    assert any(where(s, hv, None).endswith("[wfi]") for s in profiles[0] + profiles[1])


def test_samples_halted_in_a_wfi_or_looping_on_a_wfe_are_told_apart() -> None:
    hv = Symbols("0000000040000000 T wait_fn\n0000000040001000 T lock_fn\n0000000040002000 T work_fn\n")
    hv.set_wait_instructions([(0x40000010, "wfi"), (0x40001020, "wfe")])
    kinds = {pc: where(Sample(0.0, 0, 2, pc), hv, None)
             for pc in (0x40000014, 0x40000010, 0x40001014, 0x40001028, 0x40001040, 0x40002000)}
    assert kinds == {0x40000014: "EL2 wait_fn [wfi]",         # QEMU shows a halted CPU after its WFI
                     0x40000010: "EL2 wait_fn",
                     0x40001014: "EL2 lock_fn [wfe spin]", 0x40001028: "EL2 lock_fn [wfe spin]",
                     0x40001040: "EL2 lock_fn", 0x40002000: "EL2 work_fn"}
