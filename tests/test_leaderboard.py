import pandas as pd

from avbench.leaderboard import render_markdown, summarize, write_leaderboard


def _rows(method, down, values):
    return pd.DataFrame(
        {
            "method": method,
            "backbone": "small3d",
            "pretrain_data": "synth",
            "downstream": down,
            "protocol": "linear",
            "fold": range(1, len(values) + 1),
            "metric": "clip_acc",
            "value": values,
            "chance": 0.125,
            "clips_used": 90,
            "clips_listed": 96,
            "run_name": "t",
        }
    )


def test_leaderboard_gathers_and_summarizes(tmp_path):
    a = tmp_path / "a.csv"
    b = tmp_path / "b.csv"
    _rows("avts", "act", [0.8, 0.9, 1.0]).to_csv(a, index=False)
    _rows("scratch", "act", [0.2, 0.3, 0.1]).to_csv(b, index=False)
    df = write_leaderboard([a, b], tmp_path / "lb.csv", tmp_path / "lb.md")
    assert list(df.columns[:8]) == [
        "method",
        "backbone",
        "pretrain_data",
        "downstream",
        "protocol",
        "fold",
        "metric",
        "value",
    ]
    assert len(pd.read_csv(tmp_path / "lb.csv")) == 6
    s = summarize(df).set_index("method")
    assert abs(s.loc["avts", "mean"] - 0.9) < 1e-9 and abs(s.loc["avts", "std"] - 0.1) < 1e-9
    md = (tmp_path / "lb.md").read_text()
    assert "| avts |  | small3d | 90.0 ± 10.0 | 3 |" in md
    assert "90 of 96 listed items used" in md
    assert render_markdown(df.iloc[0:0]).startswith("# avbench leaderboard")


def test_markdown_has_one_table_per_protocol_and_flags_overlap(tmp_path):
    rows = []
    for proto, vals in (("linear", [0.5, 0.7]), ("finetune", [0.8, 0.9])):
        r = _rows("avts", "act", vals)
        r["protocol"], r["encoder"], r["pretrain_overlap"] = proto, "video", 0
        rows.append(r)
    ret = _rows("avts", "act", [0.2, 0.4])
    ret["protocol"], ret["encoder"], ret["metric"], ret["pretrain_overlap"] = "retrieval", "video+audio", "v2a_r1", 2
    rows.append(ret)
    ret5 = ret.assign(metric="v2a_r10", value=[0.9, 1.0])
    rows.append(ret5)
    paths = []
    for i, r in enumerate(rows):
        paths.append(tmp_path / f"{i}.csv")
        r.to_csv(paths[-1], index=False)
    df = write_leaderboard(paths, tmp_path / "lb.csv", tmp_path / "lb.md")
    assert df["protocol"].tolist()[:2] == ["finetune", "finetune"]  # sorted
    md = (tmp_path / "lb.md").read_text()
    assert md.index("## act (linear") < md.index("## act (finetune;") < md.index("## act (retrieval")
    assert "| avts | video | small3d | 85.0 ± 7.1 | 2 |" in md
    assert "| v2a_r1 | v2a_r10 |" in md and "| avts | video+audio | small3d | 30.0 ± 14.1 | 95.0 ± 7.1 | 2 |" in md
    assert "2 downstream test items share a source file with the pretraining set" in md


def test_markdown_lists_every_pretraining_set_with_its_runs():
    a = _rows("avts", "act", [0.5, 0.6]).assign(pretrain_clips_used=90, pretrain_clips_listed=100)
    b = _rows("sdc", "act", [0.5, 0.6]).assign(pretrain_clips_used=90, pretrain_clips_listed=100)
    c = _rows("aot_raw", "act", [0.4, 0.5]).assign(
        pretrain_data="synth_raw", pretrain_clips_used=95, pretrain_clips_listed=100
    )
    md = render_markdown(pd.concat([a, b, c], ignore_index=True))
    assert "- pretrain_data `synth` (the other runs): clips used 90, listed 100" in md
    assert "- pretrain_data `synth_raw` (`aot_raw`): clips used 95, listed 100" in md
    assert "- run_name: `t`" in md
    assert "(every run)" in render_markdown(a)
