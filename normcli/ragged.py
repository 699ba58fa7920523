"""Ragged image folders: images of different sizes, described and fitted exactly.

A folder whose images differ in height and width has no (N, H, W, C) array, but every
reduction that needs no aligned pixel positions is still well defined:

* over everything (``all``) and per channel (``0,1,2`` on colour): the pixels of all
  images pooled, each image weighted by its pixel count. These are computed on the
  *pixel stream*: the images' pixels one after another, an array of shape (P, 1, 1, C)
  (P pixels in all; (P, 1, 1) for grey), over the same axes. That array has the
  image array's number of dimensions and the same kept shape, so the statistics, the
  normalizers' fits and their saved parameters are those of the concatenated pixels
  (never an average of per-image figures), streamed in bounded pieces like any array;
* per image (``1,2`` on grey, ``1,2,3`` on colour) and per image and channel (``1,2``
  on colour): each image on its own, the results stacked in file order.

Anything else (``--axis 0``: per pixel position) needs aligned positions: an error that
suggests ``--resize``.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from normcli.errors import InputError
from normcli.io.base import ArrayInfo, Reader
from normcli.moments import Moments, describe
from normcli.stats import Accumulator

#: The reductions a ragged folder supports.
POOLED = "pooled"  # over all pixels (all axes, or all but the channel)
PER_IMAGE = "per-image"  # each image on its own (axis 0 kept)


def is_ragged(info: ArrayInfo) -> bool:
    return bool(info.extra.get("ragged"))


def shape_text(info: ArrayInfo) -> str:
    """``(201, *, *, 3)`` for a ragged folder, the shape otherwise."""
    if not is_ragged(info):
        return str(tuple(info.shape))
    dims = [str(info.shape[0]), "*", "*", *(str(s) for s in info.shape[3:])]
    return "(" + ", ".join(dims) + ")"


def shape_json(info: ArrayInfo) -> list:
    """The shape for JSON: null where sizes vary."""
    if not is_ragged(info):
        return list(info.shape)
    return [info.shape[0], None, None, *info.shape[3:]]


def stored_bytes(info: ArrayInfo) -> int:
    """Bytes of the decoded pixels (a ragged folder: of every image at its own size)."""
    if not is_ragged(info):
        return info.nbytes
    channels = int(np.prod(info.shape[3:])) if len(info.shape) > 3 else 1
    return info.extra["pixels"] * channels * info.dtype.itemsize


def sizes_note(info: ArrayInfo) -> str | None:
    """``images: sizes vary: widths 33-64, heights 40-70`` for a ragged folder."""
    if not is_ragged(info):
        return None
    (h0, h1), (w0, w1) = info.extra["heights"], info.extra["widths"]
    return f"{info.name}: sizes vary: widths {w0}-{w1}, heights {h0}-{h1}"


def reduction(info: ArrayInfo, axes: tuple[int, ...], where: str) -> str:
    """Which ragged reduction ``axes`` is (POOLED or PER_IMAGE), or an error."""
    ndim = len(info.shape)
    everything = tuple(range(ndim))
    spatial = (0, 1, 2)
    if axes in (everything, spatial):
        return POOLED
    if axes in (tuple(range(1, ndim)), (1, 2)):
        return PER_IMAGE
    (h0, h1), (w0, w1) = info.extra["heights"], info.extra["widths"]
    axis_text = ",".join(str(a) for a in axes)
    raise InputError(
        f"{where}: --axis {axis_text} needs every image to have the same size (it pairs "
        f"pixels by position), but widths vary {w0}-{w1} and heights {h0}-{h1}; add --resize "
        f"WxH (or --resize N --center-crop N), or use --axis all, "
        f"{'0,1,2 (per channel), ' if ndim == 4 else ''}or 1,2 (per image)"
    )


def _pixels(info: ArrayInfo) -> int:
    """Pixels of every image of a folder (ragged or not)."""
    return info.extra.get("pixels", info.shape[0] * info.shape[1] * info.shape[2])


def pooled_folder(reader: Reader, info: ArrayInfo, axes: tuple[int, ...]) -> bool:
    """True for a folder's images reduced over all pixels (all axes, or per channel):
    what :func:`counted` can count as the images decode, ragged or not."""
    ndim = len(info.shape)
    return (
        info.name == "images"
        and hasattr(reader, "read_counts")
        and ndim >= 3
        and (axes == tuple(range(ndim)) or (ndim == 4 and axes == (0, 1, 2)))
    )


class PixelStream(Reader):
    """The pixels of a ragged folder's images one after another, as an array of shape
    (P, 1, 1, C) (or (P, 1, 1) for grey), read in chunks of pixels."""

    format = "images"

    def __init__(self, folder: Reader):
        super().__init__(folder.path)
        self.folder = folder
        info = folder.info("images")
        self.info_ = ArrayInfo("images", (_pixels(info), 1, 1, *info.shape[3:]), info.dtype, {})
        self.notes = []

    def arrays(self) -> list[ArrayInfo]:
        return [self.info_]

    def iter_chunks(self, name: str, rows: int) -> Iterator[np.ndarray]:
        rows = max(1, rows)
        tail = self.info_.shape[1:]
        buf = np.empty((rows, *tail), dtype=self.info_.dtype)
        filled = 0
        for image in self.folder.iter_images(lookahead=4):
            flat = image.reshape(-1, *tail)
            at = 0
            while at < len(flat):
                take = min(rows - filled, len(flat) - at)
                buf[filled : filled + take] = flat[at : at + take]
                filled += take
                at += take
                if filled == rows:
                    yield buf
                    filled = 0
        if filled:
            yield buf[:filled]


def image_chunks(folder: Reader) -> Iterator[np.ndarray]:
    """Every image as a chunk of one row, (1, H, W[, C]), in file order."""
    for image in folder.iter_images(lookahead=4):
        yield image[None]


def per_image_moments(folder: Reader, axes: tuple[int, ...], *, exclude_zeros: bool = False):
    """The Moments of every image on its own over ``axes`` (axis 0 not among them),
    stacked in file order: kept shape (N,) or (N, C)."""

    dtype = folder.info("images").dtype
    parts = []
    for chunk in image_chunks(folder):
        acc = Accumulator(chunk.shape, dtype, axes, exclude_zeros=exclude_zeros)
        acc.update(chunk)
        parts.append(acc.result())
    return Moments.concat(parts)


def apply_ragged(folder, info, norm, writer, *, invert, before_done, out_dtype, progress):
    """Pass 2 on a ragged folder into an image folder: every image transformed on its
    own (decoded ahead on the pool), written at its own size; the before- and
    after-statistics over all pixels. Returns them and the dtype stored."""

    pixels = PixelStream(folder)
    shape = pixels.info_.shape
    every = tuple(range(len(shape)))
    before = Accumulator(shape, info.dtype, every) if before_done is None else None
    ragged_shape = (info.shape[0], None, None, *info.shape[3:])
    with writer.add(info.name, ragged_shape, out_dtype) as sink:
        after = Accumulator(shape, sink.stored_dtype, every)
        label = f"{'invert' if invert else 'normalize'} {info.name}"
        with progress.task(label, stored_bytes(info)) as task:
            for chunk in image_chunks(folder):
                if before is not None:
                    before.update(chunk.reshape(-1, *shape[1:]))
                out = np.empty(chunk.shape, dtype=out_dtype)
                if invert:
                    norm.inverse_transform(chunk, out=out)
                else:
                    norm.transform(chunk, out=out)
                stored = sink.encode(out)
                after.update(stored.reshape(-1, *shape[1:]))
                sink.write(stored)
                task.advance(chunk.nbytes)
        stored_dtype = sink.stored_dtype
    before_stats = before_done if before is None else describe(before.result())
    return before_stats, describe(after.result()), stored_dtype


def counted(folder: Reader, axes_list, *, exclude_zeros: bool = False):
    """Accumulators over the pixel stream for each axes of ``axes_list``, filled by the
    decoding threads themselves when every one counts exact values (8/16-bit pixels,
    over all axes or per channel): each image's counts are made where it is decoded,
    and only they come back. None when one of them would need the float path."""

    shape = PixelStream(folder).info_.shape
    dtype = folder.info("images").dtype
    accs = [Accumulator(shape, dtype, axes, exclude_zeros=exclude_zeros) for axes in axes_list]
    if any(a.hist is None and a.channels is None for a in accs):
        return None
    tail = shape[1:]
    if dtype == np.uint8 and hasattr(folder, "read_counts"):
        # Pillow's histogram of each decoded image, in the decoding threads: no array
        channels = shape[-1] if len(shape) == 4 else 1
        for counts in folder.iter_images(lookahead=4, read=folder.read_counts):
            for acc in accs:
                flat_state = acc.channels is None
                acc.absorb(counts.reshape(channels, 256).sum(axis=0) if flat_state else counts)
        return accs

    def counts(image):
        pixels = image.reshape(-1, *tail)
        return [a.chunk_state(pixels, 0) for a in accs]

    for states in folder.iter_images(lookahead=4, then=counts):
        for acc, state in zip(accs, states, strict=True):
            acc.absorb(state)
    return accs


def source_for(reader: Reader, info: ArrayInfo, axes: tuple[int, ...], exclude_zeros=False):
    """What a reduction over ``axes`` reads: (reader, info, None) for the array itself;
    for a ragged image folder its pixel stream (pooled reductions), with, per image, the
    stacked Moments of each image as the third item."""
    if not is_ragged(info):
        return reader, info, None
    pixels = PixelStream(reader)
    if reduction(info, axes, f"{reader.path}:{info.name}") == POOLED:
        return pixels, pixels.info_, None
    return pixels, pixels.info_, per_image_moments(reader, axes, exclude_zeros=exclude_zeros)
