"""Pillow work: verify downloaded images and fit outputs under Discord's upload limit.

Every function here is synchronous and CPU-bound; callers run them with
:func:`asyncio.to_thread` (see :func:`run_off_loop`) so the event loop never waits on Pillow.
"""

from __future__ import annotations

import asyncio
import io
from collections.abc import Callable
from dataclasses import dataclass
from typing import ParamSpec, TypeVar

from PIL import Image, UnidentifiedImageError

# Refuse anything above this many pixels before decoding (decompression bombs).
MAX_DECODE_PIXELS = 8192 * 8192
Image.MAX_IMAGE_PIXELS = MAX_DECODE_PIXELS

_MIME = {
    "JPEG": "image/jpeg",
    "PNG": "image/png",
    "WEBP": "image/webp",
    "GIF": "image/gif",
    "BMP": "image/bmp",
    "TIFF": "image/tiff",
}
_EXT = {"JPEG": "jpg", "PNG": "png", "WEBP": "webp", "GIF": "gif", "BMP": "bmp", "TIFF": "tiff"}

P = ParamSpec("P")
T = TypeVar("T")


@dataclass(frozen=True)
class ImageInfo:
    """What a verified image is."""

    format: str
    width: int
    height: int

    @property
    def mime(self) -> str:
        return _MIME.get(self.format, "application/octet-stream")

    @property
    def extension(self) -> str:
        return _EXT.get(self.format, "bin")


@dataclass(frozen=True)
class FittedImage:
    """An output ready to upload, and whether it had to be changed to fit."""

    data: bytes
    info: ImageInfo
    reencoded: bool = False
    downscaled: bool = False


async def run_off_loop(func: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """Run Pillow work in a worker thread (Pillow releases the GIL while it codes images)."""
    return await asyncio.to_thread(func, *args, **kwargs)


def probe(data: bytes) -> ImageInfo:
    """Identify and fully decode ``data``; raise ValueError if it is not a sound image."""
    if not data:
        raise ValueError("the file is empty")
    try:
        with Image.open(io.BytesIO(data)) as img:
            width, height = img.size
            fmt = img.format or "?"
            if width * height > MAX_DECODE_PIXELS:
                raise ValueError(f"{width}x{height} is too many pixels to open safely")
            img.load()
    except (UnidentifiedImageError, Image.DecompressionBombError) as exc:
        raise ValueError(_reason(exc)) from None
    except (OSError, SyntaxError) as exc:
        raise ValueError(f"the image is corrupt ({exc})") from None
    return ImageInfo(fmt, width, height)


def fit_to_limit(data: bytes, limit: int) -> FittedImage:
    """Re-encode (high-quality JPEG), then downscale, until ``data`` is at most ``limit`` bytes."""
    info = probe(data)
    if len(data) <= limit:
        return FittedImage(data, info)
    with Image.open(io.BytesIO(data)) as img:
        rgb = img.convert("RGB")
    for quality in (92, 85, 78):
        encoded = _jpeg(rgb, quality)
        if len(encoded) <= limit:
            return FittedImage(encoded, ImageInfo("JPEG", *rgb.size), reencoded=True)
    scaled = rgb
    while True:
        ratio = max(0.5, min(0.9, (limit / len(encoded)) ** 0.5))
        size = (max(1, int(scaled.width * ratio)), max(1, int(scaled.height * ratio)))
        scaled = rgb.resize(size, Image.Resampling.LANCZOS)
        encoded = _jpeg(scaled, 85)
        if len(encoded) <= limit or max(size) <= 64:
            return FittedImage(
                encoded, ImageInfo("JPEG", *scaled.size), reencoded=True, downscaled=True
            )


def _jpeg(img: Image.Image, quality: int) -> bytes:
    out = io.BytesIO()
    img.save(out, "JPEG", quality=quality, optimize=True, subsampling=0 if quality >= 90 else 2)
    return out.getvalue()


def _reason(exc: Exception) -> str:
    if isinstance(exc, Image.DecompressionBombError):
        return "the image has too many pixels (decompression bomb)"
    return "the file is not an image Pillow can read"
