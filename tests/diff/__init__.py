"""Differential tests: the same dialect functions under CPython and as generated C (docs/dialect.md)."""
