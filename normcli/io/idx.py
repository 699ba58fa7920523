"""MNIST's IDX files (``train-images-idx3-ubyte``, ``t10k-labels.idx1-ubyte.gz``, ...).

An IDX file is a 4-byte magic number (two zero bytes, the element type code, the
number of dimensions), one big-endian uint32 per dimension, then the elements in C
order, big-endian. Plain or gzip-compressed, it is streamed into a reused buffer.
Before any data are read the declared size is checked against the file: its length
for a plain file; for gzip, the uncompressed length the gzip trailer records (modulo
2**32) and what deflate can produce from the compressed bytes (about 1032:1). The
stream must then end exactly where the header says (gzip checks its CRC there).
"""

from __future__ import annotations

import gzip
import math
import os
import re
import struct
import zlib
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from normcli.errors import InputError
from normcli.io.base import ArrayInfo, Reader, input_os_error
from normcli.io.npy import NpyHeader, stream_rows

#: IDX element type codes and their (big-endian) dtypes.
TYPE_CODES = {
    0x08: np.dtype("u1"),
    0x09: np.dtype("i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
#: deflate's largest possible expansion is about 1032:1; allow a margin.
MAX_DEFLATE_RATIO = 1100


def is_idx_name(name: str) -> bool:
    name = name.lower()
    return name.endswith(("-ubyte", "-ubyte.gz"))


def array_name(path: Path) -> str:
    """The file stem without ``.gz`` and the ``.idx3-ubyte``/``-idx3-ubyte`` part."""
    name = path.name
    if name.lower().endswith(".gz"):
        name = name[:-3]
    stem = re.sub(r"[.-]idx\d*-ubyte$", "", name, flags=re.IGNORECASE)
    if stem == name:
        stem = re.sub(r"[.-]?ubyte$", "", name, flags=re.IGNORECASE)
    return stem or name


def parse_header(data: bytes, where: str) -> tuple[np.dtype, tuple[int, ...], int]:
    """(dtype, shape, header length) from the first bytes of an IDX stream."""
    if len(data) < 4:
        raise InputError(f"{where} is too short to be an IDX file (no magic number)")
    zero1, zero2, code, ndim = data[:4]
    if zero1 or zero2 or code not in TYPE_CODES:
        raise InputError(
            f"{where} is not an IDX file (magic number 0x{data[:4].hex()}; expected "
            "0x0000 then a type code 08, 09, 0B, 0C, 0D or 0E); check the file"
        )
    header_len = 4 + 4 * ndim
    if len(data) < header_len:
        raise InputError(f"{where} is truncated inside its header (it declares {ndim} dimensions)")
    shape = struct.unpack(f">{ndim}I", data[4:header_len])
    return TYPE_CODES[code], tuple(int(n) for n in shape), header_len


class IdxReader(Reader):
    format = "idx"

    def __init__(self, path: Path):
        super().__init__(path)
        self.gz = self.path.name.lower().endswith(".gz")
        where = str(self.path)
        try:
            size = os.stat(self.path).st_size
            if self.gz:
                with gzip.open(self.path, "rb") as f:
                    head = f.read(4)
                    if len(head) == 4:
                        head += f.read(4 * head[3])
            else:
                with open(self.path, "rb") as f:
                    head = f.read(4)
                    if len(head) == 4:
                        head += f.read(4 * head[3])
        except (gzip.BadGzipFile, zlib.error, EOFError) as exc:
            raise InputError(f"{where} is not a valid gzip file ({exc}); is it complete?") from None
        except OSError as exc:
            raise input_os_error(self.path, exc) from None
        dtype, shape, offset = parse_header(head, where)
        data_bytes = math.prod(shape) * dtype.itemsize
        total = offset + data_bytes
        if self.gz:
            self._check_gzip_size(size, total, data_bytes, where)
        elif size != total:
            verb = "is truncated" if size < total else "has trailing bytes"
            raise InputError(
                f"{where} {verb}: its header declares shape {shape} ({total} bytes with the "
                f"header) but the file holds {size} bytes; the file is corrupt or incomplete"
            )
        self.header = NpyHeader(shape, dtype, False, offset)
        self._info = ArrayInfo(array_name(self.path), shape, dtype.newbyteorder("="))

    def _check_gzip_size(self, size: int, total: int, data_bytes: int, where: str) -> None:
        if total > size * MAX_DEFLATE_RATIO + 1024:
            raise InputError(
                f"{where} declares {data_bytes} bytes of data from {size} compressed bytes, "
                "more than gzip can produce: a gzip bomb or a corrupt file; refusing to read it"
            )
        try:
            with open(self.path, "rb") as f:
                f.seek(max(0, size - 4))
                trailer = f.read(4)
        except OSError as exc:
            raise input_os_error(self.path, exc) from None
        if len(trailer) == 4 and struct.unpack("<I", trailer)[0] != total % 2**32:
            raise InputError(
                f"{where}: its IDX header declares {total} bytes but the gzip stream holds "
                f"{struct.unpack('<I', trailer)[0]} (modulo 2**32); the file is corrupt or "
                "truncated"
            )

    def arrays(self) -> list[ArrayInfo]:
        return [self._info]

    def iter_chunks(self, name: str, rows: int) -> Iterator[np.ndarray]:
        self.info(name)
        where = str(self.path)
        try:
            opener = gzip.open if self.gz else open
            with opener(self.path, "rb") as f:
                f.read(self.header.offset)
                yield from stream_rows(f, self.header, rows, where)
                if f.read(1):
                    raise InputError(
                        f"{where} holds more data than its header declares; the file is corrupt"
                    )
        except (gzip.BadGzipFile, zlib.error, EOFError) as exc:
            raise InputError(f"{where} is corrupt ({exc}); the gzip stream is damaged") from None
        except OSError as exc:
            raise input_os_error(self.path, exc) from None
