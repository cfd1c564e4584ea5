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


def test_config_errors_name_the_key_and_numbers_in_strings_are_numbers(tmp_path, capsys):
    """Issue 12, defect 12: the CLI did not name the bad key, a typo inside `synth` was accepted,
    and `lr: 1e-3` (a string in YAML 1.1) was refused."""
    from avbench.cli import main

    cfg = yaml.safe_load((REPO / "config.yaml").read_text())
    bad = dict(cfg, shard=dict(cfg["shard"], fps=-16))
    with pytest.raises(jsonschema.ValidationError, match=r"^shard\.fps: -16"):
        validate(bad)
    typo = dict(cfg, synth=dict(cfg.get("synth") or {}, p_letterbx=0.3))
    with pytest.raises(jsonschema.ValidationError, match="p_letterbx"):
        validate(typo)
    text = (REPO / "config.yaml").read_text()
    raw = yaml.safe_load(text)
    raw["pretrain"]["lr"] = "1e-3"  # what YAML makes of `lr: 1e-3`
    raw["pretrain"]["runs"]["xdc_k8"]["lr"] = "2e-3"
    out = validate(raw)
    assert out["pretrain"]["lr"] == 0.001 and out["pretrain"]["runs"]["xdc_k8"]["lr"] == 0.002
    assert yaml.safe_load("lr: 1e-3")["lr"] == "1e-3"
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(bad))
    with pytest.raises(SystemExit, match=r"shard\.fps: -16 is less than"):
        main(
            [
                "shard",
                "m.parquet",
                "-o",
                str(tmp_path / "o"),
                "--index",
                str(tmp_path / "i.parquet"),
                "--config",
                str(tmp_path / "c.yaml"),
            ]
        )


def test_avsync_section_is_on_in_config_yaml_and_checked():
    raw = yaml.safe_load((REPO / "config.yaml").read_text())
    cfg = validate(raw)
    assert cfg["avsync"]["enabled"] is True and cfg["avsync"]["datasets"] == ["synth_pretrain", "synth_sync"]
    assert validate(dict(raw, avsync={"enabled": "false"}))["avsync"]["enabled"] is False  # `--config avsync=...`
    assert validate(dict(raw, avsync={"enabled": "true"}))["avsync"]["enabled"] is True
    assert validate({k: v for k, v in raw.items() if k != "avsync"})["avsync"]["datasets"] == []
    for bad, match in (
        ({"datasets": ["nope"]}, "not in datasets"),
        ({"datasets": ["synth_action"]}, "modality"),
        ({"offsets": [2, 5]}, "contain 0"),
        ({"inject": {"offsets": [1]}}, "beyond the tolerance"),
        ({"inject": {"offsets": [20]}}, "must lie in"),
    ):
        with pytest.raises(jsonschema.ValidationError, match=match):
            validate(dict(raw, avsync=dict(raw["avsync"], **bad)))


def test_alignment_section_is_on_in_config_yaml_and_has_no_section_default():
    cfg = load_config(REPO / "config.yaml")
    assert cfg["alignment"]["enabled"] is True and cfg["alignment"]["n_boot"] == 2000  # defaults inside it
    raw = yaml.safe_load((REPO / "config.yaml").read_text())
    raw.pop("alignment")
    assert "alignment" not in validate(raw)  # a config without the section gets none
    with pytest.raises(jsonschema.ValidationError):
        validate(dict(raw, alignment={"baselines": ["copy_first"]}))


def test_cached_schema_validation_gives_jsonschemas_errors_and_stays_unmutated():
    """The schema is parsed and meta-checked once per process: validating many configs in one
    process gives the error jsonschema.validate gives, and no validation changes the schema."""
    import copy

    from avbench.config import _schema, _validate

    before = copy.deepcopy(_schema())
    cfg = yaml.safe_load((REPO / "config.yaml").read_text())
    for bad in ({"fps": -1}, {"fps": "x"}, {"sample_rate": 0}):
        merged = dict(cfg["shard"], **bad)
        with pytest.raises(jsonschema.ValidationError) as ours:
            _validate(merged, _schema()["properties"]["shard"])
        with pytest.raises(jsonschema.ValidationError) as theirs:
            jsonschema.validate(
                merged, yaml.safe_load((REPO / "avbench/config.schema.yaml").read_text())["properties"]["shard"]
            )
        assert ours.value.message == theirs.value.message and list(ours.value.path) == list(theirs.value.path)
    good = load_config(REPO / "config.yaml")
    good["shard"]["fps"] = 99  # a caller changing its own config changes neither the schema nor the next load
    assert load_config(REPO / "config.yaml")["shard"]["fps"] != 99
    assert _schema() == before
    with pytest.raises(jsonschema.ValidationError, match="shard.fps"):
        validate(dict(cfg, shard=dict(cfg["shard"], fps=-1)))
