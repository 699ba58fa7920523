"""Zarr stores behind the Reader/Writer protocols, and through the CLI (local engine)."""

from __future__ import annotations

import builtins
import json

import numpy as np
import pytest
from conftest import assert_matches_scipy, assert_one_error_line, chunkings, scipy_describe

zarr = pytest.importorskip("zarr")

from normcli.errors import InputError, NormcliError, OutputError  # noqa: E402
from normcli.io import open_reader, open_writer  # noqa: E402
from normcli.io.zarr import ZarrReader, ZarrWriter  # noqa: E402

RNG = np.random.default_rng(8)


def write_store(path, arrays: dict, chunk_rows=7, zarr_format=3):
    group = zarr.open_group(str(path), mode="w", zarr_format=zarr_format)
    for name, x in arrays.items():
        chunks = (min(chunk_rows, x.shape[0]), *x.shape[1:]) if x.ndim else ()
        group.create_array(name, shape=x.shape, dtype=x.dtype, chunks=chunks)[...] = x
    return path


def oracle(path, name):
    """The array as the zarr package itself reads it."""
    return zarr.open_group(str(path), mode="r")[name][...]


def listing(path):
    return sorted(p.name for p in path.iterdir())


@pytest.mark.parametrize("zarr_format", [3, 2])
def test_reader_lists_nested_arrays_and_streams_every_chunking(tmp_path, zarr_format):
    x = RNG.normal(size=(53, 4, 3)).astype(np.float32)
    y = RNG.integers(0, 10, 53).astype(np.uint8)
    store = write_store(
        tmp_path / "d.zarr", {"train/images": x, "labels": y}, zarr_format=zarr_format
    )
    with open_reader(store) as r:
        assert r.format == "zarr"
        assert {a.name: (a.shape, a.dtype) for a in r.arrays()} == {
            "labels": ((53,), np.dtype(np.uint8)),
            "train/images": ((53, 4, 3), np.dtype(np.float32)),
        }
        for rows in chunkings(53):
            parts = list(r.iter_chunks("train/images", rows))
            np.testing.assert_array_equal(np.concatenate(parts), oracle(store, "train/images"))
            # reads are aligned to the stored chunks (7 rows), like HDF5 slabs
            step = r.chunk_rows("train/images", rows)
            assert step == rows if rows <= 7 else step % 7 == 0 or step == 53
        np.testing.assert_array_equal(r.read_rows("labels", 10, 31), y[10:31])


def test_reader_of_a_store_whose_root_is_one_array(tmp_path):
    x = RNG.normal(size=(10, 2))
    path = tmp_path / "single.zarr"
    zarr.create_array(str(path), shape=x.shape, dtype=x.dtype, chunks=(3, 2))[...] = x
    with open_reader(path) as r:
        assert r.names() == ["single"]
        np.testing.assert_array_equal(r.read("single"), x)


@pytest.mark.parametrize("rows", chunkings(50))
def test_writer_gathers_rows_into_whole_chunks_whatever_arrives(tmp_path, rows, monkeypatch):
    import normcli.io.zarr as zio

    monkeypatch.setattr(zio, "CHUNK_BYTES", 6 * 4 * 7)  # 7 rows per stored chunk
    x = RNG.normal(size=(50, 6)).astype(np.float32)
    path = tmp_path / "o.zarr"
    with open_writer(path) as w:
        with w.add("g/x", x.shape, x.dtype) as sink:
            for start in range(0, 50, rows):
                sink.write(x[start : start + rows])
        with w.add("s", (), np.int64) as sink:
            sink.write(np.array(7))
        w.commit()
    arr = zarr.open_group(str(path), mode="r")["g/x"]
    assert arr.chunks == (7, 6) and arr.metadata.zarr_format == 3
    np.testing.assert_array_equal(arr[...], x)
    assert oracle(path, "s") == 7
    assert [p for p in tmp_path.iterdir() if p.name.startswith(".")] == []


@pytest.mark.parametrize(
    ("compression", "codec"), [("gzip", "gzip"), ("zstd", "zstd"), (None, None)]
)
def test_writer_compression(tmp_path, compression, codec):
    x = np.zeros((100, 10), dtype=np.float64)
    path = tmp_path / "c.zarr"
    with open_writer(path, compression=compression) as w:
        with w.add("x", x.shape, x.dtype) as sink:
            sink.write(x)
        w.commit()
    arr = zarr.open_group(str(path), mode="r")["x"]
    names = [c.to_dict()["name"] for c in arr.compressors]
    assert names == ([codec] if codec else [])
    np.testing.assert_array_equal(arr[...], x)


def test_writer_refuses_lzf_and_aborts_without_a_trace(tmp_path):
    with pytest.raises(OutputError, match="zstd, gzip or none"):
        ZarrWriter(tmp_path / "c.zarr", compression="lzf")
    with open_writer(tmp_path / "a.zarr") as w, w.add("x", (3,), np.float32) as sink:
        sink.write(np.ones(3, np.float32))
        w.abort()
    assert listing(tmp_path) == []


def test_not_a_store_and_missing_store(tmp_path):
    (tmp_path / "plain.zarr").mkdir()
    with pytest.raises(InputError, match="not a Zarr store"):
        ZarrReader(tmp_path / "plain.zarr")
    with pytest.raises(InputError, match="does not exist"):
        open_reader(tmp_path / "none.zarr")


def test_text_arrays_are_refused_by_name_not_the_store(tmp_path):
    from normcli.ops.select import select_arrays

    group = zarr.open_group(str(tmp_path / "t.zarr"), mode="w")
    group.create_array("words", shape=(2,), dtype=str)[...] = np.array(["a", "b"])
    group.create_array("x", shape=(3,), dtype="f8")[...] = np.arange(3.0)
    with open_reader(tmp_path / "t.zarr") as reader:
        assert reader.names() == ["x"]
        assert "t.zarr:words holds text" in reader.skipped["words"]
        with pytest.raises(InputError, match=r"t.zarr:words holds text"):
            select_arrays(reader, ["words"], default_all=True)
        np.testing.assert_array_equal(reader.read("x"), np.arange(3.0))


def test_missing_extra_names_it(tmp_path, monkeypatch):
    real_import = builtins.__import__

    def no_zarr(name, *args, **kwargs):
        if name == "zarr" or name.startswith("zarr."):
            raise ImportError("No module named 'zarr'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_zarr)
    with pytest.raises(NormcliError, match=r"pip install 'normcli\[zarr\]'"):
        ZarrWriter(tmp_path / "o.zarr")
    assert listing(tmp_path) == []


# -- through the CLI -------------------------------------------------------------------------


def test_npy_normalized_to_zarr_gives_store_slash_name(tmp_path, invoke):
    x = RNG.normal(10, 3, size=(64, 5)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    out = tmp_path / "out.zarr"
    result = invoke("normalize", tmp_path / "x.npy", out, "-m", "zscore", "--json")
    assert result.exit_code == 0, result.stderr
    written = oracle(out, "x")
    mean, std = x.astype(np.float64).mean(), x.astype(np.float64).std()
    np.testing.assert_allclose(written, ((x - mean) / std).astype(np.float32), rtol=1e-6)
    after = json.loads(result.stdout)["arrays"][0]["after"]
    assert_matches_scipy(after, scipy_describe(written))
    ls = invoke("ls", out, "--json")
    assert json.loads(ls.stdout)["arrays"][0]["name"] == "x"


def test_zarr_in_zarr_out_copies_unselected_arrays(tmp_path, invoke):
    x = RNG.normal(size=(40, 3, 3)).astype(np.float32)
    y = RNG.integers(0, 10, 40).astype(np.uint8)
    src = write_store(tmp_path / "in.zarr", {"x": x, "meta/y": y})
    out = tmp_path / "out.zarr"
    result = invoke("normalize", src, out, "-k", "x", "-m", "per-image", "--chunk-size", "100B")
    assert result.exit_code == 0, result.stderr
    np.testing.assert_array_equal(oracle(out, "meta/y"), y)
    assert oracle(out, "meta/y").dtype == np.uint8
    xf = x.astype(np.float64)
    lo, hi = xf.min(axis=(1, 2), keepdims=True), xf.max(axis=(1, 2), keepdims=True)
    np.testing.assert_array_equal(oracle(out, "x"), ((xf - lo) / (hi - lo)).astype(np.float32))
    stats = json.loads(invoke("describe", out, "-k", "meta/y", "--json").stdout)
    assert_matches_scipy(stats["arrays"][0]["stats"], scipy_describe(y))


def test_existing_store_needs_force_and_is_replaced_whole(tmp_path, invoke):
    x = RNG.normal(size=(20, 2)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    out = write_store(tmp_path / "out.zarr", {"old": np.arange(5)})
    result = invoke("normalize", tmp_path / "x.npy", out, "-m", "minmax")
    assert result.exit_code == 1
    assert_one_error_line(result, "already exists", "--force")
    result = invoke("normalize", tmp_path / "x.npy", out, "-m", "minmax", "--force", "-q")
    assert result.exit_code == 0, result.stderr
    assert sorted(zarr.open_group(str(out), mode="r").array_keys()) == ["x"]
    assert listing(tmp_path) == ["out.zarr", "x.npy"]


def test_a_directory_that_is_not_a_store_is_never_replaced(tmp_path, invoke):
    np.save(tmp_path / "x.npy", np.ones((4, 2), np.float32))
    keep = tmp_path / "photos.zarr"
    keep.mkdir()
    (keep / "precious.txt").write_text("keep me")
    result = invoke("normalize", tmp_path / "x.npy", keep, "-m", "minmax", "--force")
    assert result.exit_code == 1
    assert_one_error_line(result, "photos.zarr", "not a Zarr store")
    assert (keep / "precious.txt").read_text() == "keep me"


def test_failure_mid_run_leaves_no_store(tmp_path, invoke):
    x = RNG.normal(size=(30, 4)).astype(np.float32)
    x[25, 1] = np.nan
    np.save(tmp_path / "x.npy", x)
    result = invoke(
        "normalize", tmp_path / "x.npy", tmp_path / "o.zarr", "-m", "lp", "--chunk-size", "32B"
    )
    assert result.exit_code == 1
    assert_one_error_line(result, "NaN", "--nan omit")
    assert listing(tmp_path) == ["x.npy"]
