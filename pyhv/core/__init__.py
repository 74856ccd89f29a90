"""pyhv: core package."""
