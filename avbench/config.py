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
    return cfg


def load_config(path: str | Path) -> dict[str, Any]:
    return validate(yaml.safe_load(Path(path).read_text()))


def config_hash(config: dict[str, Any]) -> str:
    """A short hash of the whole (validated) config, for provenance columns."""
    blob = json.dumps(config, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:12]
