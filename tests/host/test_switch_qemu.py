"""Real QEMU nodes on the cluster switch: the launcher boots N nodes of the qemu-virt image in a given start
order with their netdev and role (each prints its banner and powers off: the image does not speak the
protocol over virtio-net yet), and two plain Linux guests (the default guest kernel, no hypervisor) ping
each other through the switch, proving QEMU's -netdev dgram frames cross it in both directions."""

from __future__ import annotations

from collections.abc import Callable

import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from compiler.build import BuildResult
from pyhv.host.cluster_run import ClusterOptions, node_mac, node_qemu_args, run_cluster
from pyhv.host.cpio import CpioWriter
from pyhv.host.pcap import read_pcap
from pyhv.host.qemu import QEMU
from pyhv.host.switch import Switch

REPO = Path(__file__).resolve().parents[2]
GUEST = REPO / "build" / "guest"

pytestmark = [pytest.mark.qemu,
              pytest.mark.skipif(shutil.which(QEMU) is None or shutil.which("aarch64-linux-gnu-gcc") is None,
                                 reason="needs qemu-system-aarch64 and the cross compiler")]


@pytest.fixture(scope="module")
def virt_build(built_image: Callable[[str], BuildResult]) -> BuildResult:
    return built_image("qemu-virt")


def test_three_nodes_boot_in_the_given_order_with_their_netdev(virt_build: BuildResult, tmp_path: Path) -> None:
    messages: list[str] = []
    options = ClusterOptions(cluster="t1", timeout_s=60, start_delays=(0.6, 0.0, 0.3), pcap=True,
                             progress=messages.append)
    result = run_cluster(REPO / "targets" / "qemu-virt", virt_build.out_dir, 3, options)
    assert result.ok, [(n.exit_status, n.output) for n in result.nodes]
    for node in result.nodes:
        assert re.search(r"^pyhv \S+: EL2 on ", node.output, re.M), node.output
        assert "qemu-system-aarch64:" not in node.output              # QEMU took the netdev and device
        assert node.log_path.read_text().replace("\r", "") == node.output
        assert node.mac == node_mac(node.index) and node.role == ("bootstrap" if node.index == 0 else "joiner")
        args = " ".join(node.command)
        assert f"mac={node.mac}" in args and "virtio-mmio.force-legacy=false" in args
        assert f"pyhv.role={node.role} pyhv.cluster=t1" in args
    started = sorted(result.nodes, key=lambda n: n.started_at)
    assert [n.index for n in started] == [1, 2, 0]
    assert started[2].started_at - started[0].started_at >= 0.6 - 0.05      # the delays were real
    ports = result.switch_stats["ports"]
    assert isinstance(ports, list) and len(ports) == 3
    assert result.pcap_path is not None and read_pcap(result.pcap_path)[0] == 1
    assert any("node 0 (bootstrap, 52:54:00:00:00:01) started" in m for m in messages)


def test_a_rejected_netdev_is_a_failed_node_not_a_hang(virt_build: BuildResult) -> None:
    options = ClusterOptions(timeout_s=30, extra_args=("-netdev", "dgram,id=bad,local.type=nonsense"))
    result = run_cluster(REPO / "targets" / "qemu-virt", virt_build.out_dir, 2, options)
    assert not result.ok and not result.timed_out
    assert all(n.exit_status == 1 and "qemu-system-aarch64:" in n.output for n in result.nodes)


def _ping_initrd(base: Path, out: Path, index: int) -> Path:
    init = f"""#!/bin/sh
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
for m in failover net_failover virtio_ring virtio virtio_mmio virtio_net; do insmod /lib/modules/$m.ko 2>/dev/null; done
ip link set eth0 up
ip addr add 10.0.0.{index + 1}/24 dev eth0
echo "lan: eth0 $(cat /sys/class/net/eth0/address)"
ping -c 2 -W 20 10.0.0.{2 - index} >/dev/null && echo "lan: ping ok" || echo "lan: ping FAILED"
sleep 1
poweroff -f
"""
    w = CpioWriter()
    w.add_file("init", init.encode(), 0o755)          # a second archive: its /init replaces the guest's
    path = out / f"initrd{index}.cpio"
    path.write_bytes(base.read_bytes() + w.finish())
    return path


@pytest.mark.skipif(not (GUEST / "Image").is_file(), reason="no guest kernel: run `pyhv guest build`")
def test_two_linux_guests_ping_each_other_through_the_switch(tmp_path: Path) -> None:
    with tempfile.TemporaryDirectory(prefix="pyhv-lan-") as d:
        lan = Path(d)
        sw = Switch(2, lan, pcap_path=tmp_path / "lan.pcap").start()
        procs = []
        try:
            for i in range(2):
                args = list(node_qemu_args(lan, i, "t"))
                cut = args.index("-append")
                del args[cut:cut + 2]
                cmd = [QEMU, "-M", "virt", "-cpu", "cortex-a72", "-m", "256M", "-display", "none", "-monitor",
                       "none", "-serial", "stdio", "-no-reboot", "-kernel", str(GUEST / "Image"),
                       "-initrd", str(_ping_initrd(GUEST / "initramfs.cpio", tmp_path, i)),
                       "-append", "console=ttyAMA0 panic=-1 quiet", *args]
                procs.append(subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT))
            outputs = [p.communicate(timeout=90)[0].decode(errors="replace") for p in procs]
        finally:
            for p in procs:
                if p.poll() is None:
                    p.kill()
                    p.wait()
            sw.stop()
    for i, out in enumerate(outputs):
        assert f"lan: eth0 {node_mac(i)}" in out, out
        assert "lan: ping ok" in out, out
    assert sw.stats()["macs"] == {node_mac(0): 0, node_mac(1): 1}
    types = {r.data[12:14] for r in read_pcap(tmp_path / "lan.pcap")[1]}
    assert b"\x08\x06" in types and b"\x08\x00" in types                 # ARP and IPv4 crossed the switch
