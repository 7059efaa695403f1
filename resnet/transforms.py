"""Safe image loading and the preprocessing pipelines a checkpoint was trained with.

``load_image`` turns whatever a user hands over (a path, bytes, a file object, a
PIL image, a numpy array) into an upright RGB ``PIL.Image``, or raises
``ImageError`` saying what is wrong with it. ``Preprocessing`` holds a
checkpoint's numbers (resize, crop, interpolation, mean, std); ``eval_transform``
computes exactly what torchvision's weight presets compute (tests compare them bit
for bit) with Pillow and torch alone: importing torchvision takes over a second (it
loads ``torch._dynamo``), so inference never imports it. Training augmentation is
``train.augment``'s.
"""

from __future__ import annotations

import io
import math
import os
import re
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Optional, Union

import numpy as np
import torch
from PIL import Image, ImageOps, JpegImagePlugin, UnidentifiedImageError

__all__ = [
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "MAX_IMAGE_BYTES",
    "MAX_IMAGE_PIXELS",
    "MAX_ASPECT_RATIO",
    "ImageError",
    "Preprocessing",
    "eval_transform",
    "geometry_transform",
    "load_image",
]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

MAX_IMAGE_BYTES = 25 * 1024 * 1024  # a large phone photo is under 15 MB
MAX_IMAGE_PIXELS = 50_000_000  # 50 megapixels, about 150 MB once decoded to RGB
MAX_ASPECT_RATIO = 20  # beyond this, the centre crop of the shorter side shows almost nothing

_INTERPOLATIONS = {
    "nearest": Image.Resampling.NEAREST,
    "bilinear": Image.Resampling.BILINEAR,
    "bicubic": Image.Resampling.BICUBIC,
}

ImageSource = Union[str, os.PathLike, bytes, bytearray, Image.Image, np.ndarray, Any]


class ImageError(ValueError):
    """An input is not an image this library can use; the message says why.

    Attributes:
        code: what is wrong, for an app to say in its own words (``"not_image"``, ``"corrupt"``,
            ``"too_large"``, ``"too_many_pixels"``, ``"bomb"``, ``"aspect"``, ``"empty"``, ``"no_file"``,
            ``"unsupported_input"``); ``params`` the values the message mentions (file names, never folders).
    """

    def __init__(self, message: str, *, code: str, **params: Any) -> None:
        super().__init__(message)
        self.code = code
        self.params = params


@dataclass(frozen=True)
class Preprocessing:
    """How a checkpoint expects its input: resize the shorter side, centre-crop, normalise.

    Attributes:
        crop_size: side of the square the network sees.
        resize_size: the shorter side is resized to this before cropping.
        interpolation: ``"bilinear"``, ``"bicubic"`` or ``"nearest"``.
        mean: per-channel mean subtracted after scaling to [0, 1].
        std: per-channel standard deviation divided by.
    """

    crop_size: int = 224
    resize_size: int = 256
    interpolation: str = "bilinear"
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD

    def __post_init__(self) -> None:
        if self.interpolation not in _INTERPOLATIONS:
            raise ValueError(f"interpolation must be one of {sorted(_INTERPOLATIONS)}, got {self.interpolation!r}")
        if not 0 < self.crop_size <= self.resize_size:
            raise ValueError(f"need 0 < crop_size <= resize_size, got crop {self.crop_size}, resize {self.resize_size}")
        if len(self.mean) != 3 or len(self.std) != 3 or min(self.std) <= 0:
            raise ValueError(f"mean and std need three values each, std positive; got mean {self.mean}, std {self.std}")

    @classmethod
    def from_crop_pct(cls, crop_size: int, crop_pct: float, **kwargs: Any) -> "Preprocessing":
        """The timm convention: resize the shorter side to ``floor(crop_size / crop_pct)``."""
        if not 0 < crop_pct <= 1:
            raise ValueError(f"crop_pct must be in (0, 1], got {crop_pct}")
        return cls(crop_size=crop_size, resize_size=math.floor(crop_size / crop_pct), **kwargs)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields, as stored in the project's ``config.json``."""
        return {
            "crop_size": self.crop_size,
            "resize_size": self.resize_size,
            "interpolation": self.interpolation,
            "mean": list(self.mean),
            "std": list(self.std),
        }


def geometry_transform(p: Preprocessing) -> Callable[[Image.Image], Image.Image]:
    """Resize the shorter side, then centre-crop: the view of a PIL image that the network sees."""
    return _ResizeCrop(p)


def eval_transform(p: Preprocessing) -> Callable[[Image.Image], torch.Tensor]:
    """RGB PIL image -> normalised float tensor (3, crop, crop), as the checkpoint was evaluated."""
    return _EvalTransform(p)


# Classes rather than closures, so that data-loader workers started by "spawn" (macOS, Windows) can pickle them.
class _ResizeCrop:
    def __init__(self, p: Preprocessing):
        self.p = p

    def __call__(self, image: Image.Image) -> Image.Image:
        # torchvision's rules: the longer side is truncated, the crop offset rounded half to even.
        p, (width, height) = self.p, image.size
        if width <= height:
            size = (p.resize_size, int(p.resize_size * height / width))
        else:
            size = (int(p.resize_size * width / height), p.resize_size)
        if size != image.size:
            image = image.resize(size, resample=_INTERPOLATIONS[p.interpolation])  # Pillow's resize is antialiased
        top = int(round((image.height - p.crop_size) / 2.0))
        left = int(round((image.width - p.crop_size) / 2.0))
        return image.crop((left, top, left + p.crop_size, top + p.crop_size))  # crop_size <= resize_size: no padding


class _EvalTransform:
    def __init__(self, p: Preprocessing):
        self.geometry = _ResizeCrop(p)
        self.mean = torch.tensor(p.mean, dtype=torch.float32).reshape(3, 1, 1)
        self.std = torch.tensor(p.std, dtype=torch.float32).reshape(3, 1, 1)

    def __call__(self, image: Image.Image) -> torch.Tensor:
        pixels = torch.from_numpy(np.array(self.geometry(image), dtype=np.uint8)).permute(2, 0, 1)
        # Divide by 255 (rather than multiply by 1/255) and normalise in place, as torchvision's presets do.
        return pixels.float().div_(255).sub_(self.mean).div_(self.std)


def load_image(
    source: ImageSource,
    *,
    max_bytes: int = MAX_IMAGE_BYTES,
    max_pixels: int = MAX_IMAGE_PIXELS,
    draft_side: Optional[int] = None,
) -> Image.Image:
    """Read an image and return it upright, in RGB.

    Honours EXIF orientation, takes the first frame of animations, composites
    transparency on white and maps every Pillow mode (1, L, LA, P, RGBA, CMYK,
    I;16, I, F, ...) to 8-bit RGB.

    A baseline JPEG over ``max_pixels`` (a 100-megapixel phone photo) is decoded at 1/2, 1/4 or
    1/8 scale, the largest that fits: libjpeg decodes it a few rows at a time, so only the reduced
    image is ever held. What cannot be decoded within ``max_pixels`` is refused with its size:
    other formats over it, a progressive JPEG over it (libjpeg keeps all of its coefficients), a
    JPEG over it even at 1/8 scale, and a header claiming more than Pillow's bomb limit.

    Args:
        source: a path, ``bytes``, a binary file object, a ``PIL.Image`` or a numpy
            array (H, W), (H, W, 3) or (H, W, 4), integer or float in [0, 1].
        max_bytes: refuse encoded files larger than this.
        max_pixels: the most pixels decoded (decompression bombs are refused before decoding).
        draft_side: decode a JPEG file at 1/2, 1/4 or 1/8 scale (libjpeg's DCT scaling, several
            times faster on a camera photo) as long as its shorter side stays at least this.
            For a later resize to side ``s``, ``2 * s`` keeps the result close to a full decode,
            as Pillow's ``thumbnail`` does by default. Default: the full size, if within ``max_pixels``.

    Returns:
        An RGB ``PIL.Image``.

    Raises:
        ImageError: the input is empty, too large, truncated, not an image, or of an unusable shape.
    """
    if isinstance(source, Image.Image):
        image = source
    elif isinstance(source, np.ndarray):
        image = _from_array(source)
    else:
        image = _open(_read_bytes(source, max_bytes))

    width, height = image.size
    scale = _decode_scale(image, max_pixels=max_pixels, draft_side=draft_side)
    if max(width, height) > MAX_ASPECT_RATIO * min(width, height):
        raise ImageError(
            f"image is {width}x{height} pixels, longer than {MAX_ASPECT_RATIO}:1; crop it closer to the subject",
            code="aspect", width=width, height=height, ratio=MAX_ASPECT_RATIO,
        )
    try:
        if getattr(image, "n_frames", 1) > 1:
            image.seek(0)  # animations: the first frame
        if scale > 1:
            image.draft(image.mode, (width // scale, height // scale))  # Pillow picks the largest scale keeping this size
        image.load()
        image = ImageOps.exif_transpose(image)
    except (OSError, SyntaxError, ValueError) as e:
        raise ImageError(f"image data is truncated or corrupt ({e})", code="corrupt") from e
    return _to_rgb(image)


_JPEG_SCALES = (1, 2, 4, 8)  # the reductions libjpeg's DCT scaling offers (Pillow's draft)


def _decode_scale(image: Image.Image, *, max_pixels: int, draft_side: Optional[int]) -> int:
    """How much to reduce ``image`` while decoding (1: not at all); raises ``ImageError`` when no reduction fits ``max_pixels``."""
    width, height = image.size
    reducible = image.format == "JPEG" and not image.info.get("progressive") and len(getattr(image, "tile", ())) == 1  # not yet decoded

    def fits(scale: int) -> bool:
        return math.ceil(width / scale) * math.ceil(height / scale) <= max_pixels

    safe = [s for s in (_JPEG_SCALES if reducible else (1,)) if fits(s)]
    if not safe:
        limit = f"{max_pixels:,}" + (" even at 1/8 scale" if reducible else "")
        raise ImageError(
            f"image is {width}x{height} pixels, over the limit of {limit}; resize it first",
            code="too_many_pixels", width=width, height=height, limit=max_pixels,
        )
    sharp = max((s for s in _JPEG_SCALES if draft_side and min(width, height) // s >= draft_side), default=1) if reducible else 1
    return max(safe[0], sharp)


def _read_bytes(source: Any, max_bytes: int) -> bytes:
    if isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
        name = "image data"
    elif isinstance(source, (str, os.PathLike)):
        path = Path(source)
        if not path.is_file():
            raise ImageError(f"no image file at {path}", code="no_file", name=path.name)
        size = path.stat().st_size
        if size > max_bytes:
            raise ImageError(f"{path.name} is {_megabytes(size)}, over the {_megabytes(max_bytes)} limit", code="too_large", name=path.name, limit_mb=max_bytes // 2**20)
        data = path.read_bytes()
        name = path.name
    elif hasattr(source, "read"):
        data = source.read(max_bytes + 1)
        name = getattr(source, "name", "image data")
    else:
        raise ImageError(f"cannot read an image from a {type(source).__name__}; pass a path, bytes, a file, a PIL image or an array", code="unsupported_input")
    if len(data) > max_bytes:
        raise ImageError(f"{name} is over the {_megabytes(max_bytes)} limit", code="too_large", name=name, limit_mb=max_bytes // 2**20)
    if not data:
        raise ImageError(f"{name} is empty (0 bytes)", code="empty", name=name)
    return data


def _megabytes(n: int) -> str:
    return f"{n / 2**20:.3g} MB"


def _open(data: bytes) -> Image.Image:
    try:
        if data[:3] == _JPEG_MAGIC:
            # Without Image.open's bomb check: _decode_scale checks the size that will be decoded, which may be reduced.
            return JpegImagePlugin.JpegImageFile(io.BytesIO(data))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # _decode_scale refuses it with its size
            return Image.open(io.BytesIO(data))
    except Image.DecompressionBombError as e:  # a header claiming over twice Pillow's limit: not even opened
        claimed = re.search(r"\((\d+) pixels\)", str(e))
        pixels = f"{int(claimed.group(1)):,}" if claimed else f"over {2 * Image.MAX_IMAGE_PIXELS:,}"
        raise ImageError(f"image claims {pixels} pixels, too many pixels to decode safely", code="bomb", pixels=pixels) from e
    except UnidentifiedImageError as e:
        raise ImageError("not an image format this app can read (use JPEG, PNG, WebP, GIF, BMP or TIFF)", code="not_image") from e
    except (OSError, SyntaxError, ValueError) as e:
        raise ImageError(f"image data is truncated or corrupt ({e})", code="corrupt") from e


_JPEG_MAGIC = b"\xff\xd8\xff"


def _from_array(array: np.ndarray) -> Image.Image:
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[:, :, 0]
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[2] not in (3, 4)) or array.size == 0:
        raise ImageError(f"an image array must be (H, W), (H, W, 3) or (H, W, 4), got shape {array.shape}", code="unsupported_input")
    if np.issubdtype(array.dtype, np.floating):
        array = np.clip(np.nan_to_num(array) * 255.0, 0, 255).round().astype(np.uint8)
    elif array.dtype == np.uint16:
        array = (array // 257).astype(np.uint8)
    elif array.dtype != np.uint8:
        array = np.clip(array, 0, 255).astype(np.uint8)
    return Image.fromarray(np.ascontiguousarray(array))


def _to_rgb(image: Image.Image) -> Image.Image:
    mode = image.mode
    if mode.startswith("I") or mode == "F":
        return Image.fromarray(_to_uint8(np.asarray(image), mode), "L").convert("RGB")
    has_alpha = mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in image.info
    if has_alpha:
        rgba = image.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("RGB")
    return image.convert("RGB")


def _to_uint8(values: np.ndarray, mode: str) -> np.ndarray:
    """Scale a 16-bit, 32-bit integer or float grey image to 0..255."""
    values = values.astype(np.float64)
    if mode.startswith("I;16"):
        values = values / 257.0
    elif mode == "F" and values.size and values.min() >= 0 and values.max() <= 1:
        values = values * 255.0
    elif values.size and values.max() > 255:
        if mode == "I" and values.min() >= 0 and values.max() <= 65535:
            values = values / 257.0  # 16-bit data in a 32-bit container, as Pillow opens many 16-bit PNGs
        else:
            low, high = values.min(), values.max()
            values = (values - low) / (high - low) * 255.0
    return np.clip(np.nan_to_num(values), 0, 255).round().astype(np.uint8)
