"""A single mock node with the cluster initialised as the bootstrap, fed frames directly (no network)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from pyhv.lang import u8, u32, u64
from pyhv.lang.machine import Machine, MockNode, current_node, read_memory

from pyhv.cluster.clocksync import CLOCK_SYSREG_OPS, clocksync_set_ops
from pyhv.cluster.nic import NicOps, nic_set
from pyhv.cluster.node import cluster_init
from pyhv.cluster.table import ROLE_BOOTSTRAP, ClusterConfig, cluster_name_id
from pyhv.core.printk import ConsoleOps, printk_set_console

MAC = 0x02_00_00_00_00_AA


def _putc(c: u8) -> None:
    current_node().console.append(int(c))


class Bootstrap:
    def __init__(self) -> None:
        self.machine = Machine()
        self.node: MockNode = self.machine.add_node(cpus=1)
        self.sent: list[bytes] = []
        self.node.cpus[0].sysregs["cntfrq_el0"] = 62_500_000
        self.node.cpus[0].sysregs["cntpct_el0"] = 1000


def _config() -> ClusterConfig:
    cfg = ClusterConfig()
    cfg.role = ROLE_BOOTSTRAP
    cfg.cluster_id = cluster_name_id("test")
    cfg.cpus = u32(2)
    cfg.ram_bytes = u64(1 << 28)
    cfg.freq_hz = u64(62_500_000)
    cfg.min_nodes = u32(2)
    cfg.rto_init_us, cfg.rto_min_us, cfg.rto_max_us = u32(2000), u32(2000), u32(64000)
    cfg.ack_delay_us = u32(200)
    cfg.keepalive_us, cfg.lost_after_us = u32(100_000), u32(1_000_000)
    cfg.announce_us, cfg.resync_us, cfg.probe_gap_us = u32(20_000), u32(50_000), u32(1000)
    return cfg


@pytest.fixture
def bootstrap() -> Iterator[Bootstrap]:
    b = Bootstrap()

    def send(addr: u64, n: u32) -> u32:
        b.sent.append(read_memory(int(addr), int(n)))
        return u32(0)

    with b.machine.on_cpu(b.node, 0):
        printk_set_console(ConsoleOps(putc=_putc))
        nic_set(NicOps(send=send, poll=lambda a, n: u32(0), mtu=lambda: u32(9000), mac=lambda: u64(MAC)))
        clocksync_set_ops(CLOCK_SYSREG_OPS)
        cluster_init(_config())
        yield b
