"""pyhv: a distributed AArch64 hypervisor written in a typed Python dialect.

Sub-packages: `lang` (the dialect prelude), `arch`, `core`, `drivers` (hypervisor code in the dialect),
`host` (host tooling: CLI, QEMU launcher, board records; plain Python, never compiled).
"""

VERSION = "0.1.0"
