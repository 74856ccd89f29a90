"""pyhv: vdev package (devices the guest sees)."""
