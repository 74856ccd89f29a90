"""Host tooling: the pyhv CLI, board records, QEMU launcher, FDT builder. Plain Python (not dialect)."""
