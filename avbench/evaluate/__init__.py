"""Downstream evaluation of pretrained encoders (linear probe on frozen features)."""

from avbench.evaluate.linear import evaluate_checkpoint, extract_features, linear_probe

__all__ = ["evaluate_checkpoint", "extract_features", "linear_probe"]
