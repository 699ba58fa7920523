"""Hostile input, round two: one regression test per class of defect a mutation campaign
found (issue 15). Each builds its file here, runs the command as a real process where a
hang, a stuck thread or debris at interpreter exit matter, and checks the whole refusal
promise with the ``refused`` fixture (one ``Error:`` line, no traceback, nothing written,
input untouched) or, for a valid file, the values against numpy.
"""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
from conftest import png_bytes, run_subprocess, tree
from PIL import Image

zarr = pytest.importorskip("zarr")
tifffile = pytest.importorskip("tifffile")

ALL = ["ls", "describe", "normalize"]


def cmd(command: str, path: Path, *extra) -> tuple:
    if command == "normalize":
        return ("normalize", path, path.parent / "out.npz", "-m", "minmax", *extra)
    return (command, path, *extra)


def folder(tmp_path: Path, n: int = 3, shape=(8, 8)) -> Path:
    d = tmp_path / "imgs"
    d.mkdir()
    for k in range(n):
        Image.fromarray(np.full(shape, 10 * k, np.uint8)).save(d / f"{k}.png")
    return d


# == zip and .npy ==============================================================================


@pytest.mark.parametrize("command", ALL)
def test_npz_member_flagged_strong_encryption_is_refused(refused, tmp_path, command):
    path = tmp_path / "enc.npz"
    np.savez(path, x=np.arange(12.0).reshape(3, 4))
    raw = bytearray(path.read_bytes())
    raw[raw.find(b"PK\x03\x04") + 6] |= 0x40  # general-purpose bit 6, local header
    raw[raw.find(b"PK\x01\x02") + 8] |= 0x40  # and central directory
    path.write_bytes(bytes(raw))
    with pytest.raises(NotImplementedError):  # what zipfile does with it
        zipfile.ZipFile(path).read("x.npy")
    refused(*cmd(command, path), needles=("enc.npz:x.npy", "encrypted"))


def _npy_with_dims(path: Path, ndim: int, value: float) -> np.ndarray:
    shape = (1,) * ndim
    header = f"{{'descr': '<f4', 'fortran_order': False, 'shape': {shape}, }}".encode()
    pad = 64 - (10 + len(header) + 1) % 64
    path.write_bytes(
        b"\x93NUMPY\x01\x00"
        + struct.pack("<H", len(header) + pad + 1)
        + header
        + b" " * pad
        + b"\n"
        + np.float32(value).tobytes()
    )
    return np.load(path)


@pytest.mark.parametrize("method", [["-m", "lp"], ["-m", "lp", "--order", "1"], ["-m", "zscore"]])
def test_an_array_of_64_dimensions_is_normalized_like_numpy_does(invoke, tmp_path, method):
    path = tmp_path / "deep.npy"
    x = _npy_with_dims(path, 64, -3.0)
    assert x.ndim == 64
    out = tmp_path / "out.npy"
    result = invoke("normalize", path, out, *method, "-q")
    assert result.exit_code == 0, result.stderr
    got = np.load(out)
    expected = {"lp": x / np.abs(x), "zscore": np.zeros_like(x)}[method[1]]
    np.testing.assert_allclose(got, expected.astype(np.float32))


@pytest.mark.parametrize("fmt", ["npy", "npz"])
def test_big_endian_fortran_arrays_normalize_under_dask_like_local(invoke, tmp_path, fmt):
    pytest.importorskip("distributed")
    x = np.asfortranarray(np.arange(24, dtype=">f8").reshape(4, 6) ** 1.5)
    path = tmp_path / f"be.{fmt}"
    if fmt == "npy":
        np.save(path, x)
    else:
        np.savez(path, x=x)
    outs = {}
    for engine in ("local", "dask"):
        out = tmp_path / f"out_{engine}.npy"
        result = invoke("normalize", path, out, "-m", "minmax", "--engine", engine, "-q")
        assert result.exit_code == 0, result.stderr
        outs[engine] = np.load(out)
    expected = (x - x.min()) / (x.max() - x.min())
    np.testing.assert_allclose(outs["dask"], expected.astype(np.float32), rtol=1e-6)
    np.testing.assert_array_equal(outs["dask"], outs["local"])


@pytest.mark.parametrize("engine", ["local", "dask"])
def test_a_big_endian_fortran_npy_whose_rows_are_contiguous_is_byte_swapped_on_a_copy(
    invoke, tmp_path, engine
):
    """A Fortran-ordered big-endian array of 33 axes of length 1: the rows read from its
    memory map are already contiguous, so they are the map itself (read-only), and were
    once byte-swapped in place (ValueError: array to be byte-swapped is read-only)."""
    if engine == "dask":
        pytest.importorskip("distributed")
    path = tmp_path / "deep.npy"
    np.save(path, np.full((1,) * 33, 7.25, dtype=">f8"))
    raw = path.read_bytes().replace(b"'fortran_order': False", b"'fortran_order': True ")
    path.write_bytes(raw)
    x = np.load(path)
    assert np.isfortran(x) or x.flags.f_contiguous
    out = tmp_path / "out.npy"
    r = invoke("normalize", path, out, "-m", "scale", "--factor", "2", "--engine", engine, "-q")
    assert r.exit_code == 0, r.stderr
    np.testing.assert_array_equal(np.load(out), (x * 2).astype(np.float32))


# == images ====================================================================================


@pytest.mark.parametrize("command", ALL)
@pytest.mark.parametrize("keep", [20, 24, 30])
def test_png_truncated_inside_its_header_is_refused(refused, tmp_path, command, keep):
    d = folder(tmp_path)
    (d / "1.png").write_bytes((d / "1.png").read_bytes()[:keep])
    if command == "ls":  # ls reads the first image's header only
        (d / "0.png").write_bytes((d / "1.png").read_bytes())
    refused(*cmd(command, d), needles=("1.png" if command != "ls" else "0.png",))


@pytest.mark.parametrize("command", ALL)
def test_palette_png_without_a_palette_is_read_or_refused_in_one_line(
    refused, invoke, tmp_path, command
):
    d = tmp_path / "imgs"
    d.mkdir()
    (d / "a.png").write_bytes(png_bytes(4, 4, 8, 3, b"\x00" * 5 * 4))  # colour 3, no PLTE
    # Pillow reads it with a default palette; it once raised AttributeError in normcli
    result = invoke(*cmd(command, d))
    assert result.exit_code == 0 and result.stderr.count("\n") <= 1, result.stderr
    with Image.open(d / "a.png") as im:  # the oracle: Pillow's RGB of it
        expected = np.asarray(im.convert("RGB"))
    if command == "describe":
        got = invoke("describe", d, "--json")
        stats = json.loads(got.stdout)["arrays"][0]
        assert stats["shape"] == [1, *expected.shape]
        assert stats["stats"]["mean"] == pytest.approx(float(expected.mean()))
    # and with its pixels cut short, refused in one line
    (d / "a.png").write_bytes(png_bytes(4, 4, 8, 3, b"\x00" * 7))
    (tmp_path / "out.npz").unlink(missing_ok=True)
    if command != "ls":
        refused(*cmd(command, d), needles=("a.png",))


def _tiff_tag(path: Path, tag: int, value: int) -> None:
    """Overwrite the first value of ``tag`` in the first IFD of a little-endian TIFF."""
    raw = bytearray(path.read_bytes())
    assert raw[:2] == b"II"
    ifd = struct.unpack("<I", raw[4:8])[0]
    (n,) = struct.unpack("<H", raw[ifd : ifd + 2])
    for e in range(n):
        at = ifd + 2 + 12 * e
        t, kind, _count = struct.unpack("<HHI", raw[at : at + 8])
        if t == tag:
            fmt = "<H" if kind == 3 else "<I"
            raw[at + 8 : at + 8 + struct.calcsize(fmt)] = struct.pack(fmt, value)
            path.write_bytes(bytes(raw))
            return
    raise AssertionError(f"no tag {tag}")


@pytest.mark.parametrize("command", ["describe", "normalize"])
@pytest.mark.parametrize("edit", ["ImageWidth 0", "ImageLength 0", "BitsPerSample 2"])
def test_tiff_with_odd_dimensions_or_depth_is_read_or_refused_in_one_line(
    refused, invoke, tmp_path, command, edit
):
    d = tmp_path / "imgs"
    d.mkdir()
    for name in ("a.tif", "b.tif"):
        tifffile.imwrite(d / name, np.arange(16, dtype=np.uint8).reshape(4, 4))
    tag = {"ImageWidth": 256, "ImageLength": 257, "BitsPerSample": 258}[edit.split()[0]]
    _tiff_tag(d / "b.tif", tag, int(edit.split()[1]))
    try:
        decoded = tifffile.imread(d / "b.tif")
    except Exception:
        decoded = None
    if decoded is not None and decoded.shape == (4, 4) and decoded.dtype == np.uint8:
        result = invoke(*cmd(command, d))  # readable (2-bit samples, with imagecodecs)
        assert result.exit_code == 0, result.stderr
        return
    refused(*cmd(command, d), needles=("b.tif",))


def test_describe_of_an_image_shape_never_fails():
    from normcli.io.images import _describe

    for shape in [(), (5,), (4, 0), (4, 4, 3), (1, 2, 3, 4)]:
        assert str(shape).replace(",)", ")") in _describe(shape, np.uint8).replace(",)", ")")


def _peak_rss_mb(args) -> tuple[subprocess.CompletedProcess, float]:
    """Run normcli in a fresh intermediate process, which reports its child's peak RSS."""
    script = (
        "import resource, subprocess, sys\n"
        "r = subprocess.run([sys.executable, '-m', 'normcli', *sys.argv[1:]],"
        " capture_output=True, text=True)\n"
        "sys.stderr.write(r.stderr)\n"
        "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
        "sys.exit(r.returncode)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script, *map(str, args)], capture_output=True, text=True
    )
    return result, int(result.stdout.strip().splitlines()[-1]) / 1024


def test_an_image_declaring_a_huge_size_is_refused_from_its_header(tmp_path):
    """Image sizes come from the headers, read before any pixel: a folder of mixed sizes
    is valid (issue 13), so the 9000x9000 image is refused where its size is refused,
    by --max-pixels or by an OUTPUT that needs one size, before anything is decoded."""
    d = folder(tmp_path)
    (d / "z.png").write_bytes(png_bytes(9000, 9000, 8, 0, b"\x00" * 9001))
    before = tree(tmp_path)
    for args, needles in (
        (["describe", d, "--max-pixels", "1000000"], ("z.png", "81,000,000 pixels")),
        (["normalize", d, tmp_path / "o.npz", "-m", "zscore"], ("widths 8-9000", "--resize")),
    ):
        result, peak = _peak_rss_mb(args)
        assert result.returncode == 1
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("Error: "), result.stderr
        assert all(n in lines[0] for n in needles), lines[0]
        assert peak < 150, f"peak RSS {peak:.0f} MB before refusing"  # no pixel decoded
        assert tree(tmp_path) == before


def test_a_tiff_needing_a_missing_codec_names_the_package(tmp_path):
    pytest.importorskip("imagecodecs")
    d = tmp_path / "imgs"
    d.mkdir()
    tifffile.imwrite(d / "a.tif", np.arange(64, dtype=np.uint8).reshape(8, 8), compression="lzw")
    # tifffile without imagecodecs: it falls back to its own few codecs, LZW not among them
    script = (
        "import sys; sys.modules['imagecodecs'] = None\n"
        "from normcli.__main__ import main; main(sys.argv[1:])\n"
    )
    before = tree(tmp_path)
    r = subprocess.run(
        [sys.executable, "-c", script, "describe", str(d)], capture_output=True, text=True
    )
    assert r.returncode == 1, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    assert "a.tif" in lines[0] and "pip install imagecodecs" in lines[0]
    assert "damaged" not in lines[0]
    assert tree(tmp_path) == before


# == Zarr ======================================================================================


def zarr_store(tmp_path: Path, fmt: int = 3, shape=(8, 4), chunks=(2, 4), **kwargs) -> Path:
    path = tmp_path / "s.zarr"
    group = zarr.open_group(str(path), mode="w", zarr_format=fmt)
    arr = group.create_array("x", shape=shape, chunks=chunks, dtype="f4", **kwargs)
    arr[:] = np.arange(np.prod(shape), dtype="f4").reshape(shape)
    return path


def chunk_files(path: Path) -> list[Path]:
    return sorted(
        p
        for p in (path / "x").rglob("*")
        if p.is_file() and p.name not in ("zarr.json", ".zarray", ".zattrs")
    )


@pytest.mark.parametrize("fmt", [2, 3])
@pytest.mark.parametrize("command", ALL)
def test_zarr_chunk_that_is_a_pipe_is_refused_not_waited_on(refused, tmp_path, command, fmt):
    path = zarr_store(tmp_path, fmt)
    victim = chunk_files(path)[1]
    victim.unlink()
    os.mkfifo(victim)
    refused(*cmd(command, path), process=True, timeout=60, needles=("s.zarr", "pipe"))


@pytest.mark.parametrize("shape", [[2**40, 4], [2**64]])
@pytest.mark.parametrize("command", ALL)
def test_zarr_shape_edited_beyond_its_chunks_is_refused_not_streamed(
    refused, tmp_path, command, shape
):
    path = zarr_store(tmp_path, 3, shape=(8, 4)[: len(shape)], chunks=(2, 4)[: len(shape)])
    meta_file = path / "x" / "zarr.json"
    meta = json.loads(meta_file.read_text())
    meta["shape"] = shape
    meta_file.write_text(json.dumps(meta))
    if command == "ls":  # the array is listed, not read, with the reason (issue 14)
        r = run_subprocess("ls", path, "--json", timeout=60)
        assert r.returncode == 0, r.stderr
        (skipped,) = json.loads(r.stdout)["skipped"]
        assert skipped["name"] == "x" and "never written" in skipped["reason"]
        return
    refused(*cmd(command, path), process=True, timeout=60, needles=("s.zarr:x", "never written"))


def test_a_sparse_zarr_store_missing_a_few_chunks_still_reads_as_fill_values(invoke, tmp_path):
    path = zarr_store(tmp_path, 3, shape=(8, 4), chunks=(2, 4))
    chunk_files(path)[0].unlink()
    expected = np.asarray(zarr.open_array(str(path / "x"), mode="r")[:])
    assert (expected[:2] == 0).all()
    result = invoke("describe", path, "--json")
    assert result.exit_code == 0, result.stderr
    stats = json.loads(result.stdout)["arrays"][0]["stats"]
    assert stats["mean"] == pytest.approx(float(expected.mean()))


@pytest.mark.parametrize("command", ["describe", "normalize"])
def test_corrupt_zarr_chunks_give_one_line_and_no_asyncio_debris(refused, tmp_path, command):
    # many chunks read at once, some corrupt: zarr's event loop is left with pending
    # tasks that, at interpreter exit, print "Task was destroyed but it is pending!"
    path = zarr_store(tmp_path, 3, shape=(4000, 64), chunks=(10, 64))
    for f in chunk_files(path)[5::7]:
        f.write_bytes(f.read_bytes()[:-9])
    refused(*cmd(command, path), process=True, timeout=120, needles=("s.zarr:x",))


def _edit(meta: dict, edit: str) -> None:
    if edit == "zarr_format null":
        meta["zarr_format"] = None
    elif edit == "codecs deleted":
        del meta["codecs"]
    elif edit == "dtype mismatch":
        meta["data_type"] = "float64"
    elif edit == "order X":
        meta["order"] = "X"
    elif edit == "chunks mismatch":
        meta["chunks"] = [3, 4]
    elif edit == "unknown codec":
        meta["codecs"].append({"name": "no-such-codec"})


@pytest.mark.parametrize(
    "fmt,edit",
    [
        (3, "zarr_format null"),
        (3, "codecs deleted"),
        (3, "dtype mismatch"),
        (3, "unknown codec"),
        (2, "order X"),
        (2, "chunks mismatch"),
        (2, "dtype mismatch"),
    ],
)
@pytest.mark.parametrize("engine", ["local", "dask"])
def test_zarr_metadata_edits_give_one_line(refused, tmp_path, fmt, edit, engine):
    if engine == "dask":
        pytest.importorskip("distributed")
    path = zarr_store(tmp_path, fmt)
    meta_file = path / "x" / ("zarr.json" if fmt == 3 else ".zarray")
    meta = json.loads(meta_file.read_text())
    if fmt == 2 and edit == "dtype mismatch":
        meta["dtype"] = "<f8"
    else:
        _edit(meta, edit)
    meta_file.write_text(json.dumps(meta))
    extra = ("--engine", "dask") if engine == "dask" else ()
    refused(*cmd("normalize", path, *extra), process=True, timeout=120, needles=("s.zarr",))


# == the dask engine on images ===================================================================


def test_truncated_jpeg_under_dask_gives_one_line(refused, tmp_path):
    pytest.importorskip("distributed")
    d = tmp_path / "imgs"
    d.mkdir()
    rng = np.random.default_rng(1)
    for k in range(3):
        Image.fromarray(rng.integers(0, 255, (32, 32), dtype=np.uint8)).save(d / f"{k}.jpg")
    (d / "1.jpg").write_bytes((d / "1.jpg").read_bytes()[:300])
    for command in ("describe", "normalize"):
        refused(*cmd(command, d, "--engine", "dask"), process=True, timeout=120)


# == the net under every reader ==================================================================


def test_any_library_error_while_reading_is_one_input_error(tmp_path, monkeypatch):
    """Whatever a library raises in a reader (here: struct.error, KeyError, IndexError)
    reaches the CLI as one InputError naming the file and the library's words."""
    from normcli.errors import InputError
    from normcli.io import open_reader
    from normcli.io.npy import NpyReader

    path = tmp_path / "a.npy"
    np.save(path, np.arange(6.0).reshape(2, 3))
    for exc in (struct.error("unpack requires a buffer"), KeyError("codec"), IndexError("tuple")):

        def boom(self, *args, exc=exc, **kwargs):
            raise exc
            yield  # a generator, as iter_chunks is

        from normcli.io.guard import guarded

        monkeypatch.setattr(NpyReader, "iter_chunks", guarded(boom))
        with open_reader(path) as reader, pytest.raises(InputError) as info:
            list(reader.iter_chunks("a", 1))
        assert "a.npy:a" in str(info.value) and type(exc).__name__ in str(info.value)


def test_a_real_process_that_failed_adds_nothing_after_the_error_line(tmp_path):
    """The exit after an error is immediate: a non-daemon thread a library left blocked
    neither prints nor keeps the process alive."""
    script = (
        "import sys, threading, time\n"
        "threading.Thread(target=time.sleep, args=(3600,)).start()\n"  # not a daemon
        "from normcli.__main__ import main; main(sys.argv[1:])\n"
    )
    r = subprocess.run(
        [sys.executable, "-c", script, "describe", str(tmp_path / "missing.npy")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 1
    assert r.stderr.strip().splitlines() == [
        f"Error: {tmp_path / 'missing.npy'} does not exist; check the path"
    ]
