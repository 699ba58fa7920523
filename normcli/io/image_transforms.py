"""--resize, --center-crop and --interpolation: torchvision's Resize and CenterCrop on PIL
images, done with Pillow while each image is decoded.

Sizes are written as on the command line: ``256`` (resize: the shorter side becomes
256, the aspect ratio kept; crop: a 256x256 square) or ``WIDTHxHEIGHT`` (``224x224``),
width first as Pillow's ``Image.size`` and normcli's messages.

The rounding is torchvision's (``transforms.functional``): for ``Resize(s)`` the longer
side becomes ``int(s * long / short)`` (truncated), an image whose shorter side is
already ``s`` is left as it is, and the pixels are Pillow's ``Image.resize`` with the
filter chosen (Pillow's filters antialias when they shrink). ``CenterCrop`` starts at
``int(round((H - h) / 2))`` rows and ``int(round((W - w) / 2))`` columns (Python's
round: halves to even). An image smaller than the crop is an error naming it
(torchvision would pad it with zeros; normcli does not invent pixels).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from normcli.errors import InputError, ParameterError

INTERPOLATIONS = ("nearest", "bilinear", "bicubic", "lanczos")


def parse_size(text: str, flag: str) -> tuple[int, int | None]:
    """``"256"`` -> (256, None); ``"224x200"`` -> (224, 200) as (width, height)."""
    m = re.fullmatch(r"\s*(\d+)\s*(?:[xX]\s*(\d+)\s*)?", text or "")
    if not m:
        raise ParameterError(
            f"{flag} {text!r}: give one size (256) or WIDTHxHEIGHT (224x224), in pixels"
        )
    width = int(m.group(1))
    height = int(m.group(2)) if m.group(2) is not None else None
    if width < 1 or (height is not None and height < 1):
        raise ParameterError(f"{flag} {text}: sizes are at least 1 pixel")
    return width, height


@dataclass(frozen=True)
class ImageTransform:
    """What happens to every image after decoding: resize, then crop the centre."""

    resize: tuple[int, int | None] | None = None  # (short side, None) or (width, height)
    crop: tuple[int, int] | None = None  # (width, height)
    interpolation: str = "bilinear"

    def __post_init__(self):
        if self.interpolation not in INTERPOLATIONS:
            raise ParameterError(
                f"--interpolation {self.interpolation}: use one of {', '.join(INTERPOLATIONS)}"
            )
        if self.resize is not None and self.crop is not None:
            cw, ch = self.crop
            w, h = self.resize
            if h is None:  # the shorter side becomes w; the other is at least w
                if cw > w and ch > w:
                    raise ParameterError(
                        f"--center-crop {cw}x{ch} is larger than --resize {w} makes the "
                        f"shorter side ({w}); crop at most {w}"
                    )
                if min(cw, ch) > w:
                    raise ParameterError(
                        f"--center-crop {cw}x{ch}: one side is larger than the shorter side "
                        f"--resize {w} makes"
                    )
            elif cw > w or ch > h:
                raise ParameterError(
                    f"--center-crop {cw}x{ch} is larger than --resize {w}x{h}; crop at most that"
                )

    @property
    def active(self) -> bool:
        return self.resize is not None or self.crop is not None

    def resized_size(self, width: int, height: int) -> tuple[int, int]:
        """(width, height) after --resize, with torchvision's rounding."""
        if self.resize is None:
            return width, height
        w, h = self.resize
        if h is not None:
            return w, h
        short, long = (width, height) if width <= height else (height, width)
        if short == w:
            return width, height
        new_long = int(w * long / short)
        return (w, new_long) if width <= height else (new_long, w)

    def output_size(self, width: int, height: int) -> tuple[int, int]:
        """(width, height) of an image of that size once transformed (crop included)."""
        if self.crop is not None:
            return self.crop
        return self.resized_size(width, height)

    def crop_box(self, width: int, height: int) -> tuple[int, int, int, int] | None:
        """Pillow's (left, top, right, bottom) of the centre crop of a resized image, None
        when it is too small."""
        cw, ch = self.crop
        if cw > width or ch > height:
            return None
        top = round((height - ch) / 2.0)  # Python's round: halves to even, as torchvision
        left = round((width - cw) / 2.0)
        return left, top, left + cw, top + ch

    def check_fits(self, path, width: int, height: int) -> None:
        """Refuse an image too small for the crop (after resizing), naming it."""
        if self.crop is None:
            return
        rw, rh = self.resized_size(width, height)
        if self.crop_box(rw, rh) is None:
            resized = f" ({rw}x{rh} after --resize)" if (rw, rh) != (width, height) else ""
            raise InputError(
                f"{path} is {width}x{height}{resized}, smaller than --center-crop "
                f"{self.crop[0]}x{self.crop[1]}; remove it, or resize first with --resize "
                f"{max(self.crop)}"
            )

    def apply(self, im, path):
        """The Pillow image transformed (a new image, or ``im`` itself if unchanged)."""
        from PIL import Image

        width, height = im.size
        if self.resize is not None:
            size = self.resized_size(width, height)
            if size != (width, height):
                resample = {
                    "nearest": Image.Resampling.NEAREST,
                    "bilinear": Image.Resampling.BILINEAR,
                    "bicubic": Image.Resampling.BICUBIC,
                    "lanczos": Image.Resampling.LANCZOS,
                }[self.interpolation]
                im = im.resize(size, resample)
        if self.crop is not None:
            box = self.crop_box(*im.size)
            if box is None:
                self.check_fits(path, width, height)
            if box != (0, 0, *im.size):
                im = im.crop(box)
        return im

    def apply_array(self, arr: np.ndarray, path) -> np.ndarray:
        """The same for pixels already decoded (TIFF, or after --mode), through Pillow."""
        from PIL import Image

        if arr.ndim == 3 and arr.shape[2] == 1:
            arr = arr[:, :, 0]
        channels = arr.shape[2] if arr.ndim == 3 else 1
        fits = (arr.dtype == np.uint8 and channels in (1, 2, 3, 4)) or (
            channels == 1 and arr.dtype in (np.uint16, np.int32, np.float32)
        )
        if not fits:
            raise InputError(
                f"{path} has {channels}-channel {arr.dtype} pixels, which Pillow cannot "
                "resize or crop; convert it to 8-bit, or to 16-bit grey (--mode L)"
            )
        im = Image.fromarray(np.ascontiguousarray(arr))
        return np.asarray(self.apply(im, path))
