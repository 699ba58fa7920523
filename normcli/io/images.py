"""Image folders: a directory of PNG/JPEG/... files in, a directory of PNG or TIFF out.

Reading. A directory holding image files directly is one dataset ``images`` of shape
(N, H, W) or (N, H, W, C). A directory holding one subfolder per class (torchvision's
ImageFolder layout) also gets ``labels`` (int64, the class's index in natural order)
and two lists of text: ``class_names`` and ``filenames`` (every row's path relative to
the folder, so each row can be traced back to its file). Files are taken in natural
order (img2 before img10). Hidden entries, zero-byte files, non-image files and
symbolic links that leave the folder (or loop) are skipped and counted. The first
image's header gives the shape and dtype; the others are decoded only as the chunks
stream, and the first that differs is an error naming it.

Decoding is Pillow's (its decompression-bomb guard stays on, and a warning of it is an
error too), except TIFF, which is read and written with tifffile (the ``tiff`` extra):
Pillow silently truncates 16-bit colour to 8 bits, and 16-bit colour PNG, which only
Pillow could read here, is refused for that reason. A file's content must be the
format its extension says.

Writing. One file per sample, named after ``filenames`` when the input had them
(``3/img12.png``), else ``000000.png``, ``000001.png``, ...; all inside a temporary
folder beside OUTPUT that is renamed into place when complete. Integer pixels of 8 or
16 bits are written exactly; float data are written exactly as float32/float64 TIFF or
quantized to 8 (or 16) bits over a range, values outside it being an error unless
``clip``.
"""

from __future__ import annotations

import contextlib
import os
import re
import stat
import struct
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from normcli.errors import InputError, ParameterError
from normcli.io.base import (
    ArrayInfo,
    Reader,
    input_os_error,
)

#: Extensions read as images, and the formats their content must be.
EXTENSIONS = {
    ".png": "PNG",
    ".jpg": "JPEG",
    ".jpeg": "JPEG",
    ".bmp": "BMP",
    ".gif": "GIF",
    ".tif": "TIFF",
    ".tiff": "TIFF",
    ".webp": "WEBP",
}
MODES = ("L", "RGB")
#: Values quantized at a time (float64 working copies of 8 MiB).
QUANTIZE_BLOCK = 1 << 20
TIFF_EXTRA = "pip install 'normcli[tiff]'"


def natural_key(text: str) -> tuple:
    """Sort key putting img2 before img10 (digits compare as numbers, case ignored)."""
    parts = re.split(r"(\d+)", text)
    key = tuple(int(p) if i % 2 else p.casefold() for i, p in enumerate(parts))
    return (key, text)


def sniff(head: bytes) -> str | None:
    """The image format the first bytes of a file announce, or None."""
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "PNG"
    if head.startswith(b"\xff\xd8\xff"):
        return "JPEG"
    if head.startswith((b"GIF87a", b"GIF89a")):
        return "GIF"
    if head.startswith(b"BM"):
        return "BMP"
    if head[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"):
        return "TIFF"
    if head.startswith(b"RIFF") and head[8:12] == b"WEBP":
        return "WEBP"
    return None


def _tifffile():
    try:
        import tifffile
    except ImportError:
        return None
    return tifffile


# -- scanning the folder -----------------------------------------------------------------


@dataclass
class Skipped:
    """What the scan left out, by reason, with a few names of each."""

    counts: dict
    examples: dict

    def add(self, reason: str, rel: str) -> None:
        self.counts[reason] = self.counts.get(reason, 0) + 1
        self.examples.setdefault(reason, [])
        if len(self.examples[reason]) < 3:
            self.examples[reason].append(rel)

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def describe(self) -> str:
        parts = []
        for reason, n in self.counts.items():
            names = ", ".join(self.examples[reason])
            more = ", ..." if n > len(self.examples[reason]) else ""
            parts.append(f"{n} {reason} ({names}{more})")
        return "; ".join(parts)


def _inside(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


class _Scan:
    """Walk the folder once: image files per class, and everything skipped."""

    def __init__(self, root: Path):
        self.root = root
        self.real_root = os.path.realpath(root)
        self.skipped = Skipped({}, {})

    def entries(self, directory: str, rel: str, ancestors: frozenset):
        """(rel, path, is_dir) of the directory's usable entries, links checked."""
        try:
            with os.scandir(directory) as it:
                found = list(it)
        except OSError as exc:
            raise input_os_error(Path(directory), exc) from None
        for entry in sorted(found, key=lambda e: natural_key(e.name)):
            child = f"{rel}/{entry.name}" if rel else entry.name
            if entry.name.startswith("."):
                self.skipped.add("hidden", child)
                continue
            try:
                st = os.stat(entry.path)  # follows links
            except OSError:
                self.skipped.add("broken or looping links", child)
                continue
            if entry.is_symlink():
                real = os.path.realpath(entry.path)
                if not _inside(real, self.real_root):
                    self.skipped.add("links leaving the folder", child)
                    continue
                if stat.S_ISDIR(st.st_mode) and real in ancestors:
                    self.skipped.add("broken or looping links", child)
                    continue
            if stat.S_ISDIR(st.st_mode):
                yield child, entry.path, True, os.path.realpath(entry.path)
            elif stat.S_ISREG(st.st_mode):
                if Path(entry.name).suffix.lower() not in EXTENSIONS:
                    self.skipped.add("not images", child)
                elif st.st_size == 0:
                    self.skipped.add("empty files", child)
                else:
                    yield child, entry.path, False, None
            else:
                self.skipped.add("not regular files", child)

    def images_under(self, directory: str, rel: str, ancestors: frozenset) -> list[str]:
        out = []
        for child, path, is_dir, real in self.entries(directory, rel, ancestors):
            if is_dir:
                out.extend(self.images_under(path, child, ancestors | {real}))
            else:
                out.append(child)
        return out


@dataclass
class FolderLayout:
    files: list[str]  # relative posix paths, in order
    labels: np.ndarray | None  # int64 per file, class layout only
    class_names: list[str] | None
    skipped: Skipped


def scan_folder(root: Path) -> FolderLayout:
    """The images of ``root`` in natural order, and its classes if it has them."""
    scan = _Scan(root)
    top_files: list[str] = []
    folders: list[tuple[str, list[str]]] = []
    ancestors = frozenset({scan.real_root})
    for rel, path, is_dir, real in scan.entries(str(root), "", ancestors):
        if is_dir:
            folders.append((rel, scan.images_under(path, rel, ancestors | {real})))
        else:
            top_files.append(rel)
    with_images = [(name, files) for name, files in folders if files]
    if top_files and with_images:
        raise InputError(
            f"{root} holds images both at its top level ({top_files[0]}) and in subfolders "
            f"({with_images[0][0]}/); put every image in a class subfolder, or all at the top"
        )
    if top_files:
        for name, _ in folders:
            scan.skipped.add("folders without images", name + "/")
        return FolderLayout(top_files, None, None, scan.skipped)
    if not with_images:
        what = f"; skipped {scan.skipped.describe()}" if scan.skipped.total else ""
        raise InputError(
            f"{root} holds no images ({', '.join(sorted(set(EXTENSIONS)))}){what}; "
            "give a folder of image files or of class subfolders"
        )
    empty = [name for name, files in folders if not files]
    if empty:
        raise InputError(
            f"{root}/{empty[0]} is a class folder without images, which would shift the "
            "labels of the classes after it; remove it or add its images"
        )
    files, labels = [], []
    for index, (_, class_files) in enumerate(folders):
        files.extend(class_files)
        labels.extend([index] * len(class_files))
    return FolderLayout(
        files, np.asarray(labels, dtype=np.int64), [name for name, _ in folders], scan.skipped
    )


# -- decoding one image --------------------------------------------------------------------


@contextlib.contextmanager
def pillow_limit(max_pixels: int | None):
    """Pillow's decompression-bomb limit (``max_pixels`` if given), its warning an error."""
    from PIL import Image

    old = Image.MAX_IMAGE_PIXELS
    if max_pixels is not None:
        Image.MAX_IMAGE_PIXELS = max_pixels
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            yield Image.MAX_IMAGE_PIXELS
    finally:
        Image.MAX_IMAGE_PIXELS = old


def _bomb_error(path: Path, pixels: int | None, limit: int) -> InputError:
    size = f"{pixels:,} pixels" if pixels else "more pixels than the limit"
    raise_to = f" {pixels}" if pixels else " N"
    return InputError(
        f"{path} has {size}, more than the decompression-bomb limit of {limit:,}; if the "
        f"image is genuine, raise the limit with --max-pixels{raise_to}"
    )


#: Channels of the arrays Pillow gives for each mode we keep as it is (0: no channel axis).
_PIL_BANDS = {
    "L": 0,
    "I;16": 0,
    "I;16L": 0,
    "I;16B": 0,
    "I": 0,
    "F": 0,
    "LA": 2,
    "RGB": 3,
    "RGBA": 4,
}


@dataclass(frozen=True)
class Decoded:
    """What a file's header says: format, mode, size and the array it will give."""

    format: str
    shape: tuple[int, ...]
    dtype: np.dtype


class ImageFile:
    """One image file, opened to read its header and then, on request, its pixels."""

    def __init__(self, path: Path, max_pixels: int | None):
        self.path = path
        self.max_pixels = max_pixels
        try:
            with open(path, "rb") as f:
                head = f.read(32)
        except OSError as exc:
            raise input_os_error(path, exc) from None
        expected = EXTENSIONS[path.suffix.lower()]
        found = sniff(head)
        if found is None:
            raise InputError(
                f"{path} is not a {expected} image (its first bytes are not an image "
                "signature); the file is damaged, or not an image despite its name"
            )
        if found != expected:
            raise InputError(
                f"{path} is named like a {expected} file but holds a {found} image; rename "
                f"it with the right extension (normcli does not guess formats)"
            )
        self.format = found
        png = png_header(head)
        if png is not None:
            _, _, depth, colour = png
            if depth == 16 and colour in (2, 4, 6):  # RGB, grey+alpha, RGBA
                raise InputError(
                    f"{path} is a 16-bit colour PNG, which Pillow can only read truncated to "
                    "8 bits; normcli refuses rather than lose bits: convert it to a 16-bit "
                    "TIFF (read with the tiff extra) or to 8 bits first"
                )

    def limit(self) -> int:
        from PIL import Image

        return self.max_pixels if self.max_pixels is not None else Image.MAX_IMAGE_PIXELS

    def header(self) -> Decoded:
        """Shape and dtype without decoding the pixels."""
        if self.format == "TIFF":
            with self._tiff() as tif:
                return Decoded("TIFF", *self._tiff_page(tif))
        with self._pillow() as im:
            shape, dtype = self._pil_layout(im)
            return Decoded(self.format, shape, dtype)

    def read(self) -> np.ndarray:
        if self.format == "TIFF":
            with self._tiff() as tif:
                self._tiff_page(tif)
                try:
                    return np.ascontiguousarray(tif.pages[0].asarray())
                except Exception as exc:  # tifffile raises many kinds on damaged data
                    raise self._undecodable(exc) from None
        with self._pillow() as im:
            self._pil_layout(im)
            try:
                with pillow_limit(self.max_pixels):
                    im.load()
                    im = self._pil_natural(im)
                    arr = np.asarray(im)
            except InputError:
                raise
            except Exception as exc:  # Pillow raises OSError, SyntaxError, ValueError, ...
                raise self._undecodable(exc) from None
        if not arr.dtype.isnative:
            arr = arr.astype(arr.dtype.newbyteorder("="))
        return arr

    def _open_failed(self, exc: Exception) -> InputError:
        """A failure to open: the system's (missing, unreadable) or the decoder's."""
        if isinstance(exc, OSError) and exc.errno is not None:
            return input_os_error(self.path, exc)
        return self._undecodable(exc)

    def _undecodable(self, exc: Exception) -> InputError:
        text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return InputError(
            f"{self.path} cannot be decoded as {self.format} ({text}); the file is damaged "
            "or incomplete: replace or remove it"
        )

    # Pillow ------------------------------------------------------------------------

    @contextlib.contextmanager
    def _pillow(self):
        from PIL import Image

        try:
            with pillow_limit(self.max_pixels) as limit:
                try:
                    im = Image.open(self.path, formats=[self.format])
                except Image.DecompressionBombError as exc:
                    raise _bomb_error(self.path, _pixels_in(str(exc)), limit) from None
                except Image.DecompressionBombWarning as exc:
                    raise _bomb_error(self.path, _pixels_in(str(exc)), limit) from None
        except InputError:
            raise
        except Exception as exc:
            raise self._open_failed(exc) from None
        try:
            yield im
        finally:
            im.close()

    def _pil_layout(self, im) -> tuple[tuple[int, ...], np.dtype]:
        frames = getattr(im, "n_frames", 1)
        if frames > 1:
            raise InputError(
                f"{self.path} holds {frames} frames; normcli reads one image per file: "
                "split it into one file per frame"
            )
        mode = self._pil_mode(im)
        bands = _PIL_BANDS[mode]
        w, h = im.size
        dtype = {"I;16": np.uint16, "I;16L": np.uint16, "I;16B": np.uint16, "I": np.int32}
        dtype = np.dtype(dtype.get(mode, np.float32 if mode == "F" else np.uint8))
        return ((h, w, bands) if bands else (h, w)), dtype

    @staticmethod
    def _pil_mode(im) -> str:
        """The Pillow mode the pixels will be given in (palette and others converted)."""
        mode = im.mode
        if mode == "P":
            return "RGBA" if "transparency" in im.info or im.palette.mode == "RGBA" else "RGB"
        if mode == "PA":
            return "RGBA"
        if mode == "1":
            return "L"
        if mode in _PIL_BANDS:
            return mode
        return "RGB"  # CMYK, YCbCr, LAB, HSV, ...

    def _pil_natural(self, im):
        mode = self._pil_mode(im)
        if mode != im.mode and not (mode.startswith("I;16") and im.mode.startswith("I;16")):
            im = im.convert(mode)
        return im

    # TIFF --------------------------------------------------------------------------

    @contextlib.contextmanager
    def _tiff(self):
        tifffile = _tifffile()
        if tifffile is None:
            raise InputError(
                f"{self.path} is a TIFF image; reading TIFF needs the tifffile package: "
                f"{TIFF_EXTRA}"
            )
        try:
            tif = tifffile.TiffFile(self.path)
        except Exception as exc:
            raise self._open_failed(exc) from None
        try:
            yield tif
        finally:
            tif.close()

    def _tiff_page(self, tif) -> tuple[tuple[int, ...], np.dtype]:
        try:
            pages = len(tif.pages)
            page = tif.pages[0]
            shape, dtype = tuple(page.shape), np.dtype(page.dtype)
        except Exception as exc:
            raise self._undecodable(exc) from None
        if pages > 1:
            raise InputError(
                f"{self.path} holds {pages} pages; normcli reads one image per file: split "
                "it into one file per page"
            )
        if len(shape) == 3 and shape[0] in (3, 4) and shape[-1] not in (3, 4):
            raise InputError(
                f"{self.path} stores its channels in separate planes (shape {shape}); "
                "re-save it with interleaved channels"
            )
        if len(shape) not in (2, 3) or (len(shape) == 3 and shape[-1] > 4):
            raise InputError(f"{self.path} has shape {shape}, not an image of 1 to 4 channels")
        pixels = shape[0] * shape[1]
        if pixels > self.limit():
            raise _bomb_error(self.path, pixels, self.limit())
        return shape, dtype.newbyteorder("=")


def _pixels_in(message: str) -> int | None:
    m = re.search(r"\((\d+) pixels\)", message)
    return int(m.group(1)) if m else None


# -- --mode conversions, in numpy so every format and bit depth converts alike ------------------


def mode_shape(shape: tuple[int, ...], mode: str | None) -> tuple[int, ...]:
    if mode == "L":
        return shape[:2]
    if mode == "RGB":
        return (*shape[:2], 3)
    return shape


def convert_mode(arr: np.ndarray, mode: str | None) -> np.ndarray:
    """Grey or RGB, whatever the image: alpha is dropped, grey from colour is ITU-R 601-2
    luma (L = R*299/1000 + G*587/1000 + B*114/1000, Pillow's formula), grey to colour
    repeats the grey. The dtype is kept, so 16-bit images stay 16-bit."""
    if mode is None:
        return arr
    channels = arr.shape[2] if arr.ndim == 3 else 0
    if mode == "L":
        if channels in (0,):
            return arr
        if channels in (1, 2):
            return np.ascontiguousarray(arr[:, :, 0])
        rgb = arr[:, :, :3]
        if arr.dtype.kind in "ui":
            # Pillow's integer form: (R*19595 + G*38470 + B*7471 + 0x8000) >> 16
            acc = rgb.astype(np.int64) @ np.array([19595, 38470, 7471], dtype=np.int64)
            return ((acc + 0x8000) >> 16).astype(arr.dtype)
        return (rgb.astype(np.float64) @ np.array([0.299, 0.587, 0.114])).astype(arr.dtype)
    grey = arr if channels == 0 else arr[:, :, 0]
    if channels in (0, 1, 2):
        return np.repeat(grey[:, :, None], 3, axis=2)
    return np.ascontiguousarray(arr[:, :, :3])


# -- the reader ------------------------------------------------------------------------------


class ImageFolderReader(Reader):
    format = "images"

    def __init__(self, path: Path, *, mode: str | None = None, max_pixels: int | None = None):
        super().__init__(path)
        if mode is not None and mode not in MODES:
            raise ParameterError(f"--mode {mode}: use L or RGB")
        self.mode = mode
        self.max_pixels = max_pixels
        self.layout = scan_folder(self.path)
        self.files = self.layout.files
        first = self.file(0)
        head = first.header()
        self.first_shape = mode_shape(head.shape, mode)
        self.dtype = head.dtype
        self._infos = [ArrayInfo("images", (len(self.files), *self.first_shape), self.dtype)]
        if self.layout.labels is not None:
            self._infos.append(ArrayInfo("labels", self.layout.labels.shape, np.dtype(np.int64)))
        self.notes = []
        if self.layout.skipped.total:
            self.notes.append(f"{self.path}: skipped {self.layout.skipped.describe()}")

    def file(self, i: int) -> ImageFile:
        return ImageFile(self.path / self.files[i], self.max_pixels)

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
        n = info.rows
        step = max(1, min(rows, n))
        buf = np.empty((step, *self.first_shape), dtype=self.dtype)
        for start in range(0, n, step):
            k = min(step, n - start)
            for j in range(k):
                buf[j] = self._image(start + j)
            yield buf[:k]

    def _image(self, i: int) -> np.ndarray:
        arr = convert_mode(self.file(i).read(), self.mode)
        if arr.shape != self.first_shape or arr.dtype != self.dtype:
            hint = "" if self.mode else " (--mode L or --mode RGB converts mixed modes)"
            raise InputError(
                f"{self.path / self.files[i]} is {_describe(arr.shape, arr.dtype)} but "
                f"{self.files[0]} is {_describe(self.first_shape, self.dtype)}; every image "
                f"must have the same shape and bit depth{hint}"
            )
        return arr


def _describe(shape, dtype) -> str:
    kind = {0: "grey", 1: "grey", 2: "grey+alpha", 3: "RGB", 4: "RGBA"}
    channels = shape[2] if len(shape) == 3 else 0
    return f"{shape[1]}x{shape[0]} {kind.get(channels, '?')} {np.dtype(dtype)} {tuple(shape)}"


def png_header(head: bytes) -> tuple[int, int, int, int] | None:
    """(width, height, bit depth, colour type) from a PNG's first 26 bytes."""
    if not head.startswith(b"\x89PNG\r\n\x1a\n") or head[12:16] != b"IHDR":
        return None
    w, h, depth, colour = struct.unpack(">IIBB", head[16:26])
    return w, h, depth, colour
