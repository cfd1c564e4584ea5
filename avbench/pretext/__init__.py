"""Self-supervised pretext tasks: losses and pair construction. They know nothing of shards."""
