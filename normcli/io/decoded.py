"""A reader's arrays as the values they stand for: CF decoding (:mod:`normcli.cf`)
wrapped around any reader whose arrays carry attributes (HDF5, netCDF, Zarr).

Decoded arrays report the decoded dtype (``float32`` for an ``int16`` packed with
float32 attributes, as xarray does) and keep the stored one in ``extra["cf"]``;
missing values read as NaN, so ``--nan`` treats them as it treats NaN. Arrays
without CF attributes are read as before. :attr:`DecodedReader.raw` is the reader
underneath: what ``normalize`` copies the arrays it passes through from (the stored
values, with all their attributes).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import numpy as np

from normcli.cf import CFCoding, cf_coding
from normcli.io.base import ArrayInfo, Reader, reusing_buffer


def decode_reader(reader: Reader) -> Reader:
    """``reader``, wrapped to decode the arrays that carry CF attributes (itself when
    none does)."""
    codings = {}
    for info in reader.arrays():
        coding = cf_coding(reader.attributes(info.name), info.dtype, f"{reader.path}:{info.name}")
        if coding is not None:
            codings[info.name] = coding
    return DecodedReader(reader, codings) if codings else reader


class DecodedReader(Reader):
    def __init__(self, inner: Reader, codings: dict[str, CFCoding]):
        super().__init__(inner.path)
        self.raw = inner
        self.format = inner.format
        self.notes = inner.notes
        self.options = inner.options
        self.skipped = inner.skipped
        self._codings = codings
        self._infos = []
        for info in inner.arrays():
            coding = codings.get(info.name)
            if coding is not None:
                extra = {**info.extra, "cf": coding.describe(), "stored_dtype": str(info.dtype)}
                info = dataclasses.replace(info, dtype=coding.dtype, extra=extra)
            self._infos.append(info)

    def arrays(self) -> list[ArrayInfo]:
        return list(self._infos)

    def texts(self) -> dict[str, list[str]]:
        return self.raw.texts()

    def attributes(self, name: str) -> dict:
        return self.raw.attributes(name)

    def coding(self, name: str) -> CFCoding | None:
        return self._codings.get(name)

    def chunk_rows(self, name: str, rows: int) -> int:
        return self.raw.chunk_rows(name, rows)

    def iter_chunks(self, name: str, rows: int) -> Iterator[np.ndarray]:
        return self.iter_chunks_into(name, rows, reusing_buffer())

    def iter_chunks_into(self, name: str, rows: int, take) -> Iterator[np.ndarray]:
        coding = self._codings.get(name)
        if coding is None:
            read_into = getattr(self.raw, "iter_chunks_into", None)
            if read_into is not None:
                yield from read_into(name, rows, take)
                return
            for chunk in self.raw.iter_chunks(name, rows):
                out = take(chunk.shape, chunk.dtype)
                np.copyto(out, chunk)
                yield out
            return
        for raw in self.raw.iter_chunks(name, rows):
            yield coding.decode(raw, take(raw.shape, coding.dtype))

    def read_rows(self, name: str, start: int, stop: int) -> np.ndarray:
        raw = self.raw.read_rows(name, start, stop)
        coding = self._codings.get(name)
        return raw if coding is None else coding.decode(raw)

    def close(self) -> None:
        self.raw.close()
