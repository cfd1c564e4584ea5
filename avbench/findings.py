"""The seeds' qualitative findings, checked against the measured predictions.

Each finding compares two sides (runs, encoder, downstream set, protocol, metric) that the config's
runs give, recognised by their methods and settings (never by their names), and is scored with a
paired bootstrap (:mod:`avbench.stats`): the difference "claimed better - other", its 95% interval,
and a verdict (:func:`avbench.stats.verdict`): ``reproduced`` (interval above 0), ``contradicted``
(below 0) or ``inconclusive`` (contains 0, or no interval: a pretext accuracy from one seed). Nothing
here is typed in: the same code runs on real datasets.

Findings (seed documents in ``shared/seeds``):

- ``ssl_beats_scratch`` (000, 003): every self-supervised run > random init (per encoder and set);
- ``temporal_order_beats_scratch`` (002): shuffle & learn and odd-one-out > random init (seed 001's
  temporal pretexts, sorting, jigsaw and playback speed, are ``ssl_beats_scratch`` rows citing 001);
- ``sorting_jigsaw_beat_shuffle_learn`` (001): sequence sorting and video jigsaw > shuffle & learn
  (their order tasks are harder than a binary "in order?"), when those runs are in the config;
- ``image_pretext_beats_scratch`` (002): each image pretext at frame level (relative position,
  colour, exemplar, rotation, and their multi-task combinations) > random init of the same frame
  encoder (the scratch run with its video backbone; none: no row);
- ``multitask_beats_best_single`` (002, Doersch & Zisserman 2017): a multi-task image run > the
  best single-task run of its tasks (same backbone; the best chosen on the same test videos), per
  set, linear and fine-tuned where both were;
- ``supervised_beats_ssl`` (000, 003): supervised > the best self-supervised run;
- ``avts_curriculum`` (000): curriculum >= hard negatives only, downstream and pretext;
- ``xdc_beats_sdc`` / ``xdc_beats_mdc`` / ``xdc_beats_cdc`` (003), at the same k;
- ``k_sweep_best_k`` (003): the best k of a sweep against the runner-up, per set, and
  ``k_sweep_same_best_k``: the best k does not depend on the downstream set;
- ``finetune_beats_fc`` (003): all layers >= the fc trained in the same loop;
- ``aot_layers`` (000, 002): all layers >= after fusion >= last layer for the arrow of time;
- ``aot_bars_cue`` / ``aot_camera_cue`` (002): the arrow of time trained with the cues kept loses
  accuracy on the same held-out videos when the bars are removed / the camera is stabilized;
- ``beats_control`` (issue 11): every pretext run > the random-target control of the same budget;
- ``ssl_beats_handcrafted`` (issue 15): every self-supervised run > each handcrafted external encoder
  (``external`` without ``pretrained_on``: MFCC statistics, the motion histogram) on the sets both score;
- ``tracking_beats_random_features`` (001): the correspondence methods (colorization as tracking,
  cycle-consistent tracking) propagate object masks better than random features (J&F of mask
  propagation, paired over sequences; from the propagation table, when the stage ran);
- ``localization_beats_centre_prior`` (002, Objects that Sound): each localizing run (AVOL-Net, Multisensory's CAM) points
  at the sounding object (pointing game; IoU of its top region) better than the centre prior, paired
  over the localization set's videos, on all clips and on the clips with a visible silent moving
  object (from the localization table, when the stage ran);
- ``multisensory_beats_scratch`` (000): the Multisensory network (full: raw waveform, shifted
  negatives) fine-tuned on video + audio (``finetune_av``) > the same network at random init (a scratch
  run with ``video_backbone: multisensory``) fine-tuned on video + audio, and > the video random init
  fine-tuned (``finetune``), when those runs and protocols were evaluated (config.yaml's ``multisensory``
  section);
- ``multisensory_audio_helps`` (000, "audio increases accuracy by more than 5%"): the same network
  fine-tuned on video + audio > fine-tuned on video alone ("vision only"), for every Multisensory run
  evaluated both ways; the note says whether the interval clears the seed's 5 points;
- ``sync_beats_random_pairing`` (000, "synchronization vs semantic correspondence"): the full run
  (shifted negatives of the same video) > random pairing (negatives from other videos, same input),
  fine-tuned on video + audio and with the linear probe;
- ``tcc_aligns_phase`` (001): temporal cycle-consistency's per-frame embeddings align two videos of a
  periodic class in phase better than random init (Kendall's tau of the nearest-neighbour
  alignment, paired over the pairs of videos; from the alignment table, when the stage ran).

External encoders (method ``external``) are never counted as self-supervised runs.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pandas as pd

from avbench.evaluate.localize import LOCALIZING  # methods with a sound-source heatmap
from avbench.stats import Bootstrap, Estimate, difference, seed_estimate, verdict
from avbench.tables import (
    IMAGE,
    IMAGE_TASK_NAMES,
    MULTISENSORY,
    image_tasks,
    multisensory_variant,
    run_setting,
    runs_of,
)

REFERENCES = ("scratch", "supervised")
CONTROL = "random_targets"
EXTERNAL = "external"
NOT_SSL = (*REFERENCES, CONTROL, EXTERNAL)  # methods that are not a self-supervised run
TEMPORAL_ORDER = ("shuffle_learn", "odd_one_out")
SEED_001 = ("sorting", "jigsaw", "speed")  # the temporal pretexts that seed 001 surveys
CLUSTERING = ("sdc", "mdc", "cdc", "xdc")
CORRESPONDENCE = ("colorization", "crw")  # tracking-style methods (seed 001), scored by mask propagation
LOCALIZATION_SUBSETS = {
    "all": "all clips",
    "silent_object": "only clips with a visible silent moving object (is it the sounding one?)",
}
ALIGNING = ("tcc",)  # runs trained to align videos of a class in phase (seed 001)
COLUMNS = [
    "finding",
    "claim",
    "seed_doc",
    "measure",
    "a",
    "b",
    "encoder",
    "downstream",
    "protocol",
    "metric",
    "a_mean",
    "b_mean",
    "diff",
    "lo",
    "hi",
    "a_seeds",
    "b_seeds",
    "videos",
    "verdict",
    "note",
]


def _method(runs: pd.DataFrame, run: str) -> str:
    return str(run_setting(runs, run, "method", ""))


def _value_of(table: pd.DataFrame, key: str, name: str, column: str) -> float:
    """``column`` of the row of ``table`` whose ``key`` is ``name`` (NaN when absent)."""
    hit = table.loc[table[key] == name, column]
    return float(hit.iloc[0]) if len(hit) else float("nan")


def table_row(
    finding: str,
    claim: str,
    seed_doc: str,
    r: pd.Series,
    diff: str,
    *,
    a: str,
    b: str,
    a_mean: float,
    b_mean: float,
    encoder: str,
    downstream: str,
    protocol: str,
    metric: str,
    videos: int,
    note: str,
) -> dict[str, Any]:
    """A finding row from an opt-in stage's table (propagation, localization, alignment), whose row
    ``r`` holds the paired difference to the reference as ``<diff>_diff``, ``<diff>_diff_lo`` and
    ``<diff>_diff_hi`` (fractions: the row is in points, x 100). One pretraining seed per side."""
    lo, hi = float(r[f"{diff}_diff_lo"]), float(r[f"{diff}_diff_hi"])
    return {
        "finding": finding,
        "claim": claim,
        "seed_doc": seed_doc,
        "measure": protocol.split(" ")[0],
        "a": a,
        "b": b,
        "encoder": encoder,
        "downstream": downstream,
        "protocol": protocol,
        "metric": metric,
        "a_mean": 100 * float(a_mean),
        "b_mean": 100 * float(b_mean),
        "diff": 100 * float(r[f"{diff}_diff"]),
        "lo": 100 * lo,
        "hi": 100 * hi,
        "a_seeds": 1,
        "b_seeds": 1,
        "videos": int(videos),
        "verdict": verdict(lo, hi),
        "note": note,
    }


class Checker:
    """Builds finding rows from a :class:`~avbench.stats.Bootstrap` of the evaluation units, the
    runs' settings (:func:`avbench.tables.run_table`) and the runs' pretraining metrics."""

    def __init__(
        self,
        boot: Bootstrap,
        runs: pd.DataFrame,
        metrics: dict[str, pd.DataFrame] | None = None,
        *,
        metric: str = "video_acc",
        cue_units: pd.DataFrame | None = None,
        propagation: pd.DataFrame | None = None,
        localization: pd.DataFrame | None = None,
        alignment: pd.DataFrame | None = None,
    ) -> None:
        self.boot, self.runs, self.metric = boot, runs, metric
        self.propagation, self.localization, self.alignment = propagation, localization, alignment
        self.metrics = metrics or {}
        self.cue_units = cue_units
        have = pd.DataFrame(boot.groups(), columns=["method", "encoder", "downstream", "protocol", "metric"])
        self.have = have[have["metric"] == metric] if len(have) else have

    # -- helpers -------------------------------------------------------------------------------
    def cells(self, run: str, protocol: str = "linear") -> list[tuple[str, str]]:
        """(encoder, downstream) pairs a run was evaluated on with ``protocol``."""
        h = self.have
        if h.empty:
            return []
        part = h[(h["method"] == run) & (h["protocol"] == protocol)]
        return sorted(set(zip(part["encoder"], part["downstream"])))

    def est(self, run: str, encoder: str, down: str, protocol: str = "linear") -> Estimate | None:
        return self.boot.estimate(run, encoder, down, protocol, self.metric)

    def row(
        self,
        finding: str,
        claim: str,
        seed_doc: str,
        a: tuple[str, str],
        b: tuple[str, str],
        encoder: str,
        down: str,
        ea: Estimate | None,
        eb: Estimate | None,
        *,
        measure: str = "downstream",
        metric: str = "",
        note: str = "",
    ) -> dict[str, Any] | None:
        """One finding row: sides ``a`` (claimed better) and ``b`` as (run, protocol)."""
        if ea is None or eb is None:
            return None
        if measure == "downstream":
            d = difference(ea, eb)
            diff, lo, hi = d.diff, d.lo, d.hi
        else:
            diff = ea.mean - eb.mean
            s = ea.samples - eb.samples
            lo, hi = np.nanpercentile(s, [2.5, 97.5]) if np.isfinite(s).any() else (np.nan, np.nan)
            if not np.isfinite(s).any():
                note = (note + "; " if note else "") + "one pretraining seed on a side: no interval"
        protocol = a[1] if a[1] == b[1] else f"{a[1]} vs {b[1]}"
        return {
            "finding": finding,
            "claim": claim,
            "seed_doc": seed_doc,
            "measure": measure,
            "a": a[0],
            "b": b[0],
            "encoder": encoder,
            "downstream": down,
            "protocol": protocol,
            "metric": metric or self.metric,
            "a_mean": 100 * ea.mean,
            "b_mean": 100 * eb.mean,
            "diff": 100 * diff,
            "lo": 100 * float(lo),
            "hi": 100 * float(hi),
            "a_seeds": ea.seeds,
            "b_seeds": eb.seeds,
            "videos": max(ea.videos, eb.videos),
            "verdict": verdict(float(lo), float(hi)),
            "note": note,
        }

    def versus(
        self,
        finding: str,
        claim: str,
        seed_doc: str,
        a: str,
        b: str,
        *,
        protocol: str = "linear",
        protocol_b: str | None = None,
    ) -> Iterator[dict[str, Any]]:
        """``a`` > ``b`` on every (encoder, set) both were evaluated on."""
        pb = protocol_b or protocol
        for enc, down in sorted(set(self.cells(a, protocol)) & set(self.cells(b, pb))):
            r = self.row(
                finding,
                claim,
                seed_doc,
                (a, protocol),
                (b, pb),
                enc,
                down,
                self.est(a, enc, down, protocol),
                self.est(b, enc, down, pb),
            )
            if r:
                yield r

    def pretext_values(self, run: str, column: str) -> list[float]:
        """The last epoch's ``column`` of every seed instance of ``run`` (metrics keyed by instance)."""
        out = []
        for name, m in self.metrics.items():
            if (name == run or name.startswith(f"{run}.seed")) and not m.empty and column in m.columns:
                out.append(float(m[column].iloc[-1]))
        return out

    # -- the findings --------------------------------------------------------------------------
    def backbone(self, run: str) -> str:
        return str(run_setting(self.runs, run, "video_backbone", ""))

    def ssl_vs_scratch(self) -> Iterator[dict[str, Any]]:
        scratch = runs_of(self.runs, ("scratch",))
        if not scratch:
            return
        for r in self.runs["run"]:
            m = _method(self.runs, r)
            if m in NOT_SSL:
                continue
            if m in IMAGE:  # a frame encoder against random init of the same encoder only
                same = [s for s in scratch if self.backbone(s) == self.backbone(r)]
                if same:
                    tasks = " + ".join(IMAGE_TASK_NAMES[t] for t in image_tasks(self.runs, r))
                    yield from self.versus(
                        "image_pretext_beats_scratch", f"{r} ({tasks}) > random init", "002", r, same[0]
                    )
                continue
            name = "temporal_order_beats_scratch" if m in TEMPORAL_ORDER else "ssl_beats_scratch"
            doc = "002" if m in TEMPORAL_ORDER or m == "aot" else ("001" if m in SEED_001 else "000, 003")
            # random init of the same video backbone when there is one (another scratch run, e.g. a frame
            # encoder's or the fused Multisensory network's, is not this run's reference); else the run named
            # `scratch` (the default video backbone's), never another encoder's random init picked by order
            same = (
                [s for s in scratch if self.backbone(s) == self.backbone(r)]
                or [s for s in scratch if s == "scratch"]
                or scratch
            )
            yield from self.versus(name, f"{r} ({m}) > random init", doc, r, same[0])

    def harder_order_tasks(self) -> Iterator[dict[str, Any]]:
        base = runs_of(self.runs, ("shuffle_learn",))
        if not base:
            return
        for r in self.runs["run"]:
            m = _method(self.runs, r)
            if m in ("sorting", "jigsaw"):
                yield from self.versus(
                    "sorting_jigsaw_beat_shuffle_learn", f"{r} ({m}) > shuffle & learn ({base[0]})", "001", r, base[0]
                )

    def multitask_vs_single(self) -> Iterator[dict[str, Any]]:
        """Each multi-task image run against the best single-task run of its tasks, per cell."""
        singles = {
            r: image_tasks(self.runs, r)[0]
            for r in runs_of(self.runs, tuple(m for m in IMAGE if m != "image_multitask"))
        }
        for r in runs_of(self.runs, ("image_multitask",)):
            tasks = image_tasks(self.runs, r)
            mine = [s for s, t in singles.items() if t in tasks and self.backbone(s) == self.backbone(r)]
            if len(tasks) < 2 or not mine:
                continue
            label = " + ".join(IMAGE_TASK_NAMES[t] for t in tasks)
            for protocol in ("linear", "finetune"):
                for enc, down in self.cells(r, protocol):
                    cands = [(e.mean, s) for s in mine if (e := self.est(s, enc, down, protocol)) is not None]
                    if not cands:
                        continue
                    best = max(cands)[1]
                    row = self.row(
                        "multitask_beats_best_single",
                        f"{r} ({label}) > the best single task of its tasks",
                        "002",
                        (r, protocol),
                        (best, protocol),
                        enc,
                        down,
                        self.est(r, enc, down, protocol),
                        self.est(best, enc, down, protocol),
                        note=f"best single task on this cell: {best} ({IMAGE_TASK_NAMES[singles[best]]}), "
                        f"of {len(cands)} trained (chosen on the same test videos)",
                    )
                    if row:
                        yield row

    def supervised_vs_best(self) -> Iterator[dict[str, Any]]:
        sup = runs_of(self.runs, ("supervised",))
        ssl = [r for r in self.runs["run"] if _method(self.runs, r) not in NOT_SSL]
        if not sup or not ssl:
            return
        for enc, down in self.cells(sup[0]):
            cands = [(e.mean, r) for r in ssl if (e := self.est(r, enc, down)) is not None]
            if not cands:
                continue
            best = max(cands)[1]
            r = self.row(
                "supervised_beats_ssl",
                "supervised > the best self-supervised run",
                "000, 003",
                (sup[0], "linear"),
                (best, "linear"),
                enc,
                down,
                self.est(sup[0], enc, down),
                self.est(best, enc, down),
                note=f"best self-supervised on this cell: {best} (chosen on the same test videos)",
            )
            if r:
                yield r

    def avts_curriculum(self) -> Iterator[dict[str, Any]]:
        avts = runs_of(self.runs, ("avts",))
        cur = [r for r in avts if float(run_setting(self.runs, r, "avts.curriculum_switch", 0.0)) > 0]
        hard = [
            r
            for r in avts
            if float(run_setting(self.runs, r, "avts.easy_fraction", 1.0)) <= 0
            and float(run_setting(self.runs, r, "avts.curriculum_switch", 0.0)) <= 0
        ]
        for c in cur:
            for h in hard:
                yield from self.versus("avts_curriculum", "AVTS curriculum >= hard negatives only", "000", c, h)
                for col in ("val_pretext_acc", "val_pretext_acc_hard"):
                    ea = seed_estimate(self.pretext_values(c, col), key=f"{c}/{col}")
                    eb = seed_estimate(self.pretext_values(h, col), key=f"{h}/{col}")
                    r = self.row(
                        "avts_curriculum",
                        "AVTS curriculum >= hard negatives only (held-out pretext)",
                        "000",
                        (c, "pretext"),
                        (h, "pretext"),
                        "video+audio",
                        "pretrain (held-out)",
                        ea,
                        eb,
                        measure="pretext",
                        metric=col,
                    )
                    if r:
                        yield r

    def clustering(self) -> Iterator[dict[str, Any]]:
        def k_of(r: str) -> Any:
            return run_setting(self.runs, r, "deep_clustering.k")

        xdc = runs_of(self.runs, ("xdc",))
        for other in ("sdc", "mdc", "cdc"):
            for o in runs_of(self.runs, (other,)):
                for x in [x for x in xdc if k_of(x) == k_of(o)][:1]:
                    yield from self.versus(f"xdc_beats_{other}", f"XDC > {other.upper()} (same k)", "003", x, o)

    def k_sweep(self) -> Iterator[dict[str, Any]]:
        xdc = runs_of(self.runs, ("xdc",))
        ks = {r: run_setting(self.runs, r, "deep_clustering.k") for r in xdc}
        ks = {r: k for r, k in ks.items() if not pd.isna(k)}
        if len(set(ks.values())) < 2:
            return
        best_by_set: dict[str, tuple[Any, str]] = {}
        for enc, down in sorted({c for r in ks for c in self.cells(r)}):
            cands = sorted(((e.mean, r) for r in ks if (e := self.est(r, enc, down)) is not None), reverse=True)
            if len(cands) < 2:
                continue
            best, second = cands[0][1], cands[1][1]
            r = self.row(
                "k_sweep_best_k",
                f"the best k of the sweep (k={ks[best]}) beats the runner-up (k={ks[second]})",
                "003",
                (best, "linear"),
                (second, "linear"),
                enc,
                down,
                self.est(best, enc, down),
                self.est(second, enc, down),
                note="k values: " + ", ".join(f"{r}={k}" for r, k in sorted(ks.items(), key=lambda t: t[1])),
            )
            if r:
                best_by_set[down] = (ks[best], r["verdict"])
                yield r
        if len(best_by_set) >= 2:
            kb = {v[0] for v in best_by_set.values()}
            sure = all(v[1] == "reproduced" for v in best_by_set.values())
            v = "reproduced" if len(kb) == 1 and sure else "contradicted" if len(kb) > 1 and sure else "inconclusive"
            yield {
                "finding": "k_sweep_same_best_k",
                "claim": "the best k does not depend on the downstream set",
                "seed_doc": "003",
                "measure": "downstream",
                "a": "",
                "b": "",
                "encoder": "",
                "downstream": ", ".join(sorted(best_by_set)),
                "protocol": "linear",
                "metric": self.metric,
                "a_mean": np.nan,
                "b_mean": np.nan,
                "diff": np.nan,
                "lo": np.nan,
                "hi": np.nan,
                "a_seeds": 0,
                "b_seeds": 0,
                "videos": 0,
                "verdict": v,
                "note": "best k per set: "
                + ", ".join(f"{d}: k={k}" for d, (k, _) in sorted(best_by_set.items()))
                + ("" if sure else " (a best k is not distinguishable from its runner-up)"),
            }

    def finetune_vs_fc(self) -> Iterator[dict[str, Any]]:
        for r in self.runs["run"]:
            yield from self.versus(
                "finetune_beats_fc",
                "fine-tuning all layers >= the fc alone (same loop)",
                "003",
                r,
                r,
                protocol="finetune",
                protocol_b="finetune_fc",
            )

    def aot_layers(self) -> Iterator[dict[str, Any]]:
        for r in runs_of(self.runs, ("aot",)):
            yield from self.versus(
                "aot_layers",
                "arrow of time: all layers >= after fusion",
                "000, 002",
                r,
                r,
                protocol="finetune",
                protocol_b="finetune_top",
            )
            yield from self.versus(
                "aot_layers",
                "arrow of time: after fusion >= last layer",
                "000, 002",
                r,
                r,
                protocol="finetune_top",
                protocol_b="linear",
            )

    def aot_cues(self) -> Iterator[dict[str, Any]]:
        """From the paired cue test's units (:func:`cue_units`): variant ``raw`` vs ``cropped``
        (the bars removed) and vs ``stabilized`` of the same model on the same held-out videos."""
        u = self.cue_units
        if u is None or u.empty:
            return
        boot = Bootstrap(u, n=self.boot.n, seed=self.boot.seed)
        for run in sorted(set(u["method"])):
            raw = boot.estimate(run, "flow", "pretrain (held-out)", "raw", "aot_acc")
            for variant, name, claim in (
                (
                    "cropped",
                    "aot_bars_cue",
                    "removing the black bars lowers the arrow of time's accuracy (same model, same videos)",
                ),
                (
                    "stabilized",
                    "aot_camera_cue",
                    "stabilizing the camera lowers the arrow of time's accuracy (same model, same videos)",
                ),
            ):
                other = boot.estimate(run, "flow", "pretrain (held-out)", variant, "aot_acc")
                r = self.row(
                    name,
                    claim,
                    "002",
                    (run, "raw"),
                    (run, variant),
                    "flow",
                    "pretrain (held-out)",
                    raw,
                    other,
                    metric="aot_acc",
                )
                if r:
                    r["protocol"] = f"pretext: as they are vs {variant}"
                    yield r

    def multisensory(self) -> Iterator[dict[str, Any]]:
        """Seed 000's Multisensory claims (module doc), from the runs' settings
        (:func:`avbench.tables.multisensory_variant`) and the ``finetune_av`` / ``finetune`` rows."""
        runs = runs_of(self.runs, MULTISENSORY)
        by_variant: dict[str, str] = {}
        for r in runs:
            by_variant.setdefault(multisensory_variant(self.runs, r), r)
        full = by_variant.get("full")
        scratch = [
            s for s in runs_of(self.runs, ("scratch",)) if full is not None and self.backbone(s) == self.backbone(full)
        ]
        fused = [s for s in runs_of(self.runs, ("scratch",)) if self.backbone(s) == "multisensory"]
        if full is not None and fused:  # the seed's "Multisensory (scratch)": the same network and inputs
            yield from self.versus(
                "multisensory_beats_scratch",
                "Multisensory (full) > the same network from random init, both fine-tuned on video + audio",
                "000",
                full,
                fused[0],
                protocol="finetune_av",
            )
        if full is not None and scratch:
            yield from self.versus(
                "multisensory_beats_scratch",
                "Multisensory (full) fine-tuned on video + audio > random init fine-tuned",
                "000",
                full,
                scratch[0],
                protocol="finetune_av",
                protocol_b="finetune",
            )
        for r in runs:
            for row in self.versus(
                "multisensory_audio_helps",
                f"Multisensory ({multisensory_variant(self.runs, r)}): video + audio > vision only "
                "(the seed: audio adds more than 5 points)",
                "000",
                r,
                r,
                protocol="finetune_av",
                protocol_b="finetune",
            ):
                margin = "above" if row["lo"] > 5 else "below" if row["hi"] < 5 else "not clear of"
                row["note"] = f"the interval is {margin} the seed's 5 points"
                yield row
        rand = by_variant.get("random pairing")
        if full is not None and rand is not None:
            for protocol in ("finetune_av", "linear"):
                yield from self.versus(
                    "sync_beats_random_pairing",
                    "Multisensory: shifted negatives of the same video (sync) > negatives from other videos "
                    "(random pairing)",
                    "000",
                    full,
                    rand,
                    protocol=protocol,
                )

    def control(self) -> Iterator[dict[str, Any]]:
        ctrl = runs_of(self.runs, (CONTROL,))
        if not ctrl:
            return
        for r in self.runs["run"]:
            if _method(self.runs, r) in NOT_SSL:
                continue
            yield from self.versus(
                "beats_control", f"{r} > the random-target control ({ctrl[0]})", "issue 11", r, ctrl[0]
            )

    def ssl_vs_handcrafted(self) -> Iterator[dict[str, Any]]:
        hand = [
            r
            for r in runs_of(self.runs, (EXTERNAL,))
            if not str(run_setting(self.runs, r, "external.pretrained_on", "") or "")
        ]
        for h in hand:
            for r in self.runs["run"]:
                m = _method(self.runs, r)
                if m in NOT_SSL:
                    continue
                yield from self.versus("ssl_beats_handcrafted", f"{r} ({m}) > the handcrafted {h}", "issue 15", r, h)

    def tracking(self) -> Iterator[dict[str, Any]]:
        """Mask propagation's paired J&F difference of each correspondence run to the reference run
        (random init) of :func:`avbench.evaluate.propagation.propagation_table`."""
        t = self.propagation
        if t is None or t.empty or "jf_diff" not in t.columns:
            return
        for _, r in t.iterrows():
            ref = r.get("reference")
            if not isinstance(ref, str) or _method(self.runs, str(r["run"])) not in CORRESPONDENCE:
                continue
            if _method(self.runs, ref) != "scratch" or not np.isfinite(float(r["jf_diff"])):
                continue
            yield table_row(
                "tracking_beats_random_features",
                "a tracking-style method propagates object masks better than random features",
                "001",
                r,
                "jf",
                a=r["run"],
                b=ref,
                b_mean=_value_of(t, "run", ref, "jf_mean"),
                encoder="video",
                downstream=r["downstream"],
                protocol="propagation",
                metric="jf_mean",
                a_mean=r["jf_mean"],
                videos=r["sequences"],
                note="interval over the set's sequences (first seed of each run)",
            )

    def localization_vs_centre(self) -> Iterator[dict[str, Any]]:
        """The localization table's (:func:`avbench.evaluate.localize.localize_table`) paired
        difference of each localizing run to the centre prior, pointing game and top-region IoU, on
        all clips and on those with a silent moving object; intervals over the set's videos."""
        t = self.localization
        if t is None or t.empty or "reference" not in t.columns:
            return
        for sub, what in LOCALIZATION_SUBSETS.items():
            for _, r in t[t["subset"] == sub].iterrows():
                if r.get("reference") != "centre" or _method(self.runs, str(r["source"])) not in LOCALIZING:
                    continue
                ref = t[(t["subset"] == sub) & (t["source"] == "centre") & (t["downstream"] == r["downstream"])]
                for m in ("pointing", "ciou"):
                    if f"{m}_diff" not in t.columns or not np.isfinite(float(r[f"{m}_diff"])):
                        continue
                    yield table_row(
                        "localization_beats_centre_prior",
                        "a localizing run finds the sounding object better than the centre prior",
                        "002",
                        r,
                        m,
                        a=r["source"],
                        b="centre",
                        b_mean=float(ref[m].iloc[0]) if len(ref) else np.nan,
                        encoder="video+audio",
                        downstream=r["downstream"],
                        protocol="localization" if sub == "all" else f"localization ({sub})",
                        metric=m,
                        a_mean=r[m],
                        videos=r["videos"],
                        note=f"subset {sub}: {what}; interval over the set's videos (first seed of the run)",
                    )

    def phase_alignment(self) -> Iterator[dict[str, Any]]:
        """The alignment table's (:func:`avbench.evaluate.alignment.alignment_table`) paired
        difference in Kendall's tau of each aligning run (tcc) to the reference run (random init)."""
        t = self.alignment
        if t is None or t.empty or "tau_diff" not in t.columns:
            return
        for _, r in t.iterrows():
            ref = r.get("reference")
            if not isinstance(ref, str) or _method(self.runs, str(r["run"])) not in ALIGNING:
                continue
            if _method(self.runs, ref) != "scratch" or not np.isfinite(float(r["tau_diff"])):
                continue
            yield table_row(
                "tcc_aligns_phase",
                "temporal cycle-consistency's embeddings align videos of a class in phase better than random init",
                "001",
                r,
                "tau",
                a=r["run"],
                b=ref,
                b_mean=_value_of(t, "run", ref, "kendall_tau"),
                encoder="video",
                downstream="phase (world)",
                protocol="alignment",
                metric="kendall_tau",
                a_mean=r["kendall_tau"],
                videos=r["videos"],
                note=f"tau x 100; interval over the {int(r['videos'])} videos, resampled within each class "
                f"({int(r['pairs'])} ordered pairs; first seed of each run)",
            )

    def all(self) -> pd.DataFrame:
        rows: list[dict[str, Any]] = []
        for part in (
            self.ssl_vs_scratch,
            self.harder_order_tasks,
            self.multitask_vs_single,
            self.supervised_vs_best,
            self.avts_curriculum,
            self.clustering,
            self.k_sweep,
            self.finetune_vs_fc,
            self.aot_layers,
            self.aot_cues,
            self.multisensory,
            self.control,
            self.ssl_vs_handcrafted,
            self.tracking,
            self.localization_vs_centre,
            self.phase_alignment,
        ):
            rows += list(part())
        df = pd.DataFrame(rows, columns=COLUMNS)
        for c in ("a_mean", "b_mean", "diff", "lo", "hi"):
            df[c] = df[c].astype(float).round(2)
        return df


def cue_units(predictions: pd.DataFrame) -> pd.DataFrame:
    """Units (:mod:`avbench.stats`) of the paired arrow-of-time cue test: one per (run, seed,
    variant, held-out video), the share of its clips whose direction was called right. The variant
    takes the place of the protocol, the held-out set of the downstream set (one fold)."""
    if predictions.empty:
        return pd.DataFrame()
    p = predictions.rename(columns={"true": "label", "predicted": "pred"})  # avbench aot-cues' columns
    p = p.assign(hit=(p["pred"] == p["label"]).astype(float))
    g = p.groupby(["method", "seed", "variant", "key"], sort=False)["hit"].agg(["mean", "size"]).reset_index()
    return pd.DataFrame(
        {
            "method": g["method"],
            "seed": g["seed"].astype(int),
            "encoder": "flow",
            "downstream": "pretrain (held-out)",
            "protocol": g["variant"],
            "fold": 1,
            "metric": "aot_acc",
            "key": g["key"].astype(str),
            "value": g["mean"],
            "weight": g["size"].astype(float),
        }
    )


def render_markdown(df: pd.DataFrame) -> str:
    """The Findings section (Markdown)."""
    lines = [
        "## Findings",
        "",
        "Each claim of the seeds, checked on this run's predictions: the difference (claimed better - other, "
        "in points), its paired 95% bootstrap interval (test videos resampled within folds, pretraining seeds "
        "resampled) and the verdict: `reproduced` (interval above 0), `contradicted` (below 0), `inconclusive` "
        "(contains 0, or no interval). Generated by `avbench findings` (`results/findings.csv`).",
        "",
    ]
    if df.empty:
        return "\n".join(lines + ["No finding could be checked with this config's runs.", ""])
    counts = df["verdict"].value_counts()
    lines.append(", ".join(f"{k}: {int(counts.get(k, 0))}" for k in ("reproduced", "inconclusive", "contradicted")))
    lines += [
        "",
        "| finding | claim (seed) | a | b | encoder | set | protocol | a | b | diff [95% CI] | seeds | verdict |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in df.itertuples():
        ci = "" if pd.isna(r.lo) else f" [{r.lo:+.1f}, {r.hi:+.1f}]"
        diff = "" if pd.isna(r.diff) else f"{r.diff:+.1f}{ci}"
        am = "" if pd.isna(r.a_mean) else f"{r.a_mean:.1f}"
        bm = "" if pd.isna(r.b_mean) else f"{r.b_mean:.1f}"
        note = f" ({r.note})" if r.note else ""
        lines.append(
            f"| {r.finding} | {r.claim} ({r.seed_doc}){note} | {r.a} | {r.b} | {r.encoder} | {r.downstream} | "
            f"{r.protocol} | {am} | {bm} | {diff} | {r.a_seeds}/{r.b_seeds} | **{r.verdict}** |"
        )
    return "\n".join(lines + [""])
