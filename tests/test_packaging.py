"""What pyproject.toml claims is what .ci/run tests: the Pythons (its classifiers, from
requires-python on) and the lowest versions of every dependency (.ci/floors.txt)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.version import Version

if sys.version_info >= (3, 11):
    import tomllib
else:  # pytest needs tomli on 3.10
    import tomli as tomllib

ROOT = Path(__file__).resolve().parent.parent
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
#: Tools whose lowest version the suite does not exercise: ruff lints once, the newest.
NOT_FLOORED = {"ruff"}


def claimed_pythons() -> list[str]:
    prefix = "Programming Language :: Python :: "
    return [c[len(prefix) :] for c in PROJECT["classifiers"] if c.startswith(prefix + "3.")]


def floors_file() -> dict[str, Version]:
    pins = {}
    for line in (ROOT / ".ci" / "floors.txt").read_text(encoding="utf-8").splitlines():
        line = line.split("#")[0].strip()
        if line:
            name, _, version = line.partition("==")
            pins[name.strip().lower()] = Version(version.strip())
    return pins


def declared_floors(python: str) -> dict[str, Version]:
    """name -> the lowest version pyproject.toml allows, for what installs on ``python``."""
    requirements = [*PROJECT["dependencies"]]
    for extra in PROJECT["optional-dependencies"].values():
        requirements += extra
    floors = {}
    for text in requirements:
        req = Requirement(text)
        if req.name == "normcli" or req.name in NOT_FLOORED:
            continue
        if req.marker is not None and not req.marker.evaluate({"python_version": python}):
            continue
        lows = [s.version for s in req.specifier if s.operator == ">="]
        assert len(lows) == 1, f"{text}: give exactly one lower bound (>=)"
        floors[req.name.lower()] = Version(lows[0])
    return floors


def test_claimed_pythons_run_from_requires_python_without_gaps():
    versions = claimed_pythons()
    minors = [Version(v).minor for v in versions]
    assert versions and all(Version(v).major == 3 for v in versions)
    assert minors == list(range(minors[0], minors[0] + len(minors)))
    allowed = SpecifierSet(PROJECT["requires-python"])
    assert versions[0] in allowed
    assert f"3.{minors[0] - 1}" not in allowed  # the oldest claimed is the oldest allowed


def test_floors_file_pins_exactly_the_lowest_versions_pyproject_allows():
    assert floors_file() == declared_floors(claimed_pythons()[0])


def _fake_machine(tmp_path: Path, pythons: list[str]) -> dict[str, str]:
    """An environment where pyenv holds ``pythons`` (never run: .ci/run must stop first)
    and PATH has the tools .ci/run needs before it runs anything, but no python3.X."""
    tools = tmp_path / "bin"
    tools.mkdir()
    for tool in ("sh", "sed", "sort", "head", "tail", "ls", "dirname"):
        found = shutil.which(tool)
        assert found, tool
        (tools / tool).symlink_to(found)
    for v in pythons:
        exe = tmp_path / "pyenv" / "versions" / f"{v}.0" / "bin" / f"python{v}"
        exe.parent.mkdir(parents=True)
        exe.write_text("#!/bin/sh\nexit 99\n")
        exe.chmod(0o755)
    return {"PATH": str(tools), "PYENV_ROOT": str(tmp_path / "pyenv"), "HOME": str(tmp_path)}


@pytest.mark.parametrize("missing", ["oldest", "newest"])
def test_ci_run_fails_when_the_oldest_or_newest_claimed_python_is_missing(tmp_path, missing):
    versions = claimed_pythons()
    gone = versions[0] if missing == "oldest" else versions[-1]
    env = _fake_machine(tmp_path, [v for v in versions if v != gone])
    proc = subprocess.run(
        ["sh", str(ROOT / ".ci" / "run")],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        executable=shutil.which("sh"),
    )
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert f"Python {gone} (the oldest or newest claimed) is not on this machine" in proc.stderr
    assert proc.stdout == ""  # nothing was run
