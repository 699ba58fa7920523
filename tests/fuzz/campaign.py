"""A fuzzing campaign: many cases, at most a few worker processes, one summary.

    PYTHONPATH=tests python -m fuzz.campaign --minutes 30 --workers 2 --out fuzz-results
    PYTHONPATH=tests python -m fuzz.campaign --runs 60 --seed 1      # a fixed, deterministic list

Every case is a seed input (tests/fuzz/seeds.py), one to three mutations
(tests/fuzz/mutators.py) and one command: ``ls``, ``describe`` or ``normalize``, with
``--engine dask`` for some. The cases come from ``random.Random(seed)`` alone, so a
campaign with ``--runs`` is the same list on every machine (only the time each takes
differs). Each distinct defect keeps one minimized reproducer under ``OUT/defects/``;
``OUT/summary.json`` and ``OUT/summary.md`` count runs per format and per class.
"""

from __future__ import annotations

import argparse
import collections
import concurrent.futures
import datetime
import json
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path

from fuzz import harness, mutators
from fuzz.seeds import available, seeds

COMMANDS = [
    ["ls"],
    ["describe"],
    ["describe", "--engine", "dask"],
    ["normalize", "-m", "minmax"],
    ["normalize", "-m", "zscore", "--axis", "0"],
    ["normalize", "-m", "lp"],
    ["normalize", "-m", "per-image"],
    ["normalize", "-m", "zscore", "--engine", "dask"],
]


def make_case(rng: random.Random, usable: list[int], index: int | None = None) -> harness.Case:
    index = rng.choice(usable) if index is None else index
    fmt = seeds()[index][0]
    mutations = [] if rng.random() < 0.03 else mutators.random_mutations(fmt, rng)
    return harness.Case(index, mutations, list(rng.choice(COMMANDS)))


def cases(seed: int, count: int | None, cover: bool = False):
    """The campaign's cases, in order (endless when ``count`` is None); with ``cover``,
    the seeds are taken in turn, so that a short campaign mutates every one."""
    rng = random.Random(seed)
    all_seeds = seeds()
    usable = [i for i, s in enumerate(all_seeds) if available(s)]
    n = 0
    while count is None or n < count:
        yield make_case(rng, usable, usable[n % len(usable)] if cover else None)
        n += 1


def _work(args) -> tuple[harness.Case, harness.Outcome, str | None]:
    case, work_root, timeout, out_dir = args
    seed = seeds()[case.seed_index]
    work = Path(tempfile.mkdtemp(prefix="case-", dir=work_root))
    try:
        outcome = harness.run_case(seed, case, work, timeout)
        saved = None
        if outcome.defect:
            small = harness.minimize(seed, case, outcome, work, timeout)
            saved = str(harness.save_reproducer(seed, small, outcome, out_dir / "defects", work))
        return case, outcome, saved
    finally:
        shutil.rmtree(work, ignore_errors=True)


def run(
    seed: int,
    runs: int | None,
    minutes: float | None,
    workers: int,
    out_dir: Path,
    timeout: float = 30.0,
    echo=print,
    cover: bool = False,
) -> dict:
    out_dir.mkdir(parents=True, exist_ok=True)
    work_root = Path(tempfile.mkdtemp(prefix="normcli-fuzz-"))
    deadline = time.monotonic() + minutes * 60 if minutes else None
    per_format: collections.Counter = collections.Counter()
    per_kind: collections.Counter = collections.Counter()
    per_command: collections.Counter = collections.Counter()
    defects: dict[str, dict] = {}
    started = datetime.datetime.now(datetime.timezone.utc)
    source = cases(seed, runs, cover)
    pending = set()
    with concurrent.futures.ThreadPoolExecutor(max_workers=workers) as pool:

        def submit_next() -> bool:
            if deadline is not None and time.monotonic() > deadline:
                return False
            case = next(source, None)
            if case is None:
                return False
            pending.add(pool.submit(_work, (case, work_root, timeout, out_dir)))
            return True

        for _ in range(workers):
            submit_next()
        while pending:
            done, _ = concurrent.futures.wait(pending, return_when="FIRST_COMPLETED")
            for future in done:
                pending.discard(future)
                case, outcome, saved = future.result()
                fmt = seeds()[case.seed_index][0]
                per_format[fmt] += 1
                per_kind[outcome.kind] += 1
                per_command[" ".join(case.command)] += 1
                if outcome.defect:
                    entry = defects.setdefault(
                        outcome.signature, {"count": 0, "reproducer": saved, "format": fmt}
                    )
                    entry["count"] += 1
                    if entry["count"] == 1:
                        echo(f"DEFECT {outcome.signature}: {saved}")
                submit_next()
    shutil.rmtree(work_root, ignore_errors=True)
    summary = {
        "date": started.strftime("%Y-%m-%d %H:%M UTC"),
        "seed": seed,
        "runs": sum(per_format.values()),
        "minutes": round((datetime.datetime.now(datetime.timezone.utc) - started).seconds / 60, 1),
        "workers": workers,
        "runs_per_format": dict(sorted(per_format.items())),
        "outcomes": dict(sorted(per_kind.items())),
        "runs_per_command": dict(sorted(per_command.items())),
        "defects": defects,
    }
    (out_dir / "summary.json").write_text(json.dumps(summary, indent=2))
    (out_dir / "summary.md").write_text(markdown(summary))
    return summary


def markdown(summary: dict) -> str:
    lines = [
        f"# normcli fuzzing campaign, {summary['date']}",
        "",
        f"{summary['runs']} runs in {summary['minutes']} minutes ({summary['workers']} workers, "
        f"seed {summary['seed']}); {len(summary['defects'])} distinct defects.",
        "",
        "| format | runs |",
        "| --- | ---: |",
        *(f"| {k} | {v} |" for k, v in summary["runs_per_format"].items()),
        "",
        "| outcome | runs |",
        "| --- | ---: |",
        *(f"| {k} | {v} |" for k, v in summary["outcomes"].items()),
        "",
    ]
    for sig, d in summary["defects"].items():
        lines.append(f"- {sig} ({d['count']} runs): {d['reproducer']}")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seed", type=int, default=None, help="default: from the clock")
    p.add_argument("--runs", type=int, default=None)
    p.add_argument("--minutes", type=float, default=None)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--timeout", type=float, default=30.0)
    p.add_argument("--out", type=Path, default=Path("fuzz-results"))
    a = p.parse_args(argv)
    if a.runs is None and a.minutes is None:
        a.minutes = 10
    seed = a.seed if a.seed is not None else int(time.time())
    summary = run(seed, a.runs, a.minutes, a.workers, a.out, a.timeout)
    sys.stdout.write(markdown(summary))
    sys.stdout.write(f"summary written to {a.out / 'summary.md'}\n")
    return 1 if summary["defects"] else 0


if __name__ == "__main__":
    sys.exit(main())
