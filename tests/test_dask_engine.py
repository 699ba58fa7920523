"""``--engine dask`` gives the local engine's figures and outputs, on a 2-worker cluster.

One LocalCluster (2 workers, threads of this process) serves the module; every command
runs once with the local engine and once with ``--engine dask --scheduler ADDRESS``
over HDF5, ``.npy`` and Zarr input, writing Zarr. The oracles are the local engine
(same figures, same bytes written) and scipy/numpy (the figures are right).

Without zarr (zarr 3 needs Python 3.11) the same tests read HDF5 and write HDF5, and
only those about Zarr itself are skipped.
"""

from __future__ import annotations

import json

import h5py
import numpy as np
import pytest
from conftest import (
    assert_matches_scipy,
    assert_one_error_line,
    needs_zarr,
    run_subprocess,
    scipy_describe,
    write_h5,
)

distributed = pytest.importorskip("distributed")
try:
    import zarr
except ImportError:
    zarr = None
#: The input formats every engine reads at any row, and the output tasks write.
FORMATS = ["h5", "npy", pytest.param("zarr", marks=needs_zarr)]
CHUNKED = "zarr" if zarr is not None else "h5"  # an input with chunks of its own
OUT = ".zarr" if zarr is not None else ".h5"

from normcli.io import open_reader  # noqa: E402
from normcli.ops.describe import describe_arrays  # noqa: E402
from normcli.reporting import Reporter  # noqa: E402

RNG = np.random.default_rng(88)
N = 64
#: Chunk sizes in bytes for rows of X (6 * 5 float32 = 120 bytes): 1, 2, 50 rows, n, n + 42.
X_ROW = 6 * 5 * 4
CHUNKS = [f"{r * X_ROW}B" for r in (1, 2, 50, N, N + 42)]


@pytest.fixture(scope="module")
def cluster():
    with distributed.LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=False,
        dashboard_address=":0",  # any free port: 8787 may be taken
        silence_logs=50,
    ) as c:
        yield c


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """The same arrays as HDF5, .npy and Zarr (with chunks of their own)."""
    root = tmp_path_factory.mktemp("dask-data")
    x = RNG.normal(1e3, 25.0, size=(N, 6, 5)).astype(np.float32)
    x[::7, 2] = 0.0
    images = RNG.integers(0, 256, size=(N, 8, 8)).astype(np.uint8)
    labels = RNG.integers(0, 10, N).astype(np.uint8)
    np.save(root / "x.npy", x)
    write_h5(root / "d.h5", {"x": x, "images": images, "labels": labels}, chunks=True)
    if zarr is not None:
        group = zarr.open_group(str(root / "d.zarr"), mode="w")
        for name, arr in {"x": x, "images": images, "labels": labels}.items():
            chunks = (11, *arr.shape[1:])
            group.create_array(name, shape=arr.shape, dtype=arr.dtype, chunks=chunks)[...] = arr
    return {
        "root": root,
        "x": x,
        "images": images,
        "labels": labels,
        "inputs": {"h5": root / "d.h5", "npy": root / "x.npy", "zarr": root / "d.zarr"},
    }


def both(invoke, cluster, *args):
    """The JSON of a command with the local engine and with the dask engine."""
    local = invoke(*args, "--json")
    assert local.exit_code == 0, local.stderr
    dask = invoke(*args, "--json", "--engine", "dask", "--scheduler", cluster.scheduler_address)
    assert dask.exit_code == 0, dask.stderr
    return json.loads(local.stdout), json.loads(dask.stdout)


def store(path, name):
    """An array of an output, as zarr or h5py reads it."""
    if path.suffix == ".zarr":
        return zarr.open_group(str(path), mode="r")[name][...]
    with h5py.File(path, "r") as f:
        return f[name][...]


def key_of(fmt):
    return [] if fmt == "npy" else ["-k", "x"]


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("axis", [None, "0", "1,2", "0,1"])
def test_describe_same_figures(invoke, cluster, data, fmt, axis):
    args = ["describe", data["inputs"][fmt], *key_of(fmt), "--chunk-size", CHUNKS[2]]
    if axis:
        args += ["--axis", axis]
    local, dask = both(invoke, cluster, *args)
    assert dask == local  # same chunks, same functions, same merges: the same bits
    axes = None if axis is None else tuple(int(a) for a in axis.split(","))
    assert_matches_scipy(dask["arrays"][0]["stats"], scipy_describe(data["x"], axes))


@pytest.mark.parametrize("chunk", CHUNKS)
def test_describe_every_chunking_and_exact_integers(invoke, cluster, data, chunk):
    local, dask = both(invoke, cluster, "describe", data["inputs"]["h5"], "--chunk-size", chunk)
    assert dask == local
    by_name = {a["name"]: a["stats"] for a in dask["arrays"]}
    for name in ("x", "images", "labels"):
        assert_matches_scipy(by_name[name], scipy_describe(data[name]))


def test_describe_exclude_zeros(invoke, cluster, data):
    local, dask = both(invoke, cluster, "describe", data["inputs"][CHUNKED], "--exclude-zeros")
    assert dask == local
    x = data["x"]
    assert_matches_scipy(
        {a["name"]: a for a in dask["arrays"]}["x"]["stats"], scipy_describe(x[x != 0])
    )


METHODS = [
    ["-m", "minmax"],
    ["-m", "minmax", "--axis", "0", "--range", "-1", "1"],
    ["-m", "zscore"],
    ["-m", "zscore", "--axis", "0,1"],
    ["-m", "lp"],
    ["-m", "lp", "--axis", "0", "--order", "1"],
    ["-m", "per-image"],
    ["-m", "scale", "--factor", "1/255"],
]


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("method", METHODS, ids=lambda m: " ".join(m[1:]))
def test_normalize_same_figures_and_same_bytes(tmp_path, invoke, cluster, data, fmt, method):
    src = data["inputs"][fmt]
    outs = {}
    docs = {}
    for engine in ("local", "dask"):
        out = tmp_path / f"{engine}{OUT}"
        args = ["normalize", src, out, *key_of(fmt), *method, "--chunk-size", CHUNKS[2]]
        args += ["--json", "--engine", engine]
        if engine == "dask":
            args += ["--scheduler", cluster.scheduler_address]
        result = invoke(*args)
        assert result.exit_code == 0, result.stderr
        docs[engine] = json.loads(result.stdout)
        outs[engine] = store(out, "x")
    assert outs["dask"].dtype == outs["local"].dtype == np.float32
    np.testing.assert_array_equal(outs["dask"], outs["local"])
    docs["dask"].pop("output"), docs["local"].pop("output")
    assert docs["dask"] == docs["local"]
    (report,) = docs["dask"]["arrays"]
    assert_matches_scipy(report["before"], scipy_describe(data["x"]))
    assert_matches_scipy(report["after"], scipy_describe(outs["dask"]))
    if fmt != "npy":  # arrays not selected are copied by the workers, unchanged
        for name in ("images", "labels"):
            copied = store(tmp_path / f"dask{OUT}", name)
            assert copied.dtype == data[name].dtype
            np.testing.assert_array_equal(copied, data[name])


@pytest.mark.parametrize("chunk", CHUNKS)
def test_normalize_every_chunking_float64(tmp_path, invoke, cluster, data, chunk):
    outs = []
    for extra in ([], ["--engine", "dask", "--scheduler", cluster.scheduler_address]):
        out = tmp_path / f"o{len(outs)}{OUT}"
        args = ["normalize", data["inputs"]["npy"], out, "-m", "zscore", "--axis", "0"]
        result = invoke(*args, "--dtype", "float64", "--chunk-size", chunk, "-q", *extra)
        assert result.exit_code == 0, result.stderr
        outs.append(store(out, "x"))
    np.testing.assert_array_equal(outs[1], outs[0])
    xf = data["x"].astype(np.float64)
    expected = (xf - xf.mean(axis=0)) / xf.std(axis=0)
    np.testing.assert_allclose(outs[1], expected, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize(
    "method", [["-m", "zscore", "--axis", "0"], ["-m", "minmax"], ["-m", "lp", "--axis", "0"]]
)
def test_fit_same_parameters(tmp_path, invoke, cluster, data, fmt, method):
    args = ["fit", data["inputs"][fmt], *key_of(fmt), *method, "--chunk-size", CHUNKS[1]]
    local, dask = both(invoke, cluster, *args)
    assert dask == local
    stats = dask["params"]["statistics"]
    xf = data["x"].astype(np.float64)
    if "zscore" in method:
        np.testing.assert_allclose(stats["mean"], xf.mean(axis=0), rtol=1e-12)
        np.testing.assert_allclose(stats["std"], xf.std(axis=0), rtol=1e-12)
    elif "minmax" in method:
        assert (stats["min"], stats["max"]) == (float(xf.min()), float(xf.max()))
    else:
        np.testing.assert_allclose(stats["norm"], np.linalg.norm(xf, axis=0), rtol=1e-12)


def test_fit_key_params_and_invert_on_dask(tmp_path, invoke, cluster, data):
    """Train statistics applied to other arrays, saved, and inverted: same as local."""
    src = data["inputs"]["h5"]
    sched = ["--engine", "dask", "--scheduler", cluster.scheduler_address]
    for engine, extra in (("local", []), ("dask", sched)):
        out = tmp_path / f"{engine}{OUT}"
        result = invoke(
            "normalize", src, out, "-k", "x", "-k", "images", "--fit-key", "x", "-m", "zscore",
            "--save-params", tmp_path / f"{engine}.json", "-q", *extra,
        )  # fmt: skip
        assert result.exit_code == 0, result.stderr
        back = tmp_path / f"{engine}-back{OUT}"
        result = invoke(
            "invert", out, back, "-k", "x", "--params", tmp_path / f"{engine}.json",
            "--dtype", "float64", "-q", *extra,
        )  # fmt: skip
        assert result.exit_code == 0, result.stderr
    for name in ("x", "images"):
        np.testing.assert_array_equal(
            store(tmp_path / f"dask{OUT}", name), store(tmp_path / f"local{OUT}", name)
        )
    assert (tmp_path / "dask.json").read_text() == (tmp_path / "local.json").read_text()
    restored = store(tmp_path / f"dask-back{OUT}", "x")
    np.testing.assert_array_equal(restored, store(tmp_path / f"local-back{OUT}", "x"))
    np.testing.assert_allclose(restored, data["x"], rtol=1e-6, atol=1e-6 * 1e3)


@pytest.mark.parametrize("suffix", [".npy", ".h5", ".npz"])
def test_outputs_written_in_order_by_this_process(tmp_path, invoke, cluster, data, suffix):
    """Formats written only in order get the blocks as they arrive: same bytes."""
    outs = []
    for extra in ([], ["--engine", "dask", "--scheduler", cluster.scheduler_address]):
        out = tmp_path / f"o{len(outs)}{suffix}"
        args = ["normalize", data["inputs"]["npy"], out, "-m", "zscore", "--chunk-size", "1KiB"]
        result = invoke(*args, "-q", *extra)
        assert result.exit_code == 0, result.stderr
        with open_reader(out) as r:
            outs.append(r.read("x" if suffix != ".npy" else r.names()[0]))
    np.testing.assert_array_equal(outs[1], outs[0])


def test_default_scheduler_is_threads_here(tmp_path, invoke, data):
    local = invoke("describe", data["inputs"][CHUNKED], "--json")
    dask = invoke("describe", data["inputs"][CHUNKED], "--json", "--engine", "dask")
    assert dask.exit_code == 0, dask.stderr
    assert json.loads(dask.stdout) == json.loads(local.stdout)


@pytest.mark.slow
def test_local_cluster_of_worker_processes(tmp_path, data):
    """--scheduler local:2 starts two worker processes; a real subprocess, as users run it."""
    out = tmp_path / f"o{OUT}"
    args = ["normalize", data["inputs"]["h5"], out, "-k", "x", "-m", "zscore", "--axis", "0"]
    args += ["--chunk-size", "2KiB", "--json", "--engine", "dask", "--scheduler", "local:2"]
    proc = run_subprocess(*args)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    xf = data["x"].astype(np.float64)
    expected = ((xf - xf.mean(axis=0)) / xf.std(axis=0)).astype(np.float32)
    np.testing.assert_allclose(store(out, "x"), expected, rtol=1e-6, atol=1e-6)
    assert json.loads(proc.stdout)["arrays"][0]["name"] == "x"


# -- errors ------------------------------------------------------------------------------------


def test_nan_found_by_a_worker_is_one_error_and_leaves_nothing(tmp_path, invoke, cluster):
    x = RNG.normal(size=(60, 4)).astype(np.float32)
    x[47, 2] = np.nan
    np.save(tmp_path / "x.npy", x)
    result = invoke(
        "normalize", tmp_path / "x.npy", tmp_path / f"o{OUT}", "-m", "per-image",
        "--chunk-size", "64B", "--engine", "dask", "--scheduler", cluster.scheduler_address,
    )  # fmt: skip
    assert result.exit_code == 1
    assert_one_error_line(result, "x.npy:x", "NaN", "--nan omit")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.npy"]


@needs_zarr
def test_ctrl_c_while_workers_write_leaves_the_previous_store(
    tmp_path, invoke, cluster, data, monkeypatch
):
    """Interrupted between blocks (here), with workers writing blocks to the temporary
    store: exit 130, the old OUTPUT intact, no temporary store left behind."""
    from normcli.engines import ApplyStep

    calls = {"n": 0}
    original = ApplyStep.absorb_before

    def interrupted(self, state, check):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt
        return original(self, state, check)

    out = tmp_path / "o.zarr"
    group = zarr.open_group(str(out), mode="w")
    group.create_array("old", shape=(3,), dtype="i4")[...] = [1, 2, 3]
    monkeypatch.setattr(ApplyStep, "absorb_before", interrupted)
    r = invoke(
        "normalize", data["inputs"]["npy"], out, "-m", "zscore", "--chunk-size", "256B",
        "--force", "--engine", "dask", "--scheduler", cluster.scheduler_address,
    )  # fmt: skip
    assert r.exit_code == 130
    assert_one_error_line(r, "interrupted")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["o.zarr"]
    assert store(out, "old").tolist() == [1, 2, 3]


def test_compressed_npz_is_refused_up_front(tmp_path, invoke, cluster):
    np.savez_compressed(tmp_path / "c.npz", a=np.ones((5, 2)))
    result = invoke(
        "describe", tmp_path / "c.npz", "--engine", "dask", "--scheduler", cluster.scheduler_address
    )
    assert result.exit_code == 1
    assert_one_error_line(result, "c.npz", "compressed", "local engine")


def test_stored_npz_is_read_in_blocks(tmp_path, invoke, cluster):
    a = RNG.normal(size=(33, 3))
    np.savez(tmp_path / "s.npz", a=a, b=np.arange(4))
    local, dask = both(invoke, cluster, "describe", tmp_path / "s.npz", "--chunk-size", "48B")
    assert dask == local


@pytest.mark.parametrize(
    ("args", "code", "needles"),
    [
        (["--scheduler", "local:2"], 2, ["--engine dask"]),
        (["--engine", "dask", "--scheduler", "local:0"], 2, ["N >= 1"]),
        (["--engine", "dask", "--scheduler", "localhost"], 2, ["local:N"]),
        (["--engine", "dask", "--scheduler", "foo://host:1"], 2, ["unknown protocol 'foo'"]),
    ],
)
def test_bad_engine_options(invoke, data, args, code, needles):
    result = invoke("describe", data["inputs"]["npy"], *args)
    assert result.exit_code == code
    assert_one_error_line(result, *needles)


def test_missing_extra_names_it(invoke, data, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "distributed", None)  # import fails
    result = invoke("describe", data["inputs"]["npy"], "--engine", "dask")
    assert result.exit_code == 1
    assert_one_error_line(result, "pip install 'normcli[dask]'")


# -- the library ----------------------------------------------------------------------------------


def test_library_describe_with_a_runner(cluster, data):
    from normcli.engines.dask_runner import DaskRunner

    with distributed.Client(cluster.scheduler_address, set_as_default=False) as client:
        runner = DaskRunner(client)
        with open_reader(data["inputs"][CHUNKED]) as reader:
            infos = [reader.info("images")]
            got = describe_arrays(reader, infos, progress=Reporter(), runner=runner)
    assert_matches_scipy(got[0].stats, scipy_describe(data["images"]))


def test_hist_and_ranks_and_image_folder_output_on_dask(tmp_path, invoke, cluster, data):
    """--hist and --check-ranks see each chunk beside its output, an image folder
    quantizes what it stores: with the dask engine the blocks come back and the same
    steps run here, so the report and the files are the local engine's."""
    sched = ["--engine", "dask", "--scheduler", cluster.scheduler_address]
    src = data["inputs"][CHUNKED]
    docs = []
    for extra in ([], sched):
        out = tmp_path / f"o{len(docs)}{OUT}"
        args = ["normalize", src, out, "-k", "images", "-m", "lp", "--axis", "1"]
        result = invoke(*args, "--hist", "--check-ranks", "--json", "--chunk-size", "1KiB", *extra)
        assert result.exit_code == 0, result.stderr
        doc = json.loads(result.stdout)
        doc.pop("output")
        docs.append(doc)
    assert docs[1] == docs[0]
    np.testing.assert_array_equal(
        store(tmp_path / f"o1{OUT}", "images"), store(tmp_path / f"o0{OUT}", "images")
    )
    folders = []
    for extra in ([], sched):
        out = tmp_path / f"img{len(folders)}"
        args = ["normalize", src, f"{out}/", "-k", "images", "-m", "per-image", "-q"]
        result = invoke(*args, "--chunk-size", "1KiB", *extra)
        assert result.exit_code == 0, result.stderr
        with open_reader(out) as r:
            folders.append(r.read("images"))
    np.testing.assert_array_equal(folders[1], folders[0])


def test_allow_external_reaches_the_workers(invoke, cluster, tmp_path, monkeypatch):
    # Workers reopen INPUT themselves: with the options it was opened with, so HDF5
    # external storage allowed here is allowed there (and found beside the file).
    x = RNG.normal(size=(N, 6, 5))
    (tmp_path / "raw.bin").write_bytes(x.astype("<f8").tobytes())
    with h5py.File(tmp_path / "ext.h5", "w") as f:
        f.create_dataset("x", shape=x.shape, dtype="<f8", external=[("raw.bin", 0, x.nbytes)])
    monkeypatch.chdir(tmp_path.parent)
    line = ("describe", tmp_path / "ext.h5", "--allow-external", "--chunk-size", CHUNKS[1])
    local, dask = both(invoke, cluster, *line)
    assert dask == local
    assert_matches_scipy(dask["arrays"][0]["stats"], scipy_describe(x))
