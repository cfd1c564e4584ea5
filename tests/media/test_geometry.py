"""Frame geometry: crop, rotation, pixel aspect and resize modes, planned and then decoded."""

from __future__ import annotations

import os
import subprocess
from types import SimpleNamespace

import numpy as np
import pytest

from avbench.media.decode import decode_clip, frame_rotation
from avbench.media.ffmpeg import bundled_ffmpeg_binary, ffmpeg_binary
from avbench.media.geometry import plan_geometry
from avbench.media.probe import probe_file


def test_cover_keeps_the_aspect_ratio_and_cuts_the_centre():
    g = plan_geometry((640, 360), size=(171, 128), mode="cover")
    assert g.region == (80, 0, 560, 360)  # 480x360 is 4:3 = 171:128 up to rounding
    assert g.filters[0] == ("crop", "480:360:80:0") and g.filters[-2] == ("scale", "171:128:flags=area")
    tall = plan_geometry((320, 240), size=(64, 64), mode="cover")
    assert tall.region == (40, 0, 280, 240)
    assert plan_geometry((640, 360), size=(171, 128), mode="stretch").region == (0, 0, 640, 360)


def test_crop_box_comes_first_then_cover():
    # pillarboxed 640x360 with 80 px bars: content 480x360 is already 4:3
    g = plan_geometry((640, 360), size=(40, 30), crop_box=(80, 0, 560, 360), mode="cover")
    assert g.region == (80, 0, 560, 360)
    s = plan_geometry((640, 360), size=(40, 30), crop_box=(80, 0, 560, 360), mode="stretch")
    assert s.filters[0] == ("crop", "480:360:80:0")


def test_rotation_and_pixel_aspect_are_in_display_units():
    # a 64x48 picture shown rotated by a quarter turn is 48x64 tall: cover to 48x48 keeps 48 rows of the 64 columns
    g = plan_geometry((64, 48), size=(48, 48), rotation=90, mode="cover")
    assert g.region == (8, 0, 56, 48) and ("transpose", "clock") in g.filters
    assert ("transpose", "cclock") in plan_geometry((64, 48), size=(48, 64), rotation=270).filters
    assert {"hflip", "vflip"} <= {n for n, _ in plan_geometry((64, 48), size=(64, 48), rotation=180).filters}
    # 2:1 pixels: 64x48 stored is 128x48 displayed; a square output keeps the central 24 stored columns
    assert plan_geometry((64, 48), size=(32, 32), sar=2.0, mode="cover").region == (20, 0, 44, 48)


def test_rotation_from_the_display_matrix_or_the_rotate_tag():
    stream = SimpleNamespace(metadata={"rotate": "90"})
    assert frame_rotation(SimpleNamespace(rotation=0), stream) == 90  # legacy tag, clockwise
    assert frame_rotation(SimpleNamespace(rotation=90), None) == 270  # display matrix: 90 counter-clockwise
    assert frame_rotation(SimpleNamespace(rotation=-90), stream) == 90  # the side data wins


@pytest.fixture(autouse=True)
def old_ffmpeg_first_on_path(tmp_path_factory, monkeypatch):
    """An ffmpeg 5.1 (Debian 12's) first on PATH that knows no `-display_rotation`: the tests must not use it."""
    d = tmp_path_factory.mktemp("oldbin")
    fake = d / "ffmpeg"
    fake.write_text(
        '#!/bin/sh\necho "ffmpeg version 5.1.6-0+deb12u1"\n'
        'for a in "$@"; do [ "$a" = "-display_rotation" ] && { echo "Unrecognized option" >&2; exit 8; }; done\n'
        "exit 1\n"
    )
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{d}:{os.environ.get('PATH', '')}")
    return str(fake)


def test_tests_write_media_with_the_bundled_ffmpeg(old_ffmpeg_first_on_path):
    assert ffmpeg_binary() == old_ffmpeg_first_on_path  # the library's choice follows PATH
    assert bundled_ffmpeg_binary() != old_ffmpeg_first_on_path  # the tests' does not
    out = subprocess.run([bundled_ffmpeg_binary(), "-hide_banner", "-h", "full"], capture_output=True, text=True)
    assert "-display_rotation" in out.stdout


def _ffmpeg(*args: str) -> None:
    subprocess.run([bundled_ffmpeg_binary(), "-v", "error", "-y", *args], check=True)


@pytest.fixture(scope="module")
def src_clip(tmp_path_factory):
    d = tmp_path_factory.mktemp("geom")
    src = d / "src.mp4"
    _ffmpeg(
        "-f", "lavfi", "-i", "testsrc=size=64x48:rate=16", "-t", "1", "-c:v", "libx264", "-pix_fmt", "yuv420p", str(src)
    )
    return src


def test_display_matrix_rotation_is_honoured_when_decoding(src_clip, tmp_path):
    rot = tmp_path / "rot.mp4"
    _ffmpeg(
        "-display_rotation", "90", "-i", str(src_clip), "-c", "copy", str(rot)
    )  # same pixels, 90 deg counter-clockwise
    assert probe_file(str(rot), need_audio=False)["rotation"] == 270
    plain = decode_clip(str(src_clip), fps=16, size=(64, 48), audio=False)
    turned = decode_clip(str(rot), fps=16, size=(48, 64), audio=False)
    assert turned.geometry is not None and turned.geometry.rotation == 270
    assert turned.frames.shape == (16, 64, 48, 3)
    assert np.array_equal(turned.frames, np.rot90(plain.frames, k=1, axes=(1, 2)))


def test_non_square_pixels_are_honoured(src_clip, tmp_path):
    sar = tmp_path / "sar.mp4"
    _ffmpeg("-i", str(src_clip), "-vf", "setsar=2/1", "-c:v", "libx264", str(sar))
    assert probe_file(str(sar), need_audio=False)["sar"] == 2.0
    out = decode_clip(str(sar), fps=16, size=(32, 32), resize="cover", audio=False)
    assert out.geometry is not None and out.geometry.region == (20, 0, 44, 48)
    assert out.frames.shape == (16, 32, 32, 3)
