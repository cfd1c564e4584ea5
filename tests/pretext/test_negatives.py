"""In-batch negatives are never clips of the same video (issue 11, item 6).

A training batch holds several clips of one video (``clips_per_video`` copies of each sample meet
in the shuffle buffer); items carry their sample ``key``. The encoders are replaced by a stub that
passes features through, with one-hot features of the video, so a same-video negative is visible
in the numbers.
"""

from __future__ import annotations

import math
from typing import Any

import pytest
import torch
from torch import nn

from avbench.pretext.avenet import AVENet
from avbench.pretext.avts import AVTS
from avbench.pretext.base import derangement, other_video_pairing, same_video, video_ids
from avbench.pretext.infonce import InfoNCE
from avbench.pretext.l3 import L3, correspondence_pairs

KEYS = ["a", "a", "a", "a", "b", "b", "c", "c", "c", "d", "e", "e"]  # 5 videos, up to 4 clips each


def onehot(keys: list[str]) -> torch.Tensor:
    g = video_ids(keys)
    return nn.functional.one_hot(g, int(g.max()) + 1).float()


class Stub:
    """Stands in for :class:`~avbench.pretext.base.PretrainModel`: ``encode`` returns its input and
    records (kind, number of items) of every forward pass."""

    def __init__(self, head: Any) -> None:
        self.head = head
        self.calls: list[tuple[str, int]] = []

    def encode(self, kind: str, x: torch.Tensor) -> torch.Tensor:
        self.calls.append((kind, len(x)))
        return x


class Embed:
    """Identity embeddings (L2-normalised one-hots) with the heads' interface."""

    def embed_video(self, f: torch.Tensor) -> torch.Tensor:
        return nn.functional.normalize(f, dim=-1)

    def embed_audio(self, f: torch.Tensor) -> torch.Tensor:
        return nn.functional.normalize(f, dim=-1)

    def __call__(self, fv: torch.Tensor, fa: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.embed_video(fv), self.embed_audio(fa)


class RecordPairs(Embed):
    """A correspondence head that records the (video, audio) feature pairs it is given."""

    def __init__(self) -> None:
        self.pairs: list[tuple[torch.Tensor, torch.Tensor]] = []

    def __call__(self, fv: torch.Tensor, fa: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        self.pairs.append((fv, fa))
        return torch.zeros(len(fv), 2)


def batch_of(keys: list[str]) -> dict[str, Any]:
    x = onehot(keys)
    return {
        "key": list(keys),
        "video": x,
        "audio": x.clone(),
        "audio_hard": x.clone() * 0.5,
        "hard_ok": torch.ones(len(keys), dtype=torch.bool),
    }


def test_pairing_never_pairs_two_clips_of_one_video():
    g = torch.Generator().manual_seed(0)
    vid = video_ids(KEYS)
    for _ in range(200):
        perm = other_video_pairing(KEYS, len(KEYS), g)
        assert sorted(perm.tolist()) == list(range(len(KEYS)))  # a permutation: each audio once
        assert (vid[perm] != vid).all()
    lopsided = ["a"] * 7 + ["b", "c"]  # more than half one video: drawn per item, still other videos
    vid = video_ids(lopsided)
    for _ in range(50):
        assert (vid[other_video_pairing(lopsided, 9, g)] != vid).all()
    with pytest.raises(ValueError):
        other_video_pairing(["a", "a"], 2, g)


def test_pairing_with_unique_keys_is_the_old_derangement():
    for n in (2, 5, 16):
        a = other_video_pairing([f"k{i}" for i in range(n)], n, torch.Generator().manual_seed(3))
        b = derangement(n, torch.Generator().manual_seed(3))
        assert a.tolist() == b.tolist()


def test_same_video_mask():
    m = same_video(["x", "y", "x"])
    assert m.tolist() == [[True, False, True], [False, True, False], [True, False, True]]


def test_infonce_masks_other_clips_of_the_same_video(cfg_for):
    pretext = InfoNCE(cfg_for("infonce", infonce={"tau": 1.0}), n_classes=2, seed=0)
    b = batch_of(KEYS)
    loss, logs = pretext.loss(Stub(Embed()), b, epoch=0, generator=torch.Generator().manual_seed(0))
    # one-hot embeddings: own pair 1/tau, every other video 0; same-video clips are no negatives
    tau = pretext.tau
    vid = video_ids(KEYS)
    n_other = torch.tensor([(vid != vid[i]).sum().item() for i in range(len(KEYS))], dtype=torch.float64)
    expected = float(-(1 / tau - torch.log(math.exp(1 / tau) + n_other)).mean())  # both directions alike
    assert float(loss) == pytest.approx(expected, rel=1e-5)
    assert logs["pretext_acc"] == 1.0 and logs["acc_a2v"] == 1.0


@pytest.mark.parametrize("method", [L3, AVENet])
def test_correspondence_negatives_come_from_other_videos(method, cfg_for):
    pretext = method(cfg_for(method.name), n_classes=2, seed=0)
    head = RecordPairs()
    g = torch.Generator().manual_seed(0)
    for _ in range(30):
        pretext.loss(Stub(head), batch_of(KEYS), epoch=0, generator=g)
    n = len(KEYS)
    for fv, fa in head.pairs:
        assert (fv[:n] * fa[:n]).sum(1).gt(0).all()  # positives: own audio
        assert (fv[n:] * fa[n:]).sum(1).eq(0).all()  # negatives: another video's audio


def test_correspondence_pairs_take_keys():
    vi, ai, y = correspondence_pairs(len(KEYS), torch.Generator().manual_seed(1), KEYS)
    vid = video_ids(KEYS)
    n = len(KEYS)
    assert (vid[ai[n:]] != vid[vi[n:]]).all() and y.tolist() == [1] * n + [0] * n


def avts(cfg_for: Any, easy: float) -> AVTS:
    return AVTS(
        cfg_for(
            "avts",
            avts={
                "margin": 2.0,
                "embed_dim": 8,
                "easy_fraction": easy,
                "curriculum_switch": 0.0,
                "hard_offset_s": [0.5, 2.0],
            },
        ),
        n_classes=2,
        seed=0,
    )


def test_avts_easy_negatives_come_from_other_videos(cfg_for):
    pretext = avts(cfg_for, 1.0)
    g = torch.Generator().manual_seed(0)
    for _ in range(30):
        _, logs = pretext.loss(Stub(Embed()), batch_of(KEYS), epoch=0, generator=g)
        assert logs["d_pos"] == pytest.approx(0.0, abs=1e-6)
        assert logs["d_neg"] == pytest.approx(math.sqrt(2), rel=1e-6)  # a same-video negative would be 0
    held = pretext.heldout_metrics(Stub(Embed()), batch_of(KEYS), generator=g)
    assert held["pretext_acc"] == 1.0


def test_avts_hard_negatives_share_the_positives_forward_pass(cfg_for):
    pretext = avts(cfg_for, 0.0)  # hard negatives only
    model = Stub(Embed())
    _, logs = pretext.loss(model, batch_of(KEYS), epoch=0, generator=torch.Generator().manual_seed(0))
    n = len(KEYS)
    assert logs["hard_share"] == 1.0
    assert model.calls == [("video", n), ("audio", 2 * n)]  # one audio BatchNorm batch: in sync + hard
