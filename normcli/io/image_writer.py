"""Writing an image folder: one PNG or TIFF file per sample.

One file per sample, named after ``filenames`` when the input had them
(``3/img12.png``), else ``000000.png``, ``000001.png``, ...; all inside a temporary
folder beside OUTPUT that is renamed into place when complete. Integer pixels of 8 or
16 bits are written exactly; float data are written exactly as float32/float64 TIFF or
quantized to 8 (or 16) bits over a range, values outside it being an error unless
``clip``.
"""

from __future__ import annotations

import contextlib
import math
import os
import shutil
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import numpy as np

from normcli.errors import OutputError, ParameterError
from normcli.io import image_decode, tempfiles
from normcli.io.base import (
    ArraySink,
    Writer,
    create_error,
    os_error_message,
    remove_quietly,
    temp_path_beside,
)
from normcli.io.image_decode import TIFF_EXTRA
from normcli.io.image_scan import EXTENSIONS

#: Values quantized at a time (float64 working copies of 8 MiB).
QUANTIZE_BLOCK = 1 << 20


# -- the writer ------------------------------------------------------------------------------


@dataclass
class ImageOutput:
    """How an image-folder OUTPUT is written (the command line's image options)."""

    image_format: str = "png"  # png or tiff
    bit_depth: int | None = None  # 8 or 16: quantize float data to that many bits
    value_range: tuple[float, float] = (0.0, 1.0)
    clip: bool = False


def safe_relative(name: str, where: str) -> PurePosixPath:
    """``name`` as a relative path that stays inside OUTPUT, or an error."""
    p = PurePosixPath(name)
    if (
        not name
        or "\x00" in name
        or p.is_absolute()
        or any(part in ("", ".", "..") for part in name.split("/"))
    ):
        raise OutputError(
            f"file name {name!r} from {where} would leave the output folder (absolute, "
            "empty or with '..'); refusing to write it"
        )
    return p


class _ImageSink(ArraySink):
    def __init__(self, writer: ImageFolderWriter, name, shape, dtype):
        super().__init__(name, shape, dtype)
        self.writer = writer
        opts = writer.options
        self.image_shape = tuple(shape[1:])
        if len(self.image_shape) == 3 and self.image_shape[2] == 1:
            self.image_shape = self.image_shape[:2]
        dt = np.dtype(dtype)
        self.quantize = opts.bit_depth is not None or (
            dt.kind == "f" and opts.image_format == "png"
        )
        if dt.kind == "b":
            self.stored_dtype = np.dtype(np.uint8)
        elif dt.kind in "ui" and opts.bit_depth is None:
            self.stored_dtype = np.dtype(np.uint8 if dt.itemsize == 1 else np.uint16)
        elif dt.kind == "f" and not self.quantize:
            self.stored_dtype = dt
        else:
            self.stored_dtype = np.dtype(np.uint16 if opts.bit_depth == 16 else np.uint8)
        if dt.kind in "ui" and opts.image_format == "tiff" and opts.bit_depth is None:
            self.stored_dtype = dt  # TIFF keeps any integer type as it is
        self._check_layout()

    def _check_layout(self) -> None:
        opts, shape = self.writer.options, self.image_shape
        full = (self.shape[0], *shape)
        if len(shape) not in (2, 3) or (len(shape) == 3 and shape[2] not in (2, 3, 4)):
            raise OutputError(
                f"{self.name} has shape {tuple(self.shape)}; an image folder needs (N, H, W) or "
                f"(N, H, W, C) with 1 to 4 channels"
            )
        if opts.image_format == "png" and self.stored_dtype.itemsize > 1 and len(shape) == 3:
            raise OutputError(
                f"{self.name} {full} would be 16-bit colour PNG, which Pillow cannot write; "
                "use --image-format tiff"
            )
        if opts.image_format == "png" and self.stored_dtype not in (np.uint8, np.uint16):
            raise OutputError(f"{self.name}: PNG holds 8- or 16-bit pixels, not {self.dtype}")

    def encode(self, chunk: np.ndarray) -> np.ndarray:
        """The chunk as it will be stored: checked against the range and quantized."""
        if None in self.image_shape:  # a folder of mixed sizes: one image at a time
            sizes = chunk.shape[1:3]
            fixed, self.image_shape = self.image_shape, (*sizes, *self.image_shape[2:])
            try:
                return self._encode(chunk)
            finally:
                self.image_shape = fixed
        return self._encode(chunk)

    def _encode(self, chunk: np.ndarray) -> np.ndarray:
        if chunk.dtype == self.stored_dtype:
            return chunk.reshape(chunk.shape[0], *self.image_shape)
        opts = self.writer.options
        where = self.writer.path
        first = self.rows_written
        if chunk.dtype.kind == "b":
            return chunk.astype(np.uint8).reshape(chunk.shape[0], *self.image_shape)
        top = float(np.iinfo(self.stored_dtype).max)
        if chunk.dtype.kind in "ui":
            lo, hi, values = 0.0, top, chunk
        else:
            lo, hi = (float(v) for v in opts.value_range)
            values = chunk
            bad = ~np.isfinite(values)
            if bad.any():
                i = first + int(np.argmax(bad.reshape(len(chunk), -1).any(axis=1)))
                raise OutputError(
                    f"sample {self.writer.label(i)} holds NaN or infinity, which no "
                    f"{self.stored_dtype.itemsize * 8}-bit image can hold; nothing written "
                    f"to {where} (--image-format tiff keeps float values)"
                )
        flat = values.reshape(len(chunk), -1)
        low, high = flat.min(axis=1), flat.max(axis=1)
        outside = (low < lo) | (high > hi)
        if outside.any() and not opts.clip:
            j = int(np.argmax(outside))
            what = "pixel values" if chunk.dtype.kind in "ui" else "values"
            raise OutputError(
                f"sample {self.writer.label(first + j)} has {what} in "
                f"[{float(low[j]):.6g}, {float(high[j]):.6g}], outside the range "
                f"{lo:g}..{hi:g} of {self.stored_dtype.itemsize * 8}-bit images; "
                "nothing written: use --clip to clip, --range LO HI for another range, or "
                "--image-format tiff to keep float values"
            )
        if chunk.dtype.kind in "ui":
            out = np.clip(chunk, 0, top).astype(self.stored_dtype)
            return out.reshape(chunk.shape[0], *self.image_shape)
        out = np.empty((len(chunk), *self.image_shape), dtype=self.stored_dtype)
        step = max(1, QUANTIZE_BLOCK // max(1, flat.shape[1]))  # bounds the float64 copies
        for start in range(0, len(chunk), step):
            part = np.clip(flat[start : start + step], lo, hi).astype(np.float64)
            part -= lo
            part *= top / (hi - lo)
            out[start : start + step] = np.rint(part).reshape(-1, *self.image_shape)
        return out

    def write(self, chunk: np.ndarray) -> None:
        stored = self.encode(chunk)
        for image in stored:
            self.writer.write_image(self.rows_written, image)
            self.rows_written += 1


class ImageFolderWriter(Writer):
    """OUTPUT a folder: one image per sample, written to a temporary folder beside it."""

    format = "images"

    def __init__(
        self,
        path: Path,
        *,
        compression: str | None = None,
        options: ImageOutput | None = None,
    ):
        super().__init__(path, compression=compression)
        self.options = options or ImageOutput()
        if compression not in (None, "none"):
            raise OutputError(f"{self.path}: --compression does not apply to image folders")
        if self.options.image_format not in ("png", "tiff"):
            raise OutputError(f"--image-format {self.options.image_format}: use png or tiff")
        if self.options.image_format == "tiff" and image_decode._tifffile() is None:
            raise OutputError(
                f"cannot write TIFF images to {self.path}: writing TIFF needs the tifffile "
                f"package: {TIFF_EXTRA}"
            )
        lo, hi = self.options.value_range
        if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
            raise ParameterError(f"--range {lo} {hi}: LO must be less than HI")
        self.suffix = ".png" if self.options.image_format == "png" else ".tif"
        self._names: list[str] | None = None
        self._made: set[str] = set()
        self._sink: _ImageSink | None = None
        try:
            os.mkdir(self.tmp)
        except OSError as exc:
            raise create_error(self.path, exc, "folders") from None

    def add_texts(self, name: str, values: list[str]) -> bool:
        """``filenames`` name the images; other texts are not written."""
        if name != "filenames":
            return False
        self._names = list(values)
        return True

    def add(self, name, shape, dtype) -> ArraySink:
        if self._sink is not None:
            raise OutputError(
                f"{self.path} is an image folder, which holds one array of images (got "
                f"{self._sink.name!r} and {name!r})"
            )
        self._sink = _ImageSink(self, name, shape, dtype)
        self._plan(shape[0] if shape else 0)
        return self._sink

    def _plan(self, n: int) -> None:
        """The relative file name of every sample, checked before anything is written."""
        names = self._names if self._names is not None and len(self._names) == n else None
        if names is None:
            width = max(6, len(str(max(0, n - 1))))
            self._files = [f"{i:0{width}d}{self.suffix}" for i in range(n)]
            return
        rels = [safe_relative(name, "the input's filenames") for name in names]
        files = [
            str(r.with_suffix(self.suffix)) if r.suffix else str(r) + self.suffix for r in rels
        ]
        counts: dict[str, int] = {}
        for f in files:
            counts[f] = counts.get(f, 0) + 1
        # a.jpg and a.png in one folder: a.png keeps its name, a.jpg becomes a.jpg.png
        for i, rel in enumerate(rels):
            if counts[files[i]] > 1 and rel.suffix.lower() != self.suffix:
                files[i] = str(rel) + self.suffix
        if len(set(files)) != len(files):
            dup = next(f for f in files if files.count(f) > 1)
            raise OutputError(f"two samples would both be written as {dup} in {self.path}")
        self._files = files

    def label(self, i: int) -> str:
        return f"{i} ({self._files[i]})" if i < len(self._files) else str(i)

    @property
    def files(self) -> list[str]:
        """The file of every sample, relative to the folder, in the order of the rows."""
        return list(getattr(self, "_files", []))

    def write_image(self, i: int, image: np.ndarray) -> None:
        rel = self._files[i]
        target = self.tmp / rel
        parent = os.path.dirname(rel)
        try:
            if parent and parent not in self._made:
                os.makedirs(self.tmp / parent, exist_ok=True)
                self._made.add(parent)
            with open(target, "xb") as fp:
                if self.options.image_format == "tiff":
                    photometric = "rgb" if image.ndim == 3 and image.shape[2] >= 3 else None
                    extras = "unassalpha" if image.ndim == 3 and image.shape[2] in (2, 4) else None
                    tiff = image_decode._tifffile()
                    tiff.imwrite(fp, image, photometric=photometric, extrasamples=extras)
                else:
                    from PIL import Image

                    Image.fromarray(np.ascontiguousarray(image)).save(fp, format="PNG")
        except OSError as exc:
            raise OutputError(f"cannot write {self.path}/{rel}: {os_error_message(exc)}") from None

    def commit(self) -> None:
        """Rename the finished folder into place; an existing OUTPUT goes only now."""
        old = None
        if self.path.exists() or self.path.is_symlink():
            old = temp_path_beside(self.path)
            try:
                os.rename(self.path, old)
            except OSError as exc:
                self.abort()
                raise OutputError(
                    f"cannot replace {self.path}: {os_error_message(exc)}; nothing changed"
                ) from None
        tempfiles.before_rename(self.tmp)
        try:
            os.rename(self.tmp, self.path)
            tempfiles.after_rename(self.path)
        except OSError as exc:
            if old is not None:
                with contextlib.suppress(OSError):
                    os.rename(old, self.path)
            self.abort()
            raise OutputError(
                f"cannot move the finished output into place at {self.path}: "
                f"{os_error_message(exc)}"
            ) from None
        if old is not None:
            if old.is_dir() and not old.is_symlink():
                shutil.rmtree(old, ignore_errors=True)
            else:
                remove_quietly(old)

    def abort(self) -> None:
        remove_quietly(self.tmp)


def check_replaceable(path: Path) -> None:
    """``--force`` replaces an existing OUTPUT folder only if it holds nothing but images,
    so a mistyped OUTPUT cannot wipe out a folder of other work."""
    if not path.is_dir():
        return
    for dirpath, _, filenames in os.walk(path):
        for name in filenames:
            if Path(name).suffix.lower() not in EXTENSIONS:
                rel = os.path.relpath(os.path.join(dirpath, name), path)
                raise OutputError(
                    f"{path} holds {rel}, which is not an image; --force replaces only a "
                    "folder of images: remove it yourself or choose another OUTPUT"
                )
