"""DCASE scene classification layouts (meta.txt + evaluation_setup, and the bare 2013 naming)."""

from __future__ import annotations

from pathlib import Path

from avbench.ingest import prepare, prepare_dcase


def test_meta_and_folds(tmp_path: Path, touch) -> None:
    root = tmp_path / "dcase"
    (root / "evaluation_setup").mkdir(parents=True)
    (root / "meta.txt").write_text(
        "audio/a001_0_30.wav\tbeach\ta001\n"
        "audio/b002_0_30.wav\tbus\tb002\n"
        "c003_0_30.wav\tpark\tc003\n"
        "audio/a001_0_30.wav\tbeach\ta001\n"
        "lonely\n"
        "../outside.wav\tbeach\n"
    )
    (root / "evaluation_setup" / "fold1_train.txt").write_text("audio/a001_0_30.wav\tbeach\naudio/b002_0_30.wav\tbus\n")
    (root / "evaluation_setup" / "fold1_test.txt").write_text("audio/c003_0_30.wav\n")
    (root / "evaluation_setup" / "fold1_evaluate.txt").write_text("audio/c003_0_30.wav\tpark\n")
    (root / "evaluation_setup" / "fold2_train.txt").write_text("audio/c003_0_30.wav\tpark\naudio/d004_0_30.wav\tbus\n")
    (root / "evaluation_setup" / "fold2_test.txt").write_text("audio/a001_0_30.wav\naudio/c003_0_30.wav\n")
    touch(root / "audio" / "a001_0_30.wav")
    touch(root / "audio" / "c003_0_30.wav")
    df = prepare_dcase(root)
    by = {i: g for i, g in df.groupby("id")}
    a = by["a001_0_30"]
    assert a["status"].tolist() == ["ok", "duplicate"]
    assert a.iloc[0][["label", "label_idx", "fold_1", "fold_2", "split"]].tolist() == [
        "beach",
        0,
        "train",
        "test",
        "train",
    ]
    assert by["b002_0_30"].iloc[0]["status"] == "missing"
    c = by["c003_0_30"]
    assert c["status"].tolist() == ["ok", "duplicate"]  # train and test of fold 2
    assert c.iloc[0][["label", "fold_1", "fold_2"]].tolist() == ["park", "test", "train"]
    assert by["d004_0_30"].iloc[0][["status", "label", "fold_1", "fold_2"]].tolist() == ["missing", "bus", "", "train"]
    assert by["../outside.wav"].iloc[0]["status"] == "unsafe_path"
    assert (df["status"] == "malformed").sum() == 1
    assert sorted(set(df["label"]) - {""}) == ["beach", "bus", "park"]


def test_bare_2013_naming(tmp_path: Path, touch) -> None:
    for name in ("bus01.wav", "bus02.wav", "park01.wav", "readme.txt"):
        touch(tmp_path / "scenes" / name)
    df = prepare("dcase", tmp_path / "scenes")
    assert df["id"].tolist() == ["bus01", "bus02", "park01"]
    assert df["label"].tolist() == ["bus", "bus", "park"] and df["label_idx"].tolist() == [0, 0, 1]
    assert (df["status"] == "ok").all()
