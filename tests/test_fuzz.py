"""The in-suite fuzzing campaign: a short, seeded, deterministic list of mutated inputs
of every format (tests/fuzz/), each run through ``ls``, ``describe`` or ``normalize``
(some with ``--engine dask``) as a real process with a timeout. Every run must end
either OK (exit 0, valid JSON) or as one clean ``Error:`` line, with the input
untouched, nothing left behind, no hang and a small peak memory. ``make fuzz`` runs
the long, random campaign (see README, Safety).
"""

from __future__ import annotations

import json

import pytest
from fuzz import campaign, harness, mutators
from fuzz.seeds import available, seeds

#: Cases of the in-suite campaign (about a minute on two cores) and its seed.
RUNS = 48
SEED = 15


@pytest.mark.slow
def test_the_seeded_campaign_finds_no_defect(tmp_path):
    summary = campaign.run(
        SEED, RUNS, None, 2, tmp_path, timeout=60, cover=True, echo=lambda m: None
    )
    assert summary["runs"] == RUNS
    usable = {s[0] for s in seeds() if available(s)}
    assert set(summary["runs_per_format"]) == usable  # every format was mutated
    assert summary["defects"] == {}, json.dumps(summary["defects"], indent=1) + "".join(
        (tmp_path / "defects" / d / "repro.json").read_text()
        for d in sorted(p.name for p in (tmp_path / "defects").iterdir())
    )


def test_the_campaign_is_the_same_list_on_every_run():
    a = list(campaign.cases(SEED, 30, cover=True))
    b = list(campaign.cases(SEED, 30, cover=True))
    assert a == b
    assert len({json.dumps(c.mutations) for c in a}) > 20


def test_every_seed_is_valid_input(tmp_path):
    """The seeds themselves read cleanly: a mutation, not the seed, makes a case hostile."""
    from concurrent.futures import ThreadPoolExecutor

    def check(index):
        seed = seeds()[index]
        case = harness.Case(index, [], ["describe"])
        return seed, harness.run_case(seed, case, tmp_path / str(index), timeout=60)

    usable = [i for i, s in enumerate(seeds()) if available(s)]
    with ThreadPoolExecutor(2) as pool:
        for seed, outcome in pool.map(check, usable):
            assert outcome.kind == harness.OK, (seed[:2], outcome.stderr)


def test_the_classifier_sees_each_kind_of_defect():
    """The harness's verdicts, on made-up process results (so that a broken classifier
    cannot pass the campaign vacuously)."""
    c = harness.classify
    assert c(0, "{}", "", 50, "exited", {}, {}, [], [])[0] == "ok"
    assert c(1, "", "Error: bad\n", 50, "exited", {}, {}, [], [])[0] == "clean-error"
    assert c(1, "", "Warning: w\nError: bad\n", 50, "exited", {}, {}, [], [])[0] == "clean-error"
    tb = (
        'Error: x\nTraceback (most recent call last):\n  File "a.py", line 1, in f\nValueError: v\n'
    )
    assert c(1, "", tb, 50, "exited", {}, {}, [], [])[0] == "traceback"
    assert c(1, "", "Error: bad\nTask was destroyed\n", 50, "exited", {}, {}, [], [])[0] == (
        "extra-stderr"
    )
    assert c(None, "", "", 50, "hang", {}, {}, [], [])[0] == "hang"
    assert c(-11, "", "", 50, "exited", {}, {}, [], [])[0] == "signal"
    assert c(1, "", "Error: x\n", 50, "exited", {}, {}, [".o.normcli-x.tmp"], [])[0] == "leftovers"
    assert c(0, "{}", "", 50, "exited", {}, {}, [], ["a.npy"])[0] == "input-modified"
    assert c(0, "{}", "", 900, "exited", {}, {}, [], [])[0] == "memory"
    assert c(3, "", "Error: x\n", 50, "exited", {}, {}, [], [])[0] == "exit-code"
    assert c(0, "not json", "", 50, "exited", {}, {}, [], [])[0] == "bad-json"


def test_a_defect_is_found_and_kept_with_a_minimized_reproducer(tmp_path, monkeypatch):
    """Pointed at a command that really crashes (a traceback from an impossible key), the
    harness records the defect and keeps one reproducer with the single mutation that
    matters."""
    index, seed = next((i, s) for i, s in enumerate(seeds()) if s[0] == "npy")
    case = harness.Case(
        index, [{"op": "bitflip", "seed": 1}, {"op": "truncate", "seed": 2}], ["describe"]
    )
    monkeypatch.setattr(
        harness,
        "run_process",
        lambda args, cwd, timeout: (
            1,
            "",
            'Traceback (most recent call last):\n  File "/x/normcli/io/npy.py", line 3, in f\n'
            "struct.error: unpack\n",
            40.0,
            "exited",
        ),
    )
    outcome = harness.run_case(seed, case, tmp_path / "w")
    assert outcome.defect and outcome.signature == "traceback struct.error at npy.py:f"
    small = harness.minimize(seed, case, outcome, tmp_path / "w", 10)
    assert len(small.mutations) == 1
    kept = harness.save_reproducer(seed, small, outcome, tmp_path / "defects", tmp_path / "w")
    record = json.loads((kept / "repro.json").read_text())
    assert record["case"]["mutations"] == small.mutations
    assert (kept / "in").is_dir()
    assert mutators.ops_for("zarr").count("zarr-json") == 3
