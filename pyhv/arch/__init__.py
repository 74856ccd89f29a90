"""pyhv: arch package."""
