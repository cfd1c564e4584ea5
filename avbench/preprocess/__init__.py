"""Preprocessing operations: typed pure functions on arrays, with no knowledge of shards or training."""
