"""Interrupt a real `normcli normalize` at chunk boundaries and check what it leaves.

    python tests/interrupt_run.py            # SIGINT at every point, .npy output
    python tests/interrupt_run.py --all      # every output format, SIGINT and SIGTERM

Each run is a real process (tests/signal_shim.py, which sends the signal to itself at
the chosen point) normalizing a multi-chunk input over a previous OUTPUT with --force.
What must hold every time:

- the exit code is 130 (SIGINT) or 143 (SIGTERM), stderr is one line ``Error: ...``;
- before the finished OUTPUT is moved into place: the previous OUTPUT is byte-identical;
  once it is (the signal then waits for the move to end): OUTPUT is the complete new
  one, byte-identical to an uninterrupted run, and the message says so;
- nothing else is left in OUTPUT's folder: no ``.NAME.normcli-XXXX.tmp`` file or folder.

tests/test_safety.py drives :func:`check` for CI; run this file to see every case.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
SHIM = HERE / "signal_shim.py"

#: (64, 32, 32) float32 = 256 KiB in chunks of 32 KiB: 8 chunks per pass.
SHAPE = (64, 32, 32)
CHUNK = "32KiB"
CHUNKS = 8
#: Where the signal is sent: reading pass 1, writing the first, a middle and the last
#: chunk, inside a destructor (Python loses the exception), as the commit starts,
#: inside the final rename, and while printing.
POINTS = ["read:1", "write:0", f"write:{CHUNKS // 2}", "write:last", "swallowed:2", "commit",
          "rename", "rendered"]  # fmt: skip
#: Points after which OUTPUT is complete (the signal is held until it is in place).
COMMITTED = {"commit", "rename", "rendered"}
FORMATS = {
    "npy": ("out.npy", ["-m", "zscore"]),
    "npz": ("out.npz", ["-m", "zscore"]),
    "h5": ("out.h5", ["-m", "zscore"]),
    "zarr": ("out.zarr", ["-m", "zscore"]),
    "images": ("out/", ["-m", "per-image"]),
}
SIGNALS = {"INT": 130, "TERM": 143}


@dataclass
class Outcome:
    fmt: str
    point: str
    sig: str
    ok: bool
    detail: str


def tree(path: Path) -> dict[str, bytes]:
    found = {}
    for dirpath, _, filenames in os.walk(path):
        for name in filenames:
            p = Path(dirpath) / name
            found[str(p.relative_to(path))] = p.read_bytes()
    return found


def normcli(*args, shim: tuple[str, str] | None = None, cwd: Path) -> subprocess.CompletedProcess:
    prefix = [str(SHIM), *shim, "--"] if shim else ["-m", "normcli"]
    return subprocess.run(
        [sys.executable, *prefix, *map(str, args)], capture_output=True, text=True, cwd=cwd
    )


class Bench:
    """An input, and per format the previous OUTPUT and an uninterrupted run's OUTPUT."""

    def __init__(self, root: Path):
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        self.input = root / "in.npy"
        if not self.input.exists():
            x = np.random.default_rng(0).random(SHAPE, dtype=np.float32)
            np.save(self.input, x)
        self._made: dict[str, tuple[dict, dict]] = {}

    def outputs(self, fmt: str) -> tuple[dict, dict]:
        """(previous OUTPUT's files, the uninterrupted new OUTPUT's files)."""
        if fmt not in self._made:
            name, opts = FORMATS[fmt]
            trees = []
            for label, method in (
                ("previous", ["-m", "minmax", "--range", "-1", "1"]),
                ("new", opts),
            ):
                d = self.root / f"{fmt}-{label}"
                shutil.rmtree(d, ignore_errors=True)
                d.mkdir()
                p = normcli("normalize", self.input, name, *method, "--chunk-size", CHUNK, cwd=d)
                if p.returncode != 0:
                    raise RuntimeError(p.stderr)
                trees.append(tree(d))
            self._made[fmt] = (trees[0], trees[1])
        return self._made[fmt]


def check(bench: Bench, fmt: str, point: str, sig: str = "INT") -> Outcome:
    """One interrupted run over a previous OUTPUT; what it left, judged."""
    previous, new = bench.outputs(fmt)
    name, opts = FORMATS[fmt]
    d = bench.root / f"{fmt}-{point.replace(':', '-')}-{sig}"
    shutil.rmtree(d, ignore_errors=True)
    shutil.copytree(bench.root / f"{fmt}-previous", d)
    p = normcli("normalize", bench.input, name, *opts, "--chunk-size", CHUNK, "--force",
                shim=(sig, point), cwd=d)  # fmt: skip
    problems = []
    if p.returncode != SIGNALS[sig]:
        problems.append(f"exit {p.returncode}, not {SIGNALS[sig]}")
    lines = p.stderr.strip().splitlines()
    if len(lines) != 1 or not lines[0].startswith("Error: ") or "Traceback" in p.stderr:
        problems.append(f"stderr is not one Error line: {p.stderr!r}")
    left = tree(d)
    committed = point in COMMITTED
    if committed:
        if "written completely" not in p.stderr:
            problems.append("the message does not say OUTPUT was written")
        if left != new:
            problems.append(f"OUTPUT is not the complete new one: {sorted(left)[:4]}")
    else:
        if "nothing was written" not in p.stderr:
            problems.append("the message does not say nothing was written")
        if left != previous:
            extra = sorted(set(left) - set(previous))
            problems.append(f"the previous OUTPUT changed; extra files: {extra[:4]}")
    return Outcome(fmt, point, sig, not problems, "; ".join(problems) or lines[0])


def main(argv: list[str]) -> int:
    import tempfile

    every = "--all" in argv
    with tempfile.TemporaryDirectory() as tmp:
        bench = Bench(Path(tmp))
        outcomes = [
            check(bench, fmt, point, sig)
            for fmt in (FORMATS if every else ["npy"])
            for sig in (SIGNALS if every else ["INT"])
            for point in POINTS
        ]
    for o in outcomes:
        print(f"{'ok ' if o.ok else 'BAD'} {o.fmt:6} SIG{o.sig:4} {o.point:10} {o.detail}")
    bad = sum(not o.ok for o in outcomes)
    print(f"{len(outcomes) - bad} of {len(outcomes)} interrupted runs left nothing behind")
    return 1 if bad else 0


if __name__ == "__main__":
    signal.signal(signal.SIGINT, signal.default_int_handler)
    sys.exit(main(sys.argv[1:]))
