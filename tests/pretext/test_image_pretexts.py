"""Seed 002's image pretexts on single frames (avbench.pretext.image) and the frame encoder (small2d).

Known answers: the rotation of an asymmetric square, the neighbour class of two patches cut from a
frame whose pixels carry their own row and column, the colour classes of a two-colour frame; a few
optimisation steps lower each task's loss; one epoch of :func:`avbench.pretrain.pretrain` on the
tiny world for one image pretext and for the multi-task run."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import yaml

from avbench.checkpoint import load_encoders
from avbench.models import build_encoder, encoder_spec
from avbench.models.video import Small2D
from avbench.pretext import PRETEXTS, PretrainModel, to_tensors
from avbench.pretext.image import (
    DEFAULTS,
    NEIGHBOURS,
    augment,
    colour_targets,
    context_patches,
    image_view,
    rotate,
    square_crop,
    task_settings,
)
from avbench.pretrain import pretrain
from avbench.shards.loader import collate, item_rng

SMALL_CONTEXT = {"patch": 5, "gap": 3, "jitter": 1}  # 23 px: fits the tiny world's 32x24 frames
IMAGE_METHODS = ("image_context", "image_colour", "image_exemplar", "image_rotation")


def coords_frame(h: int = 30, w: int = 40) -> np.ndarray:
    """A frame whose pixel (y, x) holds y in channel 0 and x in channel 1."""
    f = np.zeros((h, w, 3), np.uint8)
    f[..., 0] = np.arange(h)[:, None]
    f[..., 1] = np.arange(w)[None, :]
    return f


def textured(t: int, rng: np.random.Generator, h: int = 24, w: int = 32) -> dict:
    """A video of coloured blobs on a vertical gradient (up is dark): every task has something to learn."""
    f = np.zeros((t, h, w, 3), np.uint8)
    f[...] = (np.linspace(20, 200, h)[None, :, None, None]).astype(np.uint8)
    for k in range(t):
        for _ in range(2):
            y, x = int(rng.integers(0, h - 6)), int(rng.integers(0, w - 6))
            f[k, y : y + 6, x : x + 6] = rng.integers(0, 256, size=3)
    meta = {"n_frames": t, "fps": 16.0, "frame_times": [k / 16 for k in range(t)], "label_idx": 0}
    return {"frames": f, "meta": meta, "mel": None, "flow": None, "key": "v"}


def image_cfg(cfg_for, method: str, **over):
    image = {"context": SMALL_CONTEXT, "tasks": ["context", "colour", "exemplar", "rotation"]}
    image.update(over.pop("image", {}))
    return cfg_for(method, video_backbone="small2d", channels=[8, 16, 16, 16], image=image, **over)


# -- the frame encoder ------------------------------------------------------------------------------


def test_small2d_is_the_mean_of_its_frames_and_reads_single_images():
    torch.manual_seed(0)
    enc = build_encoder(encoder_spec("video", {"video_backbone": "small2d", "channels": [4, 8, 8, 16]})).eval()
    assert isinstance(enc, Small2D) and enc.out_dim == 16
    clip = torch.rand(2, 3, 5, 30, 40)
    with torch.no_grad():
        y = enc(clip)
        per_frame = torch.stack([enc(clip[:, :, k : k + 1]) for k in range(5)], 1).mean(1)
        shuffled = enc(clip[:, :, torch.tensor([4, 2, 0, 1, 3])])
    assert y.shape == (2, 16)
    assert torch.allclose(y, per_frame, atol=1e-5) and torch.allclose(y, shuffled, atol=1e-5)  # frame order unseen
    assert enc.image_map(clip[:, :, 0]).shape == (2, 16, 8, 10)  # stride 4 on 40x30
    assert enc.feature_map(clip).shape == (2, 16, 5, 8, 10)
    assert enc(torch.rand(3, 3, 1, 7, 7)).shape == (3, 16)  # a relative-position patch


def test_image_pretexts_need_a_frame_encoder(cfg_for):
    with pytest.raises(ValueError, match="small2d"):
        PRETEXTS["image_rotation"](cfg_for("image_rotation"), n_classes=2, seed=0)


def test_defaults_are_the_schema_defaults():
    schema = yaml.safe_load((Path(__file__).resolve().parents[2] / "avbench" / "config.schema.yaml").read_text())
    image = schema["properties"]["pretrain"]["properties"]["image"]
    assert "default" not in image  # a section default would enter every run's settings
    for task, values in DEFAULTS.items():
        props = image["properties"][task]["properties"]
        assert {k: v["default"] for k, v in props.items()} == values, task
    assert image["properties"]["tasks"]["default"] == ["context", "colour", "exemplar"]
    assert task_settings({"context": {"patch": 5}})["context"] == {**DEFAULTS["context"], "patch": 5}


# -- known answers ------------------------------------------------------------------------------------


def test_rotation_of_an_asymmetric_square_and_of_a_non_square_frame():
    img = np.zeros((4, 4, 3), np.uint8)
    img[0, 0] = 255  # top-left marker
    img[0, 1] = 128  # its right neighbour: the square is asymmetric under every rotation
    corners = {k: np.argwhere(rotate(img, k)[..., 0] == 255)[0].tolist() for k in range(4)}
    assert corners == {0: [0, 0], 1: [3, 0], 2: [3, 3], 3: [0, 3]}  # 90 degrees counter-clockwise each
    assert len({rotate(img, k).tobytes() for k in range(4)}) == 4
    f = coords_frame()
    sq = square_crop(f, np.random.default_rng(0))
    assert sq.shape == (30, 30, 3) and sq[0, 0, 1] == 5 and sq[0, -1, 1] == 34  # centred in the 40 px width
    for seed in range(12):  # the label is recoverable from the view: undo the rotation, get the crop back
        out = image_view(
            {"frames": f[None], "meta": {"n_frames": 1, "fps": 16.0}},
            np.random.default_rng(seed),
            tasks=("rotation",),
            settings=task_settings(None),
        )
        assert out["video_rot"].shape == (1, 30, 30, 3)
        assert np.array_equal(rotate(out["video_rot"][0], -out["rotation"]), sq)


def test_relative_position_label_is_the_neighbours_place():
    f = coords_frame()
    s = task_settings(None)["context"]
    seen = set()
    for seed in range(60):
        a, b, c = context_patches(f, np.random.default_rng(seed), **s)
        p, gap, jit = s["patch"], s["gap"], s["jitter"]
        assert a.shape == b.shape == (p, p, 3)
        (ay, ax), (by, bx) = (int(a[0, 0, 0]), int(a[0, 0, 1])), (int(b[0, 0, 0]), int(b[0, 0, 1]))
        dy, dx = by - ay, bx - ax
        # the neighbour sits one cell (patch + gap) away in the labelled direction, up to twice the jitter
        want = NEIGHBOURS[c]
        for d, w in ((dy, want[0]), (dx, want[1])):
            assert abs(d - w * (p + gap)) <= 2 * jit
            if w:  # never touching: at least gap - 2 * jitter pixels between the two
                assert abs(d) - p >= gap - 2 * jit >= 1
        seen.add(c)
    assert seen == set(range(8))
    with pytest.raises(ValueError, match="3x3 grid"):
        context_patches(coords_frame(20, 40), np.random.default_rng(0), **s)


def test_colour_targets_of_a_two_colour_frame_and_a_grey_input(cfg_for):
    rgb = torch.zeros(1, 3, 8, 8)
    rgb[0, 0, :, :4] = 1.0  # left half red
    rgb[0, 2, :, 4:] = 1.0  # right half blue
    y = colour_targets(rgb, (2, 2), 4)
    assert y[0, :, 0].unique().numel() == 1 and y[0, :, 1].unique().numel() == 1 and y[0, 0, 0] != y[0, 0, 1]
    # the view keeps the colour frame (the targets); the loss feeds the encoder its luminance only
    pretext = PRETEXTS["image_colour"](image_cfg(cfg_for, "image_colour"), n_classes=2, seed=0)
    out = image_view(
        textured(4, np.random.default_rng(0)), np.random.default_rng(0), tasks=("colour",), settings=pretext.task_cfg
    )
    assert out["video_col"].shape == (1, 24, 32, 3)


def test_exemplar_views_are_two_augmentations_of_one_frame():
    f = textured(1, np.random.default_rng(3))["frames"][0]
    ident = augment(f, np.random.default_rng(0), min_scale=1.0, jitter=0.0)
    assert np.array_equal(ident, f) or np.array_equal(ident, f[:, ::-1])  # no crop, no jitter: the frame or its mirror
    a, b = (augment(f, np.random.default_rng(s), min_scale=0.5, jitter=0.3) for s in (1, 2))
    assert a.shape == b.shape == f.shape and not np.array_equal(a, b)


def test_views_depend_on_seed_epoch_and_key_only(cfg_for):
    pretext = PRETEXTS["image_multitask"](image_cfg(cfg_for, "image_multitask"), n_classes=2, seed=0)
    sample = textured(32, np.random.default_rng(1))
    a = pretext.view(2)(sample, item_rng(5, 2, "v001"))
    b = pretext.view(2)(sample, item_rng(5, 2, "v001"))
    assert set(a) == {"frame", "label", "video_ctx", "position", "video_col", "video_ex", "video_rot", "rotation"}
    assert all(np.array_equal(a[k], b[k]) for k in a)
    others = [pretext.view(2)(sample, item_rng(5, 2, k)) for k in ("v002", "v003", "v004")]
    assert any(not np.array_equal(a["video_ex"], o["video_ex"]) for o in others)


def test_multitask_settings_are_checked(cfg_for):
    p = PRETEXTS["image_multitask"](
        image_cfg(cfg_for, "image_multitask", image={"tasks": ["rotation", "context"]}), n_classes=2, seed=0
    )
    assert p.tasks == ("context", "rotation")  # a fixed order whatever the list's
    with pytest.raises(ValueError, match="image.tasks"):
        PRETEXTS["image_multitask"](
            image_cfg(cfg_for, "image_multitask", image={"tasks": ["context", "jigsaw"]}), n_classes=2, seed=0
        )
    with pytest.raises(ValueError, match="image.weights"):
        PRETEXTS["image_rotation"](
            image_cfg(cfg_for, "image_rotation", image={"weights": {"colour": 1.0}}), n_classes=2, seed=0
        )
    with pytest.raises(ValueError, match="twice the jitter"):
        PRETEXTS["image_context"](
            image_cfg(cfg_for, "image_context", image={"context": {"gap": 2, "jitter": 1}}), n_classes=2, seed=0
        )


# -- optimisation -----------------------------------------------------------------------------------------


def fit(pretext, items, steps: int = 12) -> tuple[list[float], dict[str, float]]:
    torch.manual_seed(0)
    model = PretrainModel(specs=pretext.encoder_specs(), head=pretext)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    batch = to_tensors(collate(items), device=torch.device("cpu"), mel_norm=(0.0, 1.0))
    gen = torch.Generator().manual_seed(0)
    losses = []
    for _ in range(steps):
        loss, _ = pretext.loss(model, batch, epoch=0, generator=gen)
        assert torch.isfinite(loss)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    return losses, pretext.heldout_metrics(model, batch, generator=gen)


@pytest.mark.parametrize("method", IMAGE_METHODS + ("image_multitask",))
def test_a_few_steps_lower_each_loss(method, cfg_for):
    pretext = PRETEXTS[method](image_cfg(cfg_for, method), n_classes=2, seed=0)
    rng = np.random.default_rng(0)
    items = [pretext.view(0)(textured(8, rng), item_rng(0, 0, f"v{i}")) | {"key": f"v{i}"} for i in range(12)]
    losses, m = fit(pretext, items)
    start = {"image_context": math.log(8), "image_rotation": math.log(4), "image_exemplar": math.log(12)}
    if method in start:
        assert losses[0] == pytest.approx(start[method], rel=0.35)  # about chance at the start
    assert np.mean(losses[-3:]) < losses[0] - 0.3
    for t in pretext.tasks:
        assert 0.0 <= m[f"{t}_acc"] <= 1.0
    assert m["pretext_acc"] == pytest.approx(np.mean([m[f"{t}_acc"] for t in pretext.tasks]))
    if method in ("image_context", "image_rotation", "image_exemplar"):
        assert m["pretext_acc"] > 0.5


# -- one epoch of the training loop ---------------------------------------------------------------------


@pytest.mark.parametrize("method", ["image_rotation", "image_multitask"])
def test_one_epoch_of_pretrain(method, tiny_world, cfg_for, tmp_path):
    shards = tiny_world(n_videos=10, flow=False)
    cfg = cfg_for(
        method,
        video_backbone="small2d",
        channels=[4, 4, 8, 8],
        epochs=1,
        batch_size=4,
        clips_per_video=1,
        image={"context": SMALL_CONTEXT, "tasks": ["context", "colour", "exemplar", "rotation"]},
    )
    pretrain(run=method, cfg=cfg, shard_dir=shards, out_dir=tmp_path / method, seed=0, progress=False, threads=1)
    m = pd.read_csv(tmp_path / method / "metrics.csv")
    assert np.isfinite(m["train_loss"]).all() and 0.0 <= m["val_pretext_acc"].iloc[-1] <= 1.0
    if method == "image_multitask":
        assert {"val_context_acc", "val_colour_acc", "val_exemplar_acc", "val_rotation_acc"} <= set(m.columns)
    encoders, meta = load_encoders(tmp_path / method / "checkpoint.pt")  # what evaluation reads
    assert set(encoders) == {"video"} and meta["method"] == method
    assert isinstance(encoders["video"], Small2D)
    assert encoders["video"](torch.rand(2, 3, 8, 24, 32)).shape == (2, 8)  # evaluated on clips like any video encoder
