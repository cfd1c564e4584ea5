"""Supervised reference with a flow encoder (the arrow-of-time table's supervised row)."""

from __future__ import annotations

import pandas as pd
import torch

from avbench.pretrain import pretrain


def test_supervised_trains_video_audio_and_flow(tiny_world, cfg_for, tmp_path):
    shards = tiny_world()
    cfg = cfg_for("supervised", epochs=4, supervised={"encoders": ["video", "audio", "flow"]})
    pretrain(run="sup", cfg=cfg, shard_dir=shards, out_dir=tmp_path / "sup", seed=0, progress=False, threads=2)
    m = pd.read_csv(tmp_path / "sup" / "metrics.csv")
    assert m["train_loss"].iloc[-1] < m["train_loss"].iloc[0]
    assert m["train_flow_acc"].iloc[-1] > 0.9 and m["train_pretext_acc"].iloc[-1] > 0.8  # two classes
    ck = torch.load(tmp_path / "sup" / "checkpoint.pt", weights_only=False)
    assert set(ck["encoders"]) == {"video", "audio", "flow"} and ck["specs"]["flow"]["segments"] == 2


def test_scratch_measures_batchnorm_statistics_on_the_pretraining_clips(tiny_world, cfg_for, tmp_path):
    """Random weights, but BatchNorm running statistics of the data: frozen layers left at mean 0 /
    variance 1 pass un-normalised activations, and a fine-tuned top's momentum average keeps its
    initial variance long enough to send every test clip to one class."""
    shards = tiny_world()
    pretrain(
        run="scratch",
        cfg=cfg_for("scratch"),
        shard_dir=shards,
        out_dir=tmp_path / "s",
        seed=0,
        progress=False,
        threads=2,
    )
    ck = torch.load(tmp_path / "s" / "checkpoint.pt", weights_only=False)
    seen = {ck["meta"][f"bn_calibration_clips_{k}"] for k in ("video", "audio", "flow")}
    assert len(seen) == 1 and 16 <= seen.pop() <= ck["meta"]["n_train_videos"]  # one clip of each training video
    assert ck["metrics"] == []
    for kind in ("video", "audio", "flow"):
        state = ck["encoders"][kind]
        var = [v for k, v in state.items() if k.endswith("running_var")]
        assert var and all(not torch.allclose(v, torch.ones_like(v)) for v in var), kind
    from avbench.pretrain import load_encoders

    encs, _ = load_encoders(ck)
    enc = encs["flow"]
    bn = [m for m in enc.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    acts: list[torch.Tensor] = []
    hook = bn[-1].register_forward_hook(lambda m, i, o: acts.append(i[0]))
    from avbench.shards.loader import ShardStream, batches, clip_view
    from avbench.pretext.base import to_tensors
    import functools

    view = functools.partial(clip_view, clip_frames=8, audio=False, flow=True)
    b = next(
        batches(
            ShardStream(
                [str(p) for p in sorted(shards.glob("*.tar"))],
                view=view,
                shuffle=False,
                needs=frozenset({"frames", "flow"}),
            ),
            batch_size=16,
        )
    )
    with torch.no_grad():
        enc(to_tensors(b, device=torch.device("cpu"), mel_norm=(0.0, 1.0))["flow"])
    hook.remove()
    batch_var = acts[0].var(dim=(0, 2, 3))
    ratio = (batch_var / bn[-1].running_var).median()
    assert 0.3 < float(ratio) < 3.0  # eval-mode statistics match the data's
