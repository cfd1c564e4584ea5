"""Shared fixtures: the real media in ../shared/realdata (skipped when absent) and tiny clips."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import avbench  # noqa: F401  (pins the CPU kernels before any test imports torch)

REPO = Path(__file__).resolve().parents[1]


def shared_dir() -> Path | None:
    env = os.environ.get("AVBENCH_SHARED")
    for cand in ([Path(env)] if env else []) + [REPO.parent / "shared"]:
        if (cand / "realdata").is_dir():
            return cand
    return None


@pytest.fixture(scope="session")
def realdata() -> Path:
    d = shared_dir()
    if d is None:
        pytest.skip("../shared/realdata is not beside the repository")
    return d / "realdata"
