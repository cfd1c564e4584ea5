"""Fixtures for the ingest tests: the real annotation files beside the repository (skipped if absent)."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def annotations(realdata: Path) -> Path:
    """``shared/realdata/annotations`` (the real Kinetics/AudioSet/UCF101/HMDB51 files)."""
    return realdata / "annotations"


@pytest.fixture(scope="session")
def esc50_root(realdata: Path) -> Path:
    """``shared/realdata/esc50`` (the real ESC-50 meta CSV and 83 of its clips)."""
    return realdata / "esc50"


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
