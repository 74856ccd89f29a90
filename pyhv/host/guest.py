"""`pyhv guest build`: the default Linux guest, made from Debian packages and our own test programs.

Output (cached under build/guest/, never committed):
  Image            Debian's arm64 "cloud" kernel (an uncompressed arm64 Image)
  initramfs.cpio   busybox-static, the kernel modules later issues need (virtio-mmio, virtio-mem, virtio-net,
                   with their dependencies, loaded by /init), our test programs from examples/guest/ (one
                   static multi-call binary, /bin/guest-tests, with a /bin/<program> link each) and an /init
                   that reports what the guest sees and runs the tests named by `pyhv.test=name[:arg...],...`
                   (docs/guest-tests.md).

The kernel package is found the way apt does it: `apt-cache depends linux-image-cloud-arm64:arm64` names the
current versioned package. Needs the arm64 architecture added to dpkg (tools/setup-debian.sh does it).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from pyhv.host.cpio import CpioWriter

REPO_ROOT = Path(__file__).resolve().parents[2]
GUEST_PROGRAMS = REPO_ROOT / "examples" / "guest"
WANTED_MODULES = ("virtio_mmio", "virtio_mem", "virtio_net")
DEFAULT_BOOTARGS = "console=ttyAMA0 earlycon memhp_default_state=online_movable panic=-1"


class GuestBuildError(Exception):
    """A step of the guest build failed; the message says which and why."""


@dataclass(frozen=True)
class Guest:
    kernel: Path
    initrd: Path
    kernel_version: str
    bootargs: str = DEFAULT_BOOTARGS


def _run(cmd: list[str], cwd: Path | None = None) -> str:
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise GuestBuildError(f"`{' '.join(cmd)}` failed: {proc.stderr.strip() or proc.stdout.strip()}")
    return proc.stdout


def kernel_package() -> str:
    """The versioned kernel package that linux-image-cloud-arm64:arm64 currently depends on."""
    out = _run(["apt-cache", "depends", "linux-image-cloud-arm64:arm64"])
    match = re.search(r"Depends:\s*(linux-image-[0-9][^\s:]*-cloud-arm64)", out)
    if match is None:
        raise GuestBuildError("apt-cache does not know linux-image-cloud-arm64:arm64 "
                              "(run tools/setup-debian.sh: it adds the arm64 architecture)")
    return match.group(1)


def _download(package: str, debs: Path) -> Path:
    debs.mkdir(parents=True, exist_ok=True)
    name = package.split(":")[0]
    found = sorted(debs.glob(f"{name}_*.deb"))
    if not found:
        _run(["apt-get", "download", package], cwd=debs)
        found = sorted(debs.glob(f"{name}_*.deb"))
    if not found:
        raise GuestBuildError(f"apt-get download {package} produced no .deb")
    return found[-1]


def _modinfo_depends(ko: Path) -> list[str]:
    data = ko.read_bytes()
    match = re.search(rb"depends=([^\x00]*)\x00", data)
    if match is None or not match.group(1):
        return []
    return [d for d in match.group(1).decode().split(",") if d]


def module_load_order(modules_root: Path, wanted: tuple[str, ...]) -> list[Path]:
    """The .ko files for `wanted` and their dependencies, dependencies first (from each module's modinfo)."""
    by_name = {p.name[:-3].replace("-", "_"): p for p in modules_root.rglob("*.ko")}
    order: list[Path] = []
    state: dict[str, int] = {}
    stack: list[tuple[str, int]] = [(w, 0) for w in reversed(wanted)]
    while stack:
        name, phase = stack.pop()
        if name not in by_name:
            raise GuestBuildError(f"kernel module {name} not found in the kernel package "
                                  "(is it built in? check /boot/config-*)")
        if phase == 0:
            if state.get(name) is not None:
                continue
            state[name] = 1
            stack.append((name, 1))
            for dep in _modinfo_depends(by_name[name]):
                if state.get(dep) is None:
                    stack.append((dep, 0))
        else:
            state[name] = 2
            order.append(by_name[name])
    return order


INIT_SCRIPT = """#!/bin/sh
# pyhv default guest /init: report what the guest sees, run the tests named on the kernel command line.
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
for m in {modules}; do insmod /lib/modules/$m.ko || echo "pyhv-guest: insmod $m FAILED"; done
echo "pyhv-guest: init up"
echo "pyhv-guest: nproc=$(nproc)"
echo "pyhv-guest: $(grep MemTotal /proc/meminfo)"
for arg in $(cat /proc/cmdline); do
  case "$arg" in
    pyhv.test=*)
      for t in $(echo "${{arg#pyhv.test=}}" | tr ',' ' '); do
        # name[:arg[:arg...]] -- e.g. litmus:200000 or clock:100000:1000 -- the args replace the defaults.
        name="${{t%%:*}}"
        args=""
        case "$t" in *:*) args="$(echo "${{t#*:}}" | tr ':' ' ')" ;; esac
        case "$name" in
          atomic) /bin/atomic_counter ${{args:-200000}} ;;
          mem) /bin/mem_pattern ${{args:-32}} ;;
          timer) /bin/timer_check ${{args:-5}} ;;
          litmus) /bin/litmus ${{args:-100000}} ;;
          cpus) /bin/cpu_report $args ;;
          clock) /bin/clock_migrate ${{args:-100000}} ;;
          hotplug) /bin/cpu_hotplug ${{args:-50}} ;;
          clusterinfo)  # examples/clusterinfo at IPA 0x0A10_0000 (docs/writing-a-module.md), read through /dev/mem
            echo "clusterinfo: magic=$(devmem 0x0A100000 32) version=$(devmem 0x0A100004 32)" \\
                 "nodes=$(($(devmem 0x0A100008 32))) vcpus=$(($(devmem 0x0A10000C 32)))" \\
                 "ram_mib=$(($(devmem 0x0A100014 32))) node_of_vcpu0=$(($(devmem 0x0A100100 32)))"
            devmem 0x0A100008 32 7
            echo "clusterinfo: after a write nodes=$(($(devmem 0x0A100008 32)))" \\
                 "writes_ignored=$(($(devmem 0x0A100018 32)))" ;;
          console)  # host stdin reaches the console (issue 13): a line through `read`, then N raw bytes.
                    # console:N:CPU does it pinned to CPU (a VM across nodes: the UART moves there and back)
            set -- $args
            n="${{1:-4096}}"
            pin=""
            [ -n "${{2:-}}" ] && pin="taskset -c $2"
            $pin sh -c '
              n=$1
              echo "pyhv-guest: console: on cpu $(cut -d " " -f 39 /proc/self/stat)"
              echo "pyhv-guest: console: type a line"
              read -r line
              echo "pyhv-guest: console: read '"'"'$line'"'"'"
              mkdir -p /tmp
              stty raw -echo
              echo "pyhv-guest: console: send $n bytes"
              timeout 120 head -c "$n" > /tmp/console.in
              stty sane
              sum="$(md5sum < /tmp/console.in)"
              echo "pyhv-guest: console: got $(wc -c < /tmp/console.in) bytes md5 ${{sum%% *}}"
            ' sh "$n" ;;
          *) echo "pyhv-guest: unknown test $t" ;;
        esac
        status=$?
        [ "$status" -eq 0 ] || echo "pyhv-guest: test $t FAILED (exit $status)"
      done ;;
  esac
done
echo "pyhv-guest: done, powering off"
poweroff -f
"""


CROSS_CC = ("aarch64-linux-gnu-gcc", "-static", "-O2", "-pthread", "-Wall", "-Wextra", "-Werror")


def _dispatcher_source(stems: list[str]) -> str:
    """The main() of the multi-call binary: runs the program named by argv[0]'s last path component."""
    decls = "".join(f"int guest_{s}_main(int, char **);\n" for s in stems)
    table = "".join(f'    {{"{s}", guest_{s}_main}},\n' for s in stems)
    return (f"#include <stdio.h>\n#include <string.h>\n{decls}"
            "static const struct { const char *name; int (*main)(int, char **); } programs[] = {\n"
            f"{table}}};\n"
            "int main(int argc, char **argv)\n{\n"
            "    const char *slash = strrchr(argv[0], '/'), *name = slash ? slash + 1 : argv[0];\n"
            "    for (size_t i = 0; i < sizeof(programs) / sizeof(programs[0]); i++)\n"
            "        if (strcmp(name, programs[i].name) == 0)\n"
            "            return programs[i].main(argc, argv);\n"
            '    fprintf(stderr, "guest-tests: no program named %s\\n", name);\n'
            "    return 127;\n}\n")


def build_test_programs(sources: list[Path], work: Path) -> Path:
    """Cross-compile the test programs into ONE static, stripped, busybox-style multi-call binary (each
    program's main renamed, a generated main dispatching on argv[0]): static glibc is ~600 KiB per binary,
    so one copy instead of one per program keeps the initramfs small. Each source still builds alone."""
    work.mkdir(parents=True, exist_ok=True)
    objects: list[str] = []
    for src in sources:
        obj = work / f"{src.stem}.o"
        _run([*CROSS_CC, f"-Dmain=guest_{src.stem}_main", "-c", "-o", str(obj), str(src)])
        objects.append(str(obj))
    dispatcher = work / "guest_tests_main.c"
    dispatcher.write_text(_dispatcher_source([src.stem for src in sources]))
    exe = work / "guest-tests"
    _run([*CROSS_CC, "-s", "-o", str(exe), str(dispatcher), *objects])
    return exe


def build_guest(out_dir: Path, progress: Callable[[str], None]) -> Guest:
    """Build (or reuse) the default guest under out_dir."""
    out_dir.mkdir(parents=True, exist_ok=True)
    debs = out_dir / "debs"
    package = kernel_package()
    version = package.removeprefix("linux-image-")
    kernel = out_dir / "Image"
    initrd = out_dir / "initramfs.cpio"
    stamp = out_dir / "version"
    if kernel.exists() and initrd.exists() and stamp.exists() and stamp.read_text() == version \
            and all(initrd.stat().st_mtime >= p.stat().st_mtime for p in GUEST_PROGRAMS.glob("*.c")) \
            and initrd.stat().st_mtime >= Path(__file__).stat().st_mtime:    # /init is written from here
        progress(f"guest: up to date ({version})")
        return Guest(kernel, initrd, version)

    progress(f"guest: downloading {package}:arm64 and busybox-static:arm64")
    kdeb = _download(f"{package}:arm64", debs)
    bdeb = _download("busybox-static:arm64", debs)
    with tempfile.TemporaryDirectory(prefix="pyhv-guest-") as tmp:
        root = Path(tmp)
        _run(["dpkg-deb", "-x", str(kdeb), str(root / "k")])
        _run(["dpkg-deb", "-x", str(bdeb), str(root / "b")])
        images = sorted((root / "k" / "boot").glob("vmlinuz-*"))
        if not images:
            raise GuestBuildError(f"{kdeb.name} holds no /boot/vmlinuz-*")
        shutil.copyfile(images[-1], kernel)
        modules = module_load_order(root / "k" / "lib" / "modules", WANTED_MODULES)

        progress("guest: cross-compiling test programs")
        multicall = build_test_programs(sorted(GUEST_PROGRAMS.glob("*.c")), root / "programs")
        programs = [src.stem for src in sorted(GUEST_PROGRAMS.glob("*.c"))]

        progress("guest: writing initramfs")
        cpio = CpioWriter()
        for d in ("bin", "dev", "proc", "sys", "tmp", "lib", "lib/modules"):
            cpio.add_dir(d)
        cpio.add_file("bin/busybox", (root / "b" / "bin" / "busybox").read_bytes(), 0o755)
        cpio.add_symlink("bin/sh", "busybox")
        cpio.add_file("bin/guest-tests", multicall.read_bytes(), 0o755)
        for name in programs:
            cpio.add_symlink(f"bin/{name}", "guest-tests")
        for ko in modules:
            cpio.add_file(f"lib/modules/{ko.name}", ko.read_bytes(), 0o644)
        names = " ".join(ko.name[:-3] for ko in modules)
        cpio.add_file("init", INIT_SCRIPT.format(modules=names).encode(), 0o755)
        initrd.write_bytes(cpio.finish())
    stamp.write_text(version)
    progress(f"guest: kernel {kernel} ({version}), initramfs {initrd} ({initrd.stat().st_size // 1024} KiB)")
    return Guest(kernel, initrd, version)
