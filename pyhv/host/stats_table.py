"""The per-node statistics table `pyhv run --nodes N --kernel ...` prints when the cluster VM ends (host tooling).

Every node's pyhv prints its counters as lines of the form

    stats: node <id> <group> key=value key=value ...

(docs/cluster-vm.md "Statistics" lists the groups and keys). This module collects them from the nodes' logs
and lays them out as one table: a row per group.key, a column per node; the last line of a node for a given
group wins (a node may print its counters more than once).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

_LINE = re.compile(r"^stats: node (\d+) (\w+)((?: \w+=\d+)+)\s*$")


@dataclass
class NodeStats:
    """Counters of one node: (group, key) -> value."""

    node: int
    values: dict[tuple[str, str], int] = field(default_factory=dict)


def parse_stats(text: str) -> dict[int, NodeStats]:
    """Every `stats:` line in a console/log text, by node id."""
    out: dict[int, NodeStats] = {}
    for line in text.replace("\r", "").splitlines():
        m = _LINE.match(line.strip())
        if m is None:
            continue
        node = int(m.group(1))
        ns = out.setdefault(node, NodeStats(node))
        for pair in m.group(3).split():
            key, _, value = pair.partition("=")
            ns.values[(m.group(2), key)] = int(value)
    return out


def merge_stats(parts: list[dict[int, NodeStats]]) -> dict[int, NodeStats]:
    """Combine what several logs said (a node's log and its second UART's, say)."""
    out: dict[int, NodeStats] = {}
    for part in parts:
        for node, ns in part.items():
            out.setdefault(node, NodeStats(node)).values.update(ns.values)
    return out


def format_table(stats: dict[int, NodeStats]) -> str:
    """A plain-text table: one row per group.key (in first-seen order), one column per node."""
    if not stats:
        return "no statistics were printed by any node\n"
    nodes = sorted(stats)
    rows: list[tuple[str, str]] = []
    for n in nodes:
        for gk in stats[n].values:
            if gk not in rows:
                rows.append(gk)
    names = [f"{g}.{k}" for g, k in rows]
    width = max(len(s) for s in names + ["counter"])
    cells = [[str(stats[n].values.get(gk, "-")) for n in nodes] for gk in rows]
    colw = [max([len(f"node {n}")] + [len(r[i]) for r in cells]) for i, n in enumerate(nodes)]
    lines = ["counter".ljust(width) + "".join("  " + f"node {n}".rjust(colw[i]) for i, n in enumerate(nodes))]
    for name, row in zip(names, cells):
        lines.append(name.ljust(width) + "".join("  " + c.rjust(colw[i]) for i, c in enumerate(row)))
    return "\n".join(lines) + "\n"
