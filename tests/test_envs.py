"""envs/avbench.yaml (for `--software-deployment-method conda`) lists what pyproject.toml pins."""

from pathlib import Path
import tomllib

import yaml

REPO = Path(__file__).resolve().parents[1]


def test_conda_env_matches_pyproject():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    env = yaml.safe_load((REPO / "envs" / "avbench.yaml").read_text())
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d)
    requirements = {r.replace(" ", "") for r in pip if not r.startswith("-")}
    assert requirements == {r.replace(" ", "") for r in project["dependencies"]}
    assert "--editable .." in pip
