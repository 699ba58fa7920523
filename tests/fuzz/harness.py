"""One fuzz run: build a seed, mutate it, run a normcli command as a real process with a
timeout, and classify what happened.

Classes of a run:

- ``ok``: exit 0, valid JSON on stdout (every command runs with ``--json``);
- ``clean-error``: exit 1 or 2, exactly one stderr line ``Error: ...``, no traceback;
- a defect: ``traceback``, ``hang`` (no exit within the timeout; ``hang-after-sigterm``
  when SIGTERM does not end it either), ``signal`` (killed by a signal: a crash),
  ``leftovers`` (OUTPUT or a temporary file left after an error, or a temporary file
  after success), ``input-modified``, ``extra-stderr`` (lines besides the one error
  line), ``exit-code`` (anything but 0, 1, 2), ``bad-json``, ``memory`` (peak RSS above
  :data:`RSS_LIMIT_MB` for these tiny inputs).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from fuzz import mutators
from fuzz.seeds import Seed

RSS_LIMIT_MB = 500
OK, CLEAN = "ok", "clean-error"


@dataclass
class Case:
    """A seed, the mutations applied to it, and the command run on the result."""

    seed_index: int
    mutations: list[dict]
    command: list[str]  # e.g. ["describe"], ["normalize", "-m", "zscore", "--engine", "dask"]


@dataclass
class Outcome:
    kind: str
    returncode: int | None
    stderr: str
    rss_mb: float
    seconds: float
    signature: str = ""
    details: list[str] = field(default_factory=list)

    @property
    def defect(self) -> bool:
        return self.kind not in (OK, CLEAN)


def snapshot(root: Path) -> dict[str, str]:
    """Every entry under ``root`` (hidden ones too), links and pipes not followed."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            p = Path(dirpath, name)
            rel = str(p.relative_to(root))
            if p.is_symlink():
                out[rel] = "-> " + os.readlink(p)
            elif p.is_dir():
                out[rel] = "dir"
            elif p.is_file():
                out[rel] = hashlib.sha256(p.read_bytes()).hexdigest()
            else:
                out[rel] = "special"
    return out


#: The array normalize is pointed at in inputs that hold several.
KEYS = {"npz": "x", "hdf5": "x", "zarr": "x", "png": "images", "jpeg": "images"}
KEYS["tiff"] = "images"


def argv(case: Case, fmt: str, input_path: Path, out_dir: Path) -> list[str]:
    name, *rest = case.command
    if name == "normalize":
        key = ["-k", KEYS[fmt]] if fmt in KEYS else []
        out = str(out_dir / "out.npz")
        return ["normalize", str(input_path), out, *key, *rest, "--json"]
    return [name, str(input_path), *rest, "--json"]


def run_process(
    args: list[str], cwd: Path, timeout: float
) -> tuple[int | None, str, str, float, str]:
    """Run ``python -m normcli ARGS``; returns (returncode or None, stdout, stderr, peak
    RSS in MB, how it ended: exited, hang, hang-after-sigterm)."""
    out_f = open(cwd / ".fuzz-stdout", "w+b")  # noqa: SIM115
    err_f = open(cwd / ".fuzz-stderr", "w+b")  # noqa: SIM115
    env = dict(os.environ, PYTHONFAULTHANDLER="", NORMCLI_FUZZ="1")
    proc = subprocess.Popen(
        [sys.executable, "-m", "normcli", *args],
        stdout=out_f,
        stderr=err_f,
        stdin=subprocess.DEVNULL,
        cwd=cwd,
        env=env,
        start_new_session=True,
    )
    deadline = time.monotonic() + timeout
    ended, status, rusage = "exited", None, None
    while True:
        pid, status, rusage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            break
        if time.monotonic() > deadline:
            if ended == "exited":
                ended = "hang"
                os.kill(proc.pid, signal.SIGTERM)
                deadline = time.monotonic() + 5
            else:
                ended = "hang-after-sigterm"
                os.killpg(proc.pid, signal.SIGKILL)
                pid, status, rusage = os.wait4(proc.pid, 0)
                break
        time.sleep(0.02)
    proc.returncode = 0  # reaped above; keep Popen from waiting again
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)  # any helper process it left
    code = os.waitstatus_to_exitcode(status)
    out_f.seek(0)
    err_f.seek(0)
    stdout = out_f.read().decode("utf-8", "replace")
    stderr = err_f.read().decode("utf-8", "replace")
    out_f.close()
    err_f.close()
    (cwd / ".fuzz-stdout").unlink()
    (cwd / ".fuzz-stderr").unlink()
    return code, stdout, stderr, rusage.ru_maxrss / 1024, ended


def signature(kind: str, fmt: str, command: list[str], stderr: str) -> str:
    """What makes two defects the same: the class, and for a traceback the exception and
    the deepest frame in normcli (or in the library)."""
    if kind == "traceback":
        frames = re.findall(r'File "([^"]+)", line \d+, in (\S+)', stderr)
        ours = [f for f in frames if "/normcli/" in f[0]]
        where = ours[-1] if ours else (frames[-1] if frames else ("?", "?"))
        exc = re.findall(
            r"^(\w[\w.]*(?:Error|Exception|Warning|error|Exit|Interrupt))", stderr, re.M
        )
        return f"traceback {exc[-1] if exc else '?'} at {Path(where[0]).name}:{where[1]}"
    engine = "dask" if "dask" in command else "local"
    return f"{kind} {fmt} {command[0]} {engine}"


def classify(
    code, stdout, stderr, rss, ended, before, after_in, leftovers, input_changed
) -> tuple[str, list[str]]:
    details = []
    lines = [ln for ln in stderr.splitlines() if ln.strip()]
    if ended != "exited":
        return ended, details
    if "Traceback (most recent call last)" in stderr:
        return "traceback", details
    if code is not None and code < 0:
        return "signal", [f"signal {-code}"]
    if input_changed:
        return "input-modified", input_changed
    if rss > RSS_LIMIT_MB:
        return "memory", [f"{rss:.0f} MB"]
    if code == 0:
        if leftovers:
            return "leftovers", leftovers
        try:
            json.loads(stdout)
        except ValueError:
            return "bad-json", [stdout[:200]]
        return OK, details
    if code in (1, 2):
        if leftovers:
            return "leftovers", leftovers
        # normcli's own warnings may come first; the error line must be the only other
        # line, and the last
        others = [ln for ln in lines if not ln.startswith("Warning: ")]
        if len(others) != 1 or not others[0].startswith("Error: ") or lines[-1] != others[0]:
            return "extra-stderr", lines[:5]
        return CLEAN, details
    return "exit-code", [f"exit {code}"]


def run_case(seed: Seed, case: Case, work: Path, timeout: float = 30.0) -> Outcome:
    """Build, mutate, run and classify ``case`` in the fresh directory ``work``."""
    fmt = seed[0]
    shutil.rmtree(work, ignore_errors=True)
    src = work / "in"
    out_dir = work / "out"
    src.mkdir(parents=True)
    out_dir.mkdir()
    input_path = seed[2](src)
    for m in case.mutations:
        mutators.apply(input_path, fmt, m)
    before = snapshot(src)
    start = time.monotonic()
    args = argv(case, fmt, input_path, out_dir)
    code, stdout, stderr, rss, ended = run_process(args, work, timeout)
    seconds = time.monotonic() - start
    after = snapshot(src)
    changed = sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k))
    produced = sorted(snapshot(out_dir))
    if code == 0:
        leftovers = [p for p in produced if p != "out.npz" and not p.startswith("out.npz/")]
    else:
        leftovers = produced
    kind, details = classify(code, stdout, stderr, rss, ended, before, after, leftovers, changed)
    sig = "" if kind in (OK, CLEAN) else signature(kind, fmt, case.command, stderr)
    return Outcome(kind, code, stderr[-4000:], rss, seconds, sig, details)


def minimize(seed: Seed, case: Case, outcome: Outcome, work: Path, timeout: float) -> Case:
    """The shortest list of the case's mutations (one alone, then pairs) that still shows
    the same defect signature."""
    if len(case.mutations) <= 1:
        return case
    for m in case.mutations:
        trial = Case(case.seed_index, [m], case.command)
        if run_case(seed, trial, work, timeout).signature == outcome.signature:
            return trial
    return case


def save_reproducer(seed: Seed, case: Case, outcome: Outcome, into: Path, work: Path) -> Path:
    """Keep the mutated input and what to run on it, in ``into/<signature slug>/``."""
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "-", outcome.signature).strip("-")[:100]
    target = into / slug
    if target.exists():
        return target
    shutil.rmtree(work, ignore_errors=True)
    (work / "in").mkdir(parents=True)
    input_path = seed[2](work / "in")
    for m in case.mutations:
        mutators.apply(input_path, seed[0], m)
    target.mkdir(parents=True)
    with contextlib.suppress(shutil.Error, OSError):  # a FIFO cannot be copied: see repro.json
        shutil.copytree(work / "in", target / "in", symlinks=True)
    record = {
        "signature": outcome.signature,
        "format": seed[0],
        "seed": seed[1],
        "case": asdict(case),
        "command": ["normcli", *argv(case, seed[0], Path("in") / input_path.name, Path("out"))],
        "outcome": asdict(outcome),
    }
    (target / "repro.json").write_text(json.dumps(record, indent=2, default=str))
    return target
