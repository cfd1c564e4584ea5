"""The DAVIS layout: sequences, their statuses, and masks read back with their object ids."""

from __future__ import annotations

import os

import cv2
import numpy as np
import pytest
from PIL import Image

from avbench.ingest.davis import load_sequence, prepare_davis, read_mask


def _palette_png(path, mask: np.ndarray) -> None:
    im = Image.fromarray(mask.astype(np.uint8), mode="P")
    im.putpalette([0, 0, 0, 128, 0, 0, 0, 128, 0] + [0] * (256 * 3 - 9))
    im.save(path)


def _sequence(root, name: str, n: int = 3, *, annotations: bool = True) -> None:
    f = root / "JPEGImages" / "480p" / name
    a = root / "Annotations" / "480p" / name
    f.mkdir(parents=True)
    a.mkdir(parents=True)
    for t in range(n):
        img = np.full((48, 64, 3), 40, np.uint8)
        img[10:20, 5 + 3 * t : 15 + 3 * t] = (250, 20, 20)
        cv2.imwrite(str(f / f"{t:05d}.jpg"), cv2.cvtColor(img, cv2.COLOR_RGB2BGR))
        if annotations:
            m = np.zeros((48, 64), np.uint8)
            m[10:20, 5 + 3 * t : 15 + 3 * t] = 1
            m[30:40, 40:50] = 2
            m[0, 0] = 255  # void
            _palette_png(a / f"{t:05d}.png", m)


def test_sequences_get_a_status_each_and_nothing_outside_the_root_is_read(tmp_path):
    root = tmp_path / "DAVIS"
    _sequence(root, "bear")
    _sequence(root, "blank", annotations=False)
    _sequence(root, "leak")
    outside = tmp_path / "secret.jpg"
    outside.write_bytes(b"not yours")
    os.symlink(outside, root / "JPEGImages" / "480p" / "leak" / "00009.jpg")
    sets = root / "ImageSets" / "2017"
    sets.mkdir(parents=True)
    (sets / "train.txt").write_text("bear\n../../etc\n")
    (sets / "val.txt").write_text("blank\nleak\ngone\n")
    df = prepare_davis(root).set_index("id")
    assert df.loc["bear", "status"] == "ok" and df.loc["bear", "split"] == "train"
    assert df.loc["bear", "n_frames"] == 3 and df.loc["bear", "n_objects"] == 2
    assert df.loc["blank", "status"] == "malformed" and "no annotations" in df.loc["blank", "reason"]
    assert df.loc["leak", "status"] == "unsafe_path"
    assert df.loc["../../etc", "status"] == "unsafe_path" and df.loc["../../etc", "path"] == ""
    assert df.loc["gone", "status"] == "missing" and df.loc["gone", "split"] == "val"
    assert (df["format"] == "davis").all()


def test_masks_keep_their_object_ids_and_shrink_with_the_frames(tmp_path):
    root = tmp_path / "DAVIS"
    _sequence(root, "bear", n=4)
    m = read_mask(root / "Annotations" / "480p" / "bear" / "00000.png")
    assert set(np.unique(m)) == {0, 1, 2}  # void (255) reads as background
    row = prepare_davis(root).iloc[0]
    seq = load_sequence(row["path"])
    assert seq["frames"].shape == (4, 48, 64, 3) and seq["masks"].shape == (4, 48, 64)
    assert seq["masks"][3, 15, 20] == 1 and seq["masks"][3, 35, 45] == 2
    small = load_sequence(row["path"], short_side=24, max_frames=2)
    assert small["frames"].shape == (2, 24, 32, 3) and set(np.unique(small["masks"])) == {0, 1, 2}


def test_a_folder_that_is_not_davis_is_refused(tmp_path):
    with pytest.raises(FileNotFoundError, match="JPEGImages"):
        prepare_davis(tmp_path)
