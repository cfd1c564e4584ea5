import subprocess
from pathlib import Path

from avbench.provenance import git_revision


def _git(repo: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=repo, check=True, capture_output=True
    )


def test_git_revision_is_dirty_for_source_changes_not_for_the_workflows_results(tmp_path):
    (tmp_path / "avbench").mkdir()
    (tmp_path / "results" / "tables").mkdir(parents=True)
    (tmp_path / "avbench" / "code.py").write_text("x = 1\n")
    (tmp_path / "results" / "tables" / "t.csv").write_text("a\n1\n")
    _git(tmp_path, "init", "-q")
    _git(tmp_path, "add", ".")
    _git(tmp_path, "commit", "-qm", "init")
    rev = git_revision(tmp_path / "avbench")
    assert rev != "unknown" and not rev.endswith("+dirty")
    (tmp_path / "results" / "tables" / "t.csv").write_text("a\n2\n")  # a run rewrote a committed table
    assert git_revision(tmp_path / "avbench") == rev
    (tmp_path / "avbench" / "code.py").write_text("x = 2\n")
    assert git_revision(tmp_path / "avbench") == rev + "+dirty"
    assert git_revision(tmp_path) == rev + "+dirty"
