"""The arrow of time's cue test, paired (seed 002's cue table): one model, trained once on the
original videos, tested on the same held-out videos as they are, with the black bars cropped, and
stabilized.

Seed 002 trains the arrow of time on the original videos and tests that same model on its test
videos three ways: original (98.1%), black stripes zeroed out (87.9%), camera stabilized (88.3% ->
75.2%). A drop means the model used the cue. Here the variants are shard sets of the same
pretraining videos made with different preprocessing (the config's per-dataset ``shard``
overrides: ``synth_pretrain_raw``, ``synth_pretrain_cropped``, ``synth_pretrain_stabilized``), and
the test videos are the checkpoint's own held-out videos (:func:`heldout_keys`): the videos its
pretraining never trained on, the same keys in every variant.

Every held-out video gives ``clips_per_video`` evenly spaced clips of ``segments * frames`` flow
fields (the same starts in every variant, whose frame grids are identical when only borders and
stabilization differ), each scored in both directions (:func:`avbench.pretext.aot.aot_directions`,
the representation the model was pretrained on). :func:`cue_test` returns one prediction per
(variant, video, clip, direction) (``key, clip, start, direction, true, predicted, score``, score
= the model's probability of "forward") for paired differences, and a summary per variant.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import torch

from avbench.checkpoint import load_checkpoint
from avbench.evaluate.features import spaced
from avbench.pretext import PRETEXTS
from avbench.pretext.aot import aot_directions
from avbench.pretext.base import to_tensors
from avbench.shards.loader import ShardStream, clip_starts, collate, shard_urls
from avbench.pretrain import sample_rows, split_heldout

PREDICTION_COLUMNS = ["variant", "key", "clip", "start", "direction", "true", "predicted", "score"]
SUMMARY_COLUMNS = [
    "run",
    "variant",
    "n_videos",
    "n_clips",
    "accuracy",
    "both_directions_acc",
    "mean_score_forward",
    "accuracy_minus_first",
    "first_variant",
    "heldout_keys_from",
    "shards",
]


def _load(checkpoint: str | Path | dict[str, Any]) -> dict[str, Any]:
    return load_checkpoint(checkpoint)


def aot_pretext(ck: dict[str, Any]) -> Any:
    """The arrow-of-time pretext of a checkpoint (its settings: flow frames, reversal, usable)."""
    meta = ck["meta"]
    if meta.get("method") != "aot":
        raise ValueError(f"the cue test scores an arrow-of-time checkpoint, not {meta.get('method')!r}")
    return PRETEXTS["aot"](meta["config"], n_classes=int(meta.get("n_classes", 1)), seed=int(meta.get("seed", 0)))


def heldout_keys(
    checkpoint: str | Path | dict[str, Any], *, shards: str | Path | None = None, index: str | Path | None = None
) -> tuple[list[str], str]:
    """The held-out videos of a checkpoint's pretraining and where they came from: the meta's
    ``heldout_keys`` ("checkpoint"), else recomputed as ``avbench.pretrain.pretrain`` drew them
    ("recomputed": the usable samples of its pretraining shards ``shards`` / ``index``,
    :func:`avbench.pretrain.split_heldout` with the checkpoint's seed)."""
    ck = _load(checkpoint)
    meta = ck["meta"]
    if meta.get("heldout_keys") is not None:
        return sorted(str(k) for k in meta["heldout_keys"]), "checkpoint"
    if shards is None and index is None:
        raise ValueError("the checkpoint does not record its held-out keys: give its pretraining shards or index")
    pretext = aot_pretext(ck)
    rows = sample_rows(shards if shards is not None else Path(str(index)).parent, index)
    ok = [r["key"] for r in rows.to_dict("records") if pretext.usable(r)]
    return split_heldout(ok, int(meta.get("seed", 0)))[1], "recomputed"


def _model(ck: dict[str, Any]) -> tuple[torch.nn.Module, torch.nn.Module]:
    from avbench.models import build_encoder

    enc = build_encoder(ck["specs"]["flow"])
    enc.load_state_dict(ck["encoders"]["flow"])
    head = torch.nn.Linear(int(enc.out_dim), 2)
    head.load_state_dict(ck["head"])
    return enc.eval(), head.eval()


def clip_items(
    sample: dict[str, Any], *, flow_frames: int, clips_per_video: int, reversal: str
) -> list[dict[str, Any]]:
    """The scored clips of one sample: ``clips_per_video`` evenly spaced starts of ``flow_frames``
    contiguous flow fields, each as ``flow`` (forward) and ``flow_rev`` (backward)."""
    meta, flow = sample["meta"], sample["flow"]
    if flow is None:
        return []
    starts = [k for k in clip_starts(meta, flow_frames + 1) if k + flow_frames <= len(flow)]
    out = []
    for j, k0 in enumerate(spaced(starts, clips_per_video)):
        fwd, bwd = aot_directions(flow[k0 : k0 + flow_frames], float(meta["flow"]["bound"]), reversal=reversal)
        out.append({"flow": fwd, "flow_rev": bwd, "key": sample["key"], "clip": j, "start": int(k0)})
    return out


@torch.inference_mode()
def score_variant(
    ck: dict[str, Any], shards: str | Path, keys: list[str], *, clips_per_video: int = 4, batch_size: int = 64
) -> pd.DataFrame:
    """Forward/backward predictions of the checkpoint on the videos ``keys`` of one shard set:
    one row per (key, clip, direction) with ``true`` (1 forward, 0 backward), ``predicted`` and
    ``score`` (probability of forward)."""
    pretext = aot_pretext(ck)
    enc, head = _model(ck)
    stream = ShardStream(shard_urls(shards), shuffle=False, keys=frozenset(keys), needs=frozenset({"flow"}))
    rows: list[dict[str, Any]] = []
    buf: list[dict[str, Any]] = []

    def flush() -> None:
        if not buf:
            return
        b = collate([{"flow": it["flow"]} for it in buf] + [{"flow": it["flow_rev"]} for it in buf])
        x = to_tensors(b, device=torch.device("cpu"), mel_norm=(0.0, 1.0))["flow"]
        p = torch.softmax(head(enc(x)).float(), -1)[:, 1].numpy()
        n = len(buf)
        for i, it in enumerate(buf):
            for direction, true, s in (("forward", 1, p[i]), ("backward", 0, p[n + i])):
                rows.append(
                    {
                        "key": it["key"],
                        "clip": it["clip"],
                        "start": it["start"],
                        "direction": direction,
                        "true": true,
                        "predicted": int(s > 0.5),
                        "score": float(s),
                    }
                )
        buf.clear()

    for sample in stream:
        for it in clip_items(
            sample, flow_frames=pretext.flow_frames(), clips_per_video=clips_per_video, reversal=pretext.reversal
        ):
            buf.append(it)
            if len(buf) >= batch_size:
                flush()
    flush()
    df = pd.DataFrame(rows, columns=PREDICTION_COLUMNS[1:])
    return df.sort_values(["key", "clip", "true"], ascending=[True, True, False], kind="stable").reset_index(drop=True)


def summarize(
    pred: pd.DataFrame, *, run: str = "", heldout_from: str = "", shards: dict[str, str] | None = None
) -> pd.DataFrame:
    """Accuracy per variant (in the order given), the share of clips right in both directions,
    and the difference to the first variant (the original videos)."""
    out = []
    variants = list(dict.fromkeys(pred["variant"]))
    for v in variants:
        d = pred[pred["variant"] == v]
        ok = (d["true"] == d["predicted"]).groupby([d["key"], d["clip"]]).all()
        out.append(
            {
                "run": run,
                "variant": v,
                "n_videos": int(d["key"].nunique()),
                "n_clips": int(len(ok)),
                "accuracy": float((d["true"] == d["predicted"]).mean()) if len(d) else float("nan"),
                "both_directions_acc": float(ok.mean()) if len(ok) else float("nan"),
                "mean_score_forward": float(d.loc[d["true"] == 1, "score"].mean()) if len(d) else float("nan"),
                "first_variant": variants[0],
                "heldout_keys_from": heldout_from,
                "shards": (shards or {}).get(v, ""),
            }
        )
    df = pd.DataFrame(out)
    if len(df):
        df["accuracy_minus_first"] = df["accuracy"] - float(df["accuracy"].iloc[0])
    return df.reindex(columns=SUMMARY_COLUMNS)


def cue_test(
    checkpoint: str | Path | dict[str, Any],
    variants: dict[str, tuple[str, str | None]],
    *,
    clips_per_video: int = 4,
    heldout_index: str | Path | None = None,
    run: str = "",
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Score one arrow-of-time checkpoint on the same held-out videos under every variant.

    variants: name -> (shard folder, shard index or None), the first being the original videos.
    The held-out keys come from the checkpoint, else are recomputed from ``heldout_index`` (the
    pretraining set's index) or the first variant. Only keys present in every variant are scored,
    so every row has its pair. Returns (summary per variant, predictions per (variant, key, clip,
    direction))."""
    ck = _load(checkpoint)
    if not variants:
        raise ValueError("give at least one variant")
    first_dir, first_index = next(iter(variants.values()))
    if heldout_index is not None:
        keys, source = heldout_keys(ck, shards=Path(str(heldout_index)).parent, index=heldout_index)
    else:
        keys, source = heldout_keys(ck, shards=first_dir, index=first_index)
    preds = {name: score_variant(ck, d, keys, clips_per_video=clips_per_video) for name, (d, _i) in variants.items()}
    common = None
    for p in preds.values():
        pairs = set(zip(p["key"], p["clip"], p["start"]))
        common = pairs if common is None else common & pairs
    frames = []
    for name, p in preds.items():
        keep = [(k, c, s) in (common or set()) for k, c, s in zip(p["key"], p["clip"], p["start"])]
        frames.append(p[keep].assign(variant=name))
    pred = pd.concat(frames, ignore_index=True).reindex(columns=PREDICTION_COLUMNS)
    summary = summarize(
        pred,
        run=run or str(ck["meta"].get("run", "")),
        heldout_from=source,
        shards={n: str(d) for n, (d, _i) in variants.items()},
    )
    summary.insert(2, "n_heldout_keys", len(keys))
    return summary, pred


def run_predictions(pred: pd.DataFrame, checkpoint: str | Path | dict[str, Any], *, run: str = "") -> pd.DataFrame:
    """The cue test's predictions with the checkpoint's run (``run`` when it records none) and
    pretraining seed in front (the predictions file's ``method`` and ``seed``)."""
    meta = _load(checkpoint)["meta"]
    pred = pred.copy()
    pred.insert(0, "method", str(meta.get("run", run)))
    pred.insert(1, "seed", int(meta.get("seed", 0)))
    return pred


# the workflow's variants (workflow/rules/aot_cues.smk): variant name -> dataset of config.yaml
CUE_VARIANT_DATASETS = {"cropped": "synth_pretrain_cropped", "stabilized": "synth_pretrain_stabilized"}


def cue_variant_datasets(datasets: dict[str, Any]) -> dict[str, str]:
    """The variants of :data:`CUE_VARIANT_DATASETS` whose dataset the config defines."""
    return {v: d for v, d in CUE_VARIANT_DATASETS.items() if d in datasets}


def variant_args(raw_index: str, indexes: dict[str, str]) -> list[str]:
    """``--variant`` arguments of ``avbench aot-cues``: the original videos (the run's pretraining
    shards, first) and each variant's held-out shards (``<folder>.index.parquet`` beside its folder)."""
    args = ["--variant", f"raw={Path(raw_index).parent}:{raw_index}"]
    for name, index in indexes.items():
        args += ["--variant", f"{name}={str(index).removesuffix('.index.parquet')}:{index}"]
    return args
