"""Readers and writers: streamed chunks equal numpy's own loaders, writes are atomic."""

from __future__ import annotations

import gc
import sys
import zipfile

import numpy as np
import pytest
from conftest import chunkings, write_h5

from normcli.errors import InputError, OutputError, ParameterError
from normcli.io import open_reader, open_writer

RNG = np.random.default_rng(7)


def collect(reader, name, rows):
    parts = [np.array(c, copy=True) for c in reader.iter_chunks(name, rows)]
    if parts[0].ndim:
        assert all(p.shape[0] <= rows for p in parts)
        assert len({p.shape[0] for p in parts[:-1]}) <= 1  # equal chunks but the last
    return np.concatenate(parts) if parts[0].ndim else parts[0]


ARRAYS = {
    "uint8": RNG.integers(0, 256, size=(23, 4, 3)).astype(np.uint8),
    "float32": RNG.normal(size=(23, 5)).astype(np.float32),
    "bigendian": RNG.normal(size=(23, 2)).astype(">f8"),
    "int16": RNG.integers(-500, 500, size=(23,)).astype(np.int16),
}


@pytest.mark.parametrize("name", list(ARRAYS))
def test_npy_chunks_equal_np_load(tmp_path, name):
    arr = ARRAYS[name]
    path = tmp_path / f"{name}.npy"
    np.save(path, arr)
    with open_reader(path) as r:
        (info,) = r.arrays()
        assert info.name == name and info.shape == arr.shape
        assert info.dtype == arr.dtype.newbyteorder("=")
        for rows in chunkings(len(arr)):
            got = collect(r, name, rows)
            assert got.dtype.isnative
            np.testing.assert_array_equal(got, arr)


def test_npy_fortran_order_is_read_correctly(tmp_path):
    arr = np.asfortranarray(RNG.normal(size=(17, 6, 3)))
    np.save(tmp_path / "f.npy", arr)
    with open_reader(tmp_path / "f.npy") as r:
        for rows in (1, 4, 17):
            np.testing.assert_array_equal(collect(r, "f", rows), arr)


def test_zero_dimensional_npy(tmp_path):
    np.save(tmp_path / "s.npy", np.array(3.5))
    with open_reader(tmp_path / "s.npy") as r:
        assert r.arrays()[0].shape == ()
        assert r.read("s") == 3.5


@pytest.mark.parametrize("compressed", [False, True])
def test_npz_members_stream(tmp_path, compressed):
    path = tmp_path / "d.npz"
    (np.savez_compressed if compressed else np.savez)(path, **ARRAYS)
    with open_reader(path) as r:
        assert r.names() == list(ARRAYS)
        for name, arr in ARRAYS.items():
            for rows in chunkings(len(arr)):
                np.testing.assert_array_equal(collect(r, name, rows), arr)


def test_npz_fortran_member(tmp_path):
    arr = np.asfortranarray(RNG.normal(size=(9, 4)))
    np.savez_compressed(tmp_path / "f.npz", a=arr)
    with open_reader(tmp_path / "f.npz") as r:
        np.testing.assert_array_equal(collect(r, "a", 2), arr)


def test_hdf5_nested_paths_and_chunk_alignment(tmp_path):
    path = write_h5(tmp_path / "d.h5", {"train/images": ARRAYS["uint8"]}, chunks=(5, 4, 3))
    write_h5(tmp_path / "plain.h5", {"x": ARRAYS["float32"]})
    with open_reader(path) as r:
        assert r.names() == ["train/images"]
        for rows in [*chunkings(23), 7, 12]:
            np.testing.assert_array_equal(collect(r, "train/images", rows), ARRAYS["uint8"])
    with open_reader(tmp_path / "plain.h5") as r:
        np.testing.assert_array_equal(r.read("x"), ARRAYS["float32"])


def test_missing_key_lists_the_keys(tmp_path):
    np.savez(tmp_path / "d.npz", a=np.zeros(3), b=np.ones(3))
    with open_reader(tmp_path / "d.npz") as r, pytest.raises(ParameterError, match="a, b"):
        r.info("c")


def test_object_arrays_are_never_unpickled(tmp_path):
    arr = np.array([{"a": 1}, None], dtype=object)
    np.save(tmp_path / "o.npy", arr, allow_pickle=True)
    with pytest.raises(InputError, match="never unpickles"):
        open_reader(tmp_path / "o.npy")
    np.savez(tmp_path / "o.npz", o=arr, allow_pickle=True)
    with pytest.raises(InputError, match="never unpickles"):
        open_reader(tmp_path / "o.npz")


def test_truncated_npy(tmp_path):
    np.save(tmp_path / "t.npy", np.zeros((100, 10)))
    data = (tmp_path / "t.npy").read_bytes()
    (tmp_path / "t.npy").write_bytes(data[:-8])
    with pytest.raises(InputError, match="truncated"):
        open_reader(tmp_path / "t.npy")


def test_npz_bad_crc_is_detected(tmp_path):
    path = tmp_path / "c.npz"
    np.savez(path, a=np.arange(1000, dtype=np.float64))
    raw = bytearray(path.read_bytes())
    raw[400] ^= 0xFF  # inside the stored data
    path.write_bytes(bytes(raw))
    with open_reader(path) as r, pytest.raises(InputError, match="corrupt"):
        collect(r, "a", 10)


def _flip_member_byte(path, member: str, where: str) -> None:
    """Flip one byte of a member's data as stored in the zip: in its first or last row."""
    with zipfile.ZipFile(path) as z:
        info = z.getinfo(member)
    raw = bytearray(path.read_bytes())
    name_len, extra_len = (
        int.from_bytes(raw[info.header_offset + k :][:2], "little") for k in (26, 28)
    )
    start = info.header_offset + 30 + name_len + extra_len
    at = {"first row": start + 128 + 2, "last row": start + info.compress_size - 3}[where]
    if info.compress_type != zipfile.ZIP_STORED:
        at = start + info.compress_size // 2
    raw[at] ^= 0x5A
    path.write_bytes(bytes(raw))


@pytest.mark.parametrize("rows", [1, 2, 50, 100, 142])
@pytest.mark.parametrize("where", ["first row", "last row"])
@pytest.mark.parametrize("layout", ["stored", "stored, Fortran order", "deflated"])
def test_npz_bad_crc_is_detected_on_every_python_and_chunking(tmp_path, rows, where, layout):
    """zipfile of Python 3.12+ stops checking the CRC after a seek: normcli never seeks."""
    x = RNG.normal(size=(100, 6))
    x = np.asfortranarray(x) if "Fortran" in layout else x
    path = tmp_path / "c.npz"
    (np.savez_compressed if layout == "deflated" else np.savez)(path, a=x, b=x[:, :2])
    _flip_member_byte(path, "a.npy", where)
    with open_reader(path) as r:
        np.testing.assert_array_equal(collect(r, "b", rows), x[:, :2])  # b is intact
        with pytest.raises(InputError, match=r"c\.npz:a\.npy is corrupt"):
            collect(r, "a", rows)


@pytest.mark.parametrize("suffix", [".npy", ".npz", ".h5"])
def test_writers_round_trip_in_chunks(tmp_path, suffix):
    arr = ARRAYS["float32"]
    target = tmp_path / f"out{suffix}"
    with open_writer(target) as w:
        with w.add("x", arr.shape, arr.dtype) as sink:
            for start in range(0, len(arr), 4):
                sink.write(arr[start : start + 4])
        assert not target.exists()  # nothing visible before commit
        w.commit()
    assert [p.name for p in tmp_path.iterdir()] == [target.name]
    with open_reader(target) as r:
        np.testing.assert_array_equal(r.read(r.names()[0]), arr)
    if suffix == ".npy":
        np.testing.assert_array_equal(np.load(target), arr)
    if suffix == ".npz":
        with np.load(target) as z:
            np.testing.assert_array_equal(z["x"], arr)


def test_npz_writer_compression(tmp_path):
    arr = np.zeros((1000, 100), dtype=np.float32)
    with open_writer(tmp_path / "z.npz", compression="gzip") as w:
        with w.add("x", arr.shape, arr.dtype) as sink:
            sink.write(arr)
        w.commit()
    with zipfile.ZipFile(tmp_path / "z.npz") as z:
        assert z.getinfo("x.npy").compress_type == zipfile.ZIP_DEFLATED
    assert (tmp_path / "z.npz").stat().st_size < arr.nbytes / 50


def test_aborted_writer_leaves_nothing(tmp_path):
    with pytest.raises(RuntimeError), open_writer(tmp_path / "o.npz") as w:
        w.add("x", (3,), np.float32).write(np.zeros(2, np.float32))
        raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []


def test_writer_in_missing_directory(tmp_path):
    with pytest.raises(OutputError, match="does not exist"):
        open_writer(tmp_path / "nope" / "o.npy")


def test_an_aborted_hdf5_writer_leaves_nothing_and_reports_nothing_when_collected(tmp_path):
    """Aborted mid-write (a signal): the temporary file is gone, and the guard over it,
    when collected, does not flush the closed file (Python 3.13 printed that ValueError
    as 'Exception ignored in: <..._GuardedFile>' after the Error: line)."""
    unraisable = []
    previous, sys.unraisablehook = sys.unraisablehook, unraisable.append
    try:
        writer = open_writer(tmp_path / "o.h5")
        sink = writer.add("x", (10, 3), np.float32)
        sink.write(np.ones((4, 3), np.float32))
        writer.abort()
        guard = writer._guard
        assert guard.closed
        guard.flush()  # nothing to flush into a closed file: no ValueError
        del writer, sink, guard
        gc.collect()
    finally:
        sys.unraisablehook = previous
    assert unraisable == []
    assert list(tmp_path.iterdir()) == []
