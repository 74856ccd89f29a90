"""Example hypervisor modules written the way a pyhv user would (docs/writing-a-module.md)."""
