"""Structured mutations of a seed input: generic byte edits and each format's own fields.

A mutation is a small JSON-able dict ``{"op": name, "seed": n}``; :func:`apply` applies
it to an input (a file, or a directory for Zarr stores and image folders) with
``random.Random(seed)`` making every choice, so a case replays and minimizes exactly.
"""

from __future__ import annotations

import json
import os
import random
import re
import struct
import zlib
from pathlib import Path

INTERESTING = [0, 1, 2, 0x7F, 0x80, 0xFF, 0x7FFF, 0x8000, 0xFFFF, 0x7FFFFFFF, 0x80000000]
INTERESTING += [0xFFFFFFFF, 2**40, 2**63 - 1, 2**64 - 1]
JSON_VALUES = [None, -1, 0, 1, 2**31, 2**40, 2**64, "X", "", [], {}, [0], [2**40, 4]]
JSON_VALUES += ["float64", "int8", "<f8", "|O", "bool", True, 1.5, [3, 4], ["x"]]


# -- generic byte mutations ---------------------------------------------------------------------


def bitflip(data: bytearray, rng: random.Random) -> bytearray:
    for _ in range(rng.choice([1, 1, 2, 4, 8])):
        if data:
            i = rng.randrange(len(data))
            data[i] ^= 1 << rng.randrange(8)
    return data


def interesting(data: bytearray, rng: random.Random) -> bytearray:
    if not data:
        return data
    width = rng.choice([1, 2, 4, 8])
    value = rng.choice(INTERESTING) & ((1 << (8 * width)) - 1)
    raw = value.to_bytes(width, rng.choice(["little", "big"]))
    # headers live at the start: aim there half the time
    hi = min(len(data), 128) if rng.random() < 0.5 else len(data)
    i = rng.randrange(max(1, hi - width + 1))
    data[i : i + width] = raw
    return data


def truncate(data: bytearray, rng: random.Random) -> bytearray:
    if not data:
        return data
    how = rng.random()
    if how < 0.3:
        keep = rng.randrange(min(len(data), 64) + 1)
    elif how < 0.6:
        keep = max(0, len(data) - rng.randrange(1, 16))
    else:
        keep = rng.randrange(len(data) + 1)
    return data[:keep]


def duplicate(data: bytearray, rng: random.Random) -> bytearray:
    if len(data) < 2:
        return data + data
    a = rng.randrange(len(data))
    b = min(len(data), a + rng.randrange(1, 64))
    at = rng.randrange(len(data) + 1)
    if rng.random() < 0.5:
        return data[:at] + data[a:b] + data[at:]  # inserted
    out = data[:at] + data[a:b] + data[at + (b - a) :]  # overwritten
    return out[: len(data)] if rng.random() < 0.5 else out


BYTE_OPS = {"bitflip": bitflip, "interesting": interesting, "truncate": truncate}
BYTE_OPS["duplicate"] = duplicate


# -- format fields ----------------------------------------------------------------------------


def npy_header(data: bytearray, rng: random.Random) -> bytearray:
    """Edit the .npy header dict (descr, fortran_order, shape) or its length field."""
    m = re.match(rb"\x93NUMPY(.)(.)", bytes(data[:8]))
    if not m:
        return interesting(data, rng)
    major = data[6]
    hl_size = 2 if major == 1 else 4
    start = 8 + hl_size
    (hlen,) = struct.unpack("<H" if hl_size == 2 else "<I", data[8:start])
    header = bytes(data[start : start + hlen]).decode("latin1")
    choice = rng.random()
    if choice < 0.4:
        descr = rng.choice(
            ["<f8", ">i4", "|b1", "<c16", "|O", "<U4", "|V8", "<f2", "|u1", "<M8[s]"]
        )
        header = re.sub(r"'descr': '[^']*'", f"'descr': '{descr}'", header)
    elif choice < 0.55:
        header = header.replace("False", "X").replace("True", "False").replace("X", "True")
    elif choice < 0.9:
        shapes = ["()", "(0,)", "(1,)", "(2**40,)", "(-1, 3)", "(3, 0)", "(1099511627776, 4)"]
        shapes += ["(" + "1, " * 64 + ")", "(" + "1, " * 33 + ")", "(5, 4294967297)", "(7, 4, 3)"]
        header = re.sub(r"'shape': \([^)]*\)", f"'shape': {rng.choice(shapes)}", header)
    else:
        new_len = rng.choice([0, 1, hlen - 1, hlen + 1, 0xFFFF])
        data[8:start] = struct.pack("<H" if hl_size == 2 else "<I", new_len & 0xFFFF)
        return data
    body = header.encode("latin1")
    pad = (64 - (start + len(body)) % 64) % 64
    body = body.rstrip(b"\n ") + b" " * pad + b"\n"
    body = body[: len(body)] if rng.random() < 0.8 else body[:-1]
    data[8:start] = struct.pack("<H" if hl_size == 2 else "<I", min(len(body), 0xFFFF))
    return data[:start] + body + data[start + hlen :]


def zip_fields(data: bytearray, rng: random.Random) -> bytearray:
    """Edit a field of a local header, a central directory entry or the end record."""
    spots = []
    for sig, fields in (
        (b"PK\x03\x04", [(6, 2), (8, 2), (14, 4), (18, 4), (22, 4), (26, 2), (28, 2)]),
        (b"PK\x01\x02", [(8, 2), (10, 2), (16, 4), (20, 4), (24, 4), (28, 2), (42, 4)]),
        (b"PK\x05\x06", [(8, 2), (10, 2), (12, 4), (16, 4), (20, 2)]),
    ):
        for m in re.finditer(re.escape(sig), bytes(data)):
            spots += [(m.start() + off, width) for off, width in fields]
    if not spots:
        return interesting(data, rng)
    at, width = rng.choice(spots)
    if width == 2 and rng.random() < 0.4:  # flags: one bit (encryption, data descriptor...)
        value = int.from_bytes(data[at : at + 2], "little") ^ (1 << rng.randrange(16))
    else:
        value = rng.choice([*INTERESTING, int.from_bytes(data[at : at + width], "little") + 1])
    data[at : at + width] = (value & ((1 << (8 * width)) - 1)).to_bytes(width, "little")
    return data


def idx_fields(data: bytearray, rng: random.Random) -> bytearray:
    if len(data) >= 2 and data[:2] == b"\x1f\x8b":  # gzip: mutate what it holds
        import gzip

        try:
            inner = bytearray(gzip.decompress(bytes(data)))
        except Exception:
            return bitflip(data, rng)
        return bytearray(gzip.compress(bytes(idx_fields(inner, rng))))
    if len(data) < 4:
        return data
    what = rng.random()
    if what < 0.3:
        data[2] = rng.choice([0x08, 0x09, 0x0B, 0x0C, 0x0D, 0x0E, 0x00, 0xFF])
    elif what < 0.5:
        data[3] = rng.choice([0, 1, 2, 3, 4, 200, 255])
    elif what < 0.6:
        data[0:2] = rng.choice([b"\x00\x01", b"\xff\xff", b"PK"])
    else:
        ndim = min(data[3], 8)
        if ndim:
            i = 4 + 4 * rng.randrange(ndim)
            data[i : i + 4] = struct.pack(">I", rng.choice([0, 1, 2, 2**31, 2**32 - 1, 99]))
    return data


def hdf5_superblock(data: bytearray, rng: random.Random) -> bytearray:
    if len(data) < 64:
        return data
    if rng.random() < 0.5:
        i = rng.randrange(8, 64)
        data[i] = rng.choice([0, 1, 2, 3, 0xFF, data[i] ^ 1])
        return data
    # an address (base, EOF, root group): 8 bytes somewhere in the first 96
    i = rng.randrange(8, min(96, len(data)) - 8)
    value = rng.choice([0, len(data), len(data) * 2, 2**40, 2**64 - 1, 1])
    data[i : i + 8] = value.to_bytes(8, "little")
    return data


def _png_chunks(data: bytes) -> list[tuple[int, bytes, bytes]] | None:
    if not data.startswith(b"\x89PNG\r\n\x1a\n"):
        return None
    out, i = [], 8
    while i + 8 <= len(data):
        (n,) = struct.unpack(">I", data[i : i + 4])
        kind = data[i + 4 : i + 8]
        out.append((i, kind, data[i + 8 : i + 8 + n]))
        i += 12 + n
    return out


def _png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def png_fields(data: bytearray, rng: random.Random) -> bytearray:
    chunks = _png_chunks(bytes(data))
    if not chunks:
        return interesting(data, rng)
    what = rng.random()
    if what < 0.55 and chunks[0][1] == b"IHDR" and len(chunks[0][2]) == 13:
        w, h, depth, colour, comp, filt, inter = struct.unpack(">IIBBBBB", chunks[0][2])
        field = rng.randrange(7)
        if field == 0:
            w = rng.choice([0, 1, 9000, 2**31 - 1, 2**32 - 1, w + 1])
        elif field == 1:
            h = rng.choice([0, 1, 9000, 2**31 - 1, 2**32 - 1, h + 1])
        elif field == 2:
            depth = rng.choice([0, 1, 2, 4, 8, 16, 3, 255])
        elif field == 3:
            colour = rng.choice([0, 2, 3, 4, 6, 1, 5, 7, 255])
        elif field == 4:
            comp = rng.choice([1, 255])
        elif field == 5:
            filt = rng.choice([1, 255])
        else:
            inter = rng.choice([1, 2, 255])
        body = struct.pack(">IIBBBBB", w, h, depth, colour, comp, filt, inter)
        fixed = _png_chunk(b"IHDR", body)  # CRC made right, so the decoder sees the field
        return bytearray(data[:8] + fixed + data[8 + 25 :])
    at, _kind, body = rng.choice(chunks)
    if what < 0.7:  # a wrong CRC
        end = at + 8 + len(body)
        data[end : end + 4] = bytes(rng.randrange(256) for _ in range(4))
        return data
    if what < 0.85:  # a chunk removed (PLTE, IDAT, IEND, ...)
        return data[:at] + data[at + 12 + len(body) :]
    whole = bytes(data[at : at + 12 + len(body)])  # a chunk duplicated
    return data[:at] + whole + data[at:]


def tiff_tags(data: bytearray, rng: random.Random) -> bytearray:
    if data[:2] not in (b"II", b"MM") or len(data) < 16:
        return interesting(data, rng)
    bo = "<" if data[:2] == b"II" else ">"
    (ifd,) = struct.unpack(bo + "I", data[4:8])
    if ifd + 2 > len(data):
        return data
    (n,) = struct.unpack(bo + "H", data[ifd : ifd + 2])
    n = min(n, (len(data) - ifd - 2) // 12)
    if not n:
        return data
    at = ifd + 2 + 12 * rng.randrange(n)
    what = rng.random()
    if what < 0.6:  # the value
        value = rng.choice([0, 1, 2, 3, 5, 7, 16, 32, 64, 65535, 2**31, 2**32 - 1])
        data[at + 8 : at + 12] = struct.pack(bo + "I", value)
    elif what < 0.8:  # the type
        data[at + 2 : at + 4] = struct.pack(bo + "H", rng.choice([0, 1, 3, 4, 5, 12, 16, 99]))
    else:  # the count
        data[at + 4 : at + 8] = struct.pack(bo + "I", rng.choice([0, 2, 3, 1000, 2**31]))
    return data


FIELD_OPS = {
    "npy": npy_header,
    "npz": zip_fields,
    "idx": idx_fields,
    "hdf5": hdf5_superblock,
    "png": png_fields,
    "tiff": tiff_tags,
}


# -- Zarr metadata and the files of a directory input -----------------------------------------


def zarr_json(path: Path, rng: random.Random) -> None:
    meta_files = sorted(
        p for p in path.rglob("*") if p.name in ("zarr.json", ".zarray", ".zgroup", ".zattrs")
    )
    if not meta_files:
        return
    target = rng.choice(meta_files)
    try:
        meta = json.loads(target.read_text())
    except (ValueError, UnicodeDecodeError):
        target.write_bytes(bitflip(bytearray(target.read_bytes()), rng))
        return
    if not isinstance(meta, dict) or not meta:
        return
    key = rng.choice(sorted(meta))
    what = rng.random()
    if what < 0.15:
        del meta[key]
    elif key == "codecs" and isinstance(meta[key], list) and what < 0.6:
        codecs = meta[key]
        if rng.random() < 0.5 and codecs:
            codecs.pop(rng.randrange(len(codecs)))
        else:
            codecs.append({"name": rng.choice(["no-such", "gzip", "zstd", "crc32c", "transpose"])})
    elif key == "shape" and isinstance(meta[key], list) and meta[key]:
        i = rng.randrange(len(meta[key]))
        meta[key][i] = rng.choice([0, 1, 2**40, 2**63, 2**64, meta[key][i] + 1])
    else:
        meta[key] = rng.choice(JSON_VALUES)
    target.write_text(json.dumps(meta))


def replace_file(path: Path, rng: random.Random) -> None:
    """A chunk (or image) file replaced by a FIFO, a symlink or a directory."""
    files = sorted(p for p in path.rglob("*") if p.is_file() and not p.is_symlink())
    data_files = [p for p in files if p.name not in ("zarr.json", ".zarray", ".zgroup")]
    if not data_files:
        return
    victim = rng.choice(data_files)
    kind = rng.choice(["fifo", "symlink-outside", "symlink-sibling", "dangling", "loop", "dir"])
    victim.unlink()
    if kind == "fifo":
        os.mkfifo(victim)
    elif kind == "symlink-outside":
        outside = path.parent / "outside.bin"
        outside.write_bytes(os.urandom(64))
        victim.symlink_to(outside)
    elif kind == "symlink-sibling" and len(data_files) > 1:
        other = rng.choice([p for p in data_files if p != victim])
        victim.symlink_to(other)
    elif kind == "loop":
        victim.symlink_to(victim.name)
    elif kind == "dangling":
        victim.symlink_to(victim.parent / "no-such-file")
    else:
        victim.mkdir()


def files_of(path: Path) -> list[Path]:
    if path.is_file():
        return [path]
    return sorted(p for p in path.rglob("*") if p.is_file() and not p.is_symlink())


def field_format(fmt: str, file: Path) -> str | None:
    """Which field mutator fits this file of an input of format ``fmt``."""
    if fmt in ("png", "jpeg", "tiff"):
        return {".png": "png", ".tif": "tiff", ".tiff": "tiff"}.get(file.suffix.lower())
    if fmt == "zarr":
        return None
    return fmt


def ops_for(fmt: str) -> list[str]:
    ops = [*BYTE_OPS, "field", "field"]
    if fmt in ("zarr", "png", "jpeg", "tiff"):
        ops += ["replace-file"]
    if fmt == "zarr":
        ops += ["zarr-json", "zarr-json", "zarr-json"]
    return ops


def apply(path: Path, fmt: str, mutation: dict) -> None:
    """Apply ``mutation`` to the input at ``path`` (in place)."""
    rng = random.Random(mutation["seed"])
    op = mutation["op"]
    if op == "zarr-json":
        zarr_json(path, rng)
        return
    if op == "replace-file":
        replace_file(path, rng)
        return
    files = files_of(path)
    if not files:
        return
    target = rng.choice(files)
    data = bytearray(target.read_bytes())
    if op == "field":
        kind = field_format(fmt, target)
        data = FIELD_OPS[kind](data, rng) if kind in FIELD_OPS else bitflip(data, rng)
    else:
        data = BYTE_OPS[op](data, rng)
    target.write_bytes(bytes(data))


def random_mutations(fmt: str, rng: random.Random) -> list[dict]:
    """One to three mutations, stacked."""
    count = rng.choice([1, 1, 1, 2, 3])
    return [{"op": rng.choice(ops_for(fmt)), "seed": rng.randrange(2**32)} for _ in range(count)]
