"""Self-supervised pretext tasks (and the supervised/scratch references), one module per method.

:data:`PRETEXTS` maps a method name (the ``method`` of a run in ``pretrain.runs``) to its
:class:`~avbench.pretext.base.Pretext` class.
"""

from __future__ import annotations

from avbench.pretext.avts import AVTS
from avbench.pretext.base import Pretext, PretrainModel, to_tensors
from avbench.pretext.supervised import Scratch, Supervised

PRETEXTS: dict[str, type[Pretext]] = {cls.name: cls for cls in (AVTS, Supervised, Scratch)}

__all__ = ["PRETEXTS", "Pretext", "PretrainModel", "to_tensors"]
