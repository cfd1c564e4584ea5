"""A control: the audio-visual architecture and budget trained on fixed random targets (issue 11).

"Trained on anything" versus "learned the pretext": a run of ``random_targets`` has the encoders of
the audio-visual runs (video and audio, the same backbones), the classifier heads of deep
clustering (:class:`~avbench.pretext.xdc.ClusterHeads`: batch norm and a linear layer per encoder,
``deep_clustering.k`` outputs) and the same optimiser, epochs and clips as the ``xdc`` run; but
each training video's target is a random pseudo-class drawn once, before the first epoch, from
the run's seed (a balanced assignment: ``k`` classes of ``N / k`` videos, a seeded permutation of
the sorted keys), fixed for the whole run (no re-clustering, the heads are never re-initialised).
Both encoders predict the same random label of their video. Whatever the encoders learn is what
any supervision of this size gives them (fitting, BatchNorm statistics, filters shaped by the
data), without anything in the targets that relates to the content.

Pretext metrics: training pseudo-class accuracy (memorisation of the random labels: it rises);
held-out accuracy against the held-out videos' own random labels (chance ``1 / k``; it can only
stay there, which the logs show), ``pretext_acc`` being the video encoder's; the NMI of the random
labels with the true classes (about 0) when the pretraining set has labels.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from avbench.pretext.xdc import DeepClustering, nmi

if TYPE_CHECKING:  # pragma: no cover
    from avbench.pretrain import Trainer


def random_assignment(keys: list[str], k: int, *, seed: int, salt: int = 0) -> tuple[list[str], np.ndarray]:
    """A balanced random pseudo-class for each key: (sorted keys, int64 labels (N,)) with every
    class of ``range(k)`` holding ``N // k`` or ``N // k + 1`` videos; the same for the same keys,
    ``k``, ``seed`` and ``salt``."""
    keys = sorted(keys)
    rng = np.random.default_rng([int(seed), 29, int(salt)])
    return keys, rng.permutation(np.arange(len(keys)) % int(k)).astype(np.int64)


class RandomTargets(DeepClustering):
    """Fixed random pseudo-classes predicted by both encoders: ``random_targets`` (settings:
    ``deep_clustering.k``)."""

    name = "random_targets"

    def target_pairs(self) -> tuple[tuple[str, str], ...]:
        return (("video", "random"), ("audio", "random"))

    def before_epoch(self, trainer: "Trainer", epoch: int) -> dict[str, float]:
        logs: dict[str, float] = {"k": float(self.k)}
        if self.labels:  # drawn once (or restored on resume): fixed for the whole run
            return logs
        keys, lab = random_assignment(list(trainer.train_keys), self.k, seed=self.seed)
        hkeys, hlab = random_assignment(list(trainer.heldout_keys), self.k, seed=self.seed, salt=1)
        self._set_labels(keys, {"random": lab}, hkeys, {"random": hlab})
        self.clustered_epoch = epoch
        true = self._true_labels(trainer, keys)
        if true is not None:
            logs["nmi_random"] = nmi(true, lab)
        return logs

    def repeats(self, keys: list[str]) -> dict[str, float] | None:
        return None  # balanced by construction

    def checkpoint_meta(self) -> dict[str, Any]:
        return {"random_targets": {"k": self.k, "n_train": len(self.keys)}}
