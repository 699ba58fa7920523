"""The local engine's pipeline and the statistics' grid.

Every chunk size (down to one row), every number of compute threads and every engine
must give the same figures and the same values written, to the bit: the statistics
fold fixed groups of rows (``normcli.grid.GridFold``). The pipeline reads pieces here,
computes them on a thread pool and writes them on a writer thread; whatever fails in
any of them must end as the usual one-line error (or exit 130 on Ctrl-C), with nothing
written and no thread left running.
"""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
import threading
import time
from unittest import mock

import h5py
import numpy as np
import pytest
from conftest import assert_one_error_line, write_h5
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from normcli import grid, kernels, stats
from normcli.engines import LocalRunner
from normcli.errors import OutputError
from normcli.normalizers import make_normalizer
from normcli.ops.normalize import normalize_file
from normcli.ops.options import NormalizeOptions

RNG = np.random.default_rng(6)


def dataset(rows=700, cols=1000) -> np.ndarray:
    """Several groups of the grid (about 256K values each), with zeros, an offset and
    a drift, so that every figure has digits to lose."""
    x = RNG.normal(1e4, 3.0, size=(rows, cols)).astype(np.float32)
    x[:, ::7] = 0
    x += np.linspace(0, 50, rows, dtype=np.float32)[:, None]
    return x


def listing(path) -> list[str]:
    return sorted(p.name for p in path.iterdir())


# Chunk sizes for a (700, 1000) float32 array: 1 row, 7 rows, 333 rows, the default.
CHUNKS = ("4000", "28000", "1332000", "64MiB")


@pytest.mark.parametrize(
    "method",
    [
        ("-m", "zscore"),
        ("-m", "minmax"),
        ("-m", "zscore", "--axis", "0"),
        ("-m", "minmax", "--axis", "0"),
        ("-m", "lp", "--axis", "0", "--order", "3"),
        ("-m", "lp"),
        ("-m", "per-image"),
    ],
    ids=lambda m: " ".join(m[1:]),
)
def test_every_chunk_size_writes_the_same_bits_and_figures(tmp_path, invoke, method):
    x = dataset()
    src = tmp_path / "x.npy"
    np.save(src, x)
    outputs, docs = [], []
    for chunk in CHUNKS:
        out = tmp_path / f"o{chunk}.npy"
        r = invoke("normalize", src, out, *method, "--chunk-size", chunk, "--json")
        assert r.exit_code == 0, r.stderr
        outputs.append(out.read_bytes())
        doc = json.loads(r.stdout)["arrays"][0]
        docs.append({k: doc[k] for k in ("before", "after", "params")})
    for chunk, output, doc in zip(CHUNKS[1:], outputs[1:], docs[1:], strict=True):
        assert output == outputs[0], chunk
        assert doc == docs[0], chunk


@pytest.mark.parametrize("args", [(), ("--axis", "0"), ("--axis", "1"), ("--exclude-zeros",)])
def test_every_chunk_size_and_format_describes_the_same_bits(tmp_path, invoke, args):
    x = dataset()
    npy = tmp_path / "x.npy"
    np.save(npy, x)
    h5 = write_h5(tmp_path / "x.h5", {"x": x}, chunks=(10, 1000))
    seen = []
    for src in (npy, h5):
        for chunk in CHUNKS:
            r = invoke("describe", src, *args, "--chunk-size", chunk, "--json")
            assert r.exit_code == 0, r.stderr
            seen.append(json.loads(r.stdout)["arrays"][0]["stats"])
    assert all(s == seen[0] for s in seen)


@pytest.mark.parametrize("threads", [1, 2, 4])
def test_every_number_of_threads_gives_the_same_bits(tmp_path, threads):
    x = dataset(300, 1000)
    src = tmp_path / "x.npy"
    np.save(src, x)
    options = NormalizeOptions(chunk_bytes=50_000)
    ref = normalize_file(
        src, tmp_path / "ref.npy", lambda: make_normalizer("zscore"), options,
        runner=LocalRunner(threads=1),
    )  # fmt: skip
    got = normalize_file(
        src, tmp_path / "got.npy", lambda: make_normalizer("zscore"), options,
        runner=LocalRunner(threads=threads),
    )  # fmt: skip
    assert (tmp_path / "got.npy").read_bytes() == (tmp_path / "ref.npy").read_bytes()
    for side in ("before", "after"):
        for key, value in getattr(ref.arrays[0], side).items():
            np.testing.assert_array_equal(getattr(got.arrays[0], side)[key], value)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # values near the float64 limit
@given(
    x=hnp.arrays(
        st.sampled_from([np.uint8, np.int32, np.float32, np.float64]),
        st.tuples(st.integers(1, 40), st.integers(1, 5), st.integers(1, 3)),
        elements={"allow_nan": False, "allow_infinity": False, "allow_subnormal": False},
    ),
    block=st.sampled_from([1, 7, 16, 64]),
    cuts=st.lists(st.integers(1, 40), min_size=1, max_size=8),
    axes=st.sampled_from([(0, 1, 2), (0,), (0, 2), (1, 2)]),
    exclude_zeros=st.booleans(),
)
def test_any_chunking_folds_the_same_groups(x, block, cuts, axes, exclude_zeros):
    """Groups of ``block`` values (patched small, so that chunks cut groups in every
    way): chunks of any sizes, in any mix, give the bits of one chunk."""
    if x.dtype.kind == "f":
        x = x + 1e6  # badly conditioned: merging in another order would show
    bounds, start = [], 0
    while start < len(x):
        step = cuts[len(bounds) % len(cuts)]
        bounds.append((start, min(len(x), start + step)))
        start += step
    with mock.patch.object(grid, "BLOCK", block), mock.patch.object(kernels, "BLOCK", block):
        whole = stats.Accumulator(x.shape, x.dtype, axes, exclude_zeros=exclude_zeros)
        whole.update(x)
        cut = stats.Accumulator(x.shape, x.dtype, axes, exclude_zeros=exclude_zeros)
        for a, b in bounds:
            cut.absorb(cut.chunk_state(x[a:b], a))
        one, many = whole.result(), cut.result()
        for name in one.__dataclass_fields__:
            np.testing.assert_array_equal(getattr(many, name), getattr(one, name), name)
        if 0 not in axes or exclude_zeros:
            return
        for method in ("zscore", "lp", "minmax"):
            fitted = make_normalizer(method, axes).bind(x.shape).partial_fit(x)
            norm = make_normalizer(method, axes).bind(x.shape)
            for a, b in bounds:
                norm.absorb(norm.chunk_state(x[a:b], a))
            for key, value in fitted.statistics().items():
                np.testing.assert_array_equal(norm.statistics()[key], value, err_msg=key)


def test_chunks_out_of_order_are_refused():
    acc = stats.Accumulator((10, 3), np.float32, (0, 1))
    x = np.ones((10, 3), dtype=np.float32)
    acc.absorb(acc.chunk_state(x[:4], 0))
    with pytest.raises(ValueError, match="row 6 absorbed at row 4"):
        acc.absorb(acc.chunk_state(x[6:], 6))


def test_grid_pieces_cut_at_the_lines_only():
    assert list(grid.grid_pieces(0, 10, 4)) == [(0, 4), (4, 8), (8, 10)]
    assert list(grid.grid_pieces(5, 10, 4)) == [(0, 3), (3, 7), (7, 10)]
    assert list(grid.grid_pieces(5, 2, 4)) == [(0, 2)]
    assert list(grid.grid_pieces(3, 1, 1)) == [(0, 1)]


# -- readers that read into the pipeline's buffers ----------------------------------------


def _into(reader, name, rows):
    taken = []

    def take(shape, dtype):
        taken.append(np.empty(shape, dtype))
        return taken[-1]

    chunks = [np.array(c, copy=True) for c in reader.iter_chunks_into(name, rows, take)]
    return chunks, taken


@pytest.mark.parametrize(
    "array",
    [
        np.arange(60, dtype=">f4").reshape(12, 5),  # big-endian: swapped in place
        np.asfortranarray(np.arange(60, dtype=np.int16).reshape(12, 5)),
        np.array(3.5),
        np.arange(7, dtype=np.uint8),
    ],
    ids=["big-endian", "fortran", "0-d", "1-d"],
)
def test_npy_reads_into_given_buffers_what_it_streams(tmp_path, array):
    from normcli.io.npy import NpyReader

    np.save(tmp_path / "a.npy", array)
    with NpyReader(tmp_path / "a.npy") as reader:
        for rows in (1, 5, 100):
            expected = [np.array(c, copy=True) for c in reader.iter_chunks("a", rows)]
            got, taken = _into(reader, "a", rows)
            assert len(got) == len(expected) == len(taken)
            for g, e in zip(got, expected, strict=True):
                assert g.dtype == e.dtype and g.dtype.isnative
                np.testing.assert_array_equal(g, e)


def test_hdf5_reads_into_given_buffers_whole_stored_chunks(tmp_path):
    from normcli.engines.local import _piece_rows
    from normcli.io.hdf5 import Hdf5Reader

    x = np.arange(1000 * 6, dtype=np.float32).reshape(1000, 6)
    write_h5(tmp_path / "a.h5", {"g/x": x}, chunks=(100, 6), compression="gzip")
    with Hdf5Reader(tmp_path / "a.h5") as reader:
        info = reader.info("g/x")
        # fewer rows than a stored chunk would decompress it again for every piece
        assert _piece_rows(reader, info, 30 * info.row_bytes, info.row_bytes) == 100
        assert _piece_rows(reader, info, 250 * info.row_bytes, info.row_bytes) == 200
        got, _ = _into(reader, "g/x", 200)
        assert [len(c) for c in got] == [200] * 5
        np.testing.assert_array_equal(np.concatenate(got), x)


def test_pieces_in_flight_stay_within_the_chunk_size(tmp_path, invoke, monkeypatch):
    from normcli.engines import pipeline

    held = []  # bytes of the buffers of every pass, as it ends
    original_exit = pipeline.Pipeline.__exit__

    def exit_(self, *exc):
        slots = []
        while True:
            try:
                slots.append(self.free.get_nowait())
            except Exception:
                break
        held.append(sum(b.nbytes for s in slots for b in (s._in, s._out) if b is not None))
        for s in slots:
            self.free.put(s)
        return original_exit(self, *exc)

    monkeypatch.setattr(pipeline.Pipeline, "__exit__", exit_)
    x = dataset(2000, 1000)  # 8 MB
    np.save(tmp_path / "x.npy", x)
    for command in (("describe", tmp_path / "x.npy"), ("normalize", tmp_path / "x.npy",
                    tmp_path / "o.npz", "-m", "zscore", "--dtype", "float64")):  # fmt: skip
        held.clear()
        r = invoke(*command, "--chunk-size", "1MiB", "-q")
        assert r.exit_code == 0, r.stderr
        assert held and all(0 < h <= (1 << 20) for h in held), held


# -- failures anywhere in the pipeline ------------------------------------------------------


@pytest.fixture
def no_threads_left():
    before = {t.ident for t in threading.enumerate()}
    yield
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        left = [t for t in threading.enumerate() if t.ident not in before and t.is_alive()]
        if not left:
            return
        time.sleep(0.01)
    raise AssertionError(f"threads left running: {left}")


def _big_npy(tmp_path):
    x = dataset(2000, 1000)
    np.save(tmp_path / "x.npy", x)
    return tmp_path / "x.npy"


def _fail_on_call(n, exc):
    calls = {"n": 0}

    def check():
        calls["n"] += 1
        if calls["n"] == n:
            raise exc

    return check


def _fail_in(monkeypatch, where: str, fail) -> None:
    """Call ``fail()`` before every read of a piece (``reader``), every transform of one
    (``compute``, on a compute thread) or every write (``writer``, on the writer thread)."""
    from normcli.engines import ApplyStep
    from normcli.io import npy

    if where == "reader":
        original_fill = npy._fill

        def fill(*args):
            fail()
            return original_fill(*args)

        monkeypatch.setattr(npy, "_fill", fill)
        return
    target, name = (ApplyStep, "run") if where == "compute" else (npy._NpySink, "write")
    original = getattr(target, name)

    def failing(self, *args):
        fail()
        return original(self, *args)

    monkeypatch.setattr(target, name, failing)


def test_a_read_error_midway_is_one_line_and_leaves_nothing(
    tmp_path, invoke, monkeypatch, no_threads_left
):

    src = _big_npy(tmp_path)
    fail = _fail_on_call(5, OSError(errno.EIO, "Input/output error"))
    _fail_in(monkeypatch, "reader", fail)
    out = tmp_path / "out"
    out.mkdir()
    r = invoke("normalize", src, out / "o.npy", "-m", "zscore", "--chunk-size", "1MiB")
    assert r.exit_code == 1
    assert_one_error_line(r, "x.npy", "Input/output error")
    assert listing(out) == []


@pytest.mark.parametrize("where", ["compute", "writer"])
def test_an_error_in_a_thread_is_one_line_and_leaves_nothing(
    tmp_path, invoke, monkeypatch, no_threads_left, where
):
    src = _big_npy(tmp_path)
    fail = _fail_on_call(3, OutputError("cannot write o.npy: No space left on device"))
    seen = set()

    def failing():
        seen.add(threading.current_thread().name)
        fail()

    _fail_in(monkeypatch, where, failing)
    out = tmp_path / "out"
    out.mkdir()
    r = invoke("normalize", src, out / "o.npy", "-m", "zscore", "--chunk-size", "1MiB")
    assert r.exit_code == 1
    assert_one_error_line(r, "o.npy", "No space left")
    assert listing(out) == []
    assert threading.main_thread().name not in seen  # it did fail in another thread


@pytest.mark.parametrize("where", ["reader", "compute", "writer"])
def test_ctrl_c_anywhere_in_the_pipeline_exits_130_and_leaves_nothing(
    tmp_path, invoke, monkeypatch, no_threads_left, where
):
    src = _big_npy(tmp_path)
    _fail_in(monkeypatch, where, _fail_on_call(4, KeyboardInterrupt()))
    out = tmp_path / "out"
    out.mkdir()
    r = invoke("normalize", src, out / "o.npy", "-m", "zscore", "--chunk-size", "1MiB")
    assert r.exit_code == 130
    assert_one_error_line(r, "interrupted")
    assert listing(out) == []


def test_sigint_to_a_real_process_midway_exits_130_and_leaves_nothing(tmp_path):
    rows = 40_000  # 160 MB of float32: long enough to be interrupted in pass 2
    src = tmp_path / "x.npy"
    mm = np.lib.format.open_memmap(src, mode="w+", dtype=np.float32, shape=(rows, 1000))
    mm[:] = 1.0
    mm[::3] = 2.0
    del mm
    out = tmp_path / "out"
    out.mkdir()
    proc = subprocess.Popen(
        [sys.executable, "-m", "normcli", "normalize", str(src), str(out / "o.npy"),
         "-m", "zscore", "--chunk-size", "2MiB"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip

    def writing() -> bool:  # pass 2 has begun: the temporary output holds data
        try:
            return any((out / name).stat().st_size > 1 << 20 for name in os.listdir(out))
        except FileNotFoundError:
            return False

    deadline = time.monotonic() + 60
    while not writing() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.002)
    if proc.poll() is not None:
        pytest.skip("finished before it could be interrupted")
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    if proc.returncode == 0:
        pytest.skip("finished before the signal arrived")
    assert proc.returncode == 130, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: ") and "interrupted" in lines[0]
    assert os.listdir(out) == []


@pytest.mark.parametrize("where", ["starting", "stopping"])
def test_ctrl_c_while_threads_start_or_stop_is_acted_on_after(
    tmp_path, invoke, monkeypatch, no_threads_left, where
):
    """A KeyboardInterrupt raised inside the threading module's own Python code (in
    Thread.start or Thread.join) can break its locks: a hang, or a traceback. There,
    Ctrl-C is held back and acted on once the threads are started or stopped."""
    from normcli.engines import local, pipeline

    src = _big_npy(tmp_path)
    calls = {"n": 0}
    if where == "starting":
        original = pipeline._thread

        def thread(target, name):
            started = original(target, name)
            calls["n"] += 1
            if calls["n"] == 1:
                os.kill(os.getpid(), signal.SIGINT)  # in the middle of starting them
                time.sleep(0.05)  # would be raised here, were it not held back
            return started

        monkeypatch.setattr(pipeline, "_thread", thread)
    else:
        original = pipeline.Pipeline._work

        def work(self):
            original(self)  # told to stop: the main thread is joining the threads
            calls["n"] += 1
            if calls["n"] == 1:
                os.kill(os.getpid(), signal.SIGINT)

        monkeypatch.setattr(pipeline.Pipeline, "_work", work)
    out = tmp_path / "out"
    out.mkdir()
    r = invoke("normalize", src, out / "o.npy", "-m", "zscore", "--chunk-size", "1MiB")
    if where == "starting":  # not interrupted midway: every thread of pass 1 started
        assert calls["n"] == local.compute_threads()
    assert r.exit_code == 130, r.stderr
    assert_one_error_line(r, "interrupted")
    assert listing(out) == []
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_hdf5_input_and_output_through_the_pipeline(tmp_path, invoke):
    x = dataset(500, 300)
    src = write_h5(tmp_path / "x.h5", {"a/x": x}, chunks=(64, 300), compression="gzip")
    ref = tmp_path / "x.npy"
    np.save(ref, x)
    r1 = invoke("normalize", src, tmp_path / "o.h5", "-m", "zscore", "--chunk-size", "100KiB")
    r2 = invoke("normalize", ref, tmp_path / "o.npy", "-m", "zscore", "--json")
    assert r1.exit_code == 0 and r2.exit_code == 0, (r1.stderr, r2.stderr)
    with h5py.File(tmp_path / "o.h5") as f:
        np.testing.assert_array_equal(f["a/x"][()], np.load(tmp_path / "o.npy"))


# -- the .npy writer reserves its space -------------------------------------------------------


@pytest.mark.parametrize("error", [errno.ENOSPC, errno.EOPNOTSUPP])
def test_npy_output_space_is_reserved_before_writing(tmp_path, invoke, monkeypatch, error):
    from normcli.io import npy

    src = _big_npy(tmp_path)
    reserved, written = [], []

    def fallocate(fd, offset, length):
        reserved.append((offset, length))
        raise OSError(error, os.strerror(error))

    original = npy._NpySink.write

    def write(self, chunk):
        written.append(len(chunk))
        return original(self, chunk)

    monkeypatch.setattr(os, "posix_fallocate", fallocate, raising=False)
    monkeypatch.setattr(npy._NpySink, "write", write)
    out = tmp_path / "out"
    out.mkdir()
    r = invoke("normalize", src, out / "o.npy", "-m", "zscore")
    header = len(npy.header_bytes((2000, 1000), np.dtype(np.float32)))
    assert reserved == [(header, 2000 * 1000 * 4)]
    if error == errno.ENOSPC:  # a full disk is known before anything is written
        assert r.exit_code == 1
        assert_one_error_line(r, "o.npy", "No space left")
        assert listing(out) == [] and written == []
    else:  # a filesystem without fallocate: written as usual
        assert r.exit_code == 0, r.stderr
        np.testing.assert_array_equal(np.load(out / "o.npy").shape, (2000, 1000))
