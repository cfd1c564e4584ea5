from pathlib import Path
import jsonschema
import pytest
import yaml

from avbench.config import config_hash, load_config, validate

REPO = Path(__file__).resolve().parents[1]


def test_default_and_smoke_configs_validate_with_defaults_filled():
    for path in (REPO / "config.yaml", REPO / ".test" / "config_smoke.yaml"):
        cfg = load_config(path)
        assert cfg["shard"]["sample_rate"] == 16000
        assert cfg["pretrain"]["avts"]["margin"] > 0
        assert cfg["probe"]["timeout_s"] > 0


def test_invalid_config_is_refused():
    cfg = yaml.safe_load((REPO / "config.yaml").read_text())
    bad = dict(cfg, shard={"fps": -1})
    with pytest.raises(jsonschema.ValidationError):
        validate(bad)
    with pytest.raises(jsonschema.ValidationError):
        validate(dict(cfg, pretrain_dataset="nope"))
    with pytest.raises(jsonschema.ValidationError):
        validate(dict(cfg, unknown_key=1))


def test_config_hash_changes_with_science_settings():
    cfg = load_config(REPO / "config.yaml")
    other = load_config(REPO / "config.yaml")
    other["shard"]["fps"] = 8
    assert config_hash(cfg) == config_hash(load_config(REPO / "config.yaml"))
    assert config_hash(cfg) != config_hash(other)


def test_method_encoders_agree_with_the_pretexts():
    from avbench.config import METHOD_ENCODERS, run_encoders
    from avbench.pretext import PRETEXTS

    assert set(METHOD_ENCODERS) == set(PRETEXTS) - {"supervised"}
    for name, cls in PRETEXTS.items():
        if name != "supervised":
            assert METHOD_ENCODERS[name] == tuple(cls.encoders), name
    cfg = load_config(REPO / "config.yaml")
    assert run_encoders(cfg, "aot_cues_kept") == ("flow",)
    assert run_encoders(cfg, "supervised") == ("video", "audio", "flow")


def test_finetune_sets_must_be_downstream_sets():
    raw = yaml.safe_load((REPO / "config.yaml").read_text())
    raw.setdefault("evaluate", {})["finetune_sets"] = ["synth_action"]
    assert validate(raw)["evaluate"]["finetune_sets"] == ["synth_action"]
    raw["evaluate"]["finetune_sets"] = ["ucf101"]
    with pytest.raises(jsonschema.ValidationError, match="finetune_sets"):
        validate(raw)
