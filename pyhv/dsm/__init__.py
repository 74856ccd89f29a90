"""The distributed shared memory: a home-based directory protocol over the cluster transport (dialect)."""
