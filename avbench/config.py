"""Load and validate the configuration; hash it for provenance."""

from __future__ import annotations

import copy
import hashlib
import json
from pathlib import Path
from typing import Any

import jsonschema
import yaml

SCHEMA_PATH = Path(__file__).resolve().parent / "config.schema.yaml"


def _schema() -> dict[str, Any]:
    return yaml.safe_load(SCHEMA_PATH.read_text())


def deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """A new dict: ``base`` with ``override`` merged in, recursively for nested dicts."""
    out = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def shard_settings(config: dict[str, Any], dataset: str | None = None) -> dict[str, Any]:
    """The preprocessing settings of ``dataset``: the ``shard`` section with the dataset's
    ``datasets.<name>.shard`` overrides deep-merged over it, defaults filled, validated.

    Raises ``jsonschema.ValidationError`` for an invalid merged section and ``ValueError`` (one
    line) for settings that cannot run here (TV-L1 flow without opencv-contrib).
    """
    schema = _schema()["properties"]["shard"]
    merged = copy.deepcopy(config.get("shard") or {})
    if dataset is not None:
        if dataset not in config.get("datasets", {}):
            raise ValueError(f"dataset {dataset!r} is not in datasets")
        merged = deep_merge(merged, config["datasets"][dataset].get("shard") or {})
    _fill_defaults(merged, schema)
    try:
        jsonschema.validate(merged, schema)
    except jsonschema.ValidationError as exc:
        where = f"datasets.{dataset}.shard" if dataset else "shard"
        raise jsonschema.ValidationError(f"{where}: {exc.message}") from None
    flow = merged["flow"]
    if flow["enabled"] or merged["stabilize"]["enabled"]:
        from avbench.preprocess.flow import check_algorithm

        check_algorithm(flow["algorithm"], flow["preset"])
    return merged


def _fill_defaults(node: dict[str, Any], schema: dict[str, Any]) -> None:
    for key, sub in schema.get("properties", {}).items():
        if key not in node and "default" in sub:
            node[key] = copy.deepcopy(sub["default"])
        if isinstance(node.get(key), dict) and sub.get("type") == "object":
            _fill_defaults(node[key], sub)


def validate(config: dict[str, Any]) -> dict[str, Any]:
    """Fill defaults and validate against the schema; returns a new dict. Raises on invalid config."""
    cfg = copy.deepcopy(config)
    schema = _schema()
    _fill_defaults(cfg, schema)
    jsonschema.validate(cfg, schema)
    if cfg["pretrain_dataset"] not in cfg["datasets"]:
        raise jsonschema.ValidationError(f"pretrain_dataset {cfg['pretrain_dataset']!r} is not in datasets")
    for name in cfg["downstream"]:
        if name not in cfg["datasets"]:
            raise jsonschema.ValidationError(f"downstream dataset {name!r} is not in datasets")
    for name in cfg["datasets"]:
        shard_settings(cfg, name)
    return cfg


def load_config(path: str | Path) -> dict[str, Any]:
    return validate(yaml.safe_load(Path(path).read_text()))


def config_hash(config: dict[str, Any]) -> str:
    """A short hash of the whole (validated) config, for provenance columns."""
    blob = json.dumps(config, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:12]
