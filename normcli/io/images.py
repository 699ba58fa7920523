"""Image folders: a directory of PNG/JPEG/... files in, a directory of PNG or TIFF out.

Reading. A directory holding image files directly is one dataset ``images`` of shape
(N, H, W) or (N, H, W, C). A directory holding one subfolder per class (torchvision's
ImageFolder layout) also gets ``labels`` (int64, the class's index) and two lists of
text: ``class_names`` and ``filenames`` (every row's path relative to the folder, so
each row can be traced back to its file). Classes and files are in plain sorted order,
as torchvision and Keras take them (see :mod:`normcli.io.image_scan`).

Every image's header is read when the folder is opened (no pixels), so its shape is
known: a folder whose images differ in size is *ragged* (``ls`` shows ``(N, *, *, 3)``);
its pixels can be described over reductions that need no aligned positions
(:mod:`normcli.ragged`), or made uniform with ``--resize``/``--center-crop``. A folder
mixing grey and colour is read as RGB (as the frameworks' loaders do), with a note.

Pixels are decoded on every core (Pillow and tifffile release the GIL), resized and
cropped in the same workers, a bounded number of images ahead of the consumer.
"""

from __future__ import annotations

import collections
import itertools
import os
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from normcli.errors import InputError, ParameterError
from normcli.io.base import ArrayInfo, Reader
from normcli.io.image_decode import (  # noqa: F401  (re-exported)
    MODES,
    TIFF_EXTRA,
    Decoded,
    Decoding,
    ImageFile,
    convert_mode,
    mode_shape,
    png_header,
    sniff,
)
from normcli.io.image_scan import EXTENSIONS, natural_key, scan_folder  # noqa: F401
from normcli.io.image_writer import (  # noqa: F401  (re-exported)
    ImageFolderWriter,
    ImageOutput,
    check_replaceable,
    safe_relative,
)

_KIND = {0: "grey", 1: "grey", 2: "grey+alpha", 3: "RGB", 4: "RGBA"}


def decode_threads() -> int:
    """Threads decoding images: the cores this process may use (at most 8)."""
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cores = os.cpu_count() or 1
    return max(1, min(8, cores))


def _describe(shape, dtype) -> str:
    if len(shape) not in (2, 3):
        return f"{np.dtype(dtype)} {tuple(shape)}"
    channels = shape[2] if len(shape) == 3 else 0
    return f"{shape[1]}x{shape[0]} {_KIND.get(channels, '?')} {np.dtype(dtype)} {tuple(shape)}"


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


class ImageFolderReader(Reader):
    format = "images"

    def __init__(
        self,
        path: Path,
        *,
        mode: str | None = None,
        max_pixels: int | None = None,
        transform=None,
        exif_transpose: bool = False,
        order: str = "sorted",
    ):
        super().__init__(path)
        if mode is not None and mode not in MODES:
            raise ParameterError(f"--mode {mode}: use L or RGB")
        self.max_pixels = max_pixels
        self.transform = transform if transform is not None and transform.active else None
        self.layout = scan_folder(self.path, order)
        self.files = self.layout.files
        self.notes = []
        if self.layout.skipped.total:
            self.notes.append(f"{self.path}: skipped {self.layout.skipped.describe()}")
        heads = self._headers(exif_transpose)
        self.decoding = self._plan(heads, mode, exif_transpose)
        self.mode = self.decoding.mode
        self.dtype = np.dtype(np.uint16) if self.decoding.widen else heads[0].dtype
        self.shapes = [self._output_shape(i, h) for i, h in enumerate(heads)]
        self.ragged = len(set(self.shapes)) > 1
        heights = [s[0] for s in self.shapes]
        widths = [s[1] for s in self.shapes]
        channels = self.shapes[0][2:]
        self.first_shape = self.shapes[0]
        extra = {}
        if self.ragged:
            self.first_shape = (max(heights), max(widths), *channels)
            extra = {
                "ragged": True,
                "heights": (min(heights), max(heights)),
                "widths": (min(widths), max(widths)),
                "pixels": int(sum(h * w for h, w in zip(heights, widths, strict=True))),
            }
        self._infos = [ArrayInfo("images", (len(self.files), *self.first_shape), self.dtype, extra)]
        if self.layout.labels is not None:
            self._infos.append(ArrayInfo("labels", self.layout.labels.shape, np.dtype(np.int64)))

    # -- opening: every header, then one plan for the folder -------------------------------

    def file(self, i: int) -> ImageFile:
        return ImageFile(self.path / self.files[i], self.max_pixels)

    def _headers(self, exif_transpose: bool) -> list[Decoded]:
        def head(i):
            return self.file(i).header(exif_transpose)

        if len(self.files) < 64:
            return [head(i) for i in range(len(self.files))]
        with ThreadPoolExecutor(decode_threads()) as pool:
            return list(pool.map(head, range(len(self.files))))

    def _plan(self, heads: list[Decoded], mode: str | None, exif_transpose: bool) -> Decoding:
        n = len(heads)
        turned = sum(1 for h in heads if h.orientation != 1)
        if turned and exif_transpose:
            self.notes.append(
                f"{self.path}: {_plural(turned, 'image')} of {n} turned upright as their EXIF "
                "orientation tag says (--exif-transpose)"
            )
        elif turned:
            self.notes.append(
                f"{self.path}: {_plural(turned, 'image')} of {n} carry an EXIF orientation "
                "tag; read as stored, as torchvision's and Keras's loaders do "
                "(--exif-transpose turns them upright)"
            )
        channels = {h.channels for h in heads}
        if mode is None and len(channels) > 1:
            mode = "RGB"
            others = sum(1 for h in heads if h.channels != 3)
            self.notes.append(
                f"{self.path}: mixes grey and colour; {_plural(others, 'image')} of {n} "
                "(grey, grey+alpha, palette or RGBA) read as RGB, as torchvision's and Keras's "
                "loaders do (--mode L reads every image as grey)"
            )
        dtypes = {h.dtype for h in heads}
        widen = False
        if len(dtypes) > 1:
            first = heads[0]
            j = next(i for i, h in enumerate(heads) if h.dtype != first.dtype)
            if mode is not None and dtypes == {np.dtype(np.uint8), np.dtype(np.uint16)}:
                widen = True
            else:
                hint = (
                    "; --mode L (or RGB) reads 8- and 16-bit images together as 16-bit"
                    if dtypes == {np.dtype(np.uint8), np.dtype(np.uint16)}
                    else ""
                )
                raise InputError(
                    f"{self.path / self.files[j]} is {_describe(heads[j].shape, heads[j].dtype)}"
                    f" but {self.files[0]} is {_describe(first.shape, first.dtype)}; every "
                    f"image must have the same bit depth{hint}"
                )
        return Decoding(mode, widen, exif_transpose, self.transform)

    def _output_shape(self, i: int, head: Decoded) -> tuple[int, ...]:
        shape = mode_shape(head.shape, self.decoding.mode)
        if self.transform is None:
            return tuple(shape)
        h, w = shape[:2]
        self.transform.check_fits(self.path / self.files[i], w, h)
        ow, oh = self.transform.output_size(w, h)
        return (oh, ow, *shape[2:])

    # -- the protocol -------------------------------------------------------------------------

    def arrays(self) -> list[ArrayInfo]:
        return list(self._infos)

    def texts(self) -> dict[str, list[str]]:
        out = {}
        if self.layout.class_names is not None:
            out["class_names"] = list(self.layout.class_names)
        out["filenames"] = list(self.files)
        return out

    def iter_chunks(self, name: str, rows: int) -> Iterator[np.ndarray]:
        info = self.info(name)
        if name == "labels":
            for start in range(0, info.rows, max(1, rows)):
                yield self.layout.labels[start : start + rows]
            return
        if self.ragged:
            raise self.ragged_error("be read as one array")
        n = info.rows
        step = max(1, min(rows, n))
        buf = np.empty((step, *self.first_shape), dtype=self.dtype)
        images = self.iter_images(lookahead=step)
        for start in range(0, n, step):
            k = min(step, n - start)
            for j in range(k):
                buf[j] = next(images)
            yield buf[:k]

    def ragged_error(self, what: str, hint: str = "") -> InputError:
        info = self._infos[0]
        (h0, h1), (w0, w1) = info.extra["heights"], info.extra["widths"]
        return InputError(
            f"{self.path} holds images of different sizes (widths {w0}-{w1}, heights "
            f"{h0}-{h1}), which cannot {what}; make them one size with --resize WxH or "
            f"--resize N --center-crop N{hint}"
        )

    def image_shape(self, i: int) -> tuple[int, ...]:
        return self.shapes[i]

    def read_image(self, i: int) -> np.ndarray:
        """Image ``i`` as the folder gives it (mode, bit depth, resized and cropped)."""
        return self._checked(i, self.file(i).read(self.decoding))

    def _checked(self, i: int, arr: np.ndarray) -> np.ndarray:
        if arr.shape != self.shapes[i] or arr.dtype != self.dtype:
            raise InputError(
                f"{self.path / self.files[i]} is {_describe(arr.shape, arr.dtype)} but its "
                f"header said {_describe(self.shapes[i], self.dtype)}; the file is damaged: "
                "replace or remove it"
            )
        return arr

    def read_counts(self, i: int) -> np.ndarray:
        """Image ``i``'s exact counts of every value of every channel (8-bit images:
        channels x 256, int64), from Pillow's histogram where it holds the image as it
        will be given (no array is made), else from the pixels."""

        def histogram(im):
            w, h = im.size
            if (h, w) != tuple(self.shapes[i][:2]):
                return None
            return np.asarray(im.histogram(), dtype=np.int64)

        out = self.file(i).read(self.decoding, pil_hook=histogram)
        channels = self.shapes[i][2] if len(self.shapes[i]) == 3 else 1
        if out is not None and out.ndim == 1 and len(out) == 256 * channels:
            return out
        # the pixels as an array (or an image whose size differs from its header)
        arr = self._checked(i, out) if out is not None and out.ndim >= 2 else self.read_image(i)
        channels = arr.shape[2] if arr.ndim == 3 else 1
        flat = arr.reshape(-1, channels)
        return np.concatenate([np.bincount(flat[:, c], minlength=256) for c in range(channels)])

    def iter_images(
        self, start: int = 0, stop: int | None = None, lookahead: int = 1, then=None, read=None
    ) -> Iterator[np.ndarray]:
        """Images ``start:stop`` in order, decoded by a pool of threads at most a few
        images (and ``lookahead``) ahead of the consumer; with ``then``, what
        ``then(image)`` returns, computed in the decoding thread (a statistic of it)."""
        stop = len(self.files) if stop is None else stop
        read = read or self.read_image
        if then is not None:
            first = read
            read = lambda i: then(first(i))  # noqa: E731
        threads = decode_threads()
        window = max(2 * threads, min(lookahead, 4 * threads))
        if stop - start <= 1 or threads == 1:
            for i in range(start, stop):
                yield read(i)
            return
        indices = iter(range(start, stop))
        pool = ThreadPoolExecutor(threads, thread_name_prefix="normcli-decode")
        try:
            pending = collections.deque(
                pool.submit(read, i) for i in itertools.islice(indices, window)
            )
            while pending:
                arr = pending.popleft().result()
                nxt = next(indices, None)
                if nxt is not None:
                    pending.append(pool.submit(read, nxt))
                yield arr
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
