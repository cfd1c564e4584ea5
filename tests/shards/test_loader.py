"""The streaming loader: exact once-per-epoch splitting over ranks and workers, deterministic
views, resampling, clip windows that respect dropped frames, and audio windows on the timeline."""

from __future__ import annotations

import functools
import json
from collections import Counter

import numpy as np
import pytest
import webdataset as wds

from avbench.shards.codec import npy_bytes
from avbench.shards.loader import (
    SampleCache,
    ShardStream,
    batches,
    clip_starts,
    clip_view,
    frame_segments,
    mel_window,
    shard_urls,
)


def _write(folder, n=23, per_shard=5, frames=12, fps=8.0, gap=None):
    """Samples whose frame k has value k everywhere and whose mel column i holds i."""
    folder.mkdir(parents=True, exist_ok=True)
    for s in range(0, n, per_shard):
        with wds.TarWriter(str(folder / f"shard-{s // per_shard:06d}.tar"), mtime=0.0) as sink:
            for v in range(s, min(n, s + per_shard)):
                times = [k / fps for k in range(frames)]
                if gap is not None:  # frames gap[0]..gap[1] were dropped: later frames are later in time
                    times = [t + (gap[1] - gap[0]) / fps if k >= gap[0] else t for k, t in enumerate(times)]
                arr = np.tile(np.arange(frames, dtype=np.uint8)[:, None, None, None], (1, 4, 6, 3))
                dur = times[-1] + 1 / fps
                mel = np.tile(np.arange(int(dur * 100) + 1, dtype=np.float16)[None], (3, 1))
                meta = {
                    "id": f"v{v:03d}",
                    "label_idx": v % 3,
                    "fps": fps,
                    "hop_ms": 10.0,
                    "n_frames": frames,
                    "frame_times": times,
                    "t_start": 0.0,
                    "t_end": dur,
                    "has_audio": True,
                    "flow": {"algorithm": "dis", "bound": 4.0},
                }
                sink.write(
                    {
                        "__key__": f"v{v:03d}",
                        "frames.npy": npy_bytes(arr),
                        "mel.npy": npy_bytes(mel),
                        "flow.npy": npy_bytes(np.full((frames - 1, 4, 6, 2), 128, np.uint8)),
                        "json": json.dumps(meta).encode(),
                    }
                )


def _keys(stream):
    return [s["key"] for s in stream]


@pytest.mark.parametrize("split", ["samples", "shards"])
def test_ranks_and_workers_see_each_sample_once_per_epoch(tmp_path, split):
    _write(tmp_path)
    urls = shard_urls(tmp_path)
    seen = Counter()
    for rank in range(2):
        stream = ShardStream(urls, seed=1, epoch=3, rank=rank, world=2, split=split, needs=frozenset())
        import torch

        loader = torch.utils.data.DataLoader(stream, batch_size=None, num_workers=2, collate_fn=lambda x: x)
        seen.update(s["key"] for s in loader)
    assert sorted(seen) == [f"v{v:03d}" for v in range(23)] and set(seen.values()) == {1}


def test_order_depends_on_seed_and_epoch_only(tmp_path):
    _write(tmp_path)
    urls = shard_urls(tmp_path)
    a = _keys(ShardStream(urls, seed=0, epoch=0, buffer=8, needs=frozenset()))
    assert a == _keys(ShardStream(urls, seed=0, epoch=0, buffer=8, needs=frozenset()))
    assert a != _keys(ShardStream(urls, seed=0, epoch=1, buffer=8, needs=frozenset()))
    assert sorted(a) == sorted(_keys(ShardStream(urls, shuffle=False, needs=frozenset())))
    assert _keys(ShardStream(urls, shuffle=False, needs=frozenset()))[:3] == ["v000", "v001", "v002"]


def test_views_do_not_depend_on_worker_count(tmp_path):
    _write(tmp_path)
    urls = shard_urls(tmp_path)
    view = functools.partial(clip_view, clip_frames=4, audio=True)

    def starts(workers):
        out = {}
        for b in batches(ShardStream(urls, view=view, seed=5, epoch=2), batch_size=4, workers=workers, drop_last=False):
            out.update(zip(b["key"], b["start"].tolist()))
        return out

    assert starts(0) == starts(2) and len(starts(0)) == 23


def test_the_sample_cache_changes_no_item_and_skips_the_tars_of_later_epochs(tmp_path, monkeypatch):
    _write(tmp_path)
    urls = shard_urls(tmp_path)
    view = functools.partial(clip_view, clip_frames=4, audio=True)
    keep = frozenset(f"v{v:03d}" for v in range(0, 23, 2))

    def epochs(cache):
        out = []
        for epoch in range(3):
            stream = ShardStream(
                urls, view=view, seed=5, epoch=epoch, keys=keep, repeats={k: 2.0 for k in keep}, buffer=8, cache=cache
            )
            for b in batches(stream, batch_size=4, drop_last=False):
                out.append((epoch, list(b["key"]), b["start"].tolist(), b["video"].tobytes(), b["audio"].tobytes()))
        return out

    plain = epochs(None)
    reads = Counter()
    real = wds.tarfile_to_samples

    def counting(**kw):
        f = real(**kw)

        def run(src):
            src = list(src)
            reads.update(s["url"] for s in src)
            return f(iter(src))

        return run

    monkeypatch.setattr(wds, "tarfile_to_samples", counting)
    cache = SampleCache(max_bytes=1 << 30)
    assert epochs(cache) == plain  # the same items, clips and bytes, in the same order
    assert set(reads.values()) == {1} and len(reads) == len(urls)  # every tar read once, in epoch 0 only
    sample = next(iter(cache.samples.values()))
    assert not sample["frames"].flags.writeable  # a view cannot change what a later epoch reads
    with pytest.raises(ValueError):
        sample["frames"][0, 0, 0, 0] = 1
    # a budget too small for a shard: that shard is read again every epoch, the items unchanged
    reads.clear()
    small = SampleCache(max_bytes=8000)
    assert epochs(small) == plain and 0 < small.used <= 8000 and set(reads.values()) == {3}


def test_keys_and_repeats(tmp_path):
    _write(tmp_path)
    urls = shard_urls(tmp_path)
    keep = frozenset({"v001", "v004", "v020"})
    assert sorted(_keys(ShardStream(urls, keys=keep, needs=frozenset()))) == sorted(keep)
    reps = Counter(
        _keys(ShardStream(urls, keys=keep, repeats={"v001": 3.0, "v004": 0.0, "v020": 1.0}, needs=frozenset()))
    )
    assert reps == Counter({"v001": 3, "v020": 1})
    # fractional repeats: about the expected number of copies over many samples
    many = Counter(_keys(ShardStream(urls, repeats={f"v{v:03d}": 2.5 for v in range(23)}, needs=frozenset())))
    assert 23 * 2 <= sum(many.values()) <= 23 * 3 and set(many.values()) <= {2, 3}


def test_batches_collate_and_drop_the_last_partial_batch(tmp_path):
    _write(tmp_path, frames=12)
    view = functools.partial(clip_view, clip_frames=4, audio=True, flow=True)
    bs = list(batches(ShardStream(shard_urls(tmp_path), view=view), batch_size=5))
    assert len(bs) == 4  # 23 samples -> 4 full batches
    b = bs[0]
    assert b["video"].shape == (5, 4, 4, 6, 3) and b["video"].dtype == np.uint8
    assert b["audio"].shape == (5, 3, 50) and b["flow"].shape == (5, 4, 4, 6, 2)
    assert b["flow_bound"].tolist() == [4.0] * 5 and len(b["key"]) == 5
    # the audio window starts at the clip's first frame: mel column i holds i, frame k is at k / 8 s
    for start, audio, video in zip(b["start"], b["audio"], b["video"]):
        assert video[0, 0, 0, 0] == start
        assert audio[0, 0] == pytest.approx(round(start / 8 * 100))


def test_clips_never_straddle_dropped_frames(tmp_path):
    _write(tmp_path, n=1, frames=12, gap=(5, 9))  # stored frames 0-4, then a 4-frame gap, then 5-11
    meta = next(iter(ShardStream(shard_urls(tmp_path), shuffle=False)))["meta"]
    assert frame_segments(meta["frame_times"], 12, 8.0) == [(0, 5), (5, 12)]
    assert clip_starts(meta, 4) == [0, 1, 5, 6, 7, 8]
    sample = next(iter(ShardStream(shard_urls(tmp_path), shuffle=False)))
    item = clip_view(sample, np.random.default_rng(0), clip_frames=4, start=5)
    # frame 5 is shown at (5 + 4) / 8 s: its audio window starts at mel column 112 or 113
    assert abs(item["audio"][0, 0] - 112.5) <= 0.5
    assert clip_view(sample, np.random.default_rng(0), clip_frames=8) is None


def test_mel_window_pads_past_the_end():
    mel = np.arange(10, dtype=np.float32)[None].repeat(2, 0)
    meta = {"hop_ms": 100.0}
    w = mel_window(mel, meta, 0.8, 0.5)
    assert w.shape == (2, 5) and w[0].tolist() == [8, 9, 0, 0, 0]


def test_jpeg_frames_decode_only_what_is_indexed(tmp_path):
    from avbench.shards.codec import JpegFrames, decode_jpeg_frames, encode_jpeg_frames

    rng = np.random.default_rng(0)
    frames = np.repeat(np.linspace(0, 250, 10).astype(np.uint8)[:, None, None, None], 3, axis=3)
    frames = np.broadcast_to(frames, (10, 16, 24, 3)).copy() + rng.integers(0, 3, (10, 16, 24, 3), dtype=np.uint8)
    data, lengths = encode_jpeg_frames(frames, quality=95)
    lazy = JpegFrames(data, lengths, (24, 16))
    assert len(lazy) == 10 and lazy.shape == (10, 16, 24, 3)
    whole = decode_jpeg_frames(data, lengths)
    assert np.array_equal(np.asarray(lazy), whole)
    assert np.array_equal(lazy[3:7], whole[3:7]) and np.array_equal(lazy[2], whole[2])
    assert np.abs(whole.astype(int) - frames).max() < 12  # JPEG q95 stays close to the source
    calls = []
    real = lazy._decode
    lazy._decode = lambda i: calls.append(i) or real(i)
    lazy[4:6]
    assert calls == [4, 5]
    with pytest.raises(ValueError, match="add up"):
        JpegFrames(data[:-5], lengths)


def test_worker_batches_are_tensors_that_to_tensors_reads_like_numpy(tmp_path):
    import torch

    from avbench.pretext.base import to_tensors
    from avbench.shards.loader import collate, collate_tensors

    _write(tmp_path)
    urls = shard_urls(tmp_path)
    view = functools.partial(clip_view, clip_frames=4, audio=True, flow=True)
    items = list(ShardStream(urls, view=view, seed=1, shuffle=False))[:4]
    a = to_tensors(collate(items), device=torch.device("cpu"), mel_norm=(0.5, 2.0))
    b = to_tensors(collate_tensors(items), device=torch.device("cpu"), mel_norm=(0.5, 2.0))
    assert a.keys() == b.keys()
    for k in a:
        if isinstance(a[k], torch.Tensor):
            assert a[k].dtype == b[k].dtype and torch.equal(a[k], b[k]), k
    # with workers, each worker collates whole batches; every item is still seen once
    keys = [
        k
        for bt in batches(ShardStream(urls, view=view, seed=1), batch_size=4, workers=2, drop_last=False)
        for k in bt["key"]
    ]
    assert sorted(keys) == [f"v{v:03d}" for v in range(23)]
