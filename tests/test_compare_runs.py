"""benchmarks/compare_runs.py: two results trees compared exactly (values, predictions, weights)."""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

import pandas as pd
import torch

SPEC = importlib.util.spec_from_file_location(
    "compare_runs", Path(__file__).parents[1] / "benchmarks" / "compare_runs.py"
)
compare_runs = importlib.util.module_from_spec(SPEC)
SPEC.loader.exec_module(compare_runs)


def _tree(root: Path) -> Path:
    (root / "eval" / "r" / "act").mkdir(parents=True)
    (root / "models" / "r").mkdir(parents=True)
    pd.DataFrame(
        [
            {
                "method": "r",
                "encoder": "video",
                "downstream": "act",
                "protocol": "linear",
                "fold": 1,
                "metric": "video_acc",
                "seed": 0,
                "value": 0.5,
                "git_rev": "abc",
            }
        ]
    ).to_csv(root / "leaderboard.csv", index=False)
    pd.DataFrame([{"finding": "x", "diff": 1.0}]).to_csv(root / "findings.csv", index=False)
    pd.DataFrame([{"method": "r", "mean": 0.5}]).to_csv(root / "leaderboard.intervals.csv", index=False)
    pd.DataFrame([{"key": "v1", "pred": 2}]).to_parquet(root / "eval" / "r" / "act" / "linear.predictions.parquet")
    torch.save({"encoders": {"video": {"w": torch.ones(3)}}, "head": {}}, root / "models" / "r" / "checkpoint.pt")
    return root


def test_equal_trees_pass_and_any_changed_value_fails(tmp_path, capsys):
    a = _tree(tmp_path / "a")
    b = tmp_path / "b"
    shutil.copytree(a, b)
    lb = pd.read_csv(b / "leaderboard.csv").assign(git_rev="def")  # provenance: listed, not a failure
    lb.to_csv(b / "leaderboard.csv", index=False)
    assert compare_runs.main(str(a), str(b)) == 0
    assert "git_rev differs" in capsys.readouterr().out
    torch.save(
        {"encoders": {"video": {"w": torch.ones(3) * 1.0000001}}, "head": {}}, b / "models" / "r" / "checkpoint.pt"
    )
    assert compare_runs.main(str(a), str(b)) == 1
    shutil.rmtree(b)
    shutil.copytree(a, b)
    lb = pd.read_csv(b / "leaderboard.csv").assign(value=0.51)
    lb.to_csv(b / "leaderboard.csv", index=False)
    assert compare_runs.main(str(a), str(b)) == 1
    shutil.rmtree(b)
    shutil.copytree(a, b)
    pd.DataFrame([{"key": "v1", "pred": 3}]).to_parquet(b / "eval" / "r" / "act" / "linear.predictions.parquet")
    assert compare_runs.main(str(a), str(b)) == 1


def test_an_unmatched_row_does_not_make_every_integer_column_differ(tmp_path, capsys):
    """An outer merge with an unmatched row turns integer columns into floats: 64 and 64.0 are equal,
    and the findings comparison says how many rows differ."""
    a = _tree(tmp_path / "a")
    b = tmp_path / "b"
    shutil.copytree(a, b)
    la = pd.read_csv(a / "leaderboard.csv").assign(n_train=64)
    extra = la.assign(fold=2)  # a row only a has
    pd.concat([la, extra]).to_csv(a / "leaderboard.csv", index=False)
    la.to_csv(b / "leaderboard.csv", index=False)
    pd.DataFrame([{"finding": "x", "diff": 1.0}, {"finding": "y", "diff": 2.0}]).to_csv(b / "findings.csv", index=False)
    assert compare_runs.main(str(a), str(b)) == 1  # the unmatched row and the findings still fail
    out = capsys.readouterr().out
    assert "unmatched 1" in out
    assert "n_train differs" not in out
    assert "findings.csv: DIFFERENT (1 / 2 rows; 0 of a's rows not in b, 1 of b's not in a)" in out
