# The counters of a VM across nodes, printed by every node when it powers off (docs/cluster-vm.md
# "Statistics"): the network's (pyhv/cluster/netstats.py), the DSM's, the cross-node devices', the moving
# console UART's and each CPU's guest exits, as `stats: node <id> <group> key=value ...` lines that `pyhv run
# --nodes N` gathers into one table, plus the DSM's own human-readable lines.

from pyhv.lang import kprint, range, u32, u64

from pyhv.cluster.netstats import cluster_print_net_stats
from pyhv.cluster.table import cluster_my_node
from pyhv.core.hostinfo import hostinfo
from pyhv.core.remote import remote_stats
from pyhv.core.remote_uart import remote_uart_stats
from pyhv.core.vmstate import VM_STAT_CPUS, vm_counters
from pyhv.dsm.fault import dsm_print_stats, dsm_stats
from pyhv.dsm.types import DSM_LAT_BUCKETS
from pyhv.vdev.vgic_remote import vgic_remote_stats


def _lat_percentile_us(permille: u64) -> u64:
    # Upper bound (µs) of the latency bucket holding the given per-mille of the served faults, 0 if none.
    s = dsm_stats()
    total = u64(0)
    for b in range(u32(0), DSM_LAT_BUCKETS):
        total += s.lat_hist[b]
    if total == 0:
        return u64(0)
    want = (total * permille + 999) // 1000
    seen = u64(0)
    for b in range(u32(0), DSM_LAT_BUCKETS):
        seen += s.lat_hist[b]
        if seen >= want:
            return u64(2) << b
    return u64(1) << DSM_LAT_BUCKETS


def vm_cluster_print_stats() -> None:
    me = u32(cluster_my_node())
    cluster_print_net_stats()
    dsm_print_stats()
    s = dsm_stats()
    kprint("stats: node %u dsm faults_read=%u faults_write=%u faults_exec=%u faults_walk=%u upgrades=%u\n", me,
           s.faults[0], s.faults[1], s.faults[2], s.faults[3], s.faults[4])
    kprint("stats: node %u dsm served=%u failed=%u pages_fetched=%u pages_sent=%u inv_sent=%u inv_recv=%u\n", me,
           s.faults_done, s.faults_failed, s.pages_fetched, s.pages_sent, s.inv_sent, s.inv_recv)
    kprint("stats: node %u dsm recalls_sent=%u recalls_recv=%u evictions=%u writebacks=%u stalls=%u\n", me,
           s.recalls_sent, s.recalls_recv, s.evictions, s.writebacks, s.stalls)
    kprint("stats: node %u dsm queued=%u protocol_errors=%u lat_p50_us=%u lat_p99_us=%u\n", me, s.queued,
           s.protocol_errors, _lat_percentile_us(u64(500)), _lat_percentile_us(u64(990)))
    kprint("stats: node %u dsm migratory_grants=%u clean_writes=%u\n", me, s.migratory_grants, s.clean_writes)
    r = remote_stats()
    g = vgic_remote_stats()
    kprint("stats: node %u remote mmio_forwarded=%u mmio_served=%u psci_forwarded=%u psci_served=%u\n", me,
           r.mmio_forwarded, r.mmio_served, r.psci_forwarded, r.psci_served)
    kprint("stats: node %u remote kicks_sent=%u kicks_received=%u sgis_sent=%u sgis_raised=%u spis_sent=%u\n",
           me, r.kicks_sent, r.kicks_received, g.sgis_sent, g.sgis_raised, g.spis_sent)
    u = remote_uart_stats()
    kprint("stats: node %u uart moves_in=%u moves_out=%u recalls=%u retries=%u tx_msgs=%u bad=%u lost=%u\n", me,
           u.moves_in, u.moves_out, u.recalls, u.retries, u.tx_msgs, u.bad, u.lost)
    c = vm_counters()
    n = hostinfo().ncpus if hostinfo().ncpus < VM_STAT_CPUS else VM_STAT_CPUS
    for i in range(u32(0), n):
        kprint("stats: node %u vm cpu%u_entered=%u cpu%u_exits=%u\n", me, i, c.entered[i], i, c.exits[i])


def vm_cluster_print_progress() -> None:
    # One line while the VM runs (pyhv.vm_stats_s=N: every N seconds, from the cluster service).
    s = dsm_stats()
    kprint("dsm: node %u faults r %u w %u x %u walk %u up %u; fetched %u sent %u inv %u/%u recalls %u/%u evict %u wb %u"
           " p50 %u us p99 %u us\n",
           u32(cluster_my_node()), s.faults[0], s.faults[1], s.faults[2], s.faults[3], s.faults[4], s.pages_fetched,
           s.pages_sent, s.inv_sent, s.inv_recv, s.recalls_sent, s.recalls_recv, s.evictions, s.writebacks,
           _lat_percentile_us(u64(500)), _lat_percentile_us(u64(990)))
