"""avbench: reproducible data preparation and benchmarks for self-supervised audio-visual learning."""

__version__ = "0.1.0"
