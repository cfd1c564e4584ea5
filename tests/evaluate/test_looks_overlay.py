"""workflow/configs/localize_looks.yaml: layered over config.yaml (localization is in the default run; also over
localize.yaml, which changes nothing), it turns appearance_by_class on for the world and the localization set (and
nothing in config.yaml does)."""

from __future__ import annotations

from pathlib import Path

import yaml

from avbench.config import deep_merge, validate
from avbench.synthesize.dataset import plan, plan_localize
from avbench.synthesize.world import CLASS_APPEARANCE

ROOT = Path(__file__).resolve().parents[2]


def _load(rel: str) -> dict:
    return yaml.safe_load((ROOT / rel).read_text())


def test_looks_overlay_turns_the_setting_on_over_the_default_run():
    base = _load("config.yaml")
    assert "appearance_by_class" not in base["synth"] and "appearance_by_class" not in base["localize"]["set"]
    looks = _load("workflow/configs/localize_looks.yaml")
    assert "methods" not in looks["pretrain"]  # a list would replace the default run's and drop runs
    merged = validate(deep_merge(base, looks))
    # localize.yaml changes nothing: layering it first gives the same config
    assert merged == validate(deep_merge(deep_merge(base, _load("workflow/configs/localize.yaml")), looks))
    assert merged["synth"]["appearance_by_class"] is True
    assert merged["localize"]["set"]["appearance_by_class"] is True
    assert merged["localize"]["set"]["p_silent_object"] == base["localize"]["set"]["p_silent_object"] == 0.5
    assert merged["pretrain"]["runs"]["avolnet"]["avolnet"]["blocks"] == 4
    assert (
        merged["pretrain"]["methods"] == validate(base)["pretrain"]["methods"]
        and "avolnet" in base["pretrain"]["methods"]
    )
    small = {**merged["synth"], "pretrain_videos": 3, "action_groups_per_class": 3, "action_clips_per_group": 1}
    for j in plan(small, 0):
        if j["set"] in ("pretrain", "action") and not j["bad"]:
            assert j["spec"].color == CLASS_APPEARANCE[j["spec"].cls][1]
    for j in plan_localize({**merged["localize"]["set"], "n_videos": 4}, 0):
        assert (j["spec"].shape, j["spec"].color) == CLASS_APPEARANCE[j["spec"].cls]
