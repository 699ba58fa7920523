"""normcli benchmarks: normcli beside its anchors, in one run, on this machine.

Every case runs in a fresh Python process (so peak RSS is its own) a few times; the
table shows the median seconds, GB/s of input, peak RSS and the ratio to the anchor.
Inputs are built under bench/work/ (git-ignored). The table is printed and written
to bench/results.md so the README can quote it with its date and machine.

    python bench/run.py                 # everything
    python bench/run.py --only describe # one group
    python bench/run.py --repeat 5
    python bench/run.py --only dask --big-mib 16 --repeat 1   # check the cases quickly

Only the inputs the selected groups need are built. ``--big-mib`` sets the size of the
float32 input of the zscore and dask groups (1024, the published figure, by default;
another size gets a file of its own and results.md is not written).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
WORK = HERE / "work"

# Runs ``setup`` untimed, then ``work`` timed; prints seconds and peak RSS as JSON.
RUNNER = textwrap.dedent(
    """
    import json, sys, time
    {setup}
    t0 = time.perf_counter()
    {work}
    seconds = time.perf_counter() - t0
    # VmHWM is this process's own peak (ru_maxrss would include the parent's, from fork)
    with open("/proc/self/status") as status:
        rss = next(int(line.split()[1]) * 1024 for line in status if line.startswith("VmHWM"))
    print(json.dumps({{"seconds": seconds, "rss": rss}}), file=sys.stderr)
    """
)

NORMCLI = "from normcli.cli import cli\n"


def normcli_work(*args: str) -> str:
    return f"cli.main(args={list(args)!r}, prog_name='normcli', standalone_mode=False)"


@dataclass
class Case:
    group: str
    name: str
    setup: str
    work: str
    input_bytes: int
    anchor: str | None = None  # name of the case this one is compared with

    def run(self) -> dict:
        code = RUNNER.format(setup=self.setup, work=self.work)
        proc = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, cwd=WORK
        )
        if proc.returncode != 0:
            raise SystemExit(f"{self.name} failed:\n{proc.stderr}")
        return json.loads(proc.stderr.strip().splitlines()[-1])


def build_inputs(groups: set[str], big_mib: int = 1024) -> dict[str, Path]:
    WORK.mkdir(exist_ok=True)
    rng = np.random.default_rng(0)
    paths = {}
    if "describe" in groups:
        mnist_f32 = WORK / "mnist_f32.npy"
        if not mnist_f32.exists():
            x = rng.random((60000, 28, 28), dtype=np.float32)
            x[x < 0.8] = 0  # mostly zeros, like MNIST
            np.save(mnist_f32, x)
        paths["mnist_f32"] = mnist_f32
        mnist_u8 = WORK / "mnist_u8.npy"
        if not mnist_u8.exists():
            np.save(mnist_u8, (np.load(mnist_f32) * 255).astype(np.uint8))
        paths["mnist_u8"] = mnist_u8
    if groups & {"zscore", "dask"}:
        big = WORK / ("big_f32.npy" if big_mib == 1024 else f"big_f32_{big_mib}MiB.npy")
        if not big.exists():
            # float32 rows of 1024 values, written in pieces so building needs little memory
            from numpy.lib.format import open_memmap

            rows, cols = (big_mib << 20) // (4 * 1024), 1024
            mm = open_memmap(big, mode="w+", dtype=np.float32, shape=(rows, cols))
            for start in range(0, rows, 16384):
                part = rng.normal(100.0, 15.0, size=(min(16384, rows - start), cols))
                mm[start : start + len(part)] = part
            mm.flush()
            del mm
        paths["big_f32"] = big
    return paths


def cases(paths: dict[str, Path]) -> list[Case]:
    out = []
    if "mnist_f32" in paths:
        out += describe_cases(paths)
    if "big_f32" in paths:
        out += zscore_cases(paths) + dask_cases(paths)
    return out


def describe_cases(paths: dict[str, Path]) -> list[Case]:
    f32, u8 = paths["mnist_f32"], paths["mnist_u8"]
    out = []
    for label, path in (("float32", f32), ("uint8", u8)):
        size = path.stat().st_size
        # scipy cannot describe uint8 over axis=None (its count overflows the dtype):
        # the anchor converts to float64 first, as a user must.
        convert = ".astype(np.float64)" if label == "uint8" else ""
        anchor = f"scipy.stats.describe, {label} in memory" + (" (as float64)" if convert else "")
        out.append(
            Case(
                "describe",
                anchor,
                f"import numpy as np, scipy.stats\nx = np.load({str(path)!r})",
                f"scipy.stats.describe(x{convert}, axis=None)",
                size,
            )
        )
        out.append(
            Case(
                "describe",
                f"normcli describe, {label} .npy",
                NORMCLI,
                normcli_work("describe", str(path), "--json"),
                size,
                anchor=anchor,
            )
        )
    return out


def zscore_cases(paths: dict[str, Path]) -> list[Case]:
    out = []
    big = paths["big_f32"]
    size = big.stat().st_size
    out_path = WORK / "out.npy"
    remove = f"import os\nif os.path.exists({str(out_path)!r}): os.remove({str(out_path)!r})\n"
    out.append(
        Case(
            "zscore",
            "I/O floor: read + write the same bytes (64 MiB chunks)",
            remove,
            textwrap.dedent(
                f"""
                with open({str(big)!r}, 'rb', buffering=0) as src, \\
                        open({str(out_path)!r}, 'wb') as dst:
                    buf = bytearray(64 << 20)
                    view = memoryview(buf)
                    while n := src.readinto(buf):
                        dst.write(view[:n])
                """
            ),
            size,
        )
    )
    out.append(
        Case(
            "zscore",
            "numpy script: load, (x - mean) / std, save",
            remove + "import numpy as np\n",
            f"x = np.load({str(big)!r})\n"
            "x = ((x - x.mean(dtype=np.float64)) / x.std(dtype=np.float64)).astype(np.float32)\n"
            f"np.save({str(out_path)!r}, x)",
            size,
        )
    )
    out.append(
        Case(
            "zscore",
            "normcli normalize -m zscore (global)",
            remove + NORMCLI,
            normcli_work("normalize", str(big), str(out_path), "-m", "zscore", "-q"),
            size,
            anchor="numpy script: load, (x - mean) / std, save",
        )
    )
    return out


def dask_cases(paths: dict[str, Path]) -> list[Case]:
    """The dask engine beside the local one: the same zscore, the same .zarr output.

    The dask times include importing dask and starting its workers (about a second
    for threads, a few for local:2 processes), as a user running the command sees."""
    big = paths["big_f32"]
    size = big.stat().st_size
    store = WORK / "out.zarr"
    remove = f"import shutil\nshutil.rmtree({str(store)!r}, ignore_errors=True)\n"
    zscore = ("normalize", str(big), str(store), "-m", "zscore", "-q")
    local = "normcli normalize -m zscore -> .zarr, local engine"
    out = [
        Case(
            "dask",
            "normcli describe, local engine",
            NORMCLI,
            normcli_work("describe", str(big), "--json"),
            size,
        ),
        Case(
            "dask",
            "normcli describe, --engine dask (threads)",
            NORMCLI,
            normcli_work("describe", str(big), "--json", "--engine", "dask"),
            size,
            anchor="normcli describe, local engine",
        ),
        Case("dask", local, remove + NORMCLI, normcli_work(*zscore), size),
    ]
    for label, extra in (
        ("threads", ("--engine", "dask")),
        ("local:2 worker processes", ("--engine", "dask", "--scheduler", "local:2")),
    ):
        out.append(
            Case(
                "dask",
                f"normcli normalize -m zscore -> .zarr, --engine dask ({label})",
                remove + NORMCLI,
                normcli_work(*zscore, *extra),
                size,
                anchor=local,
            )
        )
    return out


def fmt_row(case: Case, result: dict, anchor: dict | None) -> str:
    gbs = case.input_bytes / result["seconds"] / 1e9
    ratio = f"{result['seconds'] / anchor['seconds']:.2f}" if anchor else ""
    return (
        f"| {case.group} | {case.name} | {result['seconds']:.3f} | {gbs:.2f} | "
        f"{result['rss'] / 2**20:.0f} | {ratio} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", help="run one group (describe, ...)")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--big-mib", type=int, default=1024, help="size of the float32 input")
    args = parser.parse_args()
    groups = {args.only} if args.only else {"describe", "zscore", "dask"}
    paths = build_inputs(groups, args.big_mib)
    selected = [c for c in cases(paths) if c.group in groups]
    results: dict[str, dict] = {}
    for case in selected:
        runs = [case.run() for _ in range(args.repeat)]
        results[case.name] = {
            "seconds": statistics.median(r["seconds"] for r in runs),
            "rss": max(r["rss"] for r in runs),
        }
        print(f"{case.name}: {results[case.name]['seconds']:.3f} s", file=sys.stderr)
    lines = [
        f"Measured {datetime.date.today().isoformat()} on {platform.machine()}, "
        f"{os.cpu_count()} cores, Python {platform.python_version()}, numpy {np.__version__}; "
        f"median of {args.repeat} runs, each in a fresh process.",
        "",
        "| group | case | seconds | GB/s of input | peak RSS (MiB) | time / anchor |",
        "| --- | --- | ---: | ---: | ---: | ---: |",
    ]
    for case in selected:
        anchor = results.get(case.anchor) if case.anchor else None
        lines.append(fmt_row(case, results[case.name], anchor))
    table = "\n".join(lines) + "\n"
    print(table)
    if not args.only and args.big_mib == 1024:
        (HERE / "results.md").write_text(table)


if __name__ == "__main__":
    main()
