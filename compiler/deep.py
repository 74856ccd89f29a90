"""Deep nesting: the compiler's stages walk the tree recursively (Lark's Transformer, the checker, the
hoisting stage, the emitter), so a valid expression nested as deeply as CPython itself accepts (a 2 900-term
sum, a 2 000-deep conditional expression) needs more than Python's default 1 000 frames. `run_deep` runs a
stage in a thread with a large C stack and a raised recursion limit; `MAX_NESTING` is the dialect's limit
(docs/dialect.md "Limits"), checked on the parse tree before any recursive stage, so every program either
compiles or gets a positioned diagnostic and a RecursionError never reaches the user."""
from __future__ import annotations

import sys
import threading
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")

# Parse-tree levels one source construct may nest (an operator, a call, a conditional expression, an
# indented block each add about one). CPython 3.11 stops near 2 900 levels of operators
# ("maximum recursion depth exceeded during compilation"); the dialect accepts as much as CPython does.
MAX_NESTING = 3000

# Frames the deepest accepted program needs: each parse-tree level costs a handful of frames in the
# recursive stages (measured: under 12), plus the pipeline's own depth.
_RECURSION_LIMIT = MAX_NESTING * 16 + 2000
_STACK_BYTES = 512 * 1024 * 1024  # address space only: pages are touched as the recursion uses them

_state = threading.local()


def run_deep(fn: Callable[[], T]) -> T:
    """fn(), with room for MAX_NESTING levels of recursion. Nested calls run in the caller's thread;
    exceptions (DialectError included) propagate unchanged."""
    if getattr(_state, "inside", False):
        return fn()
    box: list[T] = []
    err: list[BaseException] = []

    def body() -> None:
        _state.inside = True
        try:
            box.append(fn())
        except BaseException as e:  # re-raised in the caller's thread below
            err.append(e)

    old_limit = sys.getrecursionlimit()
    old_stack = threading.stack_size()
    threading.stack_size(_STACK_BYTES)
    try:
        sys.setrecursionlimit(max(old_limit, _RECURSION_LIMIT))
        t = threading.Thread(target=body, name="pyhv-compiler")
        t.start()
    finally:
        threading.stack_size(old_stack)
    try:
        t.join()
    finally:
        sys.setrecursionlimit(old_limit)
    if err:
        raise err[0]
    return box[0]
