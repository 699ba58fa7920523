"""Decoding one image file: its header (shape, dtype) and its pixels.

Decoding is Pillow's (its decompression-bomb guard stays on, and a warning of it is an
error too), except TIFF, which is read with tifffile (the ``tiff`` extra): Pillow
silently truncates 16-bit colour to 8 bits, and 16-bit colour PNG, which only Pillow
could read here, is refused for that reason. A file's content must be the format its
extension says.
"""

from __future__ import annotations

import contextlib
import re
import struct
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from normcli.errors import InputError
from normcli.io.base import input_os_error
from normcli.io.image_scan import EXTENSIONS

MODES = ("L", "RGB")
TIFF_EXTRA = "pip install 'normcli[tiff]'"


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
    #: The EXIF orientation tag (1: as stored; 2 to 8: mirrored and/or turned).
    orientation: int = 1

    @property
    def channels(self) -> int:
        return self.shape[2] if len(self.shape) == 3 else 0


@dataclass(frozen=True)
class Decoding:
    """How every image of a folder is turned into pixels, after decoding."""

    mode: str | None = None  # --mode, or the folder's: L, RGB or None (as stored)
    #: 8-bit images become 16-bit (v * 257) when the folder mixes 8- and 16-bit.
    widen: bool = False
    exif_transpose: bool = False
    transform: object | None = None  # an ImageTransform (--resize, --center-crop)


#: EXIF orientations that swap width and height.
_TURNED = (5, 6, 7, 8)


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

    def header(self, exif_transpose: bool = False) -> Decoded:
        """Shape and dtype without decoding the pixels (turned, with ``exif_transpose``,
        as the EXIF orientation says)."""
        if self.format == "TIFF":
            with self._tiff() as tif:
                return self._sized(Decoded("TIFF", *self._tiff_page(tif)))
        with self._pillow() as im:
            shape, dtype = self._pil_layout(im)
            orientation = _orientation(im)
        if exif_transpose and orientation in _TURNED:
            shape = (shape[1], shape[0], *shape[2:])
        return self._sized(Decoded(self.format, shape, dtype, orientation))

    def _sized(self, decoded: Decoded) -> Decoded:
        """A header that declares no pixels (a width or height of 0) is a damaged file."""
        shape = decoded.shape
        if len(shape) < 2 or shape[0] == 0 or shape[1] == 0:
            size = f"{shape[1]}x{shape[0]}" if len(shape) >= 2 else str(tuple(shape))
            raise InputError(
                f"{self.path} declares {size} pixels; the file is damaged: replace or remove it"
            )
        return decoded

    def read(self, decoding: Decoding | None = None, pil_hook=None):
        """The pixels, converted as ``decoding`` says (mode, bit depth, EXIF
        orientation, resize and crop). With ``pil_hook``, an 8-bit grey or RGB image
        Pillow holds as it will be given is handed to ``pil_hook`` instead, and what it
        returns is returned (its histogram, say, without making the array)."""
        decoding = decoding or Decoding()
        transform = decoding.transform
        if self.format == "TIFF":
            arr = self._read_tiff()
        else:
            with self._pillow() as im:
                self._pil_layout(im)
                try:
                    with pillow_limit(self.max_pixels):
                        im.load()
                        if decoding.exif_transpose:
                            from PIL import ImageOps

                            im = ImageOps.exif_transpose(im)
                        im = self._pil_natural(im)
                        if transform is not None and _as_stored(im, decoding):
                            im = transform.apply(im, self.path)  # in Pillow, no copies
                            transform = None
                        hook = pil_hook is not None and transform is None
                        if hook and im.mode in ("L", "RGB") and _as_stored(im, decoding):
                            return pil_hook(im)
                        arr = np.asarray(im)
                except InputError:
                    raise
                except Exception as exc:  # Pillow raises OSError, SyntaxError, ValueError, ...
                    raise self._undecodable(exc) from None
        if not arr.dtype.isnative:
            arr = arr.astype(arr.dtype.newbyteorder("="))
        arr = convert_mode(arr, decoding.mode)
        if decoding.widen and arr.dtype == np.uint8:
            arr = arr.astype(np.uint16) * np.uint16(257)
        if transform is not None:
            arr = transform.apply_array(arr, self.path)
        return arr

    def _read_tiff(self) -> np.ndarray:
        with self._tiff() as tif:
            self._tiff_page(tif)
            try:
                page = tif.pages[0]
                arr = np.ascontiguousarray(page.asarray())
                cmyk = int(getattr(page, "photometric", 0)) == 5  # SEPARATED
            except Exception as exc:  # tifffile raises many kinds on damaged data
                raise self._undecodable(exc) from None
        if cmyk:
            arr = _cmyk_to_rgb(arr, self.path)
        return arr

    def _open_failed(self, exc: Exception) -> InputError:
        """A failure to open: the system's (missing, unreadable) or the decoder's."""
        if isinstance(exc, OSError) and exc.errno is not None:
            return input_os_error(self.path, exc)
        return self._undecodable(exc)

    def _undecodable(self, exc: Exception) -> InputError:
        text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        package = re.search(r"requires the '([\w.-]+)' package", text)
        if package:  # a valid file in an encoding a missing package decodes
            what = text[: package.start()].strip().strip("<>").split(":")[0]
            return InputError(
                f"{self.path} is a {self.format} file that needs the {package[1]} package to "
                f"decode ({what or 'its encoding'}): pip install {package[1]}"
            )
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
            palette = im.palette.mode if im.palette is not None else None  # PLTE missing?
            return "RGBA" if "transparency" in im.info or palette == "RGBA" else "RGB"
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
        if int(getattr(page, "photometric", 0)) == 5 and len(shape) == 3 and shape[2] == 4:
            shape = (*shape[:2], 3)  # CMYK, read as RGB
        return shape, dtype.newbyteorder("=")


def _orientation(im) -> int:
    """The EXIF orientation tag of an open Pillow image (1 when it has none)."""
    try:
        value = im.getexif().get(0x0112, 1)
        return int(value) if int(value) in range(1, 9) else 1
    except Exception:  # a damaged EXIF block: read the pixels as stored
        return 1


def _as_stored(im, decoding: Decoding) -> bool:
    """True when the Pillow image already is what the mode and bit depth make of it, so
    the transform can run on it directly."""
    channels = _PIL_BANDS.get(im.mode)
    if decoding.widen and im.mode in ("L", "LA", "RGB", "RGBA"):
        return False
    if decoding.mode is None:
        return True
    return (decoding.mode, channels) in (("L", 0), ("RGB", 3))


def _cmyk_to_rgb(arr: np.ndarray, path) -> np.ndarray:
    """8-bit CMYK pixels as RGB, converted by Pillow exactly as it converts a CMYK JPEG."""
    from PIL import Image

    if arr.dtype != np.uint8 or arr.ndim != 3 or arr.shape[2] != 4:
        raise InputError(
            f"{path} is a CMYK TIFF of {arr.dtype} pixels; normcli converts 8-bit CMYK to "
            "RGB only: convert it to RGB first"
        )
    h, w = arr.shape[:2]
    im = Image.frombuffer("CMYK", (w, h), np.ascontiguousarray(arr).tobytes(), "raw", "CMYK", 0, 1)
    return np.asarray(im.convert("RGB"))


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


def png_header(head: bytes) -> tuple[int, int, int, int] | None:
    """(width, height, bit depth, colour type) from a PNG's first 26 bytes."""
    if not head.startswith(b"\x89PNG\r\n\x1a\n") or head[12:16] != b"IHDR" or len(head) < 26:
        return None
    w, h, depth, colour = struct.unpack(">IIBB", head[16:26])
    return w, h, depth, colour
