"""The lists a new method, dataset format or encoder kind must be added to agree: the config schema, the
command line's choices and the registries (``PRETEXTS``, ``FORMATS``, ``METHOD_ENCODERS``, ``KINDS``).

These tests hold for whatever methods exist, as long as every list names the same ones."""

from __future__ import annotations

import argparse
import filecmp
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[1]


def _schema() -> dict[str, Any]:
    return yaml.safe_load((REPO / "workflow" / "schemas" / "config.schema.yaml").read_text())


def _choices(command: str, dest: str) -> set[str]:
    from avbench.cli import build_parser

    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    action = next(a for a in sub.choices[command]._actions if a.dest == dest)
    assert action.choices is not None, f"avbench {command} {dest}: no choices"
    return set(action.choices)


def _run_props(schema: dict[str, Any]) -> dict[str, Any]:
    return schema["properties"]["pretrain"]["properties"]["runs"]["additionalProperties"]["properties"]


def test_the_two_schema_files_are_byte_identical():
    assert filecmp.cmp(
        REPO / "workflow" / "schemas" / "config.schema.yaml", REPO / "avbench" / "config.schema.yaml", shallow=False
    )


def test_method_names_agree_across_schema_and_registries():
    from avbench.config import METHOD_ENCODERS
    from avbench.pretext import PRETEXTS

    schema_methods = set(_run_props(_schema())["method"]["enum"])
    assert schema_methods == set(PRETEXTS), "pretrain.runs.*.method enum vs avbench.pretext.PRETEXTS"
    # every method but supervised (its encoders are a setting) plans its encoders without torch
    assert set(METHOD_ENCODERS) == set(PRETEXTS) - {"supervised"}
    for name, cls in PRETEXTS.items():
        assert cls.name == name
        if name in METHOD_ENCODERS:
            assert METHOD_ENCODERS[name] == tuple(cls.encoders), name


def test_dataset_formats_agree_across_schema_cli_and_registry():
    from avbench.ingest import CSV_FORMATS, FORMATS

    schema = _schema()["properties"]["datasets"]["additionalProperties"]["properties"]["format"]["enum"]
    assert set(schema) == set(FORMATS), "datasets.*.format enum vs avbench.ingest.FORMATS"
    assert _choices("ingest", "format") == set(FORMATS), "avbench ingest's format choices vs FORMATS"
    assert set(CSV_FORMATS) <= set(FORMATS)


def test_encoder_kinds_agree_across_schema_cli_and_registries():
    from avbench.config import METHOD_ENCODERS, MODALITY_ENCODERS
    from avbench.models import KINDS
    from avbench.pretext import PRETEXTS

    schema = _schema()
    kinds = set(KINDS)
    assert {k for cls in PRETEXTS.values() for k in cls.encoders} <= kinds
    assert {k for enc in METHOD_ENCODERS.values() for k in enc} <= kinds
    assert {k for enc in MODALITY_ENCODERS.values() for k in enc} == kinds
    sup = schema["properties"]["pretrain"]["properties"]["supervised"]["properties"]["encoders"]["items"]["enum"]
    assert set(sup) == kinds, "pretrain.supervised.encoders enum vs avbench.models.KINDS"
    # downstream sets are evaluated by modality: the schema's, the CLI's and MODALITY_ENCODERS' agree
    modalities = set(schema["properties"]["downstream"]["additionalProperties"]["enum"])
    assert modalities == set(MODALITY_ENCODERS)
    for command in ("evaluate", "finetune"):
        assert _choices(command, "kind") == modalities, command
    protocols = set(schema["properties"]["evaluate"]["properties"]["protocols"]["items"]["enum"])
    # finetune_av (the fused Multisensory network with its audio) is switched on by the `multisensory` section
    # (rule finetune_av), not by evaluate.protocols: it is the one fine-tune protocol the command adds
    from avbench.evaluate.finetune import AV_PROTOCOLS, PROTOCOLS

    assert "multisensory" in schema["properties"] and set(AV_PROTOCOLS) <= set(PROTOCOLS)
    assert _choices("evaluate", "protocols") | _choices("finetune", "protocol") == protocols | set(AV_PROTOCOLS)
    assert _choices("finetune", "protocol") == set(PROTOCOLS)
    for command in ("probe", "shard"):
        assert _choices(command, "modality") == set(
            schema["properties"]["datasets"]["additionalProperties"]["properties"]["modality"]["enum"]
        )


def test_every_backbone_the_schema_names_builds():
    from avbench.models import build_encoder

    p = _schema()["properties"]["pretrain"]["properties"]
    names = {
        "video": p["video_backbone"]["enum"],
        "audio": p["audio_backbone"]["enum"],
        "flow": p["flow"]["properties"]["backbone"]["enum"],
    }
    for kind, enum in names.items():
        for name in enum:
            spec: dict[str, Any] = {"kind": kind, "name": name, "channels": [4, 4, 4, 4]}
            if kind == "flow":
                spec |= {"segments": 2, "frames": 2}
            assert build_encoder(spec) is not None, (kind, name)


def test_external_encoder_kinds_agree_across_schema_cli_and_registry():
    from avbench.config import EXTERNAL_LAYOUTS
    from avbench.models.external import EXTERNAL_KINDS, LAYOUTS, SPEC_KEYS
    from avbench.models.handcrafted import HANDCRAFTED

    ext = _schema()["properties"]["external"]["additionalProperties"]["properties"]
    assert set(ext) == set(SPEC_KEYS), "external.* keys vs avbench.models.external.SPEC_KEYS"
    assert set(ext["kind"]["enum"]) == set(EXTERNAL_KINDS)
    assert set(ext["modality"]["enum"]) == set(LAYOUTS) == set(EXTERNAL_LAYOUTS)
    assert set(ext["layout"]["enum"]) == set(LAYOUTS.values()) and LAYOUTS == EXTERNAL_LAYOUTS
    for command in ("import-encoder", "validate-encoder"):
        assert _choices(command, "kind") == set(EXTERNAL_KINDS)
        assert _choices(command, "modality") == set(LAYOUTS)
        assert _choices(command, "layout") == set(LAYOUTS.values())
    # the default config ships the handcrafted baselines as external encoders, with the package's specs
    cfg = yaml.safe_load((REPO / "config.yaml").read_text())
    for name, spec in HANDCRAFTED.items():
        assert cfg["external"][name] == spec, name
