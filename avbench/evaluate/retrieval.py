"""Cross-modal retrieval with the embeddings of audio-visual embedding methods.

A run whose checkpoint head embeds both modalities (``head.embed_video(features)`` and
``head.embed_audio(features)``, e.g. AVTS, AVE-Net, InfoNCE) is rebuilt from its method
(:data:`avbench.pretext.PRETEXTS`) and ``checkpoint["head"]``. On a downstream set whose samples
have frames and audio, every test video of a fold gives evenly spaced synchronized clips; for the
clips at the same position of every test video, each video embedding queries the audio embeddings
(video->audio) and each audio embedding the video embeddings (audio->video), by Euclidean
distance. Recall@k is the share of queries whose own clip ranks among the k nearest; it is
averaged over the clip positions. Chance is k / N for N test videos.

AVOL-Net (:mod:`avbench.pretext.avol`) has no pooled-feature embedding: its pretext gives the
embeddings itself (``retrieval_embeddings``: the middle frame's map embedding averaged over positions,
and the audio embedding), see :func:`retrieval_embedder`.

**Intra- and cross-modal retrieval by class** (Objects that Sound's audio->audio, video->video,
video->audio, audio->video; opt-in, ``evaluate.retrieval_intra`` lists the runs or methods that get
them): on a labelled set, each test clip's embedding queries the fold's **training** clips at the
same position (the video-retrieval protocol of the self-supervised literature: test queries, a
training gallery; split-disjoint, so clips of one UCF101-style group, which share their setting,
never retrieve each other), of its own modality (``a2a``, ``v2v``) or of the other (``v2a_class``,
``a2v_class``); a gallery clip is relevant when its video has the query's label. Recall@k is the
share of queries with a relevant gallery clip among the k nearest (:func:`class_ranks`; ties
against the query); chance, per query with m relevant among the C gallery clips, is
``1 - C(C - m, k) / C(C, k)``, averaged over queries. Their per-query ranks go into the predictions
like the own-pair ones, so the leaderboard's intervals (test videos resampled) cover them.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from avbench.checkpoint import load_checkpoint
from avbench.evaluate.downstream import Downstream
from avbench.evaluate.features import FeatureCache, spaced
from avbench.evaluate.guards import check_index_covers
from avbench.pretext import PRETEXTS, PretrainModel, to_tensors
from avbench.shards.loader import ShardStream, clip_starts, clip_view, collate

KS = (1, 5, 10)
#: the directions of the own-pair rows (every embedding run) and of the class rows (opt-in)
PAIR_DIRECTIONS = ("v2a", "a2v")
CLASS_DIRECTIONS = ("a2a", "v2v", "v2a_class", "a2v_class")

Embedder = Callable[[dict[str, Any]], tuple[torch.Tensor, torch.Tensor]]


def recall_at_k(query: np.ndarray, gallery: np.ndarray, ks: tuple[int, ...] = KS) -> dict[int, float]:
    """Recall@k of query ``i`` retrieving gallery item ``i`` by Euclidean distance.

    query, gallery: float (N, D), row i of each from the same clip. Ties count against the query
    (an item at the same distance as the match ranks before it).
    """
    if len(query) != len(gallery):
        raise ValueError("query and gallery must pair row by row")
    q = torch.as_tensor(query, dtype=torch.float64)
    g = torch.as_tensor(gallery, dtype=torch.float64)
    d = torch.cdist(q, g)
    own = d.diagonal().unsqueeze(1)
    ahead = (d <= own).sum(1) - 1  # gallery items at least as close as the match, the match excluded
    return {k: float((ahead < k).double().mean()) for k in ks}


def match_ranks(query: np.ndarray, gallery: np.ndarray) -> np.ndarray:
    """0-based rank of gallery item ``i`` for query ``i`` (gallery items at least as close as the
    match, the match excluded): recall@k is the share of ranks below k."""
    q = torch.as_tensor(query, dtype=torch.float64)
    g = torch.as_tensor(gallery, dtype=torch.float64)
    d = torch.cdist(q, g)
    return ((d <= d.diagonal().unsqueeze(1)).sum(1) - 1).numpy().astype(np.int64)


def class_ranks(
    query: np.ndarray,
    gallery: np.ndarray,
    query_labels: np.ndarray,
    gallery_labels: np.ndarray,
    exclude: np.ndarray | None = None,
) -> np.ndarray:
    """0-based rank of the nearest relevant gallery item for each query: a gallery item is relevant
    when its label is the query's; the rank counts the other gallery items at least as close (ties
    against the query). ``exclude`` (bool (Nq, Ng)): pairs that are never candidates (the query's
    own video). -1 where no gallery item is relevant. query (Nq, D), gallery (Ng, D)."""
    q = torch.as_tensor(np.asarray(query), dtype=torch.float64)
    g = torch.as_tensor(np.asarray(gallery), dtype=torch.float64)
    if len(q) != len(query_labels) or len(g) != len(gallery_labels):
        raise ValueError("labels must pair with the query and gallery rows")
    d = torch.cdist(q, g)
    out = torch.as_tensor(np.zeros((len(q), len(g)), bool) if exclude is None else np.asarray(exclude, bool))
    rel = torch.as_tensor(np.asarray(query_labels))[:, None] == torch.as_tensor(np.asarray(gallery_labels))[None, :]
    rel &= ~out
    best = d.masked_fill(~rel, math.inf).min(1).values
    ahead = ((d <= best[:, None]) & ~rel & ~out).sum(1)
    return torch.where(rel.any(1), ahead, torch.full_like(ahead, -1)).numpy().astype(np.int64)


def class_chance(query_labels: np.ndarray, gallery_labels: np.ndarray, k: int) -> float:
    """Expected recall@k of a random ranking for :func:`class_ranks` (queries with a relevant
    gallery item only): the mean over queries of ``1 - C(C - m, k) / C(C, k)``, C gallery items,
    m of them relevant."""
    g = np.asarray(gallery_labels)
    c = len(g)
    vals = []
    for lab in np.asarray(query_labels):
        m = int((g == lab).sum())
        if m == 0:
            continue
        vals.append(1.0 - (math.comb(c - m, k) / math.comb(c, k) if k <= c - m else 0.0))
    return float(np.mean(vals)) if vals else float("nan")


def load_pretrain_model(checkpoint: str | Path | dict[str, Any]) -> tuple[PretrainModel, dict[str, Any]]:
    """A checkpoint's encoders and method head (:class:`~avbench.pretext.PretrainModel`), in eval mode."""
    ck = load_checkpoint(checkpoint)
    meta = ck["meta"]
    if meta["method"] not in PRETEXTS:
        raise ValueError(f"{meta['run']} ({meta['method']}) has no pretext head: no joint video-audio embedding")
    pretext = PRETEXTS[meta["method"]](meta["config"], n_classes=int(meta.get("n_classes", 1)), seed=int(meta["seed"]))
    model = PretrainModel(specs=ck["specs"], head=pretext)
    for kind, state in ck["encoders"].items():
        model.encoders[kind].load_state_dict(state)
    model.head.load_state_dict(ck["head"])
    return model.eval(), meta


def embeds_both(model: PretrainModel) -> bool:
    """Whether the model's head maps video and audio features into one embedding space."""
    return (
        all(k in model.encoders for k in ("video", "audio"))
        and callable(getattr(model.head, "embed_video", None))
        and callable(getattr(model.head, "embed_audio", None))
    )


def retrieval_embedder(model: PretrainModel, meta: dict[str, Any]) -> Embedder | None:
    """The function ``batch tensors -> (video (B, D), audio (B, D))`` of a checkpoint's joint
    embedding: its pretext's own ``retrieval_embeddings`` when it has one (AVOL-Net), else the head's
    ``embed_video`` / ``embed_audio`` on the pooled encoder features; None when there is neither."""
    cls = PRETEXTS.get(str(meta.get("method")))
    if cls is not None and callable(getattr(cls, "retrieval_embeddings", None)) and "config" in meta:
        pretext = cls(meta["config"], n_classes=int(meta.get("n_classes", 1)), seed=int(meta.get("seed", 0)))
        return lambda t: pretext.retrieval_embeddings(model, t)
    if not embeds_both(model):
        return None
    return lambda t: (
        model.head.embed_video(model.encode("video", t["video"])),
        model.head.embed_audio(model.encode("audio", t["audio"])),
    )


def embed_clips(
    model: PretrainModel,
    urls: list[str],
    *,
    clip_frames: int,
    clips_per_video: int,
    mel_norm: tuple[float, float],
    keys: frozenset[str] | None = None,
    batch_size: int = 64,
    cache: FeatureCache | None = None,
    embed: Embedder | None = None,
) -> dict[str, Any]:
    """Video and audio embeddings of evenly spaced synchronized clips of every sample with both.

    Returns ``{"video": (N, D), "audio": (N, D), "key": [N], "clip": int (N,)}``. With a ``cache``
    whose ``model`` is the checkpoint's pretext-model hash (and no ``keys``), the embeddings are read
    from it, or computed once and written to it (the same arrays: a second evaluation reruns no model).
    ``embed``: the embedding function (:func:`retrieval_embedder`; None: the head's ``embed_video`` /
    ``embed_audio``).
    """
    if cache is None or not cache.model or keys is not None:
        return _embed(
            model,
            urls,
            clip_frames=clip_frames,
            clips_per_video=clips_per_video,
            mel_norm=mel_norm,
            keys=keys,
            batch_size=batch_size,
            embed=embed,
        )
    from avbench.paths import atomic_path

    path = cache.embedding_path(
        urls,
        clip_frames=clip_frames,
        clips_per_video=clips_per_video,
        mel_norm=mel_norm,
        device=next(model.parameters()).device,
    )
    if path.is_file():
        with np.load(path, allow_pickle=False) as z:
            emb = {"video": z["video"], "audio": z["audio"], "key": [str(k) for k in z["key"]], "clip": z["clip"]}
        print(f"retrieval embeddings: from the cache {path}", flush=True)
        return emb
    emb = _embed(
        model,
        urls,
        clip_frames=clip_frames,
        clips_per_video=clips_per_video,
        mel_norm=mel_norm,
        keys=None,
        batch_size=batch_size,
        embed=embed,
    )
    with atomic_path(path, suffix=".npz") as tmp:
        with open(tmp, "wb") as fh:
            np.savez(fh, video=emb["video"], audio=emb["audio"], key=np.array(emb["key"], dtype=str), clip=emb["clip"])
    print(f"retrieval embeddings: computed, cached in {path}", flush=True)
    return emb


@torch.inference_mode()
def _embed(
    model: PretrainModel,
    urls: list[str],
    *,
    clip_frames: int,
    clips_per_video: int,
    mel_norm: tuple[float, float],
    keys: frozenset[str] | None,
    batch_size: int,
    embed: Embedder | None = None,
) -> dict[str, Any]:
    out: dict[str, list[Any]] = {"video": [], "audio": [], "key": [], "clip": []}
    buf: list[dict[str, Any]] = []
    device = next(model.parameters()).device
    if embed is None:

        def embed(t: dict[str, Any]) -> tuple[torch.Tensor, torch.Tensor]:
            return (
                model.head.embed_video(model.encode("video", t["video"])),
                model.head.embed_audio(model.encode("audio", t["audio"])),
            )

    def flush() -> None:
        if buf:
            t = to_tensors(collate(buf), device=device, mel_norm=mel_norm)
            v, a = embed(t)
            out["video"].append(v.float().cpu().numpy())
            out["audio"].append(a.float().cpu().numpy())
            out["key"] += [it["key"] for it in buf]
            out["clip"] += [it["clip"] for it in buf]
            buf.clear()

    for s in ShardStream(urls, shuffle=False, keys=keys, needs=frozenset({"frames", "mel"})):
        if s["frames"] is None or s["mel"] is None:
            continue
        for j, k0 in enumerate(spaced(clip_starts(s["meta"], clip_frames), clips_per_video)):
            item = clip_view(s, np.random.default_rng(0), clip_frames=clip_frames, audio=True, start=k0)
            if item is None:
                continue
            buf.append({"video": item["video"], "audio": item["audio"], "key": s["key"], "clip": j})
            if len(buf) == batch_size:
                flush()
    flush()
    dim = 0
    return {
        "video": np.concatenate(out["video"]) if out["video"] else np.zeros((0, dim), np.float32),
        "audio": np.concatenate(out["audio"]) if out["audio"] else np.zeros((0, dim), np.float32),
        "key": out["key"],
        "clip": np.asarray(out["clip"], dtype=np.int64),
    }


def retrieval_recalls(
    emb: dict[str, Any],
    test_keys: list[str],
    ranks: list[dict[str, Any]] | None = None,
    *,
    labels: dict[str, int] | None = None,
    train_keys: list[str] | None = None,
) -> dict[str, float]:
    """Recall@k both ways among the clips of ``test_keys``, averaged over clip positions; plus
    ``n_test`` (videos) and ``n_test_clips``. With ``labels`` (key -> class) and ``train_keys``,
    also the class directions (:data:`CLASS_DIRECTIONS`, module doc: the labelled test clips query
    the training clips at the same position), with their chance as ``chance:<direction>_r<k>``.
    When ``ranks`` is a list, one row per query is appended: ``key``, ``clip``, ``direction``,
    ``rank`` of its true match or, for a class direction, of its nearest relevant gallery item
    (0 = first), and ``gallery`` (the number of candidates)."""
    keys = np.asarray(emb["key"], dtype=object)
    wanted = np.isin(keys, np.asarray(test_keys, dtype=object))
    sums: dict[str, float] = {}
    counts: dict[str, int] = {}
    chance: dict[str, list[float]] = {}

    def add(name: str, q_keys: list[str], j: int, rk: np.ndarray, gallery: int) -> None:
        ok = rk >= 0
        if not ok.any():
            return
        counts[name] = counts.get(name, 0) + 1
        for k in KS:
            sums[f"{name}_r{k}"] = sums.get(f"{name}_r{k}", 0.0) + float((rk[ok] < k).mean())
        if ranks is not None:
            for key, r in zip(q_keys, rk.tolist()):
                if r >= 0:
                    ranks.append({"key": key, "clip": int(j), "direction": name, "rank": int(r), "gallery": gallery})

    labelled = np.array([labels is not None and str(k) in labels for k in keys], bool)
    train = np.isin(keys, np.asarray(train_keys or [], dtype=object)) & labelled & ~wanted
    for j in np.unique(emb["clip"][wanted]):
        sel = wanted & (emb["clip"] == j)
        if sel.sum() < 2:
            continue
        v, a = emb["video"][sel], emb["audio"][sel]
        n = int(sel.sum())
        for name, (q, g) in (("v2a", (v, a)), ("a2v", (a, v))):
            add(name, keys[sel].tolist(), int(j), match_ranks(q, g), n)
        qs, gs = sel & labelled, train & (emb["clip"] == j)
        if labels is None or not qs.any() or not gs.any():
            continue
        ql = np.array([labels[str(k)] for k in keys[qs]])
        gl = np.array([labels[str(k)] for k in keys[gs]])
        qv, qa, gv, ga = emb["video"][qs], emb["audio"][qs], emb["video"][gs], emb["audio"][gs]
        for name, (q, g) in zip(CLASS_DIRECTIONS, ((qa, ga), (qv, gv), (qv, ga), (qa, gv))):
            add(name, keys[qs].tolist(), int(j), class_ranks(q, g, ql, gl), int(gs.sum()))
        for k in KS:
            chance.setdefault(f"r{k}", []).append(class_chance(ql, gl, k))
    if not counts:
        return {}
    out: dict[str, float] = {m: v / counts[m.rsplit("_r", 1)[0]] for m, v in sums.items()}
    for name in CLASS_DIRECTIONS:
        if name in counts:
            for k in KS:
                out[f"chance:{name}_r{k}"] = float(np.nanmean(chance[f"r{k}"]))
    out["n_test"] = int(len(set(keys[wanted].tolist())))
    out["n_test_clips"] = int(wanted.sum())
    return out


def wants_class_retrieval(settings: dict[str, Any], meta: dict[str, Any]) -> bool:
    """Whether ``evaluate.retrieval_intra`` (run names or methods; absent: none) names this run."""
    names = {str(v) for v in (settings.get("retrieval_intra") or [])}
    run = str(meta.get("run", ""))
    return bool(names & {run, run.split(".seed")[0], str(meta.get("method", ""))})


def retrieval_rows(
    *,
    model: PretrainModel,
    meta: dict[str, Any],
    downstream: Downstream,
    clips_per_video: int,
    folds: list[int] | None = None,
    predictions: list[dict[str, Any]] | None = None,
    cache: FeatureCache | None = None,
    by_class: bool = False,
) -> list[dict[str, Any]]:
    """Recall@1/5/10 video->audio and audio->video on each fold's test videos. Tidy rows (none
    when the head does not embed both modalities or no sample has frames and audio); when
    ``predictions`` is a list, the rank of every query's true match is appended to it. With a
    ``cache`` (:func:`avbench.evaluate.run.feature_cache`), the embeddings are computed once per
    (pretext model, shard set, clip settings) and read back by every later evaluation. ``by_class``:
    also the intra- and cross-modal class directions (module doc) with the set's labels."""
    embed = retrieval_embedder(model, meta)
    if embed is None:
        print(f"retrieval: {meta['run']} ({meta['method']}) has no audio-visual embedding head; skipped", flush=True)
        return []
    emb = embed_clips(
        model,
        downstream.urls,
        clip_frames=int(meta["config"]["clip_frames"]),
        clips_per_video=clips_per_video,
        mel_norm=tuple(meta["mel_norm"]),
        cache=cache,
        embed=embed,
    )
    if not emb["key"]:
        print(f"retrieval: no sample of {downstream.name} has frames and audio; skipped", flush=True)
        return []
    present = list(dict.fromkeys(emb["key"]))
    check_index_covers(present, downstream.index)
    rows: list[dict[str, Any]] = []
    for fold in folds or downstream.folds:
        sp = downstream.split(fold, present)
        ranks: list[dict[str, Any]] | None = [] if predictions is not None else None
        res = retrieval_recalls(
            emb, sp.test, ranks, labels=downstream.labels() if by_class else None, train_keys=sp.train
        )
        if predictions is not None and ranks:
            predictions += [{"encoder": "video+audio", "protocol": "retrieval", "fold": fold, **r} for r in ranks]
        if not res:
            continue
        for metric in sorted(k for k in res if "_r" in k and not k.startswith("chance:")):
            k = int(metric.rsplit("_r", 1)[1])
            rows.append(
                {
                    "encoder": "video+audio",
                    "backbone": f"{meta['config']['video_backbone']}+{meta['config']['audio_backbone']}",
                    "protocol": "retrieval",
                    "classifier": "",
                    "fold": fold,
                    "metric": metric,
                    "value": res[metric],
                    "n_train": 0,
                    "n_test": res["n_test"],
                    "n_train_clips": 0,
                    "n_test_clips": res["n_test_clips"],
                    "pretrain_overlap": sp.overlap,
                    "chance": res.get(f"chance:{metric}", min(1.0, k / max(1, res["n_test"]))),
                }
            )
    return rows
