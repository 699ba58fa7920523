"""The safety promises of the README, one test (or parametrized family) each.

Read top to bottom, this is the list: what normcli writes and where (OUTPUT), how it
prints names it did not choose, what it does with awkward numbers, and what a fault
in mid-run (Ctrl-C, SIGTERM, a full disk, a closed stdout) leaves behind. Malformed
and malicious *input files* are covered in test_hostile_input.py; the Hypothesis
properties of streaming (any chunking gives the one-shot result) in
test_streaming_properties.py.

Every failure must give one line ``Error: ...`` naming the file, a documented exit
code, no traceback, nothing written (no OUTPUT, no temporary file), and INPUT (and a
previous OUTPUT) byte-identical.
"""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from conftest import assert_one_error_line, needs_zarr, run_subprocess, scipy_describe, write_h5

from normcli.io import open_reader

RNG = np.random.default_rng(55)


def load(path, name=None):
    with open_reader(path) as r:
        return r.read(name or r.names()[0])


def tree(path: Path) -> dict[str, object]:
    """Everything under ``path`` (hidden files too): bytes of files, targets of links."""
    found = {}
    for dirpath, dirnames, filenames in os.walk(path):
        for name in dirnames + filenames:
            p = Path(dirpath) / name
            rel = str(p.relative_to(path))
            if p.is_symlink():
                found[rel] = ("link", os.readlink(p))
            elif p.is_file():
                found[rel] = p.read_bytes()
    return found


def leftovers(path: Path) -> list[str]:
    """Temporary files or folders normcli may have left under ``path``."""
    return [name for name in tree(path) if ".normcli-" in name]


def make_input(tmp_path: Path, shape=(20, 8, 8), dtype=np.float32, name="in.npy") -> Path:
    d = tmp_path / "input"
    d.mkdir(exist_ok=True)
    path = d / name
    np.save(path, RNG.random(shape).astype(dtype))
    return path


@pytest.fixture
def data(tmp_path, invoke):
    """INPUT (a .npy in its own folder), minmax params fitted on it, an output folder."""
    src = make_input(tmp_path)
    params = tmp_path / "params" / "p.json"
    params.parent.mkdir()
    assert invoke("fit", src, "-m", "minmax", "-o", params).exit_code == 0
    out = tmp_path / "out"
    out.mkdir()
    return SimpleNamespace(src=src, params=params, out=out)


# Every way normcli writes a file: (suffix of the path written, argv writing it to OUT).
WRITERS = {
    "normalize": (".npy", lambda src, p, out, other: ["normalize", src, out, "-m", "minmax"]),
    "invert": (".npy", lambda src, p, out, other: ["invert", src, out, "--params", p]),
    "fit -o": (".json", lambda src, p, out, other: ["fit", src, "-m", "minmax", "-o", out]),
    "--save-params": (
        ".json",
        lambda src, p, out, other: ["normalize", src, other, "-m", "minmax", "--save-params", out],
    ),
    "normalize --plot": (
        ".png",
        lambda src, p, out, other: ["normalize", src, other, "-m", "minmax", "--plot", out],
    ),
    "describe --plot": (".png", lambda src, p, out, other: ["describe", src, "--plot", out]),
}


def writer_args(kind, data, target, *extra):
    argv = WRITERS[kind][1]
    return [*argv(data.src, data.params, target, data.out / "other.npy"), *extra]


# -- OUTPUT: where normcli writes ---------------------------------------------------------


@pytest.mark.parametrize("kind", WRITERS)
def test_an_output_that_is_a_symbolic_link_is_never_written_through(kind, data, invoke):
    """OUTPUT a symbolic link: refused without --force; with --force the link itself is
    replaced by the new file, and the file it pointed to stays untouched."""
    out = data.out
    suffix = WRITERS[kind][0]
    elsewhere = out.parent / "elsewhere"
    elsewhere.mkdir()
    target = elsewhere / f"precious{suffix}"
    target.write_bytes(b"precious")
    link = out / f"o{suffix}"
    link.symlink_to(target)
    r = invoke(*writer_args(kind, data, link))
    assert r.exit_code == 1
    assert_one_error_line(r, str(link), "symbolic link", "--force")
    assert link.is_symlink() and target.read_bytes() == b"precious"
    assert tree(out) == {link.name: ("link", str(target))}

    r = invoke(*writer_args(kind, data, link, "--force"))
    assert r.exit_code == 0, r.stderr
    assert not link.is_symlink() and link.is_file() and link.read_bytes() != b"precious"
    assert tree(elsewhere) == {target.name: b"precious"}
    assert leftovers(out) == []


def test_a_dangling_symbolic_link_as_output_needs_force_too(data, invoke):
    src, out = data.src, data.out
    link = out / "o.npy"
    link.symlink_to(out / "missing.npy")
    r = invoke("normalize", src, link, "-m", "minmax")
    assert r.exit_code == 1
    assert_one_error_line(r, "symbolic link", "--force")
    assert invoke("normalize", src, link, "-m", "minmax", "--force").exit_code == 0
    assert not link.is_symlink() and not (out / "missing.npy").exists()


def test_an_image_folder_output_that_is_a_symbolic_link_is_never_written_through(data, invoke):
    src, out = data.src, data.out
    real = out.parent / "real_folder"
    real.mkdir()
    (real / "keep.png").write_bytes(b"not really a png, but never touched")
    before = tree(real)
    link = out / "images"
    link.symlink_to(real, target_is_directory=True)
    r = invoke("normalize", src, str(link) + "/", "-m", "minmax")
    assert r.exit_code == 1
    assert_one_error_line(r, "symbolic link", "--force")
    r = invoke("normalize", src, str(link) + "/", "-m", "minmax", "--force")
    assert r.exit_code == 0, r.stderr
    assert link.is_dir() and not link.is_symlink() and len(list(link.iterdir())) == 20
    assert tree(real) == before and leftovers(out) == []


HOW = ["same path", "hard link", "symbolic link"]


def _alias(src: Path, out: Path, how: str, suffix: str) -> Path:
    if how == "same path":
        return src
    alias = out / f"alias{suffix}"
    if how == "hard link":
        os.link(src, alias)
    else:
        alias.symlink_to(src)
    return alias


@pytest.mark.parametrize("how", HOW)
@pytest.mark.parametrize("kind", ["normalize", "invert", "fit -o", "--save-params"])
def test_output_is_never_input(kind, how, data, invoke):
    """OUTPUT (or -o, or --save-params) naming INPUT itself, a hard link to it, or a
    symbolic link to it is refused, even with --force; INPUT stays byte-identical."""
    src, out = data.src, data.out
    before = src.read_bytes()
    target = _alias(src, out, how, ".npy")
    r = invoke(*writer_args(kind, data, target, "--force"))
    assert r.exit_code == 1
    assert_one_error_line(r, "never overwrites its input")
    assert src.read_bytes() == before
    assert leftovers(out) == [] and leftovers(src.parent) == []


@pytest.mark.parametrize("command", ["describe", "normalize"])
def test_a_plot_never_replaces_an_image_of_the_input_folder(command, tmp_path, invoke):
    folder = tmp_path / "digits"
    folder.mkdir()
    from PIL import Image

    for i in range(3):
        Image.fromarray(RNG.integers(0, 255, (8, 8), dtype=np.uint8)).save(folder / f"{i}.png")
    before = tree(folder)
    args = [command, folder, *(["-k", "images"] if command == "describe" else [])]
    if command == "normalize":
        args += [tmp_path / "o.npz", "-m", "minmax"]
    r = invoke(*args, "--plot", folder / "0.png", "--force")
    assert r.exit_code == 1
    assert_one_error_line(r, "inside the input folder", "--plot")
    assert tree(folder) == before and not (tmp_path / "o.npz").exists()


@pytest.mark.parametrize("kind", WRITERS)
def test_an_existing_output_is_replaced_only_with_force(kind, data, invoke):
    out = data.out
    target = out / f"o{WRITERS[kind][0]}"
    target.write_bytes(b"precious")
    r = invoke(*writer_args(kind, data, target))
    assert r.exit_code == 1
    assert_one_error_line(r, str(target), "already exists", "--force")
    assert tree(out) == {target.name: b"precious"}
    r = invoke(*writer_args(kind, data, target, "--force"))
    assert r.exit_code == 0, r.stderr
    assert target.read_bytes() != b"precious" and leftovers(out) == []


@pytest.fixture
def read_only_dir(tmp_path):
    """A directory no file can be created in, even by root (a read-only tmpfs then)."""
    d = tmp_path / "read-only"
    d.mkdir()
    if os.geteuid() != 0:
        d.chmod(0o555)
        yield d
        d.chmod(0o755)
        return
    if _mount(d, "ro,size=64k") != 0:
        pytest.skip("root, and cannot mount a read-only tmpfs here")
    try:
        yield d
    finally:
        subprocess.run(["umount", str(d)], check=False)


def _mount(d: Path, options: str) -> int:
    try:
        return subprocess.run(
            ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(d)], capture_output=True
        ).returncode
    except OSError:
        return 1


@pytest.mark.parametrize("problem", ["missing", "a file", "read-only"])
@pytest.mark.parametrize("kind", WRITERS)
def test_an_unwritable_output_directory_fails_before_any_data_are_read(
    kind, problem, data, invoke, monkeypatch, request
):
    """A missing directory, a 'directory' that is a file, or one where nothing can be
    created: one line naming OUTPUT, before a single chunk of INPUT is read."""
    from normcli.io.npy import NpyReader

    out = data.out
    parent = {
        "missing": lambda: out / "missing",
        "a file": lambda: out / "plain_file",
        "read-only": lambda: request.getfixturevalue("read_only_dir"),
    }[problem]()
    if problem == "a file":
        parent.write_bytes(b"x")
    target = parent / f"o{WRITERS[kind][0]}"

    def no_reading(*args, **kwargs):
        raise AssertionError("INPUT was read before OUTPUT's directory was checked")

    monkeypatch.setattr(NpyReader, "iter_chunks", no_reading)
    monkeypatch.setattr(NpyReader, "read_rows", no_reading)
    r = invoke(*writer_args(kind, data, target))
    assert r.exit_code == 1
    assert_one_error_line(r, str(target))
    assert leftovers(out) == []


def test_two_outputs_of_one_command_at_the_same_path_are_refused(data, invoke):
    src, out = data.src, data.out
    o = out / "o.npz"
    r = invoke("normalize", src, o, "-m", "minmax", "--save-params", o)
    assert r.exit_code == 2
    assert_one_error_line(r, "--save-params", "OUTPUT")
    r = invoke("normalize", src, o, "-m", "minmax", "--save-params", out / "p.png",
               "--plot", out / "p.png")  # fmt: skip
    assert r.exit_code == 2
    assert_one_error_line(r, "--plot", "--save-params")
    assert tree(out) == {}


# -- names: printed literally, never as markup or terminal control ----------------------

MARKUP = "[bold]x[/]"
RED = "[red]"
ESCAPE = "\x1b[31mred"
CONTROL = "a\rb\x07c"
HOSTILE = [MARKUP, RED, ESCAPE, CONTROL]
RAW_CONTROLS = ("\x1b", "\r", "\x07")


def assert_literal(text: str, *names: str) -> None:
    """No terminal control character got through; each name is shown, escaped."""
    from normcli.cli.text import printable

    for c in RAW_CONTROLS:
        assert c not in text, (c, text)
    for name in names:
        assert printable(name) in text, (printable(name), text)


@pytest.fixture
def hostile(tmp_path):
    """An .npz whose arrays (and whose own file name) hold markup and escapes."""
    d = tmp_path / f"in{ESCAPE}"
    d.mkdir()
    path = d / f"{RED}data{CONTROL}.npz"
    np.savez(path, **{name: RNG.random((6, 4)) + i for i, name in enumerate(HOSTILE)})
    return path


def test_hostile_names_are_printed_literally_in_tables(hostile, tmp_path, invoke):
    normalized_file, params = tmp_path / f"o{ESCAPE}.npz", tmp_path / "p.json"
    commands = [
        ["ls", hostile],
        ["describe", hostile],
        ["describe", hostile, "--hist", "--bins", "3"],
        ["fit", hostile, "-k", ESCAPE, "-m", "zscore", "-o", params],
        ["normalize", hostile, normalized_file, "-m", "zscore", "-k", MARKUP, "-k", RED],
        ["invert", normalized_file, tmp_path / "back.npz", "-k", MARKUP, "--params", params],
        ["check", hostile, "-k", CONTROL, "--range", "-100", "100"],
    ]
    runs = [invoke(*argv) for argv in commands]
    for r in runs:
        assert r.exit_code == 0, r.stderr
        assert_literal(r.stdout + r.stderr)
    assert_literal(runs[0].stdout, *HOSTILE)
    assert_literal(runs[1].stdout + runs[2].stdout, *HOSTILE)
    assert_literal(runs[3].stdout, ESCAPE)
    assert_literal(runs[4].stdout, MARKUP, RED)  # before/after tables; "copied unchanged: ..."
    assert_literal(runs[4].stdout, ESCAPE, CONTROL)
    assert_literal(runs[4].stderr, MARKUP, RED)  # the "each on its own statistics" warning
    assert_literal(runs[6].stdout, CONTROL)


def test_hostile_names_are_printed_literally_in_errors(hostile, tmp_path, invoke):
    r = invoke("describe", hostile, "-k", f"no{ESCAPE}")
    assert r.exit_code == 2
    assert_one_error_line(r)
    assert_literal(r.stderr, *HOSTILE, f"no{ESCAPE}", str(hostile))
    r = invoke("describe", tmp_path / f"missing{ESCAPE}{MARKUP}.npy")
    assert r.exit_code == 1
    assert_literal(r.stderr, f"missing{ESCAPE}{MARKUP}.npy")
    r = invoke("normalize", hostile, tmp_path / "o.npz", "-m", "zscore", "--strict",
               "-k", MARKUP, "-k", RED)  # fmt: skip
    assert r.exit_code == 2
    assert_one_error_line(r, "--strict")
    assert_literal(r.stderr, MARKUP, RED)


def test_hostile_names_keep_their_exact_text_in_json(hostile, invoke):
    r = invoke("ls", hostile, "--json")
    doc = json.loads(r.stdout)
    assert [a["name"] for a in doc["arrays"]] == HOSTILE and doc["input"] == str(hostile)
    assert_literal(r.stdout)  # JSON escapes control characters itself


def test_hostile_hdf5_dataset_names_are_printed_literally(tmp_path, invoke):
    path = write_h5(tmp_path / "d.h5", {f"g{ESCAPE}/{MARKUP}": RNG.random((5, 3))})
    r = invoke("describe", path)
    assert r.exit_code == 0
    assert_literal(r.stdout, f"g{ESCAPE}/{MARKUP}")


def test_a_hostile_params_file_is_printed_literally(data, tmp_path, invoke):
    src, params, out = data.src, data.params, data.out
    doc = json.loads(params.read_text())
    doc["options"]["note"] = f"{ESCAPE}{MARKUP}"
    doc["fitted_on"]["key"] = CONTROL
    params.write_text(json.dumps(doc))
    r = invoke("normalize", src, out / "o.npy", "--params", params)
    assert r.exit_code == 0, r.stderr
    assert_literal(r.stdout, f"{ESCAPE}{MARKUP}")
    doc["options"]["range"] = [ESCAPE, 1]  # not numbers: refused, no traceback
    params.write_text(json.dumps(doc))
    r = invoke("normalize", src, out / "o2.npy", "--params", params)
    assert r.exit_code == 2
    assert_one_error_line(r, str(params))
    assert_literal(r.stderr, ESCAPE)


def test_progress_bar_shows_names_literally():
    """The progress bar (on a terminal, after a second) renders its text as markup."""
    import io

    from rich.console import Console

    from normcli.cli.progress import RichProgress
    from normcli.cli.render import Renderer

    renderer = Renderer()
    renderer.err = Console(file=io.StringIO(), force_terminal=True, width=120)
    progress = RichProgress(renderer)
    progress.DELAY = 0
    with progress.task(f"normalize {MARKUP}{RED}{ESCAPE}", 100) as task:
        task.advance(50)
    shown = renderer.err.file.getvalue()
    assert f"{MARKUP}{RED}" in shown and "\\x1b[31mred" in shown
    assert "\x1b[31mred" not in shown


# -- numerics ---------------------------------------------------------------------------

#: Every method with every kind of axis it takes: across samples (two passes), per
#: sample (one pass), and for lp every order (0 counts nonzeros, inf is the max).
METHOD_AXES = [
    ("minmax", "all"), ("minmax", "0"), ("minmax", "1,2"), ("minmax", "0,2"),
    ("zscore", "all"), ("zscore", "0"), ("zscore", "1,2"), ("zscore", "0,1"),
    ("per-image", None), ("per-image", "2"),
    ("scale", None),
    *[("lp", axis, order) for order in ("0", "1", "2", "inf", "3", "0.5")
      for axis in ("-1", "1,2", "0", "all")],
]  # fmt: skip


def _cli_opts(method, axis, order=None):
    opts = ["-m", method]
    if axis is not None:
        opts += ["--axis", axis]
    if order is not None:
        opts += ["--order", order]
    if method == "scale":
        opts += ["--factor", "1/255"]
    return opts


def _oracle_opts(method, axis, order=None):
    axes = None if axis in (None, "all") else tuple(int(a) for a in axis.split(","))
    if method == "lp" and axis is None:
        axes = (-1,)
    opts = {"order": float(order)} if order is not None else {}
    return axes, opts


def normalized(invoke, tmp_path, x, *opts, name="x.npy", chunk="1KiB"):
    """x through `normcli normalize` (float64 output, small chunks); the CliRunner result
    and what was written (None when nothing was)."""
    src = tmp_path / name
    np.save(src, x)
    out = tmp_path / f"out-{name}"
    r = invoke("normalize", src, out, "--dtype", "float64", "--chunk-size", chunk, *opts,
               "--force", "-q")  # fmt: skip
    return r, (load(out) if r.exit_code == 0 else None)


def degenerate_arrays(dtype):
    """All zeros, all one value, and data mixing zero, constant and varying slices."""
    mixed = RNG.integers(0, 200, (6, 4, 3)).astype(np.float64)
    mixed[0] = 0  # a zero sample
    mixed[1] = 42  # a constant sample
    mixed[:, 2, :] = 0  # zero rows in every sample
    mixed[:, 3, 1] = 17  # one feature constant across samples
    mixed[2:, :, 0] = 9  # columns constant in the later samples
    return {
        "zeros": np.zeros((6, 4, 3), dtype=dtype),
        "constant": np.full((6, 4, 3), 200 if dtype == np.uint8 else 1e300, dtype=dtype),
        "mixed": mixed.astype(dtype),
    }


@pytest.mark.parametrize("dtype", [np.float64, np.uint8])
@pytest.mark.parametrize("case", METHOD_AXES, ids=lambda c: "-".join(str(v) for v in c))
def test_constant_and_zero_slices_never_give_nan_or_inf(case, dtype, tmp_path, invoke):
    """A constant slice maps to LO (minmax, per-image) or 0 (zscore), a zero norm leaves
    its slice unchanged (lp): finite values, equal to the one-shot numpy oracle."""
    from normalize_oracle import assert_close, oracle, tolerance

    method, axis, *order = case
    axes, opts = _oracle_opts(method, axis, *order)
    for label, x in degenerate_arrays(dtype).items():
        r, got = normalized(invoke, tmp_path, x, *_cli_opts(method, axis, *order))
        assert r.exit_code == 0, (label, r.stderr)
        assert np.isfinite(got).all(), label
        y, c, d, o = oracle(x, method, axes, **opts)
        assert_close(got, y, tolerance(x, c, d, o, y))


NAN_CASES = [
    ("minmax", "all"), ("minmax", "0"), ("per-image", None),
    ("zscore", "all"), ("zscore", "0"), ("zscore", "1,2"),
    ("lp", "-1", "2"), ("lp", "0", "1"), ("lp", "1,2", "inf"),
    ("scale", None),
]  # fmt: skip


def with_nonfinite(kind):
    x = RNG.normal(10, 3, (8, 5, 2))
    x[2, 1, 0] = x[5, 3, 1] = np.nan if kind in ("nan", "both") else np.inf
    if kind == "both":
        x[6, 0, 0] = -np.inf
    return x


@pytest.mark.parametrize("kind", ["nan", "inf", "both"])
@pytest.mark.parametrize("case", NAN_CASES, ids=lambda c: "-".join(str(v) for v in c))
def test_nan_and_inf_follow_the_nan_policy(case, kind, tmp_path, invoke):
    """--nan raise (the default) refuses them, naming the file and the count, with
    nothing written; omit fits on the finite values and leaves the others in place;
    propagate lets them spread through their slice's statistics."""
    from normalize_oracle import assert_close, oracle, tolerance

    method, axis, *order = case
    axes, opts = _oracle_opts(method, axis, *order)
    x = with_nonfinite(kind)
    cli = _cli_opts(method, axis, *order)
    r, got = normalized(invoke, tmp_path, x, *cli)
    assert r.exit_code == 1
    assert_one_error_line(r, "x.npy", "--nan omit")
    assert "NaN" in r.stderr if kind != "inf" else "infinite" in r.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.npy"]
    for policy in ("omit", "propagate"):
        r, got = normalized(invoke, tmp_path, x, *cli, "--nan", policy)
        assert r.exit_code == 0, r.stderr
        y, c, d, o = oracle(x, method, axes, nan_policy=policy, **opts)
        assert_close(got, y, tolerance(x, c, d, o, y))
        assert np.isnan(got[np.isnan(x)]).all()  # NaN stays NaN, where it was
        if policy == "omit":  # and nothing else becomes NaN
            assert np.isfinite(got[np.isfinite(x)]).all()


EXTREMES = {
    np.uint8: np.array([[0, 255, 254], [1, 255, 0], [128, 0, 255]], dtype=np.uint8),
    np.uint16: np.array([[0, 65535, 65534], [1, 65535, 0], [32768, 0, 65535]], np.uint16),
}


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
@pytest.mark.parametrize(
    "opts",
    [("-m", "minmax"), ("-m", "zscore"), ("-m", "zscore", "--axis", "0"),
     ("-m", "per-image"), ("-m", "lp", "--order", "1"), ("-m", "scale", "--factor", "2"),
     ("-m", "scale", "--factor", "-1"), ("-m", "minmax", "--range", "-1", "1")],
    ids=" ".join,
)  # fmt: skip
def test_8_and_16_bit_integers_never_wrap(opts, dtype, tmp_path, invoke):
    """Converted to float64 before any arithmetic: 255 * 2 is 510, 0 - 1 is -1."""
    from normalize_oracle import assert_close, oracle, tolerance

    x = EXTREMES[dtype]
    r, got = normalized(invoke, tmp_path, x, *opts, chunk="1")
    assert r.exit_code == 0, r.stderr
    method = opts[1]
    axes = (0,) if "--axis" in opts else ((-1,) if method == "lp" else None)
    kw = {"order": 1.0} if method == "lp" else {}
    if method == "scale":
        kw = {"factor": opts[3]}
    if "--range" in opts:
        kw = {"feature_range": (-1.0, 1.0)}
    y, c, d, o = oracle(x, method, axes, **kw)
    assert_close(got, y, tolerance(x, c, d, o, y, rtol=1e-12))


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
@pytest.mark.parametrize("method", ["minmax", "zscore", "scale"])
def test_invert_to_the_original_integers_is_exact_and_saturates(method, dtype, tmp_path, invoke):
    """invert --dtype original gives back every value, extremes included; a value
    pushed past the type's range is clipped to it, never wrapped around."""
    x = EXTREMES[dtype]
    src = tmp_path / "x.npy"
    np.save(src, x)
    opts = ["--factor", "1/255"] if method == "scale" else []
    p, norm, back = tmp_path / "p.json", tmp_path / "n.npy", tmp_path / "b.npy"
    r = invoke(
        "normalize", src, norm, "-m", method, *opts, "--save-params", p, "--dtype", "float64"
    )
    assert r.exit_code == 0, r.stderr
    r = invoke("invert", norm, back, "--params", p, "--dtype", "original")
    assert r.exit_code == 0, r.stderr
    restored = load(back)
    assert restored.dtype == dtype
    np.testing.assert_array_equal(restored, x)
    beyond = load(norm) * 1.5 + (1.0 if method == "scale" else 0.5)  # past both ends
    np.save(tmp_path / "beyond.npy", beyond)
    r = invoke("invert", tmp_path / "beyond.npy", tmp_path / "b2.npy", "--params", p,
               "--dtype", "original")  # fmt: skip
    assert r.exit_code == 0, r.stderr
    info = np.iinfo(dtype)
    doc = json.loads(p.read_text())
    from normcli.params import normalizer_from_params

    norm_obj = normalizer_from_params(doc, "p")
    exact = norm_obj.inverse_transform(beyond, dtype=np.float64)
    np.testing.assert_array_equal(load(tmp_path / "b2.npy"), np.clip(np.rint(exact), 0, info.max))
    assert (exact > info.max).any() or (exact < 0).any()  # the case is really out of range


def test_float16_input_accumulates_in_float64(tmp_path, invoke):
    """70,000 float16 values near 1000: their sum (7e7) is far beyond float16 (65504),
    and a float32 sum would lose the last digits; the figures are scipy's in float64."""
    x = (1000 + RNG.integers(-64, 64, (700, 100))).astype(np.float16)
    np.save(tmp_path / "h.npy", x)
    r = invoke("describe", tmp_path / "h.npy", "--json", "--chunk-size", "16KiB")
    stats = json.loads(r.stdout)["arrays"][0]["stats"]
    oracle = scipy_describe(x)
    for key in ("mean", "variance", "skewness", "kurtosis"):
        np.testing.assert_allclose(stats[key], oracle[key], rtol=1e-11, err_msg=key)
    with np.errstate(over="ignore"):  # what a float16 accumulator would give: inf
        assert not np.isclose(float(np.sum(x, dtype=np.float16)) / x.size, oracle["mean"])
    xf = x.astype(np.float64)
    r, got = normalized(invoke, tmp_path, x, "-m", "zscore", name="h.npy", chunk="16KiB")
    np.testing.assert_allclose(got, (xf - xf.mean()) / xf.std(), rtol=1e-12, atol=1e-12)


def test_float32_input_accumulates_in_float64(tmp_path, invoke):
    """10^6 float32 values near 1e4: a float32 accumulator is off in the 7th digit."""
    x = (RNG.random((1000, 1000)) * 1000 + 1e4).astype(np.float32)
    np.save(tmp_path / "f.npy", x)
    r = invoke("describe", tmp_path / "f.npy", "--json", "--chunk-size", "256KiB")
    stats = json.loads(r.stdout)["arrays"][0]["stats"]
    exact = x.astype(np.float64)
    np.testing.assert_allclose(stats["mean"], exact.mean(), rtol=1e-13)
    np.testing.assert_allclose(stats["variance"], exact.var(ddof=1), rtol=1e-12)
    in_float32 = float(np.add.reduce(x.ravel(), dtype=np.float32)) / x.size
    assert abs(in_float32 - exact.mean()) > 1e4 * abs(stats["mean"] - exact.mean())


@pytest.mark.parametrize("order", ["1", "2", "3", "inf"])
def test_lp_norms_near_1e200_and_1e_minus_200_neither_overflow_nor_underflow(
    order, tmp_path, invoke
):
    from normalize_oracle import oracle

    x = np.array([[1e200, 1e200, 3e200, 0.0], [1e-200, 2e-200, 0.0, 0.0], [3e-310, 4e-310, 0, 0]])
    r, got = normalized(invoke, tmp_path, x, "-m", "lp", "--order", order)
    assert r.exit_code == 0, r.stderr
    assert np.isfinite(got).all()
    expected = oracle(x, "lp", (-1,), order=float(order))[0]
    np.testing.assert_allclose(got, expected, rtol=1e-12)
    p = float(order)
    row = np.array([1.0, 1.0, 3.0, 0.0])
    np.testing.assert_allclose(got[0], row / np.linalg.norm(row, p), rtol=1e-12)


@pytest.mark.parametrize(
    "x, opts",
    [(np.array([[1e200, 3e200], [2e200, -1e200]]), ["-m", "zscore"]),
     (np.array([[-1e308, 1e308], [1e308, -1e308]]), ["-m", "minmax"]),
     (np.array([[-1e308, 1e308], [1e308, -1e308]]), ["-m", "zscore", "--axis", "0"]),
     (np.arange(256, dtype=np.uint8).reshape(16, 16), ["-m", "scale", "--factor", "1e37",
                                                       "--dtype", "float32"])],
    ids=["zscore-1e200", "minmax-1e308", "zscore-1e308", "scale-past-float32"],
)  # fmt: skip
def test_finite_data_never_come_out_nan_or_inf(x, opts, tmp_path, invoke):
    """Values whose spread is beyond float64 (or a result beyond float32): one error
    line, nothing written, rather than a file of NaN or infinities."""
    src = tmp_path / "x.npy"
    np.save(src, x)
    out = tmp_path / "o.npy"
    r = invoke("normalize", src, out, *opts)
    assert r.exit_code == 1
    assert_one_error_line(r, "x.npy", "NaN or infinite values from finite data")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.npy"]


def test_describe_of_values_near_the_float64_limit_is_one_table(tmp_path, invoke):
    np.save(tmp_path / "x.npy", np.array([[-1e308, 1e308]] * 6))
    r = invoke("describe", tmp_path / "x.npy", "--json")
    assert r.exit_code == 0 and r.stderr == ""
    stats = json.loads(r.stdout)["arrays"][0]["stats"]
    assert stats["min"] == -1e308 and stats["max"] == 1e308 and stats["nobs"] == 12


def test_a_slice_with_no_finite_values_gives_null_in_json(tmp_path, invoke):
    x = RNG.normal(size=(6, 3))
    x[:, 1] = np.nan
    np.save(tmp_path / "x.npy", x)
    for args in (["normalize", tmp_path / "x.npy", tmp_path / "o.npy"],
                 ["fit", tmp_path / "x.npy"]):  # fmt: skip
        r = invoke(*args, "-m", "zscore", "--axis", "0", "--nan", "omit", "--json")
        assert r.exit_code == 0, r.stderr
        doc = json.loads(r.stdout)  # strict JSON: NaN is null
        params = doc["arrays"][0]["params"] if "arrays" in doc else doc["params"]
        assert params["statistics"]["mean"][1] is None


# -- faults mid-run: Ctrl-C and SIGTERM ------------------------------------------------


@pytest.fixture(scope="module")
def interrupt_bench(tmp_path_factory):
    import interrupt_run

    return interrupt_run.Bench(tmp_path_factory.mktemp("interrupt"))


INTERRUPTIONS = [
    *[("npy", point, "INT") for point in ("read:1", "write:0", "write:4", "write:last",
                                          "swallowed:2", "commit", "rename", "rendered")],
    ("npy", "write:4", "TERM"), ("npy", "rename", "TERM"), ("h5", "swallowed:2", "TERM"),
    *[(fmt, point, "INT") for fmt in ("npz", "h5", "zarr", "images")
      for point in ("write:4", "rename")],
    ("images", "write:last", "TERM"),
]  # fmt: skip


@pytest.mark.parametrize("fmt, point, sig", INTERRUPTIONS, ids=lambda v: str(v))
def test_a_signal_at_a_chunk_boundary_leaves_nothing_behind(fmt, point, sig, interrupt_bench):
    """A real `normcli normalize` process sent SIGINT or SIGTERM by itself at a chunk
    boundary (tests/interrupt_run.py; run it to see every format and point): exit 130 or
    143, one line, the previous OUTPUT byte-identical (or, once the final rename has
    begun, the complete new OUTPUT), and no temporary file."""
    if fmt == "zarr":
        pytest.importorskip("zarr")
    import interrupt_run

    outcome = interrupt_run.check(interrupt_bench, fmt, point, sig)
    assert outcome.ok, outcome.detail


@pytest.mark.parametrize("sig, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
@pytest.mark.parametrize("name", ["o.npy", "o.h5", "images/"])
def test_a_signal_while_output_grows_leaves_the_previous_output_intact(name, sig, code, tmp_path):
    """Not at a chosen point: the signal is sent from outside, as soon as the temporary
    output has started growing."""
    src = tmp_path / "in.npy"
    np.save(src, RNG.random((4096, 32, 32), dtype=np.float32))  # 16 MiB, 1024 chunks
    out = tmp_path / "out"
    out.mkdir()
    target = out / name
    if name.endswith("/"):
        target.mkdir()
        (target / "previous.png").write_bytes(b"\x89PNG previous")
    else:
        target.write_bytes(b"previous output")
    before = tree(out)
    method = "per-image" if name.endswith("/") else "zscore"
    p = subprocess.Popen(
        [sys.executable, "-m", "normcli", "normalize", src, str(out / name), "-m", method,
         "--chunk-size", "16KiB", "--force"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and p.poll() is None:
        try:
            temporary = [e for e in os.scandir(out) if ".normcli-" in e.name]
            if temporary and (
                len(os.listdir(temporary[0].path)) > 3
                if temporary[0].is_dir()
                else temporary[0].stat().st_size > 64 * 1024
            ):
                break
        except FileNotFoundError:  # moved into place meanwhile: the assert below says so
            pass
        time.sleep(0.002)
    assert p.poll() is None, "normcli finished before the signal could be sent"
    p.send_signal(sig)
    stdout, stderr = p.communicate(timeout=60)
    assert p.returncode == code, stderr
    assert stderr.startswith("Error: ") and len(stderr.strip().splitlines()) == 1, stderr
    assert "nothing was written" in stderr and stdout == ""
    assert tree(out) == before


@pytest.mark.parametrize("fmt", ["npz", "h5", "zarr"])
def test_a_signal_while_the_writer_is_being_made_leaves_nothing(fmt, data, invoke, monkeypatch):
    """Ctrl-C after the temporary output exists but before the writer is fully made
    (its ``with`` not yet in charge): the CLI still removes it."""
    if fmt == "npz":
        import zipfile as target

        attr = "ZipFile"
    elif fmt == "h5":
        import h5py as target

        attr = "File"
    else:
        target = pytest.importorskip("zarr")
        attr = "open_group"
    real = getattr(target, attr)

    def interrupted(*args, **kwargs):
        real(*args, **kwargs)  # whatever it creates, then Ctrl-C
        raise KeyboardInterrupt

    monkeypatch.setattr(target, attr, interrupted)
    r = invoke("normalize", data.src, data.out / f"o.{fmt}", "-m", "zscore")
    assert r.exit_code == 130
    assert_one_error_line(r, "interrupted", "nothing was written")
    assert tree(data.out) == {}


@pytest.mark.parametrize("kind", ["fit -o", "--save-params"])
def test_a_signal_while_a_params_file_is_written_leaves_nothing(kind, data, invoke, monkeypatch):
    import builtins

    real_open = builtins.open

    class Interrupted:
        def __init__(self, f):
            self.f = f

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.f.close()

        def write(self, text):
            raise KeyboardInterrupt

    def open_(path, mode="r", *args, **kwargs):
        f = real_open(path, mode, *args, **kwargs)
        return Interrupted(f) if ".p.json.normcli-" in str(path) else f

    monkeypatch.setattr(builtins, "open", open_)
    target = data.out / "p.json"
    r = invoke(*writer_args(kind, data, target))
    assert r.exit_code == 130
    assert_one_error_line(r, "interrupted")
    assert leftovers(data.out) == [] and not target.exists()


@pytest.mark.parametrize(
    ("sig", "code", "word"), [("SIGINT", 130, "interrupted"), ("SIGTERM", 143, "terminated")]
)
def test_a_signal_while_normcli_is_still_loading_is_one_line(sig, code, word, tmp_path):
    """The console script's first instant: a signal while click, numpy and rich are
    imported ends with the same one line as later, never a traceback."""
    script = (
        "import builtins, os, signal, sys\n"
        "real = builtins.__import__\n"
        "def slow_start(name, *args, **kwargs):\n"
        "    if name == 'normcli.cli':\n"
        f"        os.kill(os.getpid(), signal.{sig})\n"
        "    return real(name, *args, **kwargs)\n"
        "builtins.__import__ = slow_start\n"
        "from normcli.__main__ import main\n"
        "main(sys.argv[1:])\n"
    )
    src = tmp_path / "x.npy"
    np.save(src, np.arange(10.0))
    proc = subprocess.run(
        [sys.executable, "-c", script, "normalize", str(src), str(tmp_path / "o.npy"), "-m",
         "scale", "--factor", "2"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert proc.returncode == code, proc.stderr
    assert proc.stderr == f"Error: {word}; nothing was written\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.npy"]


# -- faults mid-run: a full disk ----------------------------------------------------------


class FullDisk:
    """A file on a disk that fills after ``left[0]`` more bytes (shared by every file
    opened on it): write raises ENOSPC, as Linux does. (No fileno: Pillow would write
    around the wrapper.)"""

    def __init__(self, raw, left: list[int]):
        self._raw, self._left = raw, left

    def write(self, data):
        n = len(data.encode()) if isinstance(data, str) else memoryview(data).nbytes
        if n > self._left[0]:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        self._left[0] -= n
        return self._raw.write(data)

    def fileno(self):
        import io

        raise io.UnsupportedOperation("fileno")

    def __getattr__(self, name):
        return getattr(self._raw, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self._raw.close()


def fill_disk_after(monkeypatch, fmt: str, budget: int) -> None:
    """Make the writer of ``fmt`` meet a full disk after ``budget`` bytes."""
    import builtins

    left = [budget]

    def opener(real):
        def open_full(*args, **kwargs):
            return FullDisk(real(*args, **kwargs), left)

        return open_full

    if fmt in ("npy", "npz"):
        from normcli.io import npy, npz

        for module in (npy, npz):
            monkeypatch.setattr(module, "open_exclusive", opener(npy.open_exclusive))
    elif fmt == "h5":
        from normcli.io import hdf5

        monkeypatch.setattr(hdf5, "open", opener(builtins.open), raising=False)
    elif fmt == "images":
        from normcli.io import image_writer

        monkeypatch.setattr(image_writer, "open", opener(builtins.open), raising=False)
    elif fmt == "zarr":
        local = pytest.importorskip("zarr.storage._local")
        real_put = local._put

        def put(path, value, exclusive=False):
            n = len(value.as_buffer_like())
            if n > left[0]:
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
            left[0] -= n
            return real_put(path, value, exclusive=exclusive)

        monkeypatch.setattr(local, "_put", put)


OUT_NAMES = {"npy": "o.npy", "npz": "o.npz", "h5": "o.h5", "zarr": "o.zarr", "images": "o/"}
OUT_FORMATS = [pytest.param(f, marks=needs_zarr) if f == "zarr" else f for f in OUT_NAMES]


def beside(folder: Path, name: str) -> str:
    """``folder/name`` as typed: an image folder OUTPUT keeps its final '/'."""
    return str(folder / name) + ("/" if name.endswith("/") else "")


@pytest.mark.parametrize("fraction", [0, 0.4, 0.95])
@pytest.mark.parametrize("fmt", OUT_FORMATS)
def test_a_full_disk_fails_cleanly_for_every_output_format(fmt, fraction, tmp_path, invoke,
                                                           monkeypatch):  # fmt: skip
    """ENOSPC at the first byte, in mid-file, or near the end (injected in the writer's
    file writes): one line naming OUTPUT, exit 1, the previous OUTPUT intact."""
    src = make_input(tmp_path, shape=(64, 32, 32))  # 256 KiB of float32
    out = tmp_path / "out"
    out.mkdir()
    name = OUT_NAMES[fmt]
    method = "per-image" if fmt == "images" else "zscore"
    r = invoke("normalize", src, beside(out, name), "-m", "minmax", "-q")  # previous OUTPUT
    assert r.exit_code == 0, r.stderr
    before = tree(out)
    fill_disk_after(monkeypatch, fmt, int(fraction * sum(map(len, before.values()))))
    r = invoke("normalize", src, beside(out, name), "-m", method, "--chunk-size", "16KiB",
               "--force")  # fmt: skip
    assert r.exit_code == 1
    assert_one_error_line(r, str(out / name.rstrip("/")), "No space left on device")
    assert tree(out) == before


def test_a_full_disk_for_the_params_file_writes_neither_file(data, invoke, monkeypatch):
    """--save-params is written before OUTPUT is moved into place: both or neither."""
    import builtins

    from normcli.io import base

    src, out = data.src, data.out
    (out / "o.npy").write_bytes(b"previous")

    def full(path, mode="r", *args, **kwargs):
        if "x" in mode and str(path).endswith(".tmp") and ".p.json" in str(path):
            return FullDisk(builtins.open(path, mode, *args, **kwargs), [10])
        return builtins.open(path, mode, *args, **kwargs)

    monkeypatch.setattr(base, "open", full, raising=False)
    r = invoke("normalize", src, out / "o.npy", "-m", "zscore", "--save-params",
               out / "p.json", "--force")  # fmt: skip
    assert r.exit_code == 1
    assert_one_error_line(r, "p.json", "No space left on device")
    assert tree(out) == {"o.npy": b"previous"}


@pytest.mark.parametrize("command", ["describe", "normalize"])
def test_a_full_disk_for_the_plot_says_what_was_written(command, data, invoke, monkeypatch):
    """The figure is drawn once OUTPUT is complete: if it cannot be written, the error
    says OUTPUT was written (and no temporary figure stays)."""
    from matplotlib.figure import Figure

    src, out = data.src, data.out

    def savefig(self, *args, **kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(Figure, "savefig", savefig)
    args = ["describe", src] if command == "describe" else ["normalize", src, out / "o.npy",
                                                            "-m", "zscore"]  # fmt: skip
    r = invoke(*args, "--plot", out / "f.png")
    assert r.exit_code == 1
    assert_one_error_line(r, "f.png", "No space left on device")
    if command == "normalize":
        assert "o.npy was written completely" in r.stderr
        assert sorted(tree(out)) == ["o.npy"]
    else:
        assert tree(out) == {}


@pytest.fixture
def small_tmpfs(tmp_path):
    """A real 256 KiB file system (needs root: skipped where mount is not allowed)."""
    d = tmp_path / "small"
    d.mkdir()
    if os.geteuid() != 0 or _mount(d, "size=256k") != 0:
        pytest.skip("cannot mount a tmpfs here (not root, or not permitted)")
    try:
        yield d
    finally:
        subprocess.run(["umount", str(d)], check=False)


@pytest.mark.parametrize("fmt", OUT_FORMATS)
def test_a_really_full_disk_fails_cleanly(fmt, small_tmpfs, tmp_path):
    """A real full file system (1 MiB of output on 256 KiB), as a real process: HDF5,
    which cannot recover from a failed write, once crashed the interpreter here."""
    src = make_input(tmp_path, shape=(256, 32, 32))  # 1 MiB of float32
    (small_tmpfs / "previous.txt").write_bytes(b"previous output")
    name = OUT_NAMES[fmt]
    method = "per-image" if fmt == "images" else "zscore"
    p = run_subprocess("normalize", src, beside(small_tmpfs, name), "-m", method,
                       "--chunk-size", "64KiB")  # fmt: skip
    assert p.returncode == 1, p.stderr
    assert p.stderr.startswith("Error: ") and len(p.stderr.strip().splitlines()) == 1, p.stderr
    assert "No space left on device" in p.stderr and name.rstrip("/") in p.stderr
    assert tree(small_tmpfs) == {"previous.txt": b"previous output"}


# -- faults mid-run: stdout closed early ----------------------------------------------


def many_arrays(tmp_path, n=300) -> Path:
    path = tmp_path / "many.npz"
    np.savez(path, **{f"a{i:04d}": RNG.random((4, 3)) for i in range(n)})
    return path


@pytest.mark.parametrize(
    "args",
    [["ls"], ["ls", "--json"], ["describe"], ["describe", "--csv"],
     ["normalize", "{out}", "-m", "zscore", "--fit-key", "a0000"]],
    ids=" ".join,
)  # fmt: skip
def test_a_closed_stdout_ends_quietly(args, tmp_path):
    """`normcli describe ... | head -1`: exit 141, nothing on stderr (no traceback, no
    "Exception ignored"); normalize's OUTPUT is complete all the same."""
    src = many_arrays(tmp_path, n=3000 if args[0] == "ls" else 300)
    argv = [a.replace("{out}", str(tmp_path / "o.npz")) for a in args]
    keys = [a for i in range(300) for a in ("-k", f"a{i:04d}")] if args[0] == "normalize" else []
    p = subprocess.Popen([sys.executable, "-m", "normcli", argv[0], src, *argv[1:], *keys],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)  # fmt: skip
    first = p.stdout.readline()
    p.stdout.close()  # what head does after its line
    stderr = p.stderr.read().decode()
    p.wait(timeout=60)
    assert first
    # 141 when normcli meets the closed pipe; output written in one piece (ls, CSV)
    # may have been handed to the pipe whole before head closed it: then exit 0
    one_piece = args[0] == "ls" or "--csv" in args
    assert p.returncode in ((0, 141) if one_piece else (141,)), stderr
    assert stderr == ""
    if args[0] == "normalize":
        assert len(load(tmp_path / "o.npz", "a0299")) == 4
