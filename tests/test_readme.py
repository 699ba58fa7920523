"""The README's console examples are true: each ``$ normcli ...`` line is run as a real
process, in order, in a scratch folder holding sample_data/ and tests/data/, and what it
prints is compared with what the README shows.

Numbers are compared with a relative tolerance of 1e-6 (the tables print ten
significant digits; the last ones of a figure near zero depend on summation order),
everything else token by token, whitespace and table rules aside. A line starting
``...`` in the README stands for any number of lines. Commands whose input is not made by the README
itself (``data.npz``, ``scan.h5``, a cluster at ``tcp://HEAD:8786``) are skipped, and
so is the output shown for them; so are the shell's own commands (``ls``).
"""

from __future__ import annotations

import math
import os
import re
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"

#: Rules and box-drawing characters of rich's tables, and the bars of histograms.
_RULES = re.compile(r"[┃━╇│─┏┓┗┛┡┩╭╮╰╯]+")
#: A number as normcli prints it: in a table (``1,000``, ``12.5%``, ``1.18e-08``) or in
#: JSON and CSV, where a comma or a bracket may follow it (``0.1348707910300985,``).
_NUMBER_TEXT = (
    r"[-+]?(?:(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?%?"
    r"(?![\w.])"  # not the start of a word (``5MiB``) or of a version (``1.2.3``)
)
#: Where a number starts: not inside a word (``float32``, ``run1``, ``1.2.3``).
_NUMBER_IN = re.compile(rf"(?<![\w.])({_NUMBER_TEXT})")
_NUMBER = re.compile(rf"{_NUMBER_TEXT}$")


@dataclass
class Example:
    line: int  # where the command is in README.md
    command: str
    expected: list[str] = field(default_factory=list)


def examples() -> list[Example]:
    """Every command of every ```console block, with the lines shown under it."""
    found: list[Example] = []
    lines = README.read_text(encoding="utf-8").splitlines()
    inside = False
    current: Example | None = None
    pending = ""
    for number, line in enumerate(lines, start=1):
        if line.strip() == "```console":
            inside, current = True, None
            continue
        if inside and line.strip() == "```":
            inside = False
            continue
        if not inside:
            continue
        if pending:
            pending += " " + line.strip().rstrip("\\").strip()
            if not line.rstrip().endswith("\\"):
                current.command = pending
                pending = ""
            continue
        if line.startswith("$ "):
            current = Example(number, line[2:].rstrip())
            found.append(current)
            if line.rstrip().endswith("\\"):
                pending = line[2:].rstrip().rstrip("\\").strip()
            continue
        if current is not None:
            current.expected.append(line)
    for ex in found:
        ex.command = re.sub(r"\s+#.*$", "", ex.command).strip()  # trailing comments
    return found


def _tokens(text: str) -> list[str]:
    text = _RULES.sub(" ", text)
    text = re.sub(r"[█▉▊▋▌▍▎▏]+", " ", text)  # histogram bars: their length is the count
    # every number is a token of its own, whatever punctuation touches it
    return [part for word in text.split() for part in _NUMBER_IN.split(word) if part]


def _same_token(a: str, b: str) -> bool:
    if a == b:
        return True
    if _NUMBER.match(a) and _NUMBER.match(b):
        x, y = (float(t.replace(",", "").rstrip("%")) for t in (a, b))
        return math.isclose(x, y, rel_tol=1e-6, abs_tol=1e-12)
    return False


def _matches(expected: list[str], actual: list[str]) -> bool:
    """``expected`` (with ``...`` lines matching anything) against ``actual``, by tokens."""
    exp = [line for line in expected if line.strip()]
    act = [line for line in actual if line.strip()]

    def match(i: int, j: int) -> bool:
        if i == len(exp):
            return j == len(act)
        if exp[i].startswith("..."):
            return any(match(i + 1, k) for k in range(j, len(act) + 1))
        if j == len(act):
            return False
        a, b = _tokens(exp[i]), _tokens(act[j])
        return len(a) == len(b) and all(map(_same_token, a, b)) and match(i + 1, j + 1)

    return match(0, 0)


#: Arguments naming files the README does not make (the reader's own, a cluster's).
_SKIP = ("params.json", "tcp://")


def _runnable(args: list[str], where: Path) -> bool:
    """A normcli command whose INPUT exists here (made by sample data or an earlier
    example), with no argument naming a file only the reader has."""
    if len(args) < 3 or args[0] != "normcli" or any(a in w for a in _SKIP for w in args):
        return False
    return (where / args[2]).exists()


@pytest.fixture(scope="module")
def scratch(tmp_path_factory) -> Path:
    where = tmp_path_factory.mktemp("readme")
    shutil.copytree(ROOT / "sample_data", where / "sample_data")
    shutil.copytree(ROOT / "tests" / "data", where / "tests" / "data")
    return where


def _environment() -> dict[str, str]:
    env = dict(os.environ)
    env["COLUMNS"] = "120"
    env.pop("FORCE_COLOR", None)
    env["NO_COLOR"] = "1"
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    return env


def test_readme_has_console_examples():
    found = examples()
    assert len(found) > 20
    assert all(ex.command for ex in found)


def test_every_console_example_prints_what_the_readme_shows(scratch):
    env = _environment()
    last_rc: int | None = None
    failures = []
    ran = 0
    for ex in examples():
        if ex.command == "echo $?":
            if last_rc is None:
                continue  # the command before it was skipped
            actual = [str(last_rc)]
        else:
            if not _runnable(shlex.split(ex.command), scratch):
                last_rc = None
                continue  # the shell's own commands (ls) print as the shell pleases
            proc = subprocess.run(
                ex.command,
                shell=True,
                cwd=scratch,
                env=env,
                capture_output=True,
                text=True,
                timeout=120,
            )
            last_rc = proc.returncode
            ran += 1
            shows_error = any(line.startswith("Error:") for line in ex.expected)
            actual = (proc.stdout + proc.stderr if shows_error else proc.stdout).splitlines()
            if not shows_error and proc.returncode != 0:
                failures.append(f"README.md:{ex.line}: `{ex.command}` failed:\n{proc.stderr}")
                continue
        if not _matches(ex.expected, actual):
            failures.append(
                f"README.md:{ex.line}: `{ex.command}` printed\n"
                + "\n".join(actual)
                + "\n--- the README shows ---\n"
                + "\n".join(ex.expected)
            )
    assert ran > 15
    assert not failures, "\n\n".join(failures)


@pytest.mark.parametrize(
    ("expected", "actual", "same"),
    [
        (["mean │ 1.177246822e-08"], ["mean │ 1.177246828e-08"], True),
        (["mean │ 1.177246822e-08"], ["mean │ 1.177246822e-07"], False),
        (["a", "...", "z"], ["a", "b", "c", "z"], True),
        (["a", "...", "z"], ["a", "b", "c"], False),
        (["x 1,000 of 1,000"], ["x 1,000 of 999"], False),
        (["ok  f: mean"], ["ok  f: std"], False),
        # JSON and CSV: a number followed by a comma is still compared as a number
        (['"skewness": 0.13487079103009844,'], ['"skewness": 0.13487079103009855,'], True),
        (['"skewness": 0.13487079103009844,'], ['"skewness": 0.1348707910301,'], True),
        (['"skewness": 0.13487079103009844,'], ['"skewness": 0.1348717910300984,'], False),
        (['"skewness": 0.13487079103009844,'], ['"skewness": 0.13487079103009844'], False),
        (['"count": 1000,'], ['"count": 1001,'], False),
        (["x_test,0.1348707910300984,1e-08"], ["x_test,0.13487079103009855,1.0000001e-08"], True),
        (["x_test,0.1348707910300984,1e-08"], ["x_test,0.1348707910300984,2e-08"], False),
        (["x_test,0.1348707910300984,1e-08"], ["y_test,0.1348707910300984,1e-08"], False),
        (["[0.5, -1.25]"], ["[0.50000000001, -1.2500000001]"], True),
        (["float32 run1 v1.2.3"], ["float64 run1 v1.2.3"], False),
        (["float32 run1 v1.2.3"], ["float32 run2 v1.2.3"], False),
        (['  "skewness": 0.13487079103009844,'], ['  "skewness": 0.13487079103009855,'], True),
        (["a,1000,0.5,2.75"], ["a,1000,0.5000000000001,2.75"], True),
        (["a,1000,0.5,2.75"], ["a,1000,0.6,2.75"], False),
        (["    mean=[0.42339544132759, 0.32],"], ["    mean=[0.42339544132758, 0.32],"], True),
        (["    mean=[0.42339544132759, 0.32],"], ["    mean=[0.42339544132759, 0.33],"], False),
    ],
)
def test_the_comparison_itself(expected, actual, same):
    assert _matches(expected, actual) is same
