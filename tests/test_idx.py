"""MNIST's IDX files: every type code, plain or gzip, sizes checked, MNIST's own figures.

Oracles: the arrays the tests encode themselves (numpy's big-endian bytes behind a
header packed with struct), an independent decode of the MNIST files (gzip + numpy),
scipy.stats.describe, and the reference figures published with the data
(tests/data/README.md, copied from the shared data's README).
"""

from __future__ import annotations

import gzip
import json
import struct
from pathlib import Path

import numpy as np
import pytest
from conftest import (
    ROOT,
    assert_matches_scipy,
    chunkings,
    run_subprocess,
    scipy_describe,
)

from normcli.errors import InputError
from normcli.io import open_reader
from normcli.io.idx import array_name

DATA = ROOT / "tests" / "data"
IMAGES = DATA / "t10k-images.idx3-ubyte.gz"
LABELS = DATA / "t10k-labels.idx1-ubyte.gz"
RNG = np.random.default_rng(3)

CODES = {np.uint8: 0x08, np.int8: 0x09, np.int16: 0x0B, np.int32: 0x0C}
CODES.update({np.float32: 0x0D, np.float64: 0x0E})

#: The MNIST README's figures for x/255 in float64 over the whole test set (published
#: reference values, as given there to 12 significant digits).
MNIST_REFERENCE = {
    "nobs": 7840000,
    "min": 0.0,
    "max": 1.0,
    "mean": 0.132514605842,
    "variance": 0.0963979966507,
    "skewness": 2.12855861902,
    "kurtosis": 2.80945272391,
}


def idx_bytes(arr: np.ndarray, code: int | None = None) -> bytes:
    code = CODES[arr.dtype.type] if code is None else code
    header = bytes([0, 0, code, arr.ndim]) + struct.pack(f">{arr.ndim}I", *arr.shape)
    return header + arr.astype(arr.dtype.newbyteorder(">")).tobytes()


def write_idx(path: Path, arr: np.ndarray, **kwargs) -> Path:
    data = idx_bytes(arr, **kwargs)
    if path.name.endswith(".gz"):
        data = gzip.compress(data)
    path.write_bytes(data)
    return path


def mnist_images() -> np.ndarray:
    raw = gzip.decompress(IMAGES.read_bytes())
    n, h, w = struct.unpack(">III", raw[4:16])
    return np.frombuffer(raw, dtype=np.uint8, offset=16).reshape(n, h, w)


@pytest.mark.parametrize("dtype", list(CODES))
@pytest.mark.parametrize("suffix", [".idx3-ubyte", "-idx3-ubyte.gz"])
def test_every_type_code_reads_back(tmp_path, dtype, suffix):
    if np.dtype(dtype).kind == "f":
        arr = RNG.normal(size=(13, 4, 3)).astype(dtype)
    else:
        info = np.iinfo(dtype)
        arr = RNG.integers(info.min, info.max, size=(13, 4, 3), endpoint=True).astype(dtype)
    path = write_idx(tmp_path / f"data{suffix}", arr)
    with open_reader(path) as r:
        (info,) = r.arrays()
        assert (info.name, info.shape, info.dtype) == ("data", arr.shape, arr.dtype)
        for rows in chunkings(13):
            parts = [np.array(c) for c in r.iter_chunks("data", rows)]
            assert all(p.dtype.isnative for p in parts)
            np.testing.assert_array_equal(np.concatenate(parts), arr)


@pytest.mark.parametrize(
    ("name", "stem"),
    [
        ("t10k-images.idx3-ubyte.gz", "t10k-images"),
        ("train-images-idx3-ubyte", "train-images"),
        ("train-labels-idx1-ubyte.gz", "train-labels"),
        ("weird-ubyte", "weird"),
    ],
)
def test_array_name_is_the_file_stem(name, stem):
    assert array_name(Path(name)) == stem


def test_rank_one_and_zero(tmp_path):
    labels = RNG.integers(0, 10, size=25).astype(np.uint8)
    with open_reader(write_idx(tmp_path / "l.idx1-ubyte", labels)) as r:
        np.testing.assert_array_equal(r.read("l"), labels)
    with open_reader(write_idx(tmp_path / "s-ubyte", np.array(7.5))) as r:
        assert r.read("s") == 7.5


# Corrupt files (bad magic, sizes against the file, truncated gzip, gzip bombs) are
# refused by every command: tests/test_hostile_input.py::test_corrupt_idx_files_are_refused.


def test_gzip_stream_longer_than_declared_is_caught_while_reading(tmp_path):
    # The trailer records the length modulo 2**32, so a stream 4 GiB longer would pass the
    # up-front check: the reader also checks the stream ends where the header says. A
    # stream one byte longer with a patched trailer stands in for the 4 GiB one.
    arr = RNG.integers(0, 256, size=(10, 4)).astype(np.uint8)
    raw = gzip.compress(idx_bytes(arr) + b"\x00")
    size = len(idx_bytes(arr))
    patched = raw[:-4] + struct.pack("<I", size)
    path = tmp_path / "x.idx2-ubyte.gz"
    path.write_bytes(patched)
    with open_reader(path) as r, pytest.raises(InputError, match="more data than its header"):
        r.read("x")


def test_mnist_test_set_describes_as_scipy_and_the_reference(invoke):
    x = mnist_images()
    result = invoke("describe", IMAGES, "--json")
    assert result.exit_code == 0, result.stderr
    (item,) = json.loads(result.stdout)["arrays"]
    assert item["name"] == "t10k-images" and item["shape"] == [10000, 28, 28]
    assert item["dtype"] == "uint8"
    assert_matches_scipy(item["stats"], scipy_describe(x))


def test_mnist_scaled_by_1_over_255_matches_the_published_figures(invoke, tmp_path):
    result = invoke(
        "normalize", IMAGES, tmp_path / "x.npy", "-m", "scale", "--factor", "1/255",
        "--dtype", "float64", "--json",
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    (item,) = json.loads(result.stdout)["arrays"]
    after = item["after"]
    scaled = mnist_images().astype(np.float64) / 255
    np.testing.assert_array_equal(np.load(tmp_path / "x.npy"), scaled)
    assert_matches_scipy(after, scipy_describe(scaled))
    for key, value in MNIST_REFERENCE.items():  # published to 12 significant digits
        np.testing.assert_allclose(after[key], value, rtol=5e-12, err_msg=key)


def test_mnist_labels_and_a_real_process():
    labels = np.frombuffer(gzip.decompress(LABELS.read_bytes()), dtype=np.uint8, offset=8)
    result = run_subprocess("describe", LABELS, "--json")
    assert result.returncode == 0, result.stderr
    (item,) = json.loads(result.stdout)["arrays"]
    assert item["name"] == "t10k-labels" and item["shape"] == [10000]
    assert_matches_scipy(item["stats"], scipy_describe(labels))
