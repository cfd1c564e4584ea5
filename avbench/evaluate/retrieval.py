"""Cross-modal retrieval with the embeddings of audio-visual embedding methods.

A run whose checkpoint head embeds both modalities (``head.embed_video(features)`` and
``head.embed_audio(features)``, e.g. AVTS, AVE-Net, InfoNCE) is rebuilt from its method
(:data:`avbench.pretext.PRETEXTS`) and ``checkpoint["head"]``. On a downstream set whose samples
have frames and audio, every test video of a fold gives evenly spaced synchronized clips; for the
clips at the same position of every test video, each video embedding queries the audio embeddings
(video->audio) and each audio embedding the video embeddings (audio->video), by Euclidean
distance. Recall@k is the share of queries whose own clip ranks among the k nearest; it is
averaged over the clip positions. Chance is k / N for N test videos.
"""

from __future__ import annotations

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
) -> dict[str, Any]:
    """Video and audio embeddings of evenly spaced synchronized clips of every sample with both.

    Returns ``{"video": (N, D), "audio": (N, D), "key": [N], "clip": int (N,)}``. With a ``cache``
    whose ``model`` is the checkpoint's pretext-model hash (and no ``keys``), the embeddings are read
    from it, or computed once and written to it (the same arrays: a second evaluation reruns no model).
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
) -> dict[str, Any]:
    out: dict[str, list[Any]] = {"video": [], "audio": [], "key": [], "clip": []}
    buf: list[dict[str, Any]] = []
    device = next(model.parameters()).device

    def flush() -> None:
        if buf:
            t = to_tensors(collate(buf), device=device, mel_norm=mel_norm)
            out["video"].append(model.head.embed_video(model.encode("video", t["video"])).float().cpu().numpy())
            out["audio"].append(model.head.embed_audio(model.encode("audio", t["audio"])).float().cpu().numpy())
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
    emb: dict[str, Any], test_keys: list[str], ranks: list[dict[str, Any]] | None = None
) -> dict[str, float]:
    """Recall@k both ways among the clips of ``test_keys``, averaged over clip positions; plus
    ``n_test`` (videos) and ``n_test_clips``. When ``ranks`` is a list, one row per query is
    appended: ``key``, ``clip``, ``direction`` (v2a, a2v), ``rank`` of its true match (0 = first)
    and ``gallery`` (the number of candidates)."""
    keys = np.asarray(emb["key"], dtype=object)
    wanted = np.isin(keys, np.asarray(test_keys, dtype=object))
    sums: dict[str, float] = {}
    n_pos = 0
    for j in np.unique(emb["clip"][wanted]):
        sel = wanted & (emb["clip"] == j)
        if sel.sum() < 2:
            continue
        v, a = emb["video"][sel], emb["audio"][sel]
        for name, r in (("v2a", recall_at_k(v, a)), ("a2v", recall_at_k(a, v))):
            for k, val in r.items():
                sums[f"{name}_r{k}"] = sums.get(f"{name}_r{k}", 0.0) + val
        if ranks is not None:
            for name, (q, g) in (("v2a", (v, a)), ("a2v", (a, v))):
                for key, rank in zip(keys[sel].tolist(), match_ranks(q, g).tolist()):
                    ranks.append(
                        {"key": key, "clip": int(j), "direction": name, "rank": int(rank), "gallery": int(sel.sum())}
                    )
        n_pos += 1
    if not n_pos:
        return {}
    out = {k: v / n_pos for k, v in sums.items()}
    out["n_test"] = int(len(set(keys[wanted].tolist())))
    out["n_test_clips"] = int(wanted.sum())
    return out


def retrieval_rows(
    *,
    model: PretrainModel,
    meta: dict[str, Any],
    downstream: Downstream,
    clips_per_video: int,
    folds: list[int] | None = None,
    predictions: list[dict[str, Any]] | None = None,
    cache: FeatureCache | None = None,
) -> list[dict[str, Any]]:
    """Recall@1/5/10 video->audio and audio->video on each fold's test videos. Tidy rows (none
    when the head does not embed both modalities or no sample has frames and audio); when
    ``predictions`` is a list, the rank of every query's true match is appended to it. With a
    ``cache`` (:func:`avbench.evaluate.run.feature_cache`), the embeddings are computed once per
    (pretext model, shard set, clip settings) and read back by every later evaluation."""
    if not embeds_both(model):
        print(f"retrieval: {meta['run']} ({meta['method']}) has no audio-visual embedding head; skipped", flush=True)
        return []
    emb = embed_clips(
        model,
        downstream.urls,
        clip_frames=int(meta["config"]["clip_frames"]),
        clips_per_video=clips_per_video,
        mel_norm=tuple(meta["mel_norm"]),
        cache=cache,
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
        res = retrieval_recalls(emb, sp.test, ranks)
        if predictions is not None and ranks:
            predictions += [{"encoder": "video+audio", "protocol": "retrieval", "fold": fold, **r} for r in ranks]
        if not res:
            continue
        for metric in sorted(k for k in res if "_r" in k):
            k = int(metric.split("_r")[1])
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
                    "chance": min(1.0, k / max(1, res["n_test"])),
                }
            )
    return rows
