"""Arrow of time: quantized-flow reversal with known answers, the midpoint representation that makes
reversal exact, the cue shares, and training on tiny worlds whose flow we wrote: a blob falling
under gravity has an arrow of time, a disc spinning at constant speed (either way) has none."""

from __future__ import annotations

import functools
import math

import numpy as np
import pandas as pd
import pytest
import torch

from avbench.pretext import PRETEXTS, PretrainModel, to_tensors
from avbench.pretext.aot import (
    aot_directions,
    aot_view,
    cue_flags,
    cue_shares,
    midpoint_field,
    quantized_flow,
    reverse_flow,
    unit_flow,
)
from avbench.pretext.base import flow_unit
from avbench.shards.loader import ShardStream, batches, shard_urls
from avbench.pretrain import pretrain


def test_quantized_flow_reads_zero_as_zero_and_negates_exactly():
    q = np.arange(256, dtype=np.uint8)
    u = unit_flow(q)
    assert u[127] == 0 and u[128] == 0 and u[255] == 1 and u[0] == -1
    assert np.array_equal(unit_flow(255 - q), -u)  # 255 - q is the exact negation
    assert np.allclose(flow_unit(torch.from_numpy(q)).numpy(), u)  # the training tensors read it the same way
    v = np.linspace(-1, 1, 101, dtype=np.float32)
    assert np.abs(unit_flow(quantized_flow(v)) - v).max() <= 0.5 / 127 + 1e-6
    assert quantized_flow(np.zeros(1))[0] == 128
    t = to_tensors({"flow": np.full((1, 2, 3, 4, 2), 128, np.uint8)}, device=torch.device("cpu"), mel_norm=(0, 1))
    assert t["flow"].shape == (1, 2, 2, 3, 4) and float(t["flow"].abs().max()) == 0.0


def test_reverse_flow_reverses_and_negates():
    clip = np.stack([np.full((2, 2, 2), v, np.uint8) for v in (10, 128, 200)])
    assert reverse_flow(clip)[:, 0, 0, 0].tolist() == [55, 127, 245]
    assert np.array_equal(reverse_flow(clip.astype(np.float32) - 1)[:, 0, 0, 0], [-199.0, -127.0, -9.0])


def _block_field(x0: int, y0: int, v: tuple[float, float], size: int = 3) -> np.ndarray:
    f = np.zeros((12, 16, 2))
    f[y0 : y0 + size, x0 : x0 + size] = v
    return f


@pytest.mark.parametrize("v", [(2.0, 0.0), (1.0, 1.0), (-3.0, 2.0)])
def test_midpoint_reversal_is_exact_for_a_moving_block(v):
    fwd = _block_field(5, 4, v)  # the block at frame k moves by v
    back = _block_field(5 + int(v[0]), 4 + int(v[1]), (-v[0], -v[1]))  # the reversed video: from k + 1 back to k
    assert np.allclose(midpoint_field(back), -midpoint_field(fwd))
    assert not np.allclose(back, -fwd)  # whereas the raw fields live on different pixels


def _block_sample(n: int = 9) -> dict:
    """A sample whose stored flow is a 3x3 block moving by (2, 1) px a frame (quantized, bound 4)."""
    flow = np.stack([_block_field(2 + k % 8, 3, (2.0, 1.0)) for k in range(n - 1)]) / 4.0
    meta = {"n_frames": n, "fps": 16.0, "flow": {"bound": 4.0}, "label_idx": 0}
    return {
        "meta": meta,
        "frames": np.zeros((n, 12, 16, 3), np.uint8),
        "mel": None,
        "flow": quantized_flow(flow.astype(np.float32)),
        "key": "k",
    }


def test_pretext_and_downstream_read_one_flow_representation():
    """The arrow of time's forward clip and the clips that the linear classifiers, fine-tunes and the
    supervised flow encoder read (``clip_view``) are the same array for the same start: no encoder
    is pretrained on one flow representation and evaluated on another."""
    from avbench.evaluate.features import eval_clips
    from avbench.pretext.supervised import supervised_view
    from avbench.shards.loader import clip_view

    sample = _block_sample()
    rng = np.random.default_rng(0)
    for k0 in (0, 3):
        fwd, _ = aot_directions(sample["flow"][k0 : k0 + 4], 4.0)
        down = clip_view(sample, rng, clip_frames=4, audio=False, flow=True, start=k0)["flow"]
        assert np.array_equal(down, fwd)
        assert not np.array_equal(down, sample["flow"][k0 : k0 + 4])  # not the raw stored fields
    ev = eval_clips(sample, kind="flow", clip_frames=4, clips_per_video=1)
    k0 = 2  # the middle of the 5 possible starts
    assert np.array_equal(ev[0]["flow"], aot_directions(sample["flow"][k0 : k0 + 4], 4.0)[0])
    sup = supervised_view(sample, np.random.default_rng(1), clip_frames=4, flow_frames=4, audio=False, flow=True)
    assert np.array_equal(sup["flow"], aot_directions(sample["flow"][sup["start"] : sup["start"] + 4], 4.0)[0])


def _spin_field(a: float, c=(7.3, 5.6), r: float = 4.5) -> np.ndarray:
    yy, xx = np.mgrid[0:12, 0:16].astype(np.float64)
    dx, dy = xx - c[0], yy - c[1]
    m = dx * dx + dy * dy <= r * r
    f = np.zeros((12, 16, 2))
    f[m, 0] = (math.cos(a) - 1) * dx[m] - math.sin(a) * dy[m]  # the chord of a rotation by a
    f[m, 1] = math.sin(a) * dx[m] + (math.cos(a) - 1) * dy[m]
    return f


def _radial(f: np.ndarray, c=(7.3, 5.6)) -> float:
    """Mean component along the radius (outwards) of the moving pixels of a field."""
    yy, xx = np.mgrid[0:12, 0:16].astype(np.float64)
    dx, dy = xx - c[0], yy - c[1]
    rr = np.sqrt(dx * dx + dy * dy) + 1e-9
    m = np.abs(f).sum(-1) > 0
    return float(((f[..., 0] * dx + f[..., 1] * dy) / rr)[m].mean())


@pytest.mark.parametrize("a", [0.4, -0.4])
def test_midpoint_field_removes_the_chord_of_a_rotation(a):
    """A rotation's displacement (the chord) points inwards, so its negation (the naive backward
    field) points outwards where the opposite rotation's field points inwards; at the vectors'
    midpoints the chord is tangent and the two agree."""
    f = _spin_field(a)
    assert _radial(f) < -0.15 and _radial(-f) > 0.15  # r (1 - cos a) ~ 0.2 px for r ~ 3 px
    mid = midpoint_field(f)
    assert abs(_radial(mid)) < 0.1 * abs(_radial(f)) and abs(_radial(-mid)) < 0.1 * abs(_radial(f))
    tangential = np.abs(mid).sum(-1)[np.abs(mid).sum(-1) > 0].mean()
    assert tangential > 0.5  # the rotation itself is kept


def test_aot_directions_backward_is_the_reversed_negated_forward():
    rng = np.random.default_rng(0)
    clip = rng.integers(90, 166, size=(4, 6, 8, 2)).astype(np.uint8)
    for reversal in ("midpoint", "negate"):
        fwd, bwd = aot_directions(clip, 4.0, reversal=reversal)
        assert fwd.dtype == bwd.dtype == np.uint8 and fwd.shape == clip.shape
        assert np.array_equal(unit_flow(bwd), -unit_flow(fwd)[::-1])
    assert np.array_equal(aot_directions(clip, 4.0, reversal="negate")[0], clip)
    with pytest.raises(ValueError):
        aot_directions(clip, 4.0, reversal="mirror")


def test_cue_flags_and_shares():
    box = {"crop_box": [0, 12, 320, 228], "geometry": {"source_size": [320, 240]}, "borders": {"enabled": True}}
    full = {"crop_box": [0, 0, 320, 240], "geometry": {"source_size": [320, 240]}, "borders": {"enabled": True}}
    bars = {"borders": {"enabled": True, "bars": {"top": 0, "bottom": 0, "left": 8, "right": 8}}}
    none = {"borders": {"enabled": True}, "crop_box": None}
    moving = {"stabilization": {"enabled": False, "camera_motion_score": 0.05}}
    still = {"stabilization": {"enabled": True, "camera_motion_score": 0.001}}
    assert cue_flags(box, camera_threshold=0.01)["black_border"] is True
    assert cue_flags(full, camera_threshold=0.01)["black_border"] is False
    assert cue_flags(bars, camera_threshold=0.01)["black_border"] is True
    assert cue_flags(none, camera_threshold=0.01)["black_border"] is False
    assert cue_flags({}, camera_threshold=0.01) == {
        "black_border": None,
        "camera_motion": None,
        "borders_removed": None,
        "stabilized": None,
    }
    assert cue_flags(moving, camera_threshold=0.01)["camera_motion"] is True
    assert cue_flags(still, camera_threshold=0.01)["camera_motion"] is False
    flagged = {"stabilization": {"camera_motion_score": 0.005, "camera_moving": True}}
    assert cue_flags(flagged, camera_threshold=None)["camera_motion"] is True  # the shard stage's own verdict
    assert cue_flags(flagged, camera_threshold=0.01)["camera_motion"] is False
    s = cue_shares([{**box, **moving}, {**none, **still}, {**bars, **still}, {}], camera_threshold=0.01)
    assert s["cue_videos"] == 4 and s["share_black_border"] == pytest.approx(2 / 3)
    assert s["share_camera_motion"] == pytest.approx(1 / 3) and s["share_stabilized"] == pytest.approx(2 / 3)
    assert s["share_borders_removed"] == 1.0


def _fresh_accuracy(run_dir, cfg, shards) -> float:
    """Forward/backward accuracy of a trained AoT checkpoint on every video of ``shards`` (4 clips each)."""
    ck = torch.load(run_dir / "checkpoint.pt", weights_only=False)
    p = PRETEXTS["aot"](cfg, n_classes=1, seed=0)
    model = PretrainModel(specs=ck["specs"], head=p)
    for k, e in model.encoders.items():
        e.load_state_dict(ck["encoders"][k])
    model.head.load_state_dict(ck["head"])
    model.eval()
    view = functools.partial(aot_view, flow_frames=p.flow_frames(), motion_sampling=False, reversal=p.reversal)
    hits = []
    for epoch in range(4):
        for b in batches(
            ShardStream(shard_urls(shards), view=view, epoch=epoch, needs=frozenset({"flow"})),
            batch_size=64,
            drop_last=False,
        ):
            with torch.no_grad():
                logits, y = p.targets(model, to_tensors(b, device=torch.device("cpu"), mel_norm=(0.0, 1.0)))
            hits.append((logits.argmax(-1) == y).float().numpy())
    return float(np.concatenate(hits).mean())


def _cues(v: int) -> dict:
    """Every other video letterboxed, every fourth with a moving camera."""
    return {
        "crop_box": [0, 2, 32, 22] if v % 2 else [0, 0, 32, 24],
        "geometry": {"source_size": [32, 24]},
        "borders": {"enabled": True},
        "stabilization": {"enabled": True, "camera_motion_score": 0.1 if v % 4 == 0 else 0.0},
    }


def test_arrow_of_time_learns_gravity_and_records_the_cues(tiny_world, cfg_for, tmp_path):
    train = tiny_world("fall", classes=("fall",), extra_meta=_cues)
    test = tiny_world("fall_test", classes=("fall",), n_videos=32, seed=1)
    cfg = cfg_for("aot", epochs=4)
    pretrain(run="aot", cfg=cfg, shard_dir=train, out_dir=tmp_path / "aot", seed=0, progress=False, threads=2)
    m = pd.read_csv(tmp_path / "aot" / "metrics.csv")
    assert m["train_loss"].iloc[-1] < m["train_loss"].iloc[0] - 0.2
    assert m["train_pretext_acc"].iloc[-1] > 0.9
    assert _fresh_accuracy(tmp_path / "aot", cfg, test) > 0.9  # chance 0.5
    ck = torch.load(tmp_path / "aot" / "checkpoint.pt", weights_only=False)
    cues = ck["meta"]["aot_cues"]
    n = cues["cue_videos"]
    assert n == ck["meta"]["n_train_videos"]
    assert 0.3 < cues["share_black_border"] < 0.7 and 0.1 < cues["share_camera_motion"] < 0.4  # 1/2 and 1/4
    assert m["share_black_border"].iloc[0] == cues["share_black_border"] and set(ck["encoders"]) == {"flow"}


@pytest.mark.parametrize("reversal", ["midpoint", "negate"])
def test_a_constant_rotation_has_no_arrow_of_time(reversal, tiny_world, cfg_for, tmp_path):
    """Spinning discs (half each way): forward and backward clips look alike, so a network can only
    memorise its training videos. Merely negating the stored fields leaks the direction (a
    rotation's chord points inwards, its negation outwards): the same test catches that."""
    train = tiny_world("spin", classes=("spin",))
    test = tiny_world("spin_test", classes=("spin",), n_videos=64, seed=1)
    cfg = cfg_for("aot", epochs=5, aot={"reversal": reversal})
    pretrain(run="aot", cfg=cfg, shard_dir=train, out_dir=tmp_path / "aot", seed=0, progress=False, threads=2)
    acc = _fresh_accuracy(tmp_path / "aot", cfg, test)
    if reversal == "midpoint":
        assert acc < 0.75  # chance 0.5; 64 fresh videos
    else:
        assert acc > 0.9


def test_arrow_of_time_needs_flow_in_the_shards(tiny_world, cfg_for, tmp_path):
    shards = tiny_world(flow=False, n_videos=16)
    with pytest.raises(RuntimeError, match="no training batch"):
        pretrain(
            run="aot", cfg=cfg_for("aot", epochs=1), shard_dir=shards, out_dir=tmp_path / "x", seed=0, progress=False
        )
