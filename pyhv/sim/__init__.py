"""Deterministic multi-node simulator of the pyhv cluster code (host Python, not dialect)."""
