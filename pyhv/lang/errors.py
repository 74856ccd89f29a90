"""Exceptions the prelude raises under CPython.

`Panic` is what the dialect's `panic(...)`, failed `assert`s, division by zero, out-of-bounds array indexes and
other broken invariants become when the hypervisor source runs under CPython (in C they stop the CPU with
file:line). Harness misuse (no current CPU, unmapped MMIO) uses the machine's own exceptions instead.
"""

from __future__ import annotations


class Panic(Exception):
    """A dialect-level panic: the C build would print the message with file:line and stop this CPU."""
