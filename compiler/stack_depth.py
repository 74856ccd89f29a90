"""Worst-case EL2 stack depth of the image, from gcc's -fcallgraph-info=su output (.ci files, VCG format).

Each .ci node carries a function's own frame ("N bytes (static)"); edges are call sites. The dialect forbids
recursion, so the graph is a DAG and the deepest path from an entry point is a longest-path search.

Rule for the whole image (what the build checks against BOARD_STACK_SIZE):

    worst = max(depth(hv_main), depth(hv_secondary_main))            deepest point of normal code
          + trap_frame_bytes                                         frame pushed by runtime/asm/vectors.S
          + max(depth(arch_trap_sync), depth(arch_trap_irq), depth(arch_trap_unexpected))

i.e. one exception may arrive at the deepest point of any thread (a synchronous exception can hit anywhere;
IRQs only inside irq_wait(), which is no deeper), and handlers never nest (EL2 runs with IRQs masked and a
fault inside a handler is a panic). Calls into assembly use the fixed sizes in ASM_STACK_BYTES.
Indirect calls (ops tables) are charged with the deepest of their possible targets: the dialect compiler's
call graph (ops calls resolved to every function an ops table of that type names) when the caller is
dialect code; otherwise every function whose address appears in the image's data (`address_taken`). An
indirect call with no candidate is an error, never silently free.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

# stack bytes used by assembly routines callable from C (runtime/asm/*.S); "+trap" ones raise an exception
ASM_STACK_BYTES: dict[str, int] = {
    "memcpy": 0, "memset": 0, "memmove": 0, "memcmp": 0,
    "pyhv_trap_selftest": 96,          # plus one trap (brk): counted by the trap term of the rule
    "pyhv_park": 0,
    "pyhv_enter_guest": 0,             # its TrapFrame copy is popped by the eret: the trap term covers it
}
INDIRECT = "__indirect_call"
ENTRY_THREADS = ("hv_main", "hv_secondary_main")
ENTRY_TRAPS = ("arch_trap_sync", "arch_trap_irq", "arch_trap_unexpected")

_NODE = re.compile(r'node:\s*\{\s*title:\s*"([^"]+)"\s*label:\s*"([^"]*)"')
_EDGE = re.compile(r'edge:\s*\{\s*sourcename:\s*"([^"]+)"\s*targetname:\s*"([^"]+)"')
_BYTES = re.compile(r"\\n(\d+) bytes \(([a-z,]+)\)")


class StackError(Exception):
    """The stack budget is exceeded or cannot be bounded; the message says where."""


@dataclass
class CallGraph:
    frame: dict[str, int] = field(default_factory=dict)         # node -> own frame bytes (defined in C)
    dynamic: set[str] = field(default_factory=set)               # nodes with unbounded dynamic frames
    calls: dict[str, set[str]] = field(default_factory=dict)
    external: set[str] = field(default_factory=set)              # declared but not defined in C

    def short_name(self, node: str) -> str:
        return node.rsplit(":", 1)[-1]


def parse_ci_files(paths: list[Path]) -> CallGraph:
    graph = CallGraph()
    for path in paths:
        text = path.read_text()
        for title, label in _NODE.findall(text):
            m = _BYTES.search(label)
            if m:
                graph.frame[title] = int(m.group(1))
                if m.group(2) == "dynamic":
                    graph.dynamic.add(title)
                graph.external.discard(title)
            elif title not in graph.frame:
                graph.external.add(title)
        for src, dst in _EDGE.findall(text):
            graph.calls.setdefault(src, set()).add(dst)
    return graph


@dataclass
class Depth:
    bytes: int
    path: list[str]


def _resolve(graph: CallGraph, name: str) -> list[str]:
    """Nodes for a function name (static functions are titled 'file:name')."""
    if name in graph.frame:
        return [name]
    return [n for n in graph.frame if graph.short_name(n) == name]


def _direct_callers(graph: CallGraph, node: str) -> set[str]:
    """Every node from which `node` is reachable through direct calls."""
    reverse: dict[str, set[str]] = {}
    for src, dsts in graph.calls.items():
        for dst in dsts:
            reverse.setdefault(dst, set()).add(src)
    seen: set[str] = set()
    todo = [node]
    while todo:
        for caller in reverse.get(todo.pop(), ()):
            if caller not in seen:
                seen.add(caller)
                todo.append(caller)
    return seen


def deepest(graph: CallGraph, root: str, address_taken: set[str],
            dialect_calls: dict[str, list[str]] | None = None) -> Depth:
    """Longest path (by frame bytes) from root; memoised DFS with an explicit stack, cycle = error."""
    memo: dict[str, Depth] = {}
    any_taken = sorted({n for name in address_taken for n in _resolve(graph, name)})

    def indirect_targets(node: str) -> list[str]:
        # Every function the dialect call graph reaches from this one: gcc may have inlined the dialect
        # function that makes the ops call, so its direct callees alone are not enough. Reachable functions
        # are never ancestors (the graph is acyclic), so this adds no false cycles, only conservatism.
        name = graph.short_name(node).split(".")[0]      # gcc clones: f.constprop.0, f.isra.0
        seen: set[str] = set()
        todo = list(dialect_calls.get(name, [])) if dialect_calls is not None else []
        while todo:
            callee = todo.pop()
            if callee not in seen:
                seen.add(callee)
                todo += dialect_calls.get(callee, []) if dialect_calls is not None else []
        targets = sorted({n for callee in seen for n in _resolve(graph, callee)} & set(any_taken))
        if targets:
            return targets
        # No dialect information: any address-taken function that does not already call `node` directly
        # (such a target would be recursion, which the dialect checker rejects).
        callers = _direct_callers(graph, node)
        return [n for n in any_taken if n not in callers]

    def callees(node: str) -> list[str]:
        out = []
        for dst in sorted(graph.calls.get(node, ())):
            if dst == INDIRECT:
                targets = indirect_targets(node)
                if not targets:
                    raise StackError(f"{graph.short_name(node)}: indirect call but no address-taken "
                                     f"function found to bound it")
                out += targets
            else:
                out.append(dst)
        return out

    def own(node: str) -> int:
        if node in graph.dynamic:
            raise StackError(f"{graph.short_name(node)}: unbounded dynamic stack allocation")
        if node in graph.frame:
            return graph.frame[node]
        name = graph.short_name(node)
        if name in ASM_STACK_BYTES:
            return ASM_STACK_BYTES[name]
        raise StackError(f"{name}: called but neither generated C nor a known assembly routine")

    visiting: list[str] = []
    on_path: set[str] = set()
    work: list[tuple[str, bool]] = [(root, False)]
    while work:
        node, done = work.pop()
        if done:
            on_path.discard(node)
            visiting.pop()
            best = Depth(0, [])
            for c in callees(node):
                if memo[c].bytes > best.bytes:
                    best = memo[c]
            memo[node] = Depth(own(node) + best.bytes, [node] + best.path)
            continue
        if node in memo:
            continue
        if node in on_path:
            cycle = visiting[visiting.index(node):] + [node]
            raise StackError("recursion in the call graph: " + " -> ".join(map(graph.short_name, cycle)))
        on_path.add(node)
        visiting.append(node)
        work.append((node, True))
        for c in callees(node):
            if c not in memo:
                work.append((c, False))
    return memo[root]


@dataclass
class StackReport:
    worst_bytes: int
    budget_bytes: int
    thread: Depth
    trap: Depth
    trap_frame_bytes: int

    def lines(self) -> list[str]:
        def fmt(d: Depth) -> str:
            return " -> ".join(n.rsplit(":", 1)[-1] for n in d.path) + f" ({d.bytes} B)"
        return [f"stack: worst case {self.worst_bytes} of {self.budget_bytes} bytes per CPU",
                f"  deepest thread path: {fmt(self.thread)}",
                f"  + trap frame {self.trap_frame_bytes} B + deepest handler: {fmt(self.trap)}"]


def check_stack(ci_files: list[Path], address_taken: set[str], trap_frame_bytes: int,
                budget_bytes: int, dialect_calls: dict[str, list[str]] | None = None) -> StackReport:
    graph = parse_ci_files(ci_files)
    for name in ENTRY_THREADS + ENTRY_TRAPS:
        if not _resolve(graph, name):
            raise StackError(f"entry point {name} not found in the generated C")
    thread = max((deepest(graph, _resolve(graph, n)[0], address_taken, dialect_calls) for n in ENTRY_THREADS),
                 key=lambda d: d.bytes)
    trap = max((deepest(graph, _resolve(graph, n)[0], address_taken, dialect_calls) for n in ENTRY_TRAPS),
               key=lambda d: d.bytes)
    report = StackReport(thread.bytes + trap_frame_bytes + trap.bytes, budget_bytes, thread, trap,
                         trap_frame_bytes)
    if report.worst_bytes > budget_bytes:
        raise StackError("EL2 stack overflow possible: " + "\n".join(report.lines())
                         + "\n  (raise stack_size_bytes in the board record or make the path shallower)")
    return report
