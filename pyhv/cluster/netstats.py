# The node's network counters on the console when it powers off (docs/cluster-vm.md "Statistics"): the
# human-readable "cluster:" lines and the machine-readable `stats: node <id> net key=value ...` line that
# `pyhv run --nodes N` gathers into one table (pyhv/host/stats_table.py).

from pyhv.lang import kprint, range, u16, u32, u64

from pyhv.cluster.table import cluster_my_node, cluster_table
from pyhv.cluster.transport import transport_peer
from pyhv.cluster.wire import DROP_REASONS, wire_stats
from pyhv.drivers.virtio_net import virtio_net_stats


def cluster_print_net_stats() -> None:
    ws = wire_stats()
    kprint("cluster: stats node %u rx_frames=%u rx_ok=%u tx_frames=%u\n", u32(cluster_my_node()), ws.rx_frames,
           ws.rx_ok, ws.tx_frames)
    ns = virtio_net_stats()
    kprint("cluster: nic node %u irqs=%u rx=%u tx=%u tx_full=%u rx_errors=%u\n", u32(cluster_my_node()), ns.irqs,
           ns.rx_frames, ns.tx_frames, ns.tx_full, ns.rx_errors)
    dropped = u64(0)
    for r in range(u32(1), DROP_REASONS):
        dropped += ws.drops[r]
        if ws.drops[r] != 0:
            kprint("cluster: drops reason=%u count=%u\n", r, ws.drops[r])
    # The same counters in the machine-readable form `pyhv run --nodes N` gathers into one table
    # (pyhv/host/stats_table.py, docs/cluster-vm.md "Statistics").
    retransmits = u64(0)
    for n in range(u32(0), cluster_table().count):
        retransmits += transport_peer(u16(n)).retransmits
    kprint("stats: node %u net rx_frames=%u rx_ok=%u tx_frames=%u dropped=%u retransmits=%u nic_irqs=%u\n",
           u32(cluster_my_node()), ws.rx_frames, ws.rx_ok, ws.tx_frames, dropped, retransmits, ns.irqs)
