"""The pinned environment: envs/requirements.lock pins every dependency of pyproject.toml to one
version inside its range, and envs/avbench.yaml (for `--software-deployment-method conda`) and the
Makefile install from it."""

from pathlib import Path
import tomllib

import yaml
from packaging.requirements import Requirement

REPO = Path(__file__).resolve().parents[1]


def _lock() -> dict[str, str]:
    out = {}
    for line in (REPO / "envs" / "requirements.lock").read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            name, sep, version = line.partition("==")
            assert sep, f"not pinned with ==: {line}"
            out[name.lower().replace("_", "-")] = version
    return out


def test_lock_pins_every_dependency_inside_its_range():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    lock = _lock()
    deps = project["dependencies"] + project["optional-dependencies"]["dev"]
    for dep in deps:
        req = Requirement(dep)
        name = req.name.lower().replace("_", "-")
        assert name in lock, f"{name} is not pinned in envs/requirements.lock"
        assert req.specifier.contains(lock[name], prereleases=True), f"{name}=={lock[name]} is outside {req.specifier}"


def test_conda_env_and_makefile_install_the_lock():
    env = yaml.safe_load((REPO / "envs" / "avbench.yaml").read_text())
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d)
    assert pip == ["-r requirements.lock", "--editable .."]
    make = (REPO / "Makefile").read_text()
    assert "pip install -r envs/requirements.lock" in make and "pip install --no-deps -e ." in make
