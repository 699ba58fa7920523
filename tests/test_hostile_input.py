"""Hostile and broken input: the promises normcli keeps, one test each.

Files from the internet may be damaged or built to hurt. Whatever the format and the
command, normcli either reads such a file correctly or refuses it; a refusal is exit
code 1, one stderr line ``Error: ...`` naming the file and saying what to do, no
traceback, nothing on stdout, no OUTPUT and no temporary file, and the input
byte-identical (the ``refused`` fixture in conftest.py checks all of it). Nothing in
a file is ever executed (no pickles), and nothing but INPUT is read unless asked.

Oracles: numpy and scipy over the values the tests wrote themselves; for the hostile
files, what numpy/h5py/Pillow would do with them (a pickle that really runs code when
numpy loads it, an HDF5 file that really reads another file).
"""

from __future__ import annotations

import gzip
import io
import json
import os
import struct
import subprocess
import sys
import zipfile
from pathlib import Path

import h5py
import numpy as np
import pytest
from conftest import assert_matches_scipy, png_bytes, scipy_describe, tree
from PIL import Image

RNG = np.random.default_rng(5)

#: The commands that read data, as run on INPUT (OUTPUT is tmp_path/out.npz).
ALL = ["ls", "describe", "normalize"]
#: The commands that read the values (ls reads headers only).
READING = ["describe", "normalize"]


def args(command: str, path: Path, *extra) -> tuple:
    """The command line of ``command`` on ``path``; normalize writes tmp/out.npz."""
    if command == "ls":
        return ("ls", path, *extra)
    if command == "describe":
        return ("describe", path, *extra)
    if command == "normalize":
        return ("normalize", path, path.parent / "out.npz", "-m", "minmax", *extra)
    if command == "normalize-folder":  # an image-folder OUTPUT
        return ("normalize", path, f"{path.parent}/out/", "-m", "per-image", *extra)
    raise AssertionError(command)


def npy_bytes(arr: np.ndarray, **kwargs) -> bytes:
    buf = io.BytesIO()
    np.save(buf, arr, **kwargs)
    return buf.getvalue()


def npz_of(path: Path, members: dict[str, bytes], compression=zipfile.ZIP_STORED) -> Path:
    with zipfile.ZipFile(path, "w", compression=compression) as z:
        for name, data in members.items():
            z.writestr(name, data)
    return path


def sample() -> np.ndarray:
    return RNG.normal(3.0, 2.0, size=(37, 6, 5))


@pytest.fixture
def no_output_opened(monkeypatch):
    """For refusals promised before anything is written: opening OUTPUT fails the test."""

    def forbidden(*args, **kwargs):
        raise AssertionError("OUTPUT was opened before the input was refused")

    monkeypatch.setattr("normcli.ops.normalize.open_writer", forbidden)


# == .npy and .npz ===========================================================================


class RunsCode:
    """Unpickling this creates ``marker``: the proof that code in a file would run."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


@pytest.fixture
def pickles(tmp_path):
    """Files whose pickles would create tmp_path/MARKER if anything unpickled them."""
    proof = tmp_path.parent / f"{tmp_path.name}-proof"
    proof.mkdir()
    live = np.array([RunsCode(proof / "ran"), 1], dtype=object)
    np.save(proof / "o.npy", live, allow_pickle=True)
    np.load(proof / "o.npy", allow_pickle=True)
    assert (proof / "ran").exists()  # numpy with allow_pickle=True does run it

    bad = np.array([RunsCode(tmp_path / "MARKER"), 1], dtype=object)
    record = np.empty(2, dtype=[("x", "f8"), ("o", "O")])
    record["o"] = [RunsCode(tmp_path / "MARKER"), None]
    np.save(tmp_path / "objects.npy", bad, allow_pickle=True)
    np.save(tmp_path / "record.npy", record, allow_pickle=True)
    np.savez(tmp_path / "objects.npz", x=np.arange(3.0), o=bad)
    return tmp_path


@pytest.mark.parametrize("name", ["objects.npy", "record.npy", "objects.npz"])
@pytest.mark.parametrize(
    "command",
    [
        ("ls",),
        ("describe",),
        ("describe", "--nan", "omit", "--chunk-size", "16"),
        ("describe", "--engine", "dask"),
        ("normalize",),
        ("normalize", "-k", "x"),
        ("fit",),
        ("check", "--range", "0", "1"),
    ],
)
def test_pickled_objects_are_never_unpickled_whatever_the_command_or_flag(
    refused, pickles, name, command
):
    path = pickles / name
    if command[0] == "fit":
        line = ("fit", path, "-m", "zscore", "-o", pickles / "p.json")
    elif command[0] in ("ls", "describe", "normalize"):
        line = args(command[0], path, *command[1:])
    else:
        line = (command[0], path, *command[1:])
    refused(*line, needles=(name, "never unpickles"))
    assert not (pickles / "MARKER").exists()


@pytest.mark.parametrize("command", ALL)
def test_npy_header_declaring_more_data_than_the_file_holds_is_refused(refused, tmp_path, command):
    data = npy_bytes(np.arange(100.0).reshape(20, 5))
    path = tmp_path / "short.npy"
    path.write_bytes(data.replace(b"(20, 5)", b"(99, 5)"))
    refused(*args(command, path), needles=("short.npy", "truncated", "declares 3960 bytes"))


def _npy_header(text: bytes, version: int = 1, length: int | None = None) -> bytes:
    fmt = "<H" if version == 1 else "<I"
    size = len(text) if length is None else length
    return b"\x93NUMPY" + bytes([version, 0]) + struct.pack(fmt, size) + text


@pytest.mark.parametrize(
    ("case", "needle"),
    [
        ("4 GiB declared", "declares a 4294967295-byte header"),
        ("100 KiB header", "declares a 102400-byte header"),
        ("nested 30000 deep", "cannot be parsed"),
        ("not a literal", "cannot be parsed"),
        ("shape of strings", "is not a tuple of sizes"),
        ("negative size", "is not a tuple of sizes"),
    ],
)
@pytest.mark.parametrize("command", ALL)
def test_oversized_or_hostile_npy_header_is_refused_unevaluated(
    refused, tmp_path, command, case, needle
):
    head = b"{'descr': '<f8', 'fortran_order': False, 'shape': %s}"
    raw = {
        "4 GiB declared": _npy_header(b"{", version=2, length=2**32 - 1),
        "100 KiB header": _npy_header(b" " * 102400, version=2),
        "nested 30000 deep": _npy_header(b"(" * 30000 + b")" * 30000, version=2),
        "not a literal": _npy_header(b"__import__('os').system('touch MARKER')"),
        "shape of strings": _npy_header(head % b"('a',)"),
        "negative size": _npy_header(head % b"(-1,)"),
    }[case]
    path = tmp_path / "h.npy"
    path.write_bytes(raw)
    refused(*args(command, path), needles=("h.npy", needle))
    assert not (tmp_path / "MARKER").exists()


def _truncated(tmp_path: Path, case: str) -> tuple[Path, str]:
    npy = npy_bytes(np.arange(1000.0))
    if case == "npy: empty file":
        raw, name = b"", "t.npy"
    elif case == "npy: inside the magic":
        raw, name = npy[:5], "t.npy"
    elif case == "npy: inside the header":
        raw, name = npy[:40], "t.npy"
    elif case == "npy: inside the data":
        raw, name = npy[:-8], "t.npy"
    else:
        npz_of(tmp_path / "full.npz", {"x.npy": npy})
        raw, name = (tmp_path / "full.npz").read_bytes()[:-30], "t.npz"
        (tmp_path / "full.npz").unlink()
    (tmp_path / name).write_bytes(raw)
    return tmp_path / name, name


@pytest.mark.parametrize(
    "case",
    [
        "npy: empty file",
        "npy: inside the magic",
        "npy: inside the header",
        "npy: inside the data",
        "npz: zip directory cut off",
    ],
)
@pytest.mark.parametrize("command", ALL)
def test_truncated_npy_and_npz_files_are_refused(refused, tmp_path, command, case):
    path, name = _truncated(tmp_path, case)
    refused(*args(command, path), needles=(name,))


@pytest.mark.parametrize("command", READING)
def test_npz_member_with_a_bad_crc_is_refused_and_nothing_is_written(refused, tmp_path, command):
    path = npz_of(tmp_path / "c.npz", {"x.npy": npy_bytes(np.arange(1000.0).reshape(100, 10))})
    raw = bytearray(path.read_bytes())
    raw[7000] ^= 0xFF  # in the last rows: earlier chunks are already written by then
    path.write_bytes(bytes(raw))
    refused(*args(command, path, "--chunk-size", "1KiB"), needles=("c.npz:x.npy", "corrupt"))


def _zip_bomb(path: Path, declared: int) -> Path:
    """A deflated member whose sizes claim ``declared`` bytes and whose compressed bytes
    are garbage: only a check made before reading can give the zip-bomb message."""
    npz_of(path, {"x.npy": npy_bytes(np.zeros(1000))}, zipfile.ZIP_DEFLATED)
    raw = bytearray(path.read_bytes())
    name_len, extra_len = struct.unpack("<HH", raw[26:30])
    (size,) = struct.unpack("<I", raw[18:22])
    start = 30 + name_len + extra_len
    raw[start : start + size] = b"\xff" * size
    raw[22:26] = struct.pack("<I", declared)  # local header: uncompressed size
    cd = raw.index(b"PK\x01\x02")
    raw[cd + 24 : cd + 28] = struct.pack("<I", declared)  # central directory: the same
    path.write_bytes(bytes(raw))
    return path


@pytest.mark.parametrize("command", ALL)
def test_zip_bomb_is_refused_before_any_data_is_read(refused, no_output_opened, tmp_path, command):
    path = _zip_bomb(tmp_path / "bomb.npz", 2**31)
    with zipfile.ZipFile(path) as z:  # what the archive claims
        info = z.getinfo("x.npy")
        assert info.file_size > 1_000_000 * info.compress_size
    refused(*args(command, path), needles=("bomb.npz:x.npy", "zip bomb", "2147483648"))


@pytest.mark.parametrize(("shape", "needle"), [("(9000,)", "72000"), ("(10,)", "80 bytes")])
@pytest.mark.parametrize("command", ALL)
def test_npz_member_whose_npy_header_disagrees_with_the_zip_is_refused(
    refused, no_output_opened, tmp_path, command, shape, needle
):
    data = npy_bytes(np.zeros(1000)).replace(b"(1000,)", shape.encode().ljust(7))
    path = npz_of(tmp_path / "liar.npz", {"x.npy": data}, zipfile.ZIP_DEFLATED)
    refused(*args(command, path), needles=("liar.npz:x.npy", needle, "corrupt"))


def _overlapping(path: Path) -> Path:
    """Two directory entries for one member's bytes (the trick of non-recursive zip
    bombs: many members, one compressed stream)."""
    npz_of(path, {"a.npy": npy_bytes(np.arange(10.0))})
    raw = path.read_bytes()
    cd, end = raw.index(b"PK\x01\x02"), raw.index(b"PK\x05\x06")
    entry = raw[cd:end]
    record = bytearray(raw[end:])
    struct.pack_into("<HHI", record, 8, 2, 2, 2 * len(entry))
    path.write_bytes(raw[:cd] + entry + entry.replace(b"a.npy", b"b.npy") + bytes(record))
    return path


@pytest.mark.parametrize("command", ALL)
def test_npz_members_sharing_bytes_are_refused(refused, no_output_opened, tmp_path, command):
    path = _overlapping(tmp_path / "twins.npz")
    with zipfile.ZipFile(path) as z:
        assert [i.header_offset for i in z.infolist()] == [0, 0]
    refused(*args(command, path), needles=("twins.npz", "overlap"))


@pytest.mark.parametrize(
    ("member", "needle"),
    [
        ("../x.npy", "'..'"),
        ("a/../../x.npy", "'..'"),
        ("..\\x.npy", "'..'"),
        ("/etc/x.npy", "absolute path"),
        ("C:/x.npy", "absolute path"),
    ],
)
@pytest.mark.parametrize("command", ALL)
def test_npz_member_names_that_leave_the_archive_are_refused(
    refused, tmp_path, command, member, needle
):
    path = npz_of(tmp_path / "names.npz", {member: npy_bytes(np.arange(3.0))})
    refused(*args(command, path), needles=("names.npz", needle))


NON_NUMERIC = {
    "structured": np.zeros(4, dtype=[("a", "f4"), ("b", "i4")]),
    "unicode strings": np.array([["a", "b"]]),
    "byte strings": np.array([b"a", b"b"]),
    "complex": np.ones((4, 2), dtype=complex),
    "datetime": np.array(["2020-01-01", "2021-01-01"], dtype="M8[D]"),
    "timedelta": np.array([1, 2], dtype="m8[s]"),
    "void": np.zeros(4, dtype="V4"),
}
#: What the message calls each, per format (HDF5 has no dates and stores text its way).
NON_NUMERIC_WORDS = {
    "structured": "structured records",
    "unicode strings": "strings",
    "byte strings": "byte strings",
    "complex": "complex numbers",
    "datetime": "dates",
    "timedelta": "time deltas",
    "void": "structured records",
}


def _non_numeric(tmp_path: Path, kind: str, fmt: str) -> tuple[Path, str]:
    arr = NON_NUMERIC[kind]
    if fmt == "npy":
        np.save(tmp_path / "d.npy", arr)
        return tmp_path / "d.npy", NON_NUMERIC_WORDS[kind]
    if fmt == "npz":
        np.savez(tmp_path / "d.npz", d=arr)
        return tmp_path / "d.npz", NON_NUMERIC_WORDS[kind]
    with h5py.File(tmp_path / "d.h5", "w") as f:
        if kind == "unicode strings":
            f.create_dataset("d", data=arr.astype(object), dtype=h5py.string_dtype())
            return tmp_path / "d.h5", "UTF-8 strings"
        f["d"] = np.void(arr.tobytes()) if kind == "void" else arr
    return tmp_path / "d.h5", NON_NUMERIC_WORDS[kind]


@pytest.mark.parametrize(
    ("kind", "fmt"),
    [
        (kind, fmt)
        for kind in NON_NUMERIC
        for fmt in ("npy", "npz", "h5")
        if not (fmt == "h5" and kind in ("datetime", "timedelta"))  # HDF5 has no dates
    ],
)
@pytest.mark.parametrize("command", ALL)
def test_structured_string_complex_and_date_arrays_are_refused_by_name(
    refused, invoke, tmp_path, command, kind, fmt
):
    path, words = _non_numeric(tmp_path, kind, fmt)
    if command == "ls" and fmt == "h5":
        # one dataset of an HDF5 file is refused, not the file: ls lists it with the reason
        result = invoke("ls", path, "--json")
        assert result.exit_code == 0, result.stderr
        skipped = json.loads(result.stdout)["skipped"]
        assert [s["name"] for s in skipped] == ["d"]
        assert words in skipped[0]["reason"]
        return
    refused(*args(command, path), needles=(path.name, words, "convert it to a numeric array"))


@pytest.mark.parametrize("shape", [(0, 5), (5, 0), (0,)])
@pytest.mark.parametrize("suffix", [".npy", ".npz", ".h5"])
def test_zero_samples_or_zero_features_are_listed_but_not_described_or_normalized(
    invoke, refused, tmp_path, shape, suffix
):
    path = tmp_path / f"e{suffix}"
    empty = np.zeros(shape, dtype=np.float32)
    if suffix == ".npy":
        np.save(path, empty)
    elif suffix == ".npz":
        np.savez(path, e=empty)
    else:
        with h5py.File(path, "w") as f:
            f.create_dataset("e", data=empty, chunks=None if 0 in shape else True)
    listed = invoke("ls", path, "--json")
    assert listed.exit_code == 0, listed.stderr
    assert json.loads(listed.stdout)["arrays"][0]["shape"] == list(shape)
    for command in READING:
        refused(*args(command, path), needles=(f"e{suffix}:e", "empty", str(shape)))


LAYOUTS = {
    "big-endian": lambda x: x.astype(">f8"),
    "big-endian uint16": lambda x: (np.abs(x) * 1000).astype(">u2"),
    "fortran order": np.asfortranarray,
    "big-endian fortran": lambda x: np.asfortranarray(x.astype(">f4")),
    "0-d": lambda x: np.array(x[0, 0, 0], dtype=">f8"),
}


def _store(tmp_path: Path, x: np.ndarray, fmt: str) -> Path:
    if fmt == "npy":
        np.save(tmp_path / "x.npy", x)
    elif fmt == "npz":
        np.savez(tmp_path / "x.npz", x=x)
    elif fmt == "npz deflated":
        np.savez_compressed(tmp_path / "x.npz", x=x)
    else:
        with h5py.File(tmp_path / "x.h5", "w") as f:
            f["x"] = x
    return next(tmp_path.glob("x.*"))


@pytest.mark.parametrize("fmt", ["npy", "npz", "npz deflated", "h5"])
@pytest.mark.parametrize("layout", list(LAYOUTS))
def test_big_endian_fortran_and_0d_arrays_are_read_correctly(invoke, tmp_path, layout, fmt):
    x = LAYOUTS[layout](sample())
    path = _store(tmp_path, x, fmt)
    if fmt == "npy":  # the layout really is the file's
        on_disk = np.load(path, mmap_mode="r")
        assert on_disk.dtype == x.dtype and on_disk.flags.f_contiguous == x.flags.f_contiguous
    native = x.astype(x.dtype.newbyteorder("="))
    chunk = ("--chunk-size", "1KiB")  # several chunks

    result = invoke("describe", path, "--json", *chunk)
    assert result.exit_code == 0, result.stderr
    (item,) = json.loads(result.stdout)["arrays"]
    assert item["shape"] == list(x.shape) and item["dtype"] == str(native.dtype)
    assert_matches_scipy(item["stats"], scipy_describe(native))

    out = tmp_path / "out.npy"
    result = invoke("normalize", path, out, "-m", "minmax", "--dtype", "float64", *chunk)
    assert result.exit_code == 0, result.stderr
    xf = native.astype(np.float64)
    span = xf.max() - xf.min()
    oracle = (xf - xf.min()) / span if span else np.zeros_like(xf)
    np.testing.assert_allclose(np.load(out), oracle, rtol=1e-13, atol=1e-14)


# == HDF5 ====================================================================================


def _external(tmp_path: Path, kind: str) -> tuple[Path, np.ndarray, str]:
    """An HDF5 file whose dataset ``x`` reads another file: (path, values, that file)."""
    x = sample()
    if kind == "external link":
        with h5py.File(tmp_path / "target.h5", "w") as f:
            f["data"] = x
        with h5py.File(tmp_path / "ext.h5", "w") as f:
            f["x"] = h5py.ExternalLink("target.h5", "/data")
        return tmp_path / "ext.h5", x, "target.h5"
    if kind == "external storage":
        (tmp_path / "raw.bin").write_bytes(x.astype("<f8").tobytes())
        with h5py.File(tmp_path / "ext.h5", "w") as f:
            f.create_dataset("x", shape=x.shape, dtype="<f8", external=[("raw.bin", 0, x.nbytes)])
        return tmp_path / "ext.h5", x, "raw.bin"
    with h5py.File(tmp_path / "target.h5", "w") as f:
        f["data"] = x
    layout = h5py.VirtualLayout(shape=x.shape, dtype="f8")
    layout[:] = h5py.VirtualSource("target.h5", "data", shape=x.shape)
    with h5py.File(tmp_path / "ext.h5", "w", libver="latest") as f:
        f.create_virtual_dataset("x", layout, fillvalue=-1)
    return tmp_path / "ext.h5", x, "target.h5"


EXTERNAL = ["external link", "external storage", "virtual dataset"]


@pytest.mark.parametrize("kind", EXTERNAL)
@pytest.mark.parametrize("command", ALL)
def test_hdf5_that_reads_other_files_is_refused_by_default(
    refused, no_output_opened, tmp_path, monkeypatch, command, kind
):
    path, x, other = _external(tmp_path, kind)
    monkeypatch.chdir(tmp_path)  # where h5py looks for external storage
    with h5py.File(path, "r") as f:  # h5py itself would read the other file
        np.testing.assert_array_equal(f["x"][()], x)
    refused(*args(command, path), needles=("ext.h5:x", other, "--allow-external"))


@pytest.mark.parametrize("kind", EXTERNAL)
def test_allow_external_reads_them_from_beside_the_file(invoke, tmp_path, monkeypatch, kind):
    path, x, _ = _external(tmp_path, kind)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)  # relative names resolve beside the file, not here
    listed = invoke("ls", path, "--allow-external", "--json")
    assert listed.exit_code == 0, listed.stderr
    assert json.loads(listed.stdout)["arrays"][0]["shape"] == list(x.shape)
    result = invoke("describe", path, "--allow-external", "--json", "--chunk-size", "1KiB")
    assert result.exit_code == 0, result.stderr
    assert_matches_scipy(json.loads(result.stdout)["arrays"][0]["stats"], scipy_describe(x))
    out = tmp_path / "out.npy"
    line = ("normalize", path, out, "-m", "scale", "--factor", "2", "--dtype", "float64")
    result = invoke(*line, "--allow-external")
    assert result.exit_code == 0, result.stderr
    np.testing.assert_array_equal(np.load(out), 2 * x)


def test_allow_external_still_refuses_a_virtual_dataset_whose_source_is_missing(refused, tmp_path):
    path, _, _ = _external(tmp_path, "virtual dataset")
    (tmp_path / "target.h5").unlink()
    with h5py.File(path, "r") as f:  # HDF5 would read the fill value, silently
        assert (f["x"][()] == -1).all()
    refused("describe", path, "--allow-external", needles=("ext.h5:x", "target.h5", "not exist"))


def test_allow_external_is_for_hdf5_files(refused, tmp_path):
    np.save(tmp_path / "x.npy", np.arange(3.0))
    line = ("describe", tmp_path / "x.npy", "--allow-external")
    refused(*line, code=2, needles=("--allow-external", "HDF5"))


#: A filter id no plugin here provides (hdf5plugin, a test extra, registers LZ4 & co.).
MISSING_FILTER = 32099


def _needs_plugin(path: Path) -> Path:
    """gzip-compressed chunks labelled as a filter this HDF5 lacks: the file a writer
    with a plugin leaves (object headers without checksums, so the filter message can be
    patched in place)."""
    with h5py.File(path, "w") as f:
        f.create_dataset("x", data=sample(), chunks=(8, 6, 5), compression="gzip")
    raw = bytearray(path.read_bytes())
    deflate = struct.pack("<HHHH", 1, 8, 1, 1) + b"deflate\x00"
    at = raw.index(deflate)
    raw[at : at + 16] = struct.pack("<HHHH", MISSING_FILTER, 8, 1, 1) + b"nope\x00\x00\x00\x00"
    path.write_bytes(bytes(raw))
    return path


def listed_as_unreadable(invoke, path: Path, name: str, needles=()) -> None:
    """ls lists a dataset normcli cannot read, with the reason, and succeeds."""
    result = invoke("ls", path, "--json")
    assert result.exit_code == 0, result.stderr
    skipped = {s["name"]: s["reason"] for s in json.loads(result.stdout)["skipped"]}
    assert name in skipped
    for needle in needles:
        assert needle in skipped[name], (needle, skipped[name])


@pytest.mark.parametrize("command", ALL)
def test_hdf5_filter_that_needs_a_plugin_is_named_before_reading(
    refused, invoke, no_output_opened, tmp_path, command
):
    path = _needs_plugin(tmp_path / "plugin.h5")
    assert not h5py.h5z.filter_avail(MISSING_FILTER)
    with h5py.File(path, "r") as f, pytest.raises(OSError):  # h5py fails mid-read
        f["x"][()]
    needles = (f"filter {MISSING_FILTER}", "HDF5_PLUGIN_PATH")
    if command == "ls":
        listed_as_unreadable(invoke, path, "x", needles)
        return
    refused(*args(command, path), needles=("plugin.h5:x", *needles))


@pytest.mark.parametrize("keep", [0.02, 0.5, 0.98])
@pytest.mark.parametrize("command", ALL)
def test_truncated_hdf5_is_refused(refused, tmp_path, command, keep):
    full = tmp_path / "full.h5"
    with h5py.File(full, "w") as f:
        f["x"] = sample()
    raw = full.read_bytes()
    full.unlink()
    path = tmp_path / "cut.h5"
    path.write_bytes(raw[: int(len(raw) * keep)])
    refused(*args(command, path), needles=("cut.h5",))


@pytest.mark.parametrize("swmr", [False, True])
@pytest.mark.parametrize("command", ALL)
def test_hdf5_left_open_by_a_crashed_writer_is_refused(refused, tmp_path, command, swmr):
    path = tmp_path / "crashed.h5"
    writer = (
        "import os, sys, h5py, numpy as np\n"
        "f = h5py.File(sys.argv[1], 'w', libver='latest')\n"
        "f['x'] = np.arange(100.0)\n" + ("f.swmr_mode = True\n" if swmr else "") + "f.flush()\n"
        "os._exit(0)  # dies without closing: the file stays flagged open\n"
    )
    subprocess.run([sys.executable, "-c", writer, str(path)], check=True)
    refused(*args(command, path), needles=("crashed.h5", "h5clear -s"))


def test_hdf5_absurd_declared_shape_is_refused_without_streaming_fill_values(
    refused, invoke, tmp_path
):
    path = tmp_path / "absurd.h5"
    with h5py.File(path, "w") as f:  # 2**50 rows declared, no chunk ever written
        f.create_dataset("x", shape=(2**50, 10), dtype="f4", chunks=(1024, 10))
    listed_as_unreadable(invoke, path, "x", ("(1125899906842624, 10)", "never written"))
    for command in ALL[1:]:  # a real process, so that a hang is a failure, not a stuck run
        needles = ("absurd.h5:x", "(1125899906842624, 10)", "never written")
        refused(*args(command, path), process=True, timeout=60, needles=needles)


@pytest.mark.parametrize("layout", ["chunked, half written", "contiguous, never written"])
@pytest.mark.parametrize("command", ALL)
def test_hdf5_data_never_written_is_refused_not_read_as_fill_values(
    refused, invoke, no_output_opened, tmp_path, command, layout
):
    path = tmp_path / "partial.h5"
    with h5py.File(path, "w") as f:
        if layout.startswith("chunked"):
            ds = f.create_dataset("x", shape=(100, 10), dtype="f4", chunks=(10, 10))
            ds[:50] = 1.0
        else:
            f.create_dataset("x", shape=(100, 10), dtype="f4")
    with h5py.File(path, "r") as f:  # h5py reads the rest as zeros, silently
        assert (f["x"][99] == 0).all()
    if command == "ls":  # listed with the reason; every command that reads it refuses
        listed_as_unreadable(invoke, path, "x", ("never", "re-create it"))
        return
    refused(*args(command, path), needles=("partial.h5:x", "never", "re-create it"))


# == folders of images =======================================================================


def grey(h: int = 28, w: int = 28) -> np.ndarray:
    return RNG.integers(0, 256, size=(h, w), dtype=np.uint8)


def save(path: Path, arr: np.ndarray, **kwargs) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr).save(path, **kwargs)
    return path


IMAGE_COMMANDS = ["describe", "normalize", "normalize-folder"]


@pytest.mark.parametrize("side", [10_000, 20_000])  # Pillow warns above 89.5M, errs above 2x
@pytest.mark.parametrize("command", ["ls", *IMAGE_COMMANDS])
def test_image_decompression_bomb_is_refused_before_decoding(refused, tmp_path, command, side):
    d = tmp_path / "in"
    d.mkdir()
    (d / "a.png").write_bytes(png_bytes(side, side, 8, 0, bytes(100)))  # first: ls reads its header
    save(d / "b.png", grey())
    refused(*args(command, d), needles=("a.png", "decompression-bomb", "--max-pixels"))


@pytest.mark.parametrize("command", ["ls", *IMAGE_COMMANDS])
def test_image_whose_extension_lies_about_its_format_is_refused(refused, tmp_path, command):
    d = tmp_path / "in"
    save(d / "a.png", grey(), format="JPEG")
    save(d / "b.png", grey())
    refused(*args(command, d), needles=("a.png", "holds a JPEG image", "rename"))


@pytest.mark.parametrize("command", ["ls", *IMAGE_COMMANDS])
def test_a_file_that_is_not_an_image_despite_its_name_is_refused(refused, tmp_path, command):
    d = tmp_path / "in"
    d.mkdir()
    (d / "a.png").write_text("<html>404 Not Found</html>")  # a failed download
    save(d / "b.png", grey())
    refused(*args(command, d), needles=("a.png", "not a PNG image"))


@pytest.mark.parametrize("command", ["ls", *IMAGE_COMMANDS])
def test_sixteen_bit_colour_png_is_refused_rather_than_truncated(refused, tmp_path, command):
    d = tmp_path / "in"
    d.mkdir()
    rows = b"".join(b"\x00" + RNG.bytes(28 * 6) for _ in range(28))  # 28x28 RGB, 16 bits
    (d / "a.png").write_bytes(png_bytes(28, 28, 16, 2, rows))
    with Image.open(d / "a.png") as im:  # what Pillow would give: 8 bits per channel
        assert np.asarray(im.convert("RGB")).dtype == np.uint8
    refused(*args(command, d), needles=("a.png", "16-bit colour PNG", "TIFF"))


@pytest.mark.parametrize("command", ["ls", *IMAGE_COMMANDS])
def test_an_animated_gif_is_refused_rather_than_read_as_its_first_frame(refused, tmp_path, command):
    d = tmp_path / "in"
    d.mkdir()
    frames = [Image.fromarray(grey()) for _ in range(3)]
    frames[0].save(d / "a.gif", save_all=True, append_images=frames[1:])
    refused(*args(command, d), needles=("a.gif", "3 frames", "one file per frame"))


@pytest.mark.parametrize("command", IMAGE_COMMANDS)
def test_truncated_image_is_refused(refused, tmp_path, command):
    d = tmp_path / "in"
    save(d / "a.png", grey())
    data = save(d / "b.png", grey()).read_bytes()
    (d / "b.png").write_bytes(data[: len(data) // 2])
    refused(*args(command, d, "--chunk-size", "1"), needles=("b.png", "cannot be decoded"))


@pytest.mark.parametrize("command", IMAGE_COMMANDS)
def test_images_of_mixed_bit_depths_are_refused_naming_both(refused, tmp_path, command):
    d = tmp_path / "in"
    save(d / "a.png", grey())
    save(d / "b.png", RNG.integers(0, 65536, size=(28, 28), dtype=np.uint16))
    refused(*args(command, d, "--chunk-size", "1"), needles=("b.png", "uint16", "uint8", "--mode"))


def test_images_of_mixed_sizes_into_an_array_file_are_refused_naming_resize(refused, tmp_path):
    # mixed sizes are a valid folder (tests/test_photos.py); only a file of one shape
    # cannot hold them
    d = tmp_path / "in"
    save(d / "a.png", grey())
    save(d / "b.png", grey(20, 20))
    refused(
        *args("normalize", d, "--chunk-size", "1"),
        needles=("different sizes", "widths 20-28", "--resize", "--center-crop"),
    )


def _describe_folder(invoke, d: Path) -> tuple[dict, str]:
    result = invoke("describe", d, "-k", "images", "--json")
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)["arrays"][0], result.stderr


def test_zero_byte_hidden_and_other_files_are_skipped_with_a_count(invoke, tmp_path):
    d = tmp_path / "in"
    x = np.stack([grey(), grey()])
    save(d / "a.png", x[0])
    save(d / "b.png", x[1])
    (d / "empty.png").write_bytes(b"")
    (d / "README.txt").write_text("digits")
    save(d / ".hidden.png", grey(5, 5))  # another shape: it would be an error if read
    save(d / ".thumbs" / "c.png", grey(5, 5))
    item, note = _describe_folder(invoke, d)
    assert item["shape"] == [2, 28, 28]
    assert_matches_scipy(item["stats"], scipy_describe(x))
    assert "1 empty files (empty.png)" in note and "2 hidden" in note
    assert "1 not images (README.txt)" in note


def test_a_directory_named_like_an_image_is_skipped_with_a_count(invoke, tmp_path):
    d = tmp_path / "in"
    x = grey()
    save(d / "a.png", x)
    (d / "x.png").mkdir()
    item, note = _describe_folder(invoke, d)
    assert item["shape"] == [1, 28, 28]
    assert_matches_scipy(item["stats"], scipy_describe(x))
    assert "1 folders without images (x.png/)" in note


def test_symlink_loops_and_links_leaving_the_folder_are_skipped_not_followed(invoke, tmp_path):
    d = tmp_path / "in"
    x = grey()
    save(d / "a.png", x)
    outside = save(tmp_path / "secret.png", grey())
    os.symlink(d, d / "loop")  # a folder containing itself
    os.symlink(d / "self.png", d / "self.png")  # a link to itself
    os.symlink(d / "p.png", d / "q.png")  # two links to each other
    os.symlink(d / "q.png", d / "p.png")
    os.symlink(outside, d / "out.png")
    item, note = _describe_folder(invoke, d)
    assert item["shape"] == [1, 28, 28]
    assert_matches_scipy(item["stats"], scipy_describe(x))
    assert "4 broken or looping links" in note
    assert "1 links leaving the folder (out.png)" in note


@pytest.mark.parametrize("command", ["ls", *IMAGE_COMMANDS])
def test_a_folder_without_images_is_refused_saying_what_was_skipped(refused, tmp_path, command):
    d = tmp_path / "in"
    d.mkdir()
    (d / "empty.png").write_bytes(b"")
    (d / "notes.txt").write_text("no images here")
    refused(*args(command, d), needles=("in holds no images", "1 empty files"))


# == MNIST's IDX files =======================================================================


def idx_bytes(arr: np.ndarray) -> bytes:
    header = bytes([0, 0, 0x08, arr.ndim]) + struct.pack(f">{arr.ndim}I", *arr.shape)
    return header + arr.tobytes()


def _bad_idx(tmp_path: Path, case: str) -> tuple[Path, tuple[str, ...]]:
    good = idx_bytes(RNG.integers(0, 256, size=(10, 4, 4), dtype=np.uint8))
    plain, gz = tmp_path / "x.idx3-ubyte", tmp_path / "x.idx3-ubyte.gz"
    raw, path, needles = {
        "bad magic": (b"\x01" + good[1:], plain, ("not an IDX file", "magic number")),
        "unknown type code": (good[:2] + b"\x07" + good[3:], plain, ("not an IDX file",)),
        "truncated header": (good[:9], plain, ("truncated inside its header",)),
        "truncated data": (good[:-5], plain, ("truncated", "corrupt or incomplete")),
        "trailing bytes": (good + b"\x00", plain, ("trailing bytes",)),
        "sizes beyond the file": (
            good[:4] + struct.pack(">I", 2**32 - 1) + good[8:],
            plain,
            ("truncated", "declares shape (4294967295, 4, 4)"),
        ),
        "gzip truncated": (gzip.compress(good)[:-12], gz, ()),
        "gzip sizes disagree": (
            gzip.compress(good[:4] + struct.pack(">I", 11) + good[8:]),
            gz,
            ("declares", "corrupt or truncated"),
        ),
        "gzip bomb": (
            gzip.compress(bytes([0, 0, 8, 3]) + struct.pack(">III", 100000, 1000, 1000)),
            gz,
            ("gzip bomb",),
        ),
        "not gzip": (good, gz, ("not a valid gzip file",)),
    }[case]
    path.write_bytes(raw)
    return path, (path.name, *needles)


IDX_CASES = [
    "bad magic",
    "unknown type code",
    "truncated header",
    "truncated data",
    "trailing bytes",
    "sizes beyond the file",
    "gzip truncated",
    "gzip sizes disagree",
    "gzip bomb",
    "not gzip",
]


@pytest.mark.parametrize("case", IDX_CASES)
@pytest.mark.parametrize("command", ALL)
def test_corrupt_idx_files_are_refused(refused, tmp_path, command, case):
    path, needles = _bad_idx(tmp_path, case)
    chunk = () if command == "ls" else ("--chunk-size", "16")
    refused(*args(command, path, *chunk), needles=needles)


# == what is not a file ======================================================================


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="named pipes")
@pytest.mark.parametrize("command", ALL)
def test_a_pipe_is_refused_not_waited_on(refused, tmp_path, command):
    os.mkfifo(tmp_path / "x.npy")  # opening it to read would wait for a writer forever
    needles = ("x.npy", "not a regular file")
    refused(*args(command, tmp_path / "x.npy"), process=True, timeout=60, needles=needles)


def test_the_refusal_check_sees_hidden_temporary_files(tmp_path):
    # The promise "no temporary file left" rests on tree() seeing normcli's hidden
    # temporary names; this keeps that check honest.
    before = tree(tmp_path)
    (tmp_path / ".out.npz.normcli-1234abcd.tmp").write_bytes(b"")
    assert tree(tmp_path) != before


# -- a sample too large for memory ---------------------------------------------------------


@pytest.fixture
def small_machine(monkeypatch):
    """A machine with 64 MiB of memory, as far as normcli can tell."""
    import normcli.io.base

    monkeypatch.setattr(normcli.io.base, "memory_bytes", lambda: 64 << 20)


@pytest.mark.parametrize("selected", [True, False], ids=["normalized", "copied"])
def test_a_sample_larger_than_memory_is_refused_before_reading(
    selected, small_machine, tmp_path, invoke, monkeypatch
):
    """Arrays stream in whole samples: a file declaring one enormous row (a deflated
    .npz member of zeros passes every size check) is refused up front, not half-way
    through exhausting memory, whether it is normalized or copied through."""
    from normcli.io.npz import NpzReader

    path = tmp_path / "big_row.npz"
    np.savez(path, x=np.zeros((2, 1 << 21), dtype=np.float32), y=np.arange(2))
    before = path.read_bytes()

    def never(*args, **kwargs):
        raise AssertionError("data were read")

    monkeypatch.setattr(NpzReader, "iter_chunks", never)
    key = "x" if selected else "y"
    out = tmp_path / "out.npz"
    result = invoke("normalize", path, out, "-k", key, "-m", "zscore")
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: ") and result.stderr.count("\n") == 1
    assert f"{path}:x" in result.stderr and "too large" in result.stderr
    assert not out.exists() and sorted(p.name for p in tmp_path.iterdir()) == ["big_row.npz"]
    assert path.read_bytes() == before
    if selected:
        assert invoke("describe", path, "-k", "x").exit_code == 1


def test_a_sample_that_fits_is_read(small_machine, tmp_path, invoke):
    path = tmp_path / "rows.npy"
    np.save(path, np.ones((4, 1 << 10), dtype=np.float32))
    assert invoke("describe", path).exit_code == 0
