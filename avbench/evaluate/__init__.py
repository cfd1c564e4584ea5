"""Downstream evaluation of pretrained encoders on the official folds of labelled sets: linear
classifier on frozen features (:mod:`~avbench.evaluate.linear`), full and top-stage fine-tuning
(:mod:`~avbench.evaluate.finetune`), cross-modal retrieval (:mod:`~avbench.evaluate.retrieval`),
with the guards of :mod:`~avbench.evaluate.guards`; one job of them with its provenance:
:mod:`~avbench.evaluate.run`."""

from avbench.evaluate.linear import extract_features, fit_linear
from avbench.evaluate.run import EvalResult, evaluate_checkpoint, finetune_checkpoint

__all__ = ["EvalResult", "evaluate_checkpoint", "extract_features", "finetune_checkpoint", "fit_linear"]
