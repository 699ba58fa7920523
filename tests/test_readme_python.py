"""The README's Python examples are true: every ```pycon block is run as a doctest, in
order and in one namespace, in a scratch folder holding sample_data/, by a real Python
process (``import normcli`` as a user does)."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"

RUNNER = """
import doctest, sys
text = open(sys.argv[1], encoding="utf-8").read()
parser = doctest.DocTestParser()
test = parser.get_doctest(text, {}, "README.md", "README.md", 0)
flags = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
runner = doctest.DocTestRunner(optionflags=flags)
runner.run(test)
result = runner.summarize(verbose=False)
print(f"{result.attempted} examples, {result.failed} failed")
sys.exit(1 if result.failed or not result.attempted else 0)
"""


def pycon_blocks() -> list[str]:
    text = README.read_text(encoding="utf-8")
    return re.findall(r"^```pycon\n(.*?)^```", text, flags=re.S | re.M)


def test_the_readme_has_python_examples():
    assert len(pycon_blocks()) >= 3
    assert sum(block.count(">>> ") for block in pycon_blocks()) >= 15


def test_the_readme_python_examples_run(tmp_path):
    shutil.copytree(ROOT / "sample_data", tmp_path / "sample_data")
    (tmp_path / "examples.txt").write_text("\n".join(pycon_blocks()), encoding="utf-8")
    (tmp_path / "run.py").write_text(RUNNER, encoding="utf-8")
    r = subprocess.run(
        [sys.executable, "run.py", "examples.txt"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stderr == "", r.stderr  # no warning for a clean example
