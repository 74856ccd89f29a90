"""pyhv compiler: dialect (restricted Python) -> freestanding C. Pipeline: see docs/compiler.md."""
