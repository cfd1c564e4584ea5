"""External encoders: a toy callable through import-encoder, validate-encoder, evaluate and finetune; a
torchvision r2plus1d_18 with weights saved locally by the test (no download); the validator's messages;
the handcrafted baselines."""

from __future__ import annotations

import textwrap

import pandas as pd
import pytest
import torch
import yaml

from avbench.checkpoint import load_checkpoint, load_encoders
from avbench.cli import main
from avbench.models.external import build_external_encoder, check_encoder, normalize_spec
from avbench.models.handcrafted import HANDCRAFTED

TOY = textwrap.dedent('''
    import torch
    from torch import nn


    class Toy(nn.Module):
        """Mean colour and mean absolute frame difference per channel, through a linear layer."""

        def __init__(self, dim=8, broken=""):
            super().__init__()
            self.proj = nn.Linear(6, dim)
            self.broken = broken

        def forward(self, x):
            assert x.shape[1:3] == (3, 4), x.shape  # the spec's frames
            diff = (x[:, :, 1:] - x[:, :, :-1]).abs().mean((2, 3, 4))
            y = self.proj(torch.cat([x.mean((2, 3, 4)), diff], 1))
            if self.broken == "nan":
                return y * float("nan")
            if self.broken == "shape":
                return y[:, :3]
            if self.broken == "none":
                return None
            if self.broken == "int":
                return y.long()
            return y


    def build(dim=8, broken=""):
        return Toy(dim=dim, broken=broken)
''')


@pytest.fixture
def toy_module(tmp_path, monkeypatch):
    pkg = tmp_path / "toypkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "enc.py").write_text(TOY)
    monkeypatch.syspath_prepend(str(tmp_path))
    return "toypkg.enc:build"


def _config(tmp_path, external: dict) -> str:
    cfg = {
        "datasets": {"squares": {"format": "folder", "source": str(tmp_path), "modality": "audiovisual"}},
        "pretrain_dataset": "squares",
        "downstream": {"squares": "video"},
        "pretrain": {"methods": [], "clip_frames": 8},
        "evaluate": {
            "clips_per_video": 2,
            "finetune": {"epochs": 2, "batch_size": 8, "optimizer": "adam", "lr": 0.003},
        },
        "external": external,
    }
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return str(path)


def test_a_toy_external_encoder_goes_through_the_whole_evaluate_path(tmp_path, toy_module, moving_squares):
    shards = tmp_path / "shards"
    moving_squares(shards, n_videos=24)
    cfg = _config(
        tmp_path,
        {
            "toy": {
                "kind": "callable",
                "model": toy_module,
                "kwargs": {"dim": 8},
                "modality": "video",
                "frames": 4,
                "size": [16, 16],
                "mean": [0.5, 0.5, 0.5],
                "std": [0.25, 0.25, 0.25],
                "feature_dim": 8,
                "pretrained_on": "nothing",
            }
        },
    )
    ck = tmp_path / "models" / "toy" / "checkpoint.pt"
    assert main(["validate-encoder", "toy", "--config", cfg, "--shards", str(shards)]) == 0
    assert main(["import-encoder", "toy", "--config", cfg, "-o", str(ck)]) == 0
    meta = load_checkpoint(ck)["meta"]
    assert (meta["run"], meta["method"], meta["seed"], meta["pretrain_data"]) == ("toy", "external", 0, "nothing")
    encoders, _ = load_encoders(ck)  # rebuilt from the checkpoint alone
    assert set(encoders) == {"video"} and encoders["video"].out_dim == 8
    common = [
        "--checkpoint",
        str(ck),
        "--shards",
        str(shards),
        "--index",
        str(shards / "index.parquet"),
        "--kind",
        "video",
        "--downstream",
        "squares",
        "--config",
        cfg,
        "--threads",
        "1",
    ]
    out, preds = tmp_path / "toy.csv", tmp_path / "toy.predictions.parquet"
    assert main(["evaluate", *common, "-o", str(out), "--predictions", str(preds)]) == 0
    rows = pd.read_csv(out)
    assert set(rows["method"]) == {"toy"} and set(rows["pretext"]) == {"external"}
    assert set(rows["protocol"]) == {"linear"} and set(rows["fold"]) == {1, 2, 3}  # no retrieval: no joint space
    assert set(rows["encoder"]) == {"video"} and set(rows["backbone"]) == {"build"}
    assert set(rows["pretrain_data"]) == {"nothing"} and (rows["seed"] == 0).all()
    assert rows["value"].between(0, 1).all() and (rows["n_test"] == 8).all()
    p = pd.read_parquet(preds)
    assert set(p["method"]) == {"toy"} and len(p) > 0
    ft = tmp_path / "ft.csv"
    assert main(["finetune", *common, "--fold", "1", "-o", str(ft)]) == 0
    f = pd.read_csv(ft)
    assert set(f["method"]) == {"toy"} and {"finetune"} <= set(f["protocol"]) and f["value"].between(0, 1).all()


@pytest.mark.parametrize(
    ("broken", "message"), [("nan", "NaN"), ("shape", "wrong shape"), ("none", "no output"), ("int", "wrong dtype")]
)
def test_the_validator_says_what_is_wrong(tmp_path, toy_module, moving_squares, capsys, broken, message):
    shards = tmp_path / "shards"
    moving_squares(shards, n_videos=6)
    cfg = _config(
        tmp_path,
        {
            "toy": {
                "kind": "callable",
                "model": toy_module,
                "kwargs": {"broken": broken},
                "modality": "video",
                "frames": 4,
                "feature_dim": 8,
            }
        },
    )
    assert main(["validate-encoder", "toy", "--config", cfg, "--shards", str(shards)]) == 1
    err = capsys.readouterr().err
    assert "NOT usable" in err and message in err


def test_the_validator_reports_a_model_that_raises_and_a_missing_weights_file(
    tmp_path, toy_module, moving_squares, capsys
):
    shards = tmp_path / "shards"
    moving_squares(shards, n_videos=6)
    cfg = _config(
        tmp_path, {"toy": {"kind": "callable", "model": toy_module, "modality": "video", "frames": 5, "feature_dim": 8}}
    )
    assert main(["validate-encoder", "toy", "--config", cfg, "--shards", str(shards)]) == 1
    assert "raised AssertionError" in capsys.readouterr().err
    assert (
        main(
            [
                "validate-encoder",
                "toy",
                "--config",
                cfg,
                "--shards",
                str(shards),
                "--frames",
                "4",
                "--weights",
                str(tmp_path / "nope.pt"),
            ]
        )
        == 1
    )
    assert "not found" in capsys.readouterr().err


def test_torchvision_r2plus1d_with_local_weights(tmp_path, moving_squares):
    """The papers' supervised-Kinetics row: r2plus1d_18 with a local state dict (saved here: no download)."""
    from torchvision.models.video import r2plus1d_18

    torch.manual_seed(0)
    net = r2plus1d_18(weights=None)
    weights = tmp_path / "r2plus1d_18.pth"
    torch.save(net.state_dict(), weights)
    shards = tmp_path / "shards"
    moving_squares(shards, n_videos=4)
    spec = {
        "kind": "torchvision",
        "model": "r2plus1d_18",
        "weights": str(weights),
        "modality": "video",
        "frames": 4,
        "size": [16, 16],
        "mean": [0.43216, 0.394666, 0.37645],
        "std": [0.22803, 0.22145, 0.216989],
        "feature_dim": 512,
        "pretrained_on": "kinetics400",
    }
    cfg = _config(tmp_path, {"k400": spec})
    assert main(["validate-encoder", "k400", "--config", cfg, "--shards", str(shards), "--batch", "2"]) == 0
    ck = tmp_path / "k400.pt"
    assert main(["import-encoder", "k400", "--config", cfg, "-o", str(ck)]) == 0
    encoders, meta = load_encoders(ck)
    assert meta["pretrain_data"] == "kinetics400" and meta["config"]["video_backbone"] == "r2plus1d_18"
    saved = encoders["video"].model.state_dict()
    assert all(torch.equal(saved[k], v) for k, v in net.state_dict().items() if not k.startswith("fc."))
    x = torch.rand(2, 3, 8, 24, 32)
    assert encoders["video"](x).shape == (2, 512)
    wrong = {**spec, "feature_dim": 400}
    with pytest.raises(ValueError, match="512 features"):
        build_external_encoder(wrong)


def test_spec_errors_are_one_line():
    with pytest.raises(ValueError, match="needs 'feature_dim'"):
        normalize_spec({"kind": "callable", "model": "a:b", "modality": "video"})
    with pytest.raises(ValueError, match="layout B1FM"):
        normalize_spec({"kind": "callable", "model": "a:b", "modality": "audio", "layout": "BCTHW", "feature_dim": 1})
    with pytest.raises(ValueError, match="both mean and std"):
        normalize_spec({"kind": "callable", "model": "a:b", "modality": "video", "mean": [0.5], "feature_dim": 1})


@pytest.mark.parametrize("name", sorted(HANDCRAFTED))
def test_the_handcrafted_baselines_are_valid_external_encoders(name):
    spec = HANDCRAFTED[name]
    enc = build_external_encoder(spec)
    x = torch.rand(4, 3, 8, 24, 32) if spec["modality"] == "video" else torch.randn(4, 1, 16, 80)
    assert check_encoder(enc, x, spec["feature_dim"]) == []
    assert enc.state_dict() == {}  # nothing learned: the linear classifier on top is the whole learned part


def test_frozen_features_are_cached_per_encoder_and_shard_index(tmp_path, toy_module, moving_squares, capsys):
    """The linear classifier and the fine-tune's fc init read the same cached features; a second
    evaluation computes nothing and gives the same rows; another encoder gets its own entry."""
    shards = tmp_path / "shards"
    moving_squares(shards, n_videos=12)
    spec = {"kind": "callable", "model": toy_module, "modality": "video", "frames": 4, "feature_dim": 8}
    cfg = _config(tmp_path, {"toy": spec, "toy16": {**spec, "kwargs": {"dim": 16}, "feature_dim": 16}})
    for name in ("toy", "toy16"):
        assert main(["import-encoder", name, "--config", cfg, "-o", str(tmp_path / f"{name}.pt")]) == 0
    cache = tmp_path / "cache"

    def run(name: str, out: str, *extra: str, command: str = "evaluate") -> pd.DataFrame:
        assert (
            main(
                [
                    command,
                    "--checkpoint",
                    str(tmp_path / f"{name}.pt"),
                    "--shards",
                    str(shards),
                    "--index",
                    str(shards / "index.parquet"),
                    "--kind",
                    "video",
                    "--downstream",
                    "squares",
                    "--config",
                    cfg,
                    "--threads",
                    "1",
                    "-o",
                    str(tmp_path / out),
                    *extra,
                ]
            )
            == 0
        )
        return pd.read_csv(tmp_path / out).drop(columns=["git_rev", "packages"], errors="ignore")

    plain = run("toy", "plain.csv")
    capsys.readouterr()
    first = run("toy", "first.csv", "--feature-cache", str(cache))
    assert "computed, cached" in capsys.readouterr().out and len(list(cache.glob("video-*.npz"))) == 1
    again = run("toy", "again.csv", "--feature-cache", str(cache))
    assert "from the cache" in capsys.readouterr().out
    cols = ["fold", "metric", "value", "n_train", "n_test", "n_test_clips"]
    pd.testing.assert_frame_equal(first[cols], plain[cols])
    pd.testing.assert_frame_equal(again[cols], plain[cols])
    ft_plain = run("toy", "ft_plain.csv", "--fold", "2", command="finetune")
    capsys.readouterr()
    ft = run("toy", "ft.csv", "--fold", "2", "--feature-cache", str(cache), command="finetune")
    assert "from the cache" in capsys.readouterr().out  # the linear classifier that starts the fc: no new extraction
    pd.testing.assert_frame_equal(ft[cols], ft_plain[cols])
    run("toy16", "other.csv", "--feature-cache", str(cache))
    assert len(list(cache.glob("video-*.npz"))) == 2


def test_the_config_refuses_a_bad_external_section(tmp_path):
    import jsonschema

    from avbench.config import eval_instances, instance_encoders, load_config

    ok = {"kind": "callable", "model": "a.b:c", "modality": "audio", "feature_dim": 4}
    cfg = load_config(_config(tmp_path, {"snd": ok}))
    assert eval_instances(cfg)[-1] == "snd" and instance_encoders(cfg, "snd") == ("audio",)
    for bad, message in (
        ({"scratch": ok}, "a pretraining run has that name"),
        ({"snd": {**ok, "layout": "BCTHW"}}, "reads layout B1FM"),
        ({"snd": {**ok, "kind": "torchvision"}}, "torchvision encoders are video"),
        ({"snd": {**ok, "mean": [0.0]}}, "both mean and std"),
        ({"snd": {**ok, "colour": "red"}}, "Additional properties"),
        ({"snd.seed1": ok}, "does not match"),
    ):
        with pytest.raises(jsonschema.ValidationError, match=message):
            load_config(_config(tmp_path, bad))


@pytest.mark.parametrize(("name", "kind"), [("motion_histogram", "video"), ("mfcc_stats", "audio")])
def test_the_handcrafted_baselines_see_their_cue(tmp_path, moving_squares, name, kind):
    """The motion histogram tells the square's direction of motion, the MFCC statistics its humming
    band (chance 25%): both through import-encoder and evaluate, as the default run does."""
    shards = tmp_path / "shards"
    moving_squares(shards, n_videos=48)
    cfg = _config(tmp_path, {name: HANDCRAFTED[name]})
    ck = tmp_path / f"{name}.pt"
    assert main(["import-encoder", name, "--config", cfg, "-o", str(ck)]) == 0
    assert (
        main(
            [
                "evaluate",
                "--checkpoint",
                str(ck),
                "--shards",
                str(shards),
                "--index",
                str(shards / "index.parquet"),
                "--kind",
                kind,
                "--downstream",
                "squares",
                "--config",
                cfg,
                "--threads",
                "1",
                "-o",
                str(tmp_path / "rows.csv"),
            ]
        )
        == 0
    )
    rows = pd.read_csv(tmp_path / "rows.csv")
    assert set(rows["pretrain_data"]) == {"none"} and set(rows["encoder"]) == {kind}
    assert rows.loc[rows.metric == "video_acc", "value"].mean() > 0.6
