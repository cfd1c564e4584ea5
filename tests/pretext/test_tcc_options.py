"""TCC's opt-in options (issue: TCC sat at the uniform cycle-back on the synthetic world):
L2-normalised embeddings (`normalize`), the cycle-back classification loss (`loss: classification`)
and training on some classes only (`classes`), each against a known answer."""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from avbench.pretext import PRETEXTS, PretrainModel
from avbench.pretext.tcc import cycle_back_classification, cycle_back_logits
from avbench.pretrain import sample_rows

from test_tcc import _curve, _orbits, _train


def _pretext(**tcc):
    cfg = {
        "clip_frames": 16,
        "epochs": 1,
        "video_backbone": "small3d",
        "channels": [4, 8, 8, 8],
        "tcc": {"n_frames": 6, "stride": 2, "context": 2, "embed_dim": 16, **tcc},
    }
    torch.manual_seed(0)
    pretext = PRETEXTS["tcc"](cfg, n_classes=1, seed=0)
    return pretext, PretrainModel(specs=pretext.encoder_specs(), head=pretext)


def test_normalize_gives_unit_embeddings_and_the_default_does_not():
    rng = np.random.default_rng(0)
    video = _orbits(rng, n_videos=3)["video"]
    for embedder in ("pooled", "map"):
        pretext, model = _pretext(embedder=embedder, map_channels=4, normalize=True)
        norms = pretext.embed(model.eval(), video).norm(dim=-1)
        assert norms.shape == (3, 6) and torch.allclose(norms, torch.ones_like(norms), atol=1e-5)
    pretext, model = _pretext()
    norms = pretext.embed(model.eval(), video).norm(dim=-1)
    assert not torch.allclose(norms, torch.ones_like(norms), atol=1e-2)


def test_with_normalised_embeddings_the_loss_falls_below_uniform_on_constructed_orbits():
    """Unit embeddings at a matching temperature (0.01 for 16 dimensions: logits span up to 25)
    leave the uniform cycle-back (1 + lambda log var of the indices) on orbits whose phase is the
    square's place, and cycle back far above chance (1/6)."""
    pretext, model = _pretext(normalize=True, temperature=0.01)
    uniform = 1 + 0.001 * math.log(float(np.var(np.arange(6) / 6)))
    losses, accs = _train(pretext, model, 20)
    assert np.mean(losses[-4:]) < uniform - 0.2 and np.mean(accs[-4:]) > 0.5


def test_the_classification_loss_is_log_n_at_uniform_and_small_when_aligned():
    """Cross-entropy of the cycle-back logits against the start frame: log N for a uniform return
    (all frames alike, whatever the smoothing); ~0 without smoothing for two videos of one process
    at different speeds and a sharp temperature, and above the entropy of the smoothed target with
    it."""
    u0 = torch.zeros(2, 7, 3)
    assert math.isclose(float(cycle_back_classification(u0, torch.randn(2, 9, 3))), math.log(7), rel_tol=1e-5)
    u, v = _curve(np.linspace(0, 1, 10))[None], _curve(np.linspace(0, 1, 20))[None]
    assert float(cycle_back_classification(u, v, temperature=1e-3, label_smoothing=0.0)) < 1e-3
    eps, n = 0.1, 10
    floor = -(1 - eps + eps / n) * math.log(1 - eps + eps / n) - (n - 1) * eps / n * math.log(eps / n)
    assert float(cycle_back_classification(u, v, temperature=0.05, label_smoothing=eps)) > floor
    # it is cross-entropy on the same logits the regression loss reads
    logits = cycle_back_logits(u, v, 0.1)[0]
    direct = F.cross_entropy(logits, torch.arange(10), label_smoothing=eps)
    assert math.isclose(float(cycle_back_classification(u, v, temperature=0.1)), float(direct), rel_tol=1e-6)


def test_the_classification_loss_falls_on_constructed_orbits():
    pretext, model = _pretext(loss="classification")
    losses, accs = _train(pretext, model, 20)
    assert abs(losses[0] - math.log(6)) < 0.1
    assert np.mean(losses[-4:]) < math.log(6) - 0.3 and np.mean(accs[-4:]) > 0.5


def test_classes_keeps_only_the_named_classes():
    row = {"status": "ok", "n_frames": 200, "label_idx": 3, "label": "orbit"}
    pretext, _ = _pretext(classes=["pendulum", "orbit"])
    assert pretext.usable(row) and not pretext.usable({**row, "label": "bounce"})
    everything, _ = _pretext()
    assert everything.usable({**row, "label": "bounce"})


def test_the_training_rows_carry_the_class_name_that_classes_reads(tiny_world):
    """sample_rows gives each sample's class name (from its JSON here; from the index's label
    column in the pipeline), so `classes` keeps exactly the samples of the named classes."""
    shards = tiny_world(n_videos=8, flow=False)
    rows = sample_rows(shards)
    names = sorted(set(rows["label"]))
    assert names == ["fall", "spin"]  # the tiny world's two classes
    pretext, _ = _pretext(classes=[names[0]])
    kept = [r["key"] for r in rows.to_dict("records") if pretext.usable(r)]
    assert kept and kept == rows.loc[rows["label"] == names[0], "key"].tolist()
