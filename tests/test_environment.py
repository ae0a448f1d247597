"""pyproject.toml (pip route) and environment.yml (conda route) list the same packages."""

import re
import tomllib

import yaml

from .conftest import REPO_ROOT


def normalise(requirement: str) -> tuple[str, str]:
    name, spec = re.match(r"^\s*([A-Za-z0-9_.\-]+)\s*(.*)$", requirement).groups()
    name = name.lower().replace("_", "-")
    return name, spec.replace(" ", "")


def test_pip_and_conda_lists_match():
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]
    pip = dict(
        normalise(r) for r in project["dependencies"] + project["optional-dependencies"]["dev"]
    )
    conda_file = yaml.safe_load((REPO_ROOT / "environment.yml").read_text())
    conda = dict(
        normalise(d)
        for d in conda_file["dependencies"]
        if isinstance(d, str) and not d.startswith(("python", "pip"))
    )
    # Packages conda-forge does not carry are installed by pip inside the environment.
    extra = next(d["pip"] for d in conda_file["dependencies"] if isinstance(d, dict))
    conda.update(normalise(d) for d in extra if not d.startswith("-"))
    conda = {name.replace("_", "-"): spec for name, spec in conda.items()}
    assert pip == conda


def test_python_floor_matches():
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]
    conda = yaml.safe_load((REPO_ROOT / "environment.yml").read_text())["dependencies"]
    assert project["requires-python"] == ">=3.11"
    assert "python>=3.11" in conda
