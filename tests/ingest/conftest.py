"""Fixtures for the ingest tests: the real annotation files beside the repository (skipped if absent)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest


def _shared() -> Path | None:
    cands = [Path(__file__).resolve().parents[2].parent / "shared"]
    if os.environ.get("AVBENCH_SHARED"):
        cands.append(Path(os.environ["AVBENCH_SHARED"]))
    for c in cands:
        if (c / "realdata").is_dir():
            return c
    return None


@pytest.fixture(scope="session")
def annotations() -> Path:
    """``shared/realdata/annotations`` (the real Kinetics/AudioSet/UCF101/HMDB51 files)."""
    s = _shared()
    if s is None or not (s / "realdata" / "annotations").is_dir():
        pytest.skip("shared/realdata/annotations is not beside the repository")
    return s / "realdata" / "annotations"


@pytest.fixture(scope="session")
def esc50_root() -> Path:
    """``shared/realdata/esc50`` (the real ESC-50 meta CSV and 83 of its clips)."""
    s = _shared()
    if s is None or not (s / "realdata" / "esc50" / "meta" / "esc50.csv").is_file():
        pytest.skip("shared/realdata/esc50 is not beside the repository")
    return s / "realdata" / "esc50"


def _touch(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"")
    return path


@pytest.fixture
def touch():
    """``touch(path)``: create an empty fake media file and its folders (ingestion never decodes)."""
    return _touch


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A file outside every dataset root of a test (a symlink target that must never be used)."""
    return _touch(tmp_path / "outside" / "secret.mp4")
