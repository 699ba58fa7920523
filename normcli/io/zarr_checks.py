"""What is checked in a Zarr store before zarr reads any data from it.

zarr opens each chunk file when it needs it, from its own threads: a chunk file that is
a pipe blocks that thread forever, and a device could be read without end. So every
entry of the store is looked at once, up front, and anything but regular files and
directories (or links to them) is refused.

zarr also reads a chunk that was never written as the fill value, silently: a shape
edited to ``[2**40, 4]`` would stream fill values for hours. HDF5 input is refused in
that case; a Zarr array is refused when the chunks it lacks would amount to more than
:data:`MISSING_LIMIT` bytes of fill values (a sparse store, missing a few chunks of
zeros as zarr writes them by default, still reads).
"""

from __future__ import annotations

import math
import os
import stat
from pathlib import Path

from normcli.errors import InputError

#: Bytes of fill values that missing chunks may stand for before the array is refused.
MISSING_LIMIT = 1 << 30
#: Files of a store that are metadata, not chunks.
METADATA = {"zarr.json", ".zarray", ".zgroup", ".zattrs", ".zmetadata"}


def _kind(mode: int) -> str | None:
    if stat.S_ISREG(mode) or stat.S_ISDIR(mode):
        return None
    if stat.S_ISFIFO(mode):
        return "a named pipe"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    return "not a regular file"


def check_entries(root: Path) -> None:
    """Refuse a store holding anything zarr could block on or read without end."""
    stack = [str(root)]
    while stack:
        directory = stack.pop()
        try:
            entries = list(os.scandir(directory))
        except OSError as exc:
            raise InputError(f"cannot read {directory}: {exc.strerror or exc}") from None
        for entry in entries:
            try:
                mode = entry.stat(follow_symlinks=True).st_mode
            except OSError:
                continue  # a dangling link: zarr reports the chunk as missing
            kind = _kind(mode)
            if kind is not None:
                rel = os.path.relpath(entry.path, root)
                raise InputError(
                    f"{root}: {rel} is {kind}, not a chunk file; a Zarr store holds regular "
                    "files only (normcli will not wait on it): remove it or re-create the store"
                )
            if entry.is_dir(follow_symlinks=False):
                stack.append(entry.path)


def stored_objects(array_dir: Path) -> int:
    """How many chunk (or shard) files lie under an array's directory."""
    count = 0
    for _dirpath, _dirnames, filenames in os.walk(array_dir):
        count += sum(1 for f in filenames if f not in METADATA)
    return count


def check_written(root: Path, name: str | None, arr, where: str) -> None:
    """Refuse an array whose missing chunks would read as more than MISSING_LIMIT bytes
    of fill values (a shape edited beyond the data, a writer that stopped early)."""
    shape = tuple(int(s) for s in arr.shape)
    if not shape:
        return
    grid = tuple(int(c) for c in (getattr(arr, "shards", None) or arr.chunks))
    per_object = math.prod(grid) * arr.dtype.itemsize
    declared = math.prod(-(-s // max(1, c)) for s, c in zip(shape, grid, strict=False))
    if declared * per_object <= MISSING_LIMIT:
        return
    array_dir = root / name if name else root
    stored = stored_objects(array_dir)
    missing = max(0, declared - stored)
    if missing * per_object > MISSING_LIMIT:
        raise InputError(
            f"{where} declares shape {shape} ({declared:,} chunks) but {stored:,} are "
            f"stored: the rest was never written and would read as the fill value; the "
            "store is incomplete or its metadata were edited: re-create it"
        )
