"""WebDataset shards: writing one sample per clip window, and reading them back."""
