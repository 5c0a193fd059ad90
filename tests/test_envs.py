"""envs/ganaug.yaml (for --software-deployment-method conda) agrees with pyproject.toml, and every
rule that runs code declares it. Conda itself is not run here (no conda channels offline)."""

from __future__ import annotations

import re
import sys

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet

from helpers import REPO

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    tomllib = pytest.importorskip("tomli")

ENV_FILE = REPO / "envs" / "ganaug.yaml"


def _reqs(lines) -> dict[str, Requirement]:
    out = {}
    for line in lines:
        req = Requirement(line)
        assert req.name.lower() not in out, f"{req.name} listed twice"
        out[req.name.lower()] = req
    return out


def _env() -> dict:
    env = yaml.safe_load(ENV_FILE.read_text())
    assert isinstance(env, dict) and env.get("dependencies"), f"{ENV_FILE}: no dependencies"
    return env


def _env_pip(env: dict) -> list[str]:
    pip = [d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d]
    assert len(pip) == 1, f"{ENV_FILE}: expected one `pip:` list"
    return pip[0]


def test_env_file_parses():
    env = _env()
    assert env["name"] == "ganaug"
    assert "conda-forge" in env["channels"]
    conda = [d for d in env["dependencies"] if isinstance(d, str)]
    assert "pip" in conda
    python = [d for d in conda if d.split("=")[0].strip() == "python"]
    assert len(python) == 1, conda
    version = python[0].split("=", 1)[1].strip("=")
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    assert SpecifierSet(project["requires-python"]).contains(f"{version}.0"), (version, project["requires-python"])
    # ganaug itself, from this checkout (the path is relative to envs/)
    assert "-e ../" in _env_pip(env)


def test_env_pins_equal_pyproject():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    wanted = _reqs(project["dependencies"])
    have = _reqs(line for line in _env_pip(_env()) if not line.startswith("-e "))
    assert sorted(have) == sorted(wanted), "same packages in envs/ganaug.yaml and pyproject.toml"
    for name, req in wanted.items():
        assert have[name].specifier == req.specifier, (name, str(have[name].specifier), str(req.specifier))
        assert have[name].extras == req.extras and have[name].marker == req.marker, name


def test_every_rule_declares_the_conda_env():
    common = (REPO / "workflow" / "rules" / "common.smk").read_text()
    env_path = re.search(r'^ENV = "(.+)"$', common, flags=re.M).group(1)
    # conda: paths resolve against the .smk file's directory
    assert (REPO / "workflow" / "rules" / env_path).resolve() == ENV_FILE.resolve()
    checked = []
    for smk in sorted((REPO / "workflow" / "rules").glob("*.smk")):
        for block in re.split(r"^(?=rule )", smk.read_text(), flags=re.M):
            head = re.match(r"rule (\w+):", block)
            if not head or not re.search(r"^    (script|shell|run|notebook|wrapper):", block, flags=re.M):
                continue
            assert re.search(r"^    conda:\n        ENV,?$", block, flags=re.M), (
                f"{smk.name}: rule {head.group(1)} has no `conda: ENV`"
            )
            checked.append(head.group(1))
    assert {"train_gan", "train_classifier", "gan_metrics", "classifier_report"} <= set(checked)
