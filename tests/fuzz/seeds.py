"""Valid seed inputs of every format normcli reads, built here (nothing binary is
shipped): each is a small file or directory a mutation starts from, plus seeds of
extreme but valid values (NaN and infinities, the largest floats, big-endian and
Fortran order, 0-d, empty and one-row arrays, 1-bit images)."""

from __future__ import annotations

import gzip
import struct
from collections.abc import Callable
from pathlib import Path

import numpy as np

#: A seed: (format, name, builder(directory) -> path of the input inside it).
Seed = tuple[str, str, Callable[[Path], Path]]


def _x(shape=(6, 4, 3), dtype=np.float32, seed=0) -> np.ndarray:
    return np.random.default_rng(seed).normal(2.0, 3.0, size=shape).astype(dtype)


def _npy(arr: np.ndarray, name: str = "a.npy"):
    def build(d: Path) -> Path:
        np.save(d / name, arr)
        return d / name

    return build


def _npz(arrays: dict, compressed: bool = False):
    def build(d: Path) -> Path:
        (np.savez_compressed if compressed else np.savez)(d / "a.npz", **arrays)
        return d / "a.npz"

    return build


def _h5(arrays: dict, **kwargs):
    def build(d: Path) -> Path:
        import h5py

        with h5py.File(d / "a.h5", "w") as f:
            for k, v in arrays.items():
                f.create_dataset(k, data=v, **kwargs)
        return d / "a.h5"

    return build


def _idx(arr: np.ndarray, gz: bool = False):
    def build(d: Path) -> Path:
        code = {np.uint8: 0x08, np.int16: 0x0B, np.int32: 0x0C, np.float32: 0x0D}
        code = code[arr.dtype.type]
        raw = bytes([0, 0, code, arr.ndim]) + struct.pack(f">{arr.ndim}I", *arr.shape)
        raw += arr.astype(arr.dtype.newbyteorder(">")).tobytes()
        name = "a-images-idx3-ubyte" + (".gz" if gz else "")
        (d / name).write_bytes(gzip.compress(raw) if gz else raw)
        return d / name

    return build


def _zarr(fmt: int, shards: bool = False, compressed: bool = True):
    def build(d: Path) -> Path:
        import zarr

        path = d / "a.zarr"
        g = zarr.open_group(str(path), mode="w", zarr_format=fmt)
        kwargs = {}
        if shards:
            kwargs["shards"] = (4, 4, 3)
        if not compressed:
            kwargs["compressors"] = None
        arr = g.create_array("x", shape=(8, 4, 3), chunks=(2, 4, 3), dtype="f4", **kwargs)
        arr[:] = _x((8, 4, 3))
        lab = g.create_array("y", shape=(8,), chunks=(4,), dtype="i8")
        lab[:] = np.arange(8)
        return path

    return build


def _images(ext: str, n: int = 3, mode: str = "L", size=(6, 5)):
    def build(d: Path) -> Path:
        from PIL import Image

        folder = d / "imgs"
        for k in range(n):
            sub = folder / ("cat" if k % 2 else "dog")
            sub.mkdir(parents=True, exist_ok=True)
            rng = np.random.default_rng(k)
            shape = (size[1], size[0]) + ((3,) if mode == "RGB" else ())
            px = rng.integers(0, 256, shape, dtype=np.uint8)
            if ext == "tif":
                import tifffile

                tifffile.imwrite(sub / f"{k}.tif", px)
            else:
                im = Image.fromarray(px)
                if mode == "P":
                    im = im.convert("P")
                if mode == "1":
                    im = im.convert("1")
                im.save(sub / f"{k}.{ext}")
        return folder

    return build


def seeds() -> list[Seed]:
    """Every seed, in a fixed order (a campaign's seed number picks among them)."""
    x = _x()
    extreme = np.array([[np.nan, np.inf], [-np.inf, 0.0], [np.finfo(np.float64).max, 5e-324]])
    out: list[Seed] = [
        ("npy", "float32", _npy(x)),
        ("npy", "uint8", _npy(np.arange(60, dtype=np.uint8).reshape(5, 12))),
        ("npy", "big-endian fortran", _npy(np.asfortranarray(x.astype(">f8")))),
        ("npy", "extreme values", _npy(extreme)),
        ("npy", "0-d", _npy(np.float64(3.5))),
        ("npy", "one row", _npy(np.ones((1, 7), np.int16))),
        ("npy", "bool", _npy(np.eye(4, dtype=bool))),
        ("npz", "stored", _npz({"x": x, "y": np.arange(6)})),
        ("npz", "deflated", _npz({"x": x, "y": np.arange(6)}, compressed=True)),
        ("npz", "big-endian fortran", _npz({"x": np.asfortranarray(x.astype(">f4"))})),
        ("hdf5", "contiguous", _h5({"x": x, "y": np.arange(6)})),
        ("hdf5", "chunked gzip", _h5({"x": x}, chunks=(2, 4, 3), compression="gzip")),
        ("idx", "uint8", _idx(np.arange(60, dtype=np.uint8).reshape(5, 3, 4))),
        ("idx", "float32 gz", _idx(_x((4, 3, 3)), gz=True)),
        ("zarr", "v3", _zarr(3)),
        ("zarr", "v3 sharded", _zarr(3, shards=True)),
        ("zarr", "v2", _zarr(2)),
        ("zarr", "v2 raw", _zarr(2, compressed=False)),
        ("png", "grey", _images("png")),
        ("png", "rgb", _images("png", mode="RGB")),
        ("png", "palette", _images("png", mode="P")),
        ("png", "1-bit", _images("png", mode="1")),
        ("jpeg", "grey", _images("jpg")),
        ("tiff", "grey", _images("tif")),
    ]
    return out


def available(seed: Seed) -> bool:
    """Whether this machine can build the seed (zarr and tifffile are optional)."""
    fmt = seed[0]
    try:
        if fmt == "zarr":
            import zarr  # noqa: F401
        if fmt == "tiff":
            import tifffile  # noqa: F401
    except ImportError:
        return False
    return True
