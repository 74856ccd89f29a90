"""Cluster fabric in the dialect: wire format, reliable transport, membership, clock sync."""
