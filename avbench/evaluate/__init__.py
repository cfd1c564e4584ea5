"""Downstream evaluation of pretrained encoders on the official folds of labelled sets: linear
probe (:mod:`~avbench.evaluate.linear`), full and top-stage fine-tuning
(:mod:`~avbench.evaluate.finetune`), cross-modal retrieval (:mod:`~avbench.evaluate.retrieval`),
with the guards of :mod:`~avbench.evaluate.guards`."""

from avbench.evaluate.linear import evaluate_checkpoint, extract_features, linear_probe

__all__ = ["evaluate_checkpoint", "extract_features", "linear_probe"]
