"""Multisensory (Owens & Efros 2018): the early-fusion network's shapes, the shifted negatives, the
skipping of videos too short for a shift, and tiny runs that learn synchronization.

The tiny world here: a noisy background where a bright square flashes for two frames at random
instants (every 0.25-0.6 s) and a click sounds at the same instants, so only the timing links
picture and sound (every video looks and sounds alike otherwise)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch
import webdataset as wds

from avbench.checkpoint import load_encoders
from avbench.evaluate.finetune import top_module
from avbench.models import build_encoder
from avbench.models.multisensory import MultisensoryNet
from avbench.preprocess.audio import log_mel
from avbench.pretext import PRETEXTS, PretrainModel, to_tensors
from avbench.pretext.multisensory import shift_range
from avbench.shards.codec import npy_bytes, wav_int16
from avbench.shards.loader import collate, item_rng
from avbench.pretrain import pretrain

H, W, FPS, SR = 24, 32, 16.0, 16000


def flash_video(seconds: float, rng: np.random.Generator, key: str, *, mel: bool = False) -> dict:
    """A decoded sample (what the loader gives a view) of the flash-and-click world."""
    n = int(round(seconds * FPS))
    f = rng.integers(20, 60, size=(n, H, W, 3)).astype(np.uint8)
    wave = rng.normal(0, 0.01, int(round(seconds * SR)))
    y, x = int(rng.integers(4, H - 8)), int(rng.integers(4, W - 8))
    t = 0.2
    while True:
        t += rng.uniform(0.25, 0.6)
        if t >= seconds - 0.1:
            break
        k = int(round(t * FPS))
        f[k : k + 2, y : y + 5, x : x + 5] = 240
        s = int(round(t * SR))
        m = min(800, len(wave) - s)
        wave[s : s + m] += 0.5 * np.sin(2 * np.pi * 700 * np.arange(m) / SR) * np.exp(-np.arange(m) / 200)
    meta = {
        "id": key,
        "n_frames": n,
        "fps": FPS,
        "frame_times": [k / FPS for k in range(n)],
        "label_idx": 0,
        "sample_rate": SR,
        "hop_ms": 10.0,
        "t_start": 0.0,
        "t_end": seconds,
        "has_audio": True,
        "size": [W, H],
    }
    out = {"frames": f, "meta": meta, "flow": None, "wav": wav_int16(wave), "key": key, "mel": None}
    if mel:
        out["mel"] = log_mel(wave.astype(np.float32), sample_rate=SR, n_mels=24)
        meta["n_mel_frames"] = int(out["mel"].shape[1])
    return out


def cfg_ms(cfg_for, **ms):
    return cfg_for(
        "multisensory",
        channels=[8, 16, 16, 16],
        clip_frames=8,
        multisensory={"shift_s": [0.5, 1.5], "audio_channels": [8, 16, 16], **ms},
    )


def batch_of(pretext, videos, *, seed: int, epoch: int, heldout: bool = False) -> dict:
    view = pretext.heldout_view() if heldout else pretext.view(epoch)
    items = []
    for v in videos:
        it = view(v, item_rng(seed, epoch, v["key"]))
        it["key"] = v["key"]
        items.append(it)
    return to_tensors(collate(items), device=torch.device("cpu"), mel_norm=(-5.0, 2.0))


# -- the network -----------------------------------------------------------------------------------


def test_fusion_shapes_and_the_vision_only_path():
    torch.manual_seed(0)
    net = MultisensoryNet(channels=(8, 16, 24, 32), fuse_after=2, audio_input="waveform", audio_channels=(8, 16, 16))
    x = torch.rand(3, 3, 16, 24, 32)
    wav = torch.randn(3, 16000)
    v = net.video_map(x)
    assert v.shape == (3, 16, 8, 6, 8)  # two stages: time /2, space /4
    a = net.audio_sequence(wav, v.shape[2])
    assert a.shape == (3, 16, 8)  # pooled to the video map's 8 time steps
    assert net.fusion[0].in_channels == 16 + 16  # video + audio channels concatenated
    seen = {}
    net.fusion[0].register_forward_hook(lambda m, i, o: seen.update(z=i[0].detach()))  # returns None
    out = net(x, wav)
    z = seen["z"]
    assert z.shape == (3, 32, 8, 6, 8) and out.shape == (3, 32) and net.out_dim == 32
    tiled = z[:, 16:]
    assert torch.equal(tiled, tiled[..., :1, :1].expand_as(tiled))  # the audio is tiled over space
    assert torch.allclose(tiled[..., 0, 0], a, atol=1e-6)
    net.eval()
    assert not torch.allclose(net(x, wav), net(x, wav.roll(4000, 1)))  # the audio reaches the output
    vision = net(x)  # no audio: the running mean of the audio features fills the audio channels
    assert vision.shape == (3, 32)
    assert torch.allclose(vision, net.fuse(net.video_map(x), None)) and net.audio_mean.abs().sum() > 0
    spec = MultisensoryNet(channels=(8, 16, 24, 32), fuse_after=1, audio_input="spectrogram", audio_channels=(8, 8))
    assert spec(x, torch.randn(3, 1, 40, 100)).shape == (3, 32) and spec.fusion[0].in_channels == 8 + 8
    with pytest.raises(ValueError):
        MultisensoryNet(channels=(8, 16), fuse_after=2)


def test_the_checkpoint_spec_builds_the_fused_network_as_a_video_encoder(cfg_for):
    pretext = PRETEXTS["multisensory"](cfg_ms(cfg_for), n_classes=2, seed=0)
    specs = pretext.encoder_specs()
    assert set(specs) == {"video"} and specs["video"]["name"] == "multisensory"
    enc = build_encoder(json.loads(json.dumps(specs["video"])))  # what a checkpoint rebuilds, JSON-safe
    assert isinstance(enc, MultisensoryNet) and enc.audio_input == "waveform"
    assert enc(torch.rand(2, 3, 8, H, W)).shape == (2, 16)  # evaluation calls it on video alone
    assert top_module(enc) is enc.fusion  # finetune_top: the layers after the fusion
    with pytest.raises(ValueError):
        build_encoder({"kind": "video", "name": "small3d", "channels": [8], "fuse_after": 1})


# -- negatives and the data ------------------------------------------------------------------------


def indexed_sample(seconds: float) -> dict:
    """wav sample i holds i (int16), mel column j holds j: a window says where it was cut."""
    n = int(seconds * FPS)
    meta = {
        "n_frames": n,
        "fps": FPS,
        "frame_times": [k / FPS for k in range(n)],
        "sample_rate": SR,
        "hop_ms": 10.0,
        "t_start": 0.0,
        "t_end": seconds,
        "has_audio": True,
        "label_idx": 0,
    }
    return {
        "frames": np.zeros((n, 4, 4, 3), np.uint8),
        "meta": meta,
        "flow": None,
        "key": "v",
        "wav": np.arange(int(seconds * SR)).astype(np.int16),
        "mel": np.tile(np.arange(int(seconds * 100), dtype=np.float32), (3, 1)),
    }


@pytest.mark.parametrize("audio_input", ["waveform", "spectrogram"])
def test_the_shifted_negative_is_the_same_video_at_the_shifted_time(audio_input, cfg_for):
    pretext = PRETEXTS["multisensory"](
        cfg_ms(cfg_for, audio_input=audio_input, shift_s=[0.3, 0.9]), n_classes=2, seed=0
    )
    sample = indexed_sample(2.0)  # 32000 samples: every index fits in int16
    signs = set()
    for i in range(200):
        it = pretext.view(0)(sample, np.random.default_rng(i))
        assert it["shift_ok"] and 0.3 - 1e-9 <= abs(it["shift"]) <= 0.9 + 1e-9
        t0, d = it["t0"], it["shift"]
        assert np.array_equal(it["video"], sample["frames"][int(round(t0 * FPS)) : int(round(t0 * FPS)) + 8])
        if audio_input == "waveform":
            pos, neg = np.rint(it["wav"] * 32768).astype(int), np.rint(it["wav_neg"] * 32768).astype(int)
            assert pos.shape == neg.shape == (8000,)
            assert pos[0] == round(t0 * SR) and (np.diff(pos) == 1).all()  # the clip's own instant
            assert neg[0] == round((t0 + d) * SR) and (np.diff(neg) == 1).all()  # the same audio, shifted
        else:
            pos, neg = it["audio"][0], it["audio_neg"][0]
            assert pos.shape == neg.shape == (50,)
            assert pos[0] == round(t0 * 100) and neg[0] == round((t0 + d) * 100) and neg[-1] == neg[0] + 49
        assert 0 <= t0 + d and t0 + d + 0.5 <= 2.0 + 1e-9  # inside the audio, never padding
        signs.add(d > 0)
    assert signs == {True, False}  # both directions


def test_shift_range_known_answers():
    assert shift_range(0.0, 1.0, 3.0, 0.5, 1.4) == [(0.5, 1.4)]  # only later audio
    assert shift_range(2.0, 1.0, 3.0, 0.5, 1.4) == [(-1.4, -0.5)]  # only earlier
    assert shift_range(0.5, 1.0, 2.0, 0.5, 1.4) == [(0.5, 0.5), (-0.5, -0.5)]  # one offset each way
    assert np.allclose(shift_range(0.6, 1.0, 2.0, 0.5, 1.4), [(-0.6, -0.5)])
    assert shift_range(0.6, 1.0, 2.2, 0.7, 1.4) == []  # neither direction fits (room: 1.2 s < 2 x 0.7)


def test_audio_too_short_for_the_shift_range_is_skipped_with_a_reason(cfg_for):
    pretext = PRETEXTS["multisensory"](cfg_ms(cfg_for, shift_s=[1.0, 2.0]), n_classes=2, seed=0)
    short = indexed_sample(1.25)  # a 0.5 s clip + the 1.0 s smallest shift needs 1.5 s
    reason = pretext.skip_reason(short["meta"])
    assert reason is not None and reason.startswith("audio_too_short") and not pretext.usable(short["meta"])
    assert not pretext.usable({"n_frames": 20, "has_audio": True, "n_mel_frames": 125})  # an index row: 1.25 s
    assert pretext.usable({"n_frames": 40, "has_audio": True, "n_mel_frames": 250})
    assert pretext.skip_reason({"n_frames": 4, "has_audio": True}).startswith("no_clip")
    assert pretext.view(0)(short, np.random.default_rng(0)) is None  # and the view does not crash on one
    # the clip is drawn where a shift fits: a 1.75 s video has one-sided room only
    for i in range(50):
        it = pretext.view(0)(indexed_sample(1.75), np.random.default_rng(i))
        assert it["shift_ok"] and 1.0 <= abs(it["shift"]) <= 2.0
    rand = PRETEXTS["multisensory"](cfg_ms(cfg_for, shift_s=[1.0, 2.0], negatives="random"), n_classes=2, seed=0)
    assert rand.usable(short["meta"])  # random pairing needs no shift
    it = rand.view(0)(short, np.random.default_rng(0))
    assert not it["shift_ok"] and np.array_equal(it["wav_neg"], it["wav"])


# -- tiny runs -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "audio_input,negatives", [("waveform", "shifted"), ("spectrogram", "shifted"), ("waveform", "random")]
)
def test_a_tiny_run_learns_sync_and_generalises_to_fresh_videos(audio_input, negatives, cfg_for):
    torch.manual_seed(0)
    torch.set_num_threads(1)
    pretext = PRETEXTS["multisensory"](
        cfg_ms(cfg_for, audio_input=audio_input, negatives=negatives), n_classes=1, seed=0
    )
    model = PretrainModel(specs=pretext.encoder_specs(), head=pretext)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    gen = torch.Generator().manual_seed(0)
    rng = np.random.default_rng(0)
    train = [flash_video(4.0, rng, f"v{i}", mel=audio_input == "spectrogram") for i in range(48)]
    fresh = [
        flash_video(4.0, np.random.default_rng(1000 + i), f"t{i}", mel=audio_input == "spectrogram") for i in range(48)
    ]
    model.eval()
    before = pretext.heldout_metrics(model, batch_of(pretext, fresh, seed=1, epoch=0, heldout=True), generator=gen)
    model.train()
    losses = []
    for step in range(120):
        idx = rng.choice(len(train), 16, replace=False)
        loss, logs = pretext.loss(
            model, batch_of(pretext, [train[i] for i in idx], seed=0, epoch=step), epoch=0, generator=gen
        )
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    model.eval()
    after = pretext.heldout_metrics(model, batch_of(pretext, fresh, seed=1, epoch=0, heldout=True), generator=gen)
    print(
        f"{audio_input}/{negatives}: loss {np.mean(losses[:10]):.3f} -> {np.mean(losses[-10:]):.3f}; "
        f"held-out before {before} after {after}"
    )
    assert np.mean(losses[-10:]) < np.mean(losses[:10]) - 0.2
    assert after["pretext_acc"] > 0.7 and after["pretext_acc"] > before["pretext_acc"] + 0.1  # chance: 0.5
    if negatives == "shifted":
        assert after["sync_auc"] > 0.8


def write_wav_shards(folder, videos) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    with wds.TarWriter(str(folder / "shard-000000.tar"), mtime=0.0) as sink:
        for v in videos:
            mel = log_mel(v["wav"].astype(np.float32) / 32768, sample_rate=SR, n_mels=24)
            meta = {**v["meta"], "n_mel_frames": int(mel.shape[1])}
            sink.write(
                {
                    "__key__": v["key"],
                    "frames.npy": npy_bytes(v["frames"]),
                    "wav.npy": npy_bytes(v["wav"]),
                    "mel.npy": npy_bytes(mel.astype(np.float16)),
                    "json": json.dumps(meta).encode(),
                }
            )


def test_one_pretrain_epoch_on_tiny_shards_and_the_checkpoint_evaluates(cfg_for, tmp_path):
    rng = np.random.default_rng(3)
    videos = [flash_video(3.0, rng, f"v{i:02d}") for i in range(10)] + [flash_video(0.75, rng, "short")]
    write_wav_shards(tmp_path / "shards", videos)
    cfg = cfg_ms(cfg_for, shift_s=[0.5, 1.0])
    cfg.update(channels=[4, 8, 8, 8], epochs=1, batch_size=4, clips_per_video=1)
    cfg["multisensory"]["audio_channels"] = [4, 8]
    out = tmp_path / "run"
    pretrain(run="multisensory", cfg=cfg, shard_dir=tmp_path / "shards", out_dir=out, seed=0, progress=False, threads=1)
    m = pd.read_csv(out / "metrics.csv")
    assert np.isfinite(m["train_loss"]).all() and 0.0 <= m["val_pretext_acc"].iloc[-1] <= 1.0
    assert "val_sync_auc" in m.columns
    encoders, meta = load_encoders(out / "checkpoint.pt")
    assert set(encoders) == {"video"} and meta["method"] == "multisensory"
    assert isinstance(encoders["video"], MultisensoryNet)
    assert encoders["video"](torch.rand(2, 3, 8, H, W)).shape == (2, 8)  # vision only, as evaluation calls it
    assert meta["n_train_videos"] + meta["n_val_videos"] == 10  # the 0.75 s video: audio_too_short, left out
    assert "short" not in meta["heldout_keys"]


def test_a_waveform_run_on_shards_without_the_waveform_says_what_it_needs(tiny_world, cfg_for, tmp_path):
    shards = tiny_world(n_videos=8, flow=False)  # log-mel only (shard.waveform off)
    cfg = cfg_ms(cfg_for, shift_s=[0.5, 1.0])
    cfg.update(channels=[4, 8, 8, 8], epochs=1, batch_size=4, clips_per_video=1)
    with pytest.raises(RuntimeError, match="wav"):
        pretrain(run="m", cfg=cfg, shard_dir=shards, out_dir=tmp_path / "m", seed=0, progress=False, threads=1)
