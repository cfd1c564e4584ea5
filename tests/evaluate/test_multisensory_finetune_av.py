"""The video + audio fine-tune (protocol ``finetune_av``) of the fused Multisensory network: on a tiny
set whose class lives only in the sound (a low or a high tone; the picture is noise), the network fed
its clips' own audio learns the classes and the same network on video alone does not; the audio that
reaches the network is the clip's own (swapping two videos' soundtracks swaps an audio-only model's
predictions); a video without audio is kept, scored with the mean audio feature and given a one-line
reason; an encoder that takes no audio is skipped with one."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import webdataset as wds
from torch import nn

from avbench.evaluate.downstream import Downstream, Split
from avbench.evaluate.finetune import Classifier, ClipInputs, audio_notes, finetune_fold, score
from avbench.evaluate.guards import fold_meta
from avbench.preprocess.audio import log_mel
from avbench.pretrain import pretrain
from avbench.shards.codec import npy_bytes, wav_int16

H, W, FPS, SR, SECONDS = 24, 32, 16.0, 16000, 2.0
TONES = (300.0, 1800.0)  # class 0, class 1: the class is in the sound only
#: the tiny pretraining settings of the Multisensory checkpoints below (method and backbone added)
TINY_FUSED = {
    "audio_backbone": "vgg_small",
    "channels": [8, 16, 16, 16],
    "flow": {"backbone": "tcam_small", "segments": 2, "frames": 4},
    "clip_frames": 8,
    "clips_per_video": 1,
    "epochs": 1,
    "batch_size": 8,
    "lr": 0.003,
    "weight_decay": 0.0,
    "amp": True,
}

SETTINGS = {
    "epochs": 8,
    "clips_per_video": 4,
    "batch_size": 16,
    "optimizer": "adam",
    "lr": 0.003,
    "momentum": 0.9,
    "weight_decay": 0.0,
    "schedule": "cosine",
}


def write_tone_set(
    folder: Path, *, n_videos: int = 30, seed: int = 0, silent_keys: tuple[str, ...] = (), swap: bool = False
) -> pd.DataFrame:
    """Shards (frames, wav.npy, mel.npy) of noise videos whose soundtrack is a tone of their class;
    3 folds (video i tests in fold i % 3 + 1). ``silent_keys``: videos with no audio stream (no wav,
    no mel, ``has_audio`` false). ``swap``: each pair of videos (2i, 2i+1) has the other's soundtrack."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    n = int(SECONDS * FPS)
    waves = []
    for v in range(n_videos):
        t = np.arange(int(SECONDS * SR)) / SR
        f0 = TONES[v % 2] * rng.uniform(0.9, 1.1)
        waves.append(0.3 * np.sin(2 * np.pi * f0 * t + rng.uniform(0, 6)) + rng.normal(0, 0.02, len(t)))
    if swap:
        waves = [waves[v ^ 1] if (v ^ 1) < n_videos else waves[v] for v in range(n_videos)]
    rows = []
    with wds.TarWriter(str(folder / "shard-000000.tar"), mtime=0.0) as sink:
        for v in range(n_videos):
            key = f"v{v:03d}"
            frames = rng.integers(0, 255, size=(n, H, W, 3)).astype(np.uint8)
            has_audio = key not in silent_keys
            meta = {
                "id": key,
                "label_idx": v % 2,
                "fps": FPS,
                "hop_ms": 10.0,
                "n_mels": 24,
                "sample_rate": SR,
                "n_frames": n,
                "frame_times": [k / FPS for k in range(n)],
                "has_audio": has_audio,
                "t_start": 0.0,
                "t_end": SECONDS,
                "source": f"{key}.avi",
            }
            sample = {"__key__": key, "frames.npy": npy_bytes(frames)}
            if has_audio:
                mel = log_mel(waves[v].astype(np.float32), sample_rate=SR, n_mels=24)
                meta["n_mel_frames"] = int(mel.shape[1])
                sample["wav.npy"] = npy_bytes(wav_int16(waves[v]))
                sample["mel.npy"] = npy_bytes(mel.astype(np.float16))
            else:
                meta["n_mel_frames"] = 0
            sample["json"] = json.dumps(meta).encode()
            sink.write(sample)
            row = {"key": key, "id": key, "status": "ok", "label_idx": v % 2, "path": f"/data/{key}.avi"}
            for f in (1, 2, 3):
                row[f"fold_{f}"] = "test" if v % 3 == f - 1 else "train"
            rows.append(row)
    index = pd.DataFrame(rows)
    index.to_parquet(folder / "index.parquet", index=False)
    return index


def multisensory_checkpoint(shards: Path, out: Path, *, audio_input: str = "waveform") -> Path:
    """A Multisensory checkpoint (one tiny pretraining epoch on ``shards``)."""
    cfg = {
        **TINY_FUSED,
        "method": "multisensory",
        "video_backbone": "small3d",
        "multisensory": {"audio_input": audio_input, "shift_s": [0.5, 1.0], "audio_channels": [8, 16, 16]},
    }
    pretrain(run="ms", cfg=cfg, shard_dir=shards, out_dir=out, seed=0, progress=False, threads=1)
    return out / "checkpoint.pt"


def _video_acc(rows: list[dict], protocol: str) -> float:
    vals = [r["value"] for r in rows if r["metric"] == "video_acc" and r["protocol"] == protocol]
    assert len(vals) == 1
    return float(vals[0])


@pytest.mark.parametrize("audio_input", ["waveform", "spectrogram"])
def test_audio_reaches_the_fused_network_and_it_learns_a_class_that_only_sounds(tmp_path, audio_input):
    torch.set_num_threads(1)
    write_tone_set(tmp_path / "set", silent_keys=("v001",))
    ck = multisensory_checkpoint(tmp_path / "set", tmp_path / "ck", audio_input=audio_input)
    ds = Downstream.load(name="tones", shard_dir=tmp_path / "set", index_path=tmp_path / "set" / "index.parquet")
    out = {}
    for protocol in ("finetune_av", "finetune"):
        preds: list[dict] = []
        rows = finetune_fold(
            checkpoint=ck,
            downstream=ds,
            task="video",
            fold=2,
            protocol=protocol,
            settings=SETTINGS,
            clips_per_video=2,
            progress=False,
            predictions=preds,
        )
        out[protocol] = (rows, pd.DataFrame(preds))
    av_rows, av_preds = out["finetune_av"]
    v_rows, v_preds = out["finetune"]
    # chance 0.5 on the 10 test videos: the sound decides the class, the picture (noise) cannot
    assert _video_acc(av_rows, "finetune_av") >= 0.9
    assert _video_acc(v_rows, "finetune") <= 0.7
    # the same test videos and clips as the video-only fine-tune
    assert sorted(zip(av_preds["key"], av_preds["clip"])) == sorted(zip(v_preds["key"], v_preds["clip"]))
    # v001 (fold 2's test set: 1 % 3 == 1) has no audio: kept, scored, its reason on each of its clips
    silent = av_preds[av_preds["key"] == "v001"]
    assert len(silent) == 2 and silent["audio_note"].str.startswith("no_audio_stream").all()
    assert (av_preds.loc[av_preds["key"] != "v001", "audio_note"] == "").all()
    r = next(r for r in av_rows if r["metric"] == "video_acc")
    assert r["n_test_no_audio"] == 1 and r["audio_input"] == audio_input and r["n_test"] == 10


class AudioOnly(nn.Module):
    """An encoder whose features are the energy of its audio in the two tone bands (video ignored)."""

    out_dim = 2
    audio_input = "waveform"

    def forward(self, x: torch.Tensor, audio: torch.Tensor | None = None, audio_ok: torch.Tensor | None = None):
        assert audio is not None and audio_ok is not None
        spec = torch.fft.rfft(audio, dim=-1).abs()
        freqs = torch.fft.rfftfreq(audio.shape[-1], 1 / SR)
        low = spec[:, (freqs > 200) & (freqs < 500)].sum(-1)
        high = spec[:, (freqs > 1400) & (freqs < 2200)].sum(-1)
        return torch.stack([low, high], 1) * audio_ok.float()[:, None] + 0 * x.mean()


def test_swapping_the_soundtracks_swaps_an_audio_only_models_predictions(tmp_path):
    write_tone_set(tmp_path / "a", n_videos=12)
    write_tone_set(tmp_path / "b", n_videos=12, swap=True)  # same pictures, pairs' soundtracks exchanged
    model = Classifier(AudioOnly(), 2, mode="fc")
    with torch.no_grad():
        model.fc.weight.copy_(torch.eye(2))
        model.fc.bias.zero_()
    keys = [f"v{v:03d}" for v in range(12)]
    labels = {k: v % 2 for v, k in enumerate(keys)}
    split = Split(fold=1, train=[], test=keys)
    meta = fold_meta(downstream="tones", downstream_hash="h", fold=1, train_keys=[])
    res = {}
    for name in ("a", "b"):
        ds = Downstream.load(name="tones", shard_dir=tmp_path / name, index_path=tmp_path / name / "index.parquet")
        res[name] = score(
            model,
            meta,
            kind="video",
            urls=ds.urls,
            split=split,
            downstream="tones",
            downstream_hash="h",
            labels=labels,
            clip_frames=8,
            clips_per_video=2,
            mel_norm=(-5.0, 2.0),
            inputs=ClipInputs("video", audio_input="waveform"),
        )
    assert res["a"]["video_acc"] == 1.0  # the model reads each clip's own tone
    assert res["b"]["video_acc"] == 0.0  # every soundtrack swapped with one of the other class
    pa, pb = pd.DataFrame(res["a"]["predictions"]), pd.DataFrame(res["b"]["predictions"])
    assert (pa["pred"] != pb["pred"]).all()


def test_encoders_without_audio_and_sets_without_the_waveform_are_skipped_with_a_reason(
    tmp_path, capsys, moving_squares, tiny_checkpoint
):
    moving_squares(tmp_path / "sq", n_videos=12)  # log-mel only, no wav.npy
    small = tiny_checkpoint(tmp_path / "sq")  # scratch: a small3d video encoder, no audio input
    ds = Downstream.load(name="sq", shard_dir=tmp_path / "sq", index_path=tmp_path / "sq" / "index.parquet")
    kw = dict(downstream=ds, task="video", fold=1, protocol="finetune_av", settings=SETTINGS, clips_per_video=1)
    assert finetune_fold(checkpoint=small, progress=False, **kw) == []
    assert "takes no audio" in capsys.readouterr().out
    write_tone_set(tmp_path / "t", n_videos=12)
    ck = multisensory_checkpoint(tmp_path / "t", tmp_path / "ck")  # a waveform network
    assert finetune_fold(checkpoint=ck, progress=False, **kw) == []  # the squares' shards hold no wav.npy
    line = [ln for ln in capsys.readouterr().out.splitlines() if "skipped" in ln]
    assert len(line) == 1 and "no_waveform" in line[0]
    notes = audio_notes(ds.urls, "spectrogram")
    assert len(notes) == 12 and not any(notes.values())  # the log-mel is there for a spectrogram network


def test_scratch_with_the_fused_backbone_is_a_calibrated_random_init(tmp_path):
    """The seed's "Multisensory (scratch)": the scratch run with video_backbone multisensory gives the fused
    network at random init, its BatchNorm statistics (audio subnet included) and mean audio feature measured on
    training clips with their own audio; the video + audio fine-tune reads it like a pretrained one."""
    from avbench.checkpoint import load_encoders
    from avbench.models.multisensory import MultisensoryNet

    torch.set_num_threads(1)
    write_tone_set(tmp_path / "set", n_videos=12)
    cfg = {**TINY_FUSED, "method": "scratch", "video_backbone": "multisensory"}
    pretrain(
        run="ms_scratch",
        cfg=cfg,
        shard_dir=tmp_path / "set",
        out_dir=tmp_path / "ck",
        seed=0,
        progress=False,
        threads=1,
    )
    encoders, meta = load_encoders(tmp_path / "ck" / "checkpoint.pt")
    net = encoders["video"]
    assert isinstance(net, MultisensoryNet) and net.audio_input == "waveform"
    assert meta["bn_calibration_clips_video_with_audio"] >= 8
    assert float(net.audio_mean.abs().sum()) > 0  # measured with audio, not the initial zeros
    audio_bn = next(m for m in net.audio.modules() if isinstance(m, nn.BatchNorm1d))
    assert not torch.allclose(audio_bn.running_var, torch.ones_like(audio_bn.running_var))
    ds = Downstream.load(name="tones", shard_dir=tmp_path / "set", index_path=tmp_path / "set" / "index.parquet")
    rows = finetune_fold(
        checkpoint=tmp_path / "ck" / "checkpoint.pt",
        downstream=ds,
        task="video",
        fold=1,
        protocol="finetune_av",
        settings={**SETTINGS, "epochs": 2},
        clips_per_video=1,
        progress=False,
    )
    assert {r["protocol"] for r in rows} == {"finetune_av"} and len(rows) == 2
