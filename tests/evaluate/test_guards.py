"""Guards: pretraining/downstream overlap, overlap policies, shards against their index."""

from __future__ import annotations

import pandas as pd
import pytest

from avbench.evaluate.downstream import Downstream
from avbench.evaluate.guards import (
    LeakageError,
    apply_overlap_policy,
    check_disjoint,
    check_index_covers,
    pretrain_overlap,
)


def _files(folder, names, content=lambda n: n.encode() * 50):
    folder.mkdir(parents=True, exist_ok=True)
    for n in names:
        (folder / n).write_bytes(content(n))
    return [str(folder / n) for n in names]


def test_overlap_by_path_and_by_bytes(tmp_path):
    pre = _files(tmp_path / "pre", ["a.mp4", "b.mp4", "c.mp4"])
    down = _files(tmp_path / "down", ["x.avi", "y.avi"])
    (tmp_path / "down" / "copy_of_b.avi").write_bytes((tmp_path / "pre" / "b.mp4").read_bytes())
    pre_idx = pd.DataFrame({"key": ["a", "b", "c"], "status": "ok", "path": pre})
    down_idx = pd.DataFrame(
        {
            "key": ["x", "y", "bb", "same"],
            "status": "ok",
            "path": down + [str(tmp_path / "down" / "copy_of_b.avi"), pre[2]],
        }
    )
    got = pretrain_overlap(pre_idx, down_idx)
    assert set(got) == {"bb", "same"}
    assert "same bytes" in got["bb"] and "same file" in got["same"]


def test_overlap_policies(tmp_path):
    overlap = {"t2": "same file"}
    assert apply_overlap_policy(["t1", "t2"], overlap, "flag") == (["t1", "t2"], 1)
    assert apply_overlap_policy(["t1", "t2"], overlap, "exclude") == (["t1"], 1)
    with pytest.raises(LeakageError, match="also in the pretraining set"):
        apply_overlap_policy(["t1", "t2"], overlap, "refuse")
    assert apply_overlap_policy(["t1"], overlap, "refuse") == (["t1"], 0)


def test_downstream_split_applies_the_overlap_policy(tmp_path, moving_squares):
    index = moving_squares(tmp_path / "d", n_videos=12)
    pre = pd.DataFrame({"key": ["p0"], "status": "ok", "path": [index.loc[0, "path"]]})  # v000: test of fold 1
    pre.to_parquet(tmp_path / "pre.parquet")
    for policy, n_test in (("flag", 4), ("exclude", 3)):
        ds = Downstream.load(
            name="d",
            shard_dir=tmp_path / "d",
            index_path=tmp_path / "d" / "index.parquet",
            pretrain_index=tmp_path / "pre.parquet",
            overlap_policy=policy,
        )
        sp = ds.split(1)
        assert len(sp.test) == n_test and sp.overlap == 1
        assert ds.split(2).overlap == 0
    ds = Downstream.load(
        name="d",
        shard_dir=tmp_path / "d",
        index_path=tmp_path / "d" / "index.parquet",
        pretrain_index=tmp_path / "pre.parquet",
        overlap_policy="refuse",
    )
    with pytest.raises(LeakageError):
        ds.split(1)
    with pytest.raises(ValueError, match="no fold 4"):
        ds.split(4)


def test_disjoint_and_index_checks():
    check_disjoint([1, 2], [3])
    with pytest.raises(LeakageError, match="1 videos are in both"):
        check_disjoint([1, 2], [2, 3])
    index = pd.DataFrame({"key": ["a", "b", "c"], "status": ["ok", "ok", "missing"]})
    check_index_covers(["a", "b"], index)
    with pytest.raises(ValueError, match="do not match"):
        check_index_covers(["a", "c"], index)


def test_an_empty_shard_folder_is_refused(tmp_path, moving_squares):
    moving_squares(tmp_path / "d", n_videos=6)
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="no shard"):
        Downstream.load(name="d", shard_dir=tmp_path / "empty", index_path=tmp_path / "d" / "index.parquet")
