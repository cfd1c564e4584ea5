"""The synthetic propagation set: DAVIS layout, masks that are where the object's pixels are."""

from __future__ import annotations

import numpy as np

from avbench.evaluate.propagation import evaluate_sequences, pixel_features
from avbench.ingest.davis import load_sequence, prepare_davis
from avbench.synthesize.davis import object_masks, propagation_spec, write_davis_set
from avbench.synthesize.world import render_frames, simulate


def test_masks_cover_the_objects_pixels_under_every_camera():
    cameras = set()
    for k in range(8):
        spec = propagation_spec(3, k, n_frames=12, size=(96, 72))
        traj = simulate(spec)
        frames, _ = render_frames(spec, traj)
        masks = object_masks(spec, traj)
        cameras.add(spec.camera)
        assert masks.shape == frames.shape[:3] and masks.any(axis=(1, 2)).all()
        dist = np.abs(frames.astype(int) - np.array(spec.color)).sum(-1)
        inside, outside = dist[masks > 0], dist[masks == 0]
        # the object's colour (its marker aside) inside the mask, the background outside
        assert np.median(inside) < 0.35 * np.median(outside)
    assert len(cameras) >= 2


def test_the_set_reads_back_as_davis_and_colour_tracking_beats_copying(tmp_path):
    summary = write_davis_set(tmp_path / "d", n_sequences=4, n_frames=10, size=(96, 72), seed=1)
    df = prepare_davis(tmp_path / "d")
    assert list(df["id"]) == summary["sequences"] and (df["status"] == "ok").all()
    assert (df["n_objects"] == 1).all() and (df["split"] == "val").all()
    seqs = [load_sequence(p) for p in df["path"]]
    assert seqs[0]["frames"].shape == (10, 72, 96, 3) and set(np.unique(seqs[0]["masks"])) == {0, 1}
    tracked, _ = evaluate_sequences(seqs, lambda f: pixel_features(f, stride=2))
    held, _ = evaluate_sequences(seqs, None)
    assert tracked["j_mean"] > held["j_mean"]
    again = write_davis_set(tmp_path / "d", n_sequences=4, n_frames=10, size=(96, 72), seed=1)
    assert again == summary  # deterministic
