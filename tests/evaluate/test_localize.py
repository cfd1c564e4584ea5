"""Sound-source localization scores on inputs with known answers."""

from __future__ import annotations

import numpy as np
import pandas as pd

from avbench.evaluate.localize import (
    Clip,
    LocalizeSettings,
    box_mask,
    centre_prior,
    iter_clips,
    localize_rows,
    localize_table,
    motion_prior,
    pointing_hit,
    region_iou,
    score_clips,
    shard_box,
    source_frame,
)

SIZE = (40, 30)


def test_shard_box_through_a_known_crop_and_resize():
    # a 320x240 source with 20 px letterbox bars: region (0, 20, 320, 220) then the cover cut keeps the
    # central 266x200 -> region (26, 20, 292, 220) scaled to 40x30 (x by 40/266, y by 30/200)
    region = (26, 20, 292, 220)
    box = [125.5, 99.5, 151.5, 139.5]  # pixel-centre coordinates: edges 126..152, 100..140
    b = shard_box(box, region, SIZE)
    assert np.allclose(b, [(126 - 26) * 40 / 266, (100 - 20) * 0.15, (152 - 26) * 40 / 266, (140 - 20) * 0.15])
    # the whole region maps to the whole frame; a box in the bars is clipped away
    assert np.allclose(shard_box([25.5, 19.5, 291.5, 219.5], region, SIZE), [0, 0, 40, 30])
    assert not box_mask(shard_box([0, 0, 10, 10], region, SIZE), SIZE).any()


def test_box_mask_pixel_centres_and_tiny_boxes():
    m = box_mask([10.0, 5.0, 14.0, 9.0], SIZE)
    assert m.sum() == 16 and m[5:9, 10:14].all()
    tiny = box_mask([20.2, 10.2, 20.4, 10.4], SIZE)  # smaller than a pixel: the pixel holding it
    assert tiny.sum() == 1 and tiny[10, 20]


def test_pointing_inside_and_outside_the_box():
    m = box_mask([10.0, 5.0, 14.0, 9.0], SIZE)
    heat = np.zeros((30, 40))
    heat[6, 12] = 1.0
    assert pointing_hit(heat, m)
    heat[20, 30] = 2.0
    assert not pointing_hit(heat, m)


def test_centre_prior_hits_a_centred_box_and_misses_a_corner():
    c = centre_prior(SIZE)
    assert c.shape == (30, 40)
    assert pointing_hit(c, box_mask([16.0, 11.0, 24.0, 19.0], SIZE))
    assert not pointing_hit(c, box_mask([0.0, 0.0, 8.0, 8.0], SIZE))


def test_region_iou_known_answers():
    m = box_mask([0.0, 0.0, 6.0, 10.0], SIZE)  # 60 px = 5% of 1200
    heat = m.astype(float)
    assert region_iou(heat, m, 0.05) == 1.0
    assert region_iou(heat, m, 0.10) == 0.5
    assert region_iou(1 - heat, m, 0.05) == 0.0


def test_motion_prior_points_at_the_moving_square():
    frames = np.full((3, 30, 40, 3), 100, np.uint8)
    for t in range(3):
        frames[t, 10:14, 5 + 3 * t : 9 + 3 * t] = 250
    e = motion_prior(frames, 1)
    y, x = np.unravel_index(int(np.argmax(e)), e.shape)
    assert 9 <= y <= 14 and 4 <= x <= 16
    assert not motion_prior(np.repeat(frames[:1], 3, 0), 1).any()


def test_source_frame_is_the_last_shown():
    assert source_frame(0.0, 25, 100) == 0
    assert source_frame(0.0625, 25, 100) == 1  # 1.5625 frames -> frame 1
    assert source_frame(0.08, 25, 100) == 2  # exactly frame 2's time
    assert source_frame(99.0, 25, 100) == 99


def _clips(n_videos=12):
    """Clips whose sounding object is in the lower left, half of them with a silent object at the centre."""
    out = []
    for i in range(n_videos):
        frames = np.zeros((3, 30, 40, 3), np.uint8)
        silent = i % 2 == 0
        sbox = np.array([16.0, 11.0, 24.0, 19.0]) if silent else None
        out.append(Clip(f"v{i:02d}", 0, frames, 1, None, np.array([2.0, 20.0, 10.0, 28.0]), sbox, silent_object=silent))
    return out


def test_scores_rows_and_table_against_the_centre_prior():
    st = LocalizeSettings(n_boot=200)
    clips = _clips()
    good = [box_mask(c.box, SIZE).astype(float) for c in clips]
    centre = [centre_prior(SIZE) for _ in clips]
    a, c = score_clips(clips, good, st), score_clips(clips, centre, st)
    assert a["pointing"].eq(1).all() and c["pointing"].eq(0).all()
    assert c.loc[c["silent_visible"], "pointing_silent"].eq(1).all()  # the centre prior points at the silent object
    rows = localize_rows(a.assign(), method="oracle", pretext="x", dataset="d", n_boot=200)
    assert set(rows["subset"]) == {"all", "silent_object", "no_silent_object"}
    r = rows.set_index(["subset", "metric"])
    assert r.loc[("all", "pointing"), "value"] == 1.0 and r.loc[("silent_object", "pointing"), "n_test"] == 6
    t = localize_table({"centre": c, "oracle": a}, dataset="d", reference="centre", n_boot=200)
    o = t[(t["source"] == "oracle") & (t["subset"] == "all")].iloc[0]
    assert o["pointing_diff"] == 1.0 and o["pointing_verdict"] == "reproduced"
    assert "pointing_diff" not in t.columns or pd.isna(t[t["source"] == "centre"]["pointing_diff"]).all()


def test_iter_clips_maps_the_truth_and_skips_invisible(tmp_path):
    import json

    T = 24
    gt = {
        "spec": {"fps": 16.0},
        "n_frames": T,
        "object_box_frame": [[160.0, 120.0, 200.0, 160.0]] * T,
        "object_visible": [True] * T,
        "silent_object": False,
    }
    (tmp_path / "a.json").write_text(json.dumps(gt))
    (tmp_path / "b.json").write_text(json.dumps({**gt, "object_visible": [False] * T}))
    meta = {
        "fps": 16.0,
        "n_frames": T,
        "frame_times": [k / 16 for k in range(T)],
        "t_start": 0.0,
        "size": [40, 30],
        "geometry": {"region": [0, 0, 320, 240]},
        "hop_ms": 10.0,
    }
    frames = np.zeros((T, 30, 40, 3), np.uint8)
    samples = [
        {"frames": frames, "mel": np.zeros((8, 150), np.float32), "meta": {**meta, "source": s}}
        for s in ("a.mp4", "b.mp4")
    ]
    clips, skipped = iter_clips(samples, tmp_path, LocalizeSettings(clip_frames=8))
    assert len(clips) == 1 and clips[0].video == "a"
    assert np.allclose(clips[0].box, [160.5 / 8, 120.5 / 8, 200.5 / 8, 160.5 / 8])
    assert clips[0].audio.shape == (8, 50)
    assert [s["status"] for s in skipped] == ["not_visible"]


def test_localization_is_in_the_default_run_and_the_localize_overlay_changes_nothing():
    """config.yaml pretrains the localize runs and declares the set; workflow/configs/localize.yaml (kept so the
    commands naming it run) sets no `pretrain.methods` (a list: it would replace the default's and drop runs) and
    leaves the validated config as it is."""
    from pathlib import Path

    import yaml

    from avbench.config import deep_merge, validate

    root = Path(__file__).resolve().parents[2]
    base = yaml.safe_load((root / "config.yaml").read_text())
    over = yaml.safe_load((root / "workflow" / "configs" / "localize.yaml").read_text())
    assert "methods" not in (over.get("pretrain") or {})
    assert validate(deep_merge(base, over)) == validate(base)
    assert base["localize"]["enabled"] and set(base["localize"]["runs"]) <= set(base["pretrain"]["methods"])
    assert base["localize"]["dataset"] == "synth_localize" and "synth_localize" in base["datasets"]
    assert base["pretrain"]["runs"]["avolnet"]["epochs"] == 6  # the budget it was measured with


def test_config_asks_retrieval_by_class_for_the_objects_that_sound_runs_only():
    """config.yaml asks for retrieval by class for the Objects-that-Sound runs (AVOL-Net, AVE-Net) only."""
    from pathlib import Path

    import yaml

    from avbench.config import validate
    from avbench.evaluate.retrieval import wants_class_retrieval

    root = Path(__file__).resolve().parents[2]
    ev = validate(yaml.safe_load((root / "config.yaml").read_text()))["evaluate"]
    assert set(ev["retrieval_intra"]) == {"avolnet", "avenet"}
    assert wants_class_retrieval(ev, {"run": "avolnet", "method": "avolnet"})
    assert wants_class_retrieval(ev, {"run": "avenet", "method": "avenet"})
    assert not wants_class_retrieval(ev, {"run": "l3", "method": "l3"})
