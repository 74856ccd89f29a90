"""The "pyhv cluster info" paravirtual MMIO device (clusterinfo.py) and its documentation."""
