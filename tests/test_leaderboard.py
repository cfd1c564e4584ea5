import pandas as pd

from avbench.leaderboard import render_markdown, summarize, write_leaderboard


def _rows(method, down, values):
    return pd.DataFrame({"method": method, "backbone": "small3d", "pretrain_data": "synth", "downstream": down,
                         "protocol": "linear", "fold": range(1, len(values) + 1), "metric": "clip_acc",
                         "value": values, "chance": 0.125, "clips_used": 90, "clips_listed": 96, "run_name": "t"})


def test_leaderboard_gathers_and_summarizes(tmp_path):
    a = tmp_path / "a.csv"
    b = tmp_path / "b.csv"
    _rows("avts", "act", [0.8, 0.9, 1.0]).to_csv(a, index=False)
    _rows("scratch", "act", [0.2, 0.3, 0.1]).to_csv(b, index=False)
    df = write_leaderboard([a, b], tmp_path / "lb.csv", tmp_path / "lb.md")
    assert list(df.columns[:8]) == ["method", "backbone", "pretrain_data", "downstream", "protocol", "fold", "metric",
                                    "value"]
    assert len(pd.read_csv(tmp_path / "lb.csv")) == 6
    s = summarize(df).set_index("method")
    assert abs(s.loc["avts", "mean"] - 0.9) < 1e-9 and abs(s.loc["avts", "std"] - 0.1) < 1e-9
    md = (tmp_path / "lb.md").read_text()
    assert "| avts |  | small3d | 90.0 ± 10.0 | 3 |" in md
    assert "90 of 96 listed items used" in md
    assert render_markdown(df.iloc[0:0]).startswith("# avbench leaderboard")
