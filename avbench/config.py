"""Load and validate the configuration; hash it for provenance."""

from __future__ import annotations

import copy
import functools
import hashlib
import json
import re
from pathlib import Path
from typing import Any

import jsonschema
import yaml

SCHEMA_PATH = Path(__file__).resolve().parent / "config.schema.yaml"


@functools.lru_cache(maxsize=1)
def _schema() -> dict[str, Any]:
    """The parsed schema, read once per process (treat it as read-only: callers copy defaults).

    Every CLI job of the workflow validates its config; parsing the schema and checking it
    against the meta-schema at each of the ~70 validations of a config cost ~2.5 s a job."""
    return yaml.load(SCHEMA_PATH.read_text(), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))


_VALIDATORS: dict[int, tuple[dict[str, Any], Any]] = {}


def _validate(instance: Any, schema: dict[str, Any]) -> None:
    """``jsonschema.validate(instance, schema)`` (the same best-matching error) with the schema
    checked and its validator built once per (cached) schema object instead of at every call."""
    hit = _VALIDATORS.get(id(schema))
    if hit is None or hit[0] is not schema:
        cls = jsonschema.validators.validator_for(schema)
        cls.check_schema(schema)
        hit = _VALIDATORS[id(schema)] = (schema, cls(schema))
    error = jsonschema.exceptions.best_match(hit[1].iter_errors(instance))
    if error is not None:
        raise error


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
        _validate(merged, schema)
    except jsonschema.ValidationError as exc:
        raise jsonschema.ValidationError(_where(exc, f"datasets.{dataset}.shard" if dataset else "shard")) from None
    flow = merged["flow"]
    if flow["enabled"] or merged["stabilize"]["enabled"]:
        from avbench.preprocess.flow import check_algorithm

        check_algorithm(flow["algorithm"], flow["preset"])
    return merged


_NUMBER = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")


def coerce_numbers(node: Any, schema: dict[str, Any]) -> Any:
    """Turn strings that spell a number into that number where ``schema`` wants a number (in
    place; returns ``node``). YAML 1.1 reads ``1e-3`` (no dot) as the *string* "1e-3": a user
    writing ``lr: 1e-3`` means 0.001. Follows ``properties``, ``additionalProperties`` and
    ``items``; a run entry of ``pretrain.runs`` follows the ``pretrain`` schema and a dataset's
    ``shard`` overrides the ``shard`` schema (see :func:`validate`). Likewise ``true`` / ``false``
    where the schema wants a boolean: ``snakemake --config 'avsync={enabled: true}'`` passes the
    nested value as the string "true"."""
    if isinstance(node, dict):
        props = schema.get("properties", {})
        extra = schema.get("additionalProperties")
        for key, value in node.items():
            sub = props.get(key, extra if isinstance(extra, dict) else None)
            if sub is None:
                continue
            want = sub.get("type")
            wants = want if isinstance(want, list) else [want]
            if isinstance(value, str) and ({"number", "integer"} & set(wants)) and _NUMBER.match(value.strip()):
                num = float(value)
                node[key] = int(num) if "integer" in wants and num.is_integer() and "number" not in wants else num
            elif isinstance(value, str) and "boolean" in wants and value.strip().lower() in ("true", "false"):
                node[key] = value.strip().lower() == "true"
            else:
                coerce_numbers(value, sub)
    elif isinstance(node, list) and isinstance(schema.get("items"), dict):
        for i, value in enumerate(node):
            sub = schema["items"]
            if isinstance(value, str) and sub.get("type") in ("number", "integer") and _NUMBER.match(value.strip()):
                node[i] = float(value) if sub.get("type") == "number" else int(float(value))
            else:
                coerce_numbers(value, sub)
    return node


def coerce_config(config: dict[str, Any]) -> dict[str, Any]:
    """:func:`coerce_numbers` over a whole config (in place), run entries and dataset overrides included."""
    schema = _schema()
    coerce_numbers(config, schema)
    pschema, sschema = schema["properties"]["pretrain"], schema["properties"]["shard"]
    for entry in ((config.get("pretrain") or {}).get("runs") or {}).values():
        if isinstance(entry, dict):
            coerce_numbers(entry, pschema)
    for d in (config.get("datasets") or {}).values():
        if isinstance(d, dict) and isinstance(d.get("shard"), dict):
            coerce_numbers(d["shard"], sschema)
    return config


def _where(exc: jsonschema.ValidationError, prefix: str = "") -> str:
    """``prefix.path.to.key: message`` of a validation error (the key a user must fix)."""
    path = ".".join(str(p) for p in exc.absolute_path)
    where = ".".join(x for x in (prefix, path) if x)
    return f"{where}: {exc.message}" if where else exc.message


def _fill_defaults(node: dict[str, Any], schema: dict[str, Any]) -> None:
    for key, sub in schema.get("properties", {}).items():
        if key not in node and "default" in sub:
            node[key] = copy.deepcopy(sub["default"])
        if isinstance(node.get(key), dict) and sub.get("type") == "object":
            _fill_defaults(node[key], sub)


def validate(config: dict[str, Any]) -> dict[str, Any]:
    """Fill defaults and validate against the schema; returns a new dict. Raises on invalid config."""
    cfg = coerce_config(copy.deepcopy(config))
    schema = _schema()
    _fill_defaults(cfg, schema)
    try:
        _validate(cfg, schema)
    except jsonschema.ValidationError as exc:
        raise jsonschema.ValidationError(_where(exc)) from None
    if cfg["pretrain_dataset"] not in cfg["datasets"]:
        raise jsonschema.ValidationError(f"pretrain_dataset {cfg['pretrain_dataset']!r} is not in datasets")
    for name in cfg["downstream"]:
        if name not in cfg["datasets"]:
            raise jsonschema.ValidationError(f"downstream dataset {name!r} is not in datasets")
    for name in cfg["evaluate"]["finetune_sets"]:
        if name not in cfg["downstream"]:
            raise jsonschema.ValidationError(f"evaluate.finetune_sets lists {name!r}, which is not in downstream")
    sync = cfg["avsync"]
    for name in sync["datasets"]:
        if name not in cfg["datasets"]:
            raise jsonschema.ValidationError(f"avsync.datasets lists {name!r}, which is not in datasets")
        if cfg["datasets"][name].get("modality", "audiovisual") != "audiovisual":
            raise jsonschema.ValidationError(
                f"avsync.datasets lists {name!r}, whose modality is "
                f"{cfg['datasets'][name]['modality']} (avsync needs audio and video)"
            )
    lo, hi = sync["offsets"]
    if not lo <= 0 <= hi:
        raise jsonschema.ValidationError(f"avsync.offsets: [{lo}, {hi}] must contain 0")
    bad = [s for s in sync["inject"]["offsets"] if not lo <= s <= hi or abs(s) <= sync["tolerance"]]
    if bad:
        raise jsonschema.ValidationError(
            f"avsync.inject.offsets: {bad} must lie in avsync.offsets [{lo}, {hi}] and "
            f"beyond the tolerance (+-{sync['tolerance']} frames)"
        )
    pschema = schema["properties"]["pretrain"]
    for run in cfg["pretrain"]["methods"]:
        if run not in (cfg["pretrain"].get("runs") or {}) and run != SCRATCH_RUN:
            raise jsonschema.ValidationError(f"pretrain.methods lists {run!r}, which is not in pretrain.runs")
    for run in run_names(cfg):
        settings = run_settings(cfg, run)
        if settings["dataset"] not in cfg["datasets"]:
            raise jsonschema.ValidationError(f"run {run!r} pretrains on {settings['dataset']!r}, not in datasets")
        try:
            _validate({k: v for k, v in settings.items() if k not in ("method", "dataset")}, pschema)
        except jsonschema.ValidationError as exc:
            raise jsonschema.ValidationError(_where(exc, f"pretrain.runs.{run}")) from None
    for name in external_names(cfg):
        if name in run_names(cfg) or name in (cfg["pretrain"].get("runs") or {}):
            raise jsonschema.ValidationError(f"external.{name}: a pretraining run has that name")
        spec = cfg["external"][name]
        if spec.get("layout") not in (None, EXTERNAL_LAYOUTS[spec["modality"]]):
            raise jsonschema.ValidationError(
                f"external.{name}: a {spec['modality']} encoder reads layout "
                f"{EXTERNAL_LAYOUTS[spec['modality']]}, not {spec['layout']}"
            )
        if spec["kind"] == "torchvision" and spec["modality"] != "video":
            raise jsonschema.ValidationError(f"external.{name}: torchvision encoders are video models")
        if (spec.get("mean") is None) != (spec.get("std") is None):
            raise jsonschema.ValidationError(f"external.{name}: give both mean and std, or neither")
    for name in cfg["datasets"]:
        shard_settings(cfg, name)
    return cfg


def load_config(path: str | Path) -> dict[str, Any]:
    return validate(yaml.safe_load(Path(path).read_text()))


def config_hash(config: dict[str, Any]) -> str:
    """A short hash of the whole (validated) config, for provenance columns."""
    blob = json.dumps(config, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:12]


def deep_merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """A new dict: ``base`` with ``over`` merged in recursively (``over`` wins; dicts merge)."""
    out = copy.deepcopy(base)
    for k, v in over.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = deep_merge(out[k], v)
        else:
            out[k] = copy.deepcopy(v)
    return out


SCRATCH_RUN = "scratch"


def run_names(cfg: dict[str, Any]) -> list[str]:
    """The pretraining runs of a config: ``pretrain.methods`` (names in ``pretrain.runs``) and
    ``scratch`` (random init, always evaluated)."""
    names = list(cfg["pretrain"]["methods"])
    return names + ([SCRATCH_RUN] if SCRATCH_RUN not in names else [])


def run_settings(cfg: dict[str, Any], run: str) -> dict[str, Any]:
    """The settings of pretraining run ``run``: the ``pretrain`` section (without ``runs`` and
    ``methods``) with the run's entry of ``pretrain.runs`` merged in, plus ``method`` and the
    ``dataset`` it pretrains on (default: ``pretrain_dataset``)."""
    p = {k: v for k, v in cfg["pretrain"].items() if k not in ("runs", "methods")}
    runs = cfg["pretrain"].get("runs") or {}
    if run in runs:
        entry = runs[run]
    elif run == SCRATCH_RUN:
        entry = {"method": "scratch"}
    else:
        raise KeyError(f"run {run!r} is not in pretrain.runs")
    out = deep_merge(p, entry)
    out.setdefault("dataset", cfg["pretrain_dataset"])
    return out


INSTANCE_SEP = ".seed"


def run_seeds(cfg: dict[str, Any], run: str) -> list[int]:
    """The pretraining seeds of run ``run``: its ``seeds`` when given, else ``replicates`` seeds
    from the config's ``seed`` (``seed, seed + 1, ...``). The first is the run's base instance."""
    s = run_settings(cfg, run)
    if s.get("seeds"):
        return [int(x) for x in s["seeds"]]
    base = int(cfg.get("seed", 0))
    return [base + i for i in range(int(s.get("replicates", 1)))]


def instance_name(run: str, seed: int, first_seed: int) -> str:
    """A run's instance for one seed: the run name for its first seed, else ``<run>.seed<N>``."""
    return run if seed == first_seed else f"{run}{INSTANCE_SEP}{seed}"


def run_instances(cfg: dict[str, Any], runs: list[str] | None = None) -> list[str]:
    """Every pretraining run instance (one per run and seed), runs in config order, seeds in order."""
    out = []
    for r in runs if runs is not None else run_names(cfg):
        seeds = run_seeds(cfg, r)
        out += [instance_name(r, s, seeds[0]) for s in seeds]
    return out


def parse_instance(cfg: dict[str, Any], name: str) -> tuple[str, int]:
    """(run, seed) of a run instance name (``avts_hard`` or ``avts_hard.seed2``)."""
    run, sep, tail = name.partition(INSTANCE_SEP)
    seeds = run_seeds(cfg, run)
    if not sep:
        return run, seeds[0]
    if not tail.isdigit() or int(tail) not in seeds:
        raise KeyError(f"run instance {name!r}: seed {tail!r} is not among {run}'s seeds {seeds}")
    return run, int(tail)


# The encoders each method trains (``Pretext.encoders`` of ``avbench.pretext.PRETEXTS``, kept here
# so that the workflow can plan jobs without importing torch; a test checks they agree).
METHOD_ENCODERS: dict[str, tuple[str, ...]] = {
    "avts": ("video", "audio"),
    "l3": ("video", "audio"),
    "avenet": ("video", "audio"),
    "avolnet": ("video", "audio"),
    "infonce": ("video", "audio"),
    "sdc": ("video", "audio"),
    "mdc": ("video", "audio"),
    "cdc": ("video", "audio"),
    "xdc": ("video", "audio"),
    "aot": ("flow",),
    "shuffle_learn": ("video",),
    "odd_one_out": ("video",),
    "sorting": ("video",),
    "jigsaw": ("video",),
    "speed": ("video",),
    "colorization": ("video",),
    "crw": ("video",),
    "tcc": ("video",),
    "videomae": ("video",),
    "image_context": ("video",),
    "image_colour": ("video",),
    "image_exemplar": ("video",),
    "image_rotation": ("video",),
    "image_multitask": ("video",),
    "scratch": ("video", "audio", "flow"),
    "random_targets": ("video", "audio"),
    "multisensory": ("video",),
}
# The encoders that evaluate a downstream set of each modality (``downstream: {set: modality}``).
MODALITY_ENCODERS: dict[str, tuple[str, ...]] = {"video": ("video", "flow"), "audio": ("audio",)}


def run_encoders(cfg: dict[str, Any], run: str) -> tuple[str, ...]:
    """The encoders that run ``run`` pretrains (``supervised``: its ``supervised.encoders``)."""
    s = run_settings(cfg, run)
    if s["method"] == "supervised":
        return tuple((s.get("supervised") or {}).get("encoders") or ("video", "audio"))
    return METHOD_ENCODERS[s["method"]]


# External encoders (``external``: encoders avbench did not train, avbench.models.external). Each is one
# evaluation instance beside the run instances, with the one encoder of its modality.
EXTERNAL_LAYOUTS = {"video": "BCTHW", "audio": "B1FM"}


def external_names(cfg: dict[str, Any]) -> list[str]:
    """The external encoders of a config, in config order."""
    return list(cfg.get("external") or {})


def eval_instances(cfg: dict[str, Any]) -> list[str]:
    """Everything evaluated: every run instance, then every external encoder."""
    return run_instances(cfg) + external_names(cfg)


def instance_encoders(cfg: dict[str, Any], instance: str) -> tuple[str, ...]:
    """The encoders of an evaluation instance: a run instance's run's, or an external encoder's modality."""
    ext = cfg.get("external") or {}
    if instance in ext:
        return (ext[instance]["modality"],)
    return run_encoders(cfg, parse_instance(cfg, instance)[0])
