"""pyhv: drivers package."""
