"""What each route (provider x model) can do, and the checks made before any network call.

A request a route cannot serve is refused here with a message that names the limit, so a
member learns "4.5 has no 1K" in milliseconds instead of from a provider's 400 after a wait.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

from bot.errors import InvalidInput
from bot.providers.models import (
    ASPECTS,
    MATCH,
    MAX_TOTAL_IMAGES,
    GenerationRequest,
    Reference,
    Resolution,
)

# Seedream's recommended 2K sizes per aspect ratio (seed 000); 1K and 4K scale these.
RECOMMENDED_2K: dict[str, tuple[int, int]] = {
    "1:1": (2048, 2048),
    "4:3": (2304, 1728),
    "3:4": (1728, 2304),
    "16:9": (2560, 1440),
    "9:16": (1440, 2560),
    "3:2": (2496, 1664),
    "2:3": (1664, 2496),
    "21:9": (3024, 1296),
}
_SCALE = {Resolution.R1K: 0.5, Resolution.R2K: 1.0, Resolution.R4K: 2.0}
_STEP = 16


@dataclass(frozen=True)
class ModelCaps:
    """Limits of one model on one provider, from that provider's documentation."""

    model: str
    presets: frozenset[Resolution]
    min_pixels: int
    max_pixels: int
    max_references: int
    min_aspect: float = 1 / 16
    max_aspect: float = 16.0
    #: per-side limits where a provider documents them (e.g. custom sizes 1024–4096)
    min_side: int = 1
    max_side: int = 1_000_000
    #: when a provider accepts only an enumerated list of WxH sizes
    sizes: frozenset[tuple[int, int]] | None = None
    reference_formats: frozenset[str] = frozenset({"jpeg", "png"})
    reference_min_aspect: float = 1 / 3
    reference_max_aspect: float = 3.0
    reference_max_pixels: int = 6000 * 6000
    reference_max_bytes: int = 10 * 1024 * 1024
    reference_transport: Literal["data_url", "url"] = "data_url"
    sequences: bool = True
    max_count: int = MAX_TOTAL_IMAGES
    seed: bool = False
    watermark: bool = True
    extra: dict[str, object] = field(default_factory=dict)


def aspect_ratio(request: GenerationRequest) -> float:
    """The requested width/height ratio; ``match`` follows the first reference (else square)."""
    if request.aspect == MATCH or request.aspect is None:
        first = request.references[0] if request.references else None
        if request.aspect == MATCH and first and first.width and first.height:
            return first.width / first.height
        return 1.0
    w, h = ASPECTS[request.aspect]
    return w / h


def output_size(request: GenerationRequest, caps: ModelCaps) -> tuple[int, int]:
    """The exact WxH to ask for, or :class:`InvalidInput` naming the broken limit."""
    if request.size is not None:
        width, height = request.size
        _check_size(width, height, caps)
        return width, height
    resolution = request.resolution or Resolution.R2K
    if resolution not in caps.presets:
        offered = ", ".join(sorted(caps.presets))
        raise InvalidInput(f"{caps.model} does not offer {resolution} (choose {offered}).")
    ratio = min(max(aspect_ratio(request), caps.min_aspect), caps.max_aspect)
    key = request.aspect if request.aspect in RECOMMENDED_2K else None
    if key is not None and resolution is Resolution.R2K:
        width, height = RECOMMENDED_2K[key]
    else:
        base = RECOMMENDED_2K[key] if key else (2048, 2048)
        target = base[0] * base[1] * _SCALE[resolution] ** 2
        width, height = _dimensions(ratio, target)
    return _fit_pixels(width, height, caps)


def validate(request: GenerationRequest, caps: ModelCaps) -> tuple[int, int]:
    """Every pre-flight check for ``request`` on a route; returns the output size."""
    refs = len(request.references)
    if refs > caps.max_references:
        raise InvalidInput(
            f"{caps.model} takes at most {caps.max_references} reference images (got {refs})."
        )
    if request.count > 1 and not caps.sequences:
        raise InvalidInput(f"{caps.model} on this provider cannot generate image sequences.")
    if request.count > caps.max_count:
        raise InvalidInput(f"{caps.model} generates at most {caps.max_count} images per request.")
    if refs + request.count > MAX_TOTAL_IMAGES:
        raise InvalidInput(
            f"reference images + images to generate must be at most {MAX_TOTAL_IMAGES} "
            f"(got {refs} + {request.count})."
        )
    if request.seed is not None and not caps.seed:
        raise InvalidInput(f"{caps.model} on this provider does not take a seed.")
    if caps.reference_transport == "url" and any(ref.url is None for ref in request.references):
        raise InvalidInput(
            f"{caps.model} on this provider takes reference images only as http(s) URLs."
        )
    for index, ref in enumerate(request.references, start=1):
        _check_reference(index, ref, caps)
    return output_size(request, caps)


def _check_reference(index: int, ref: Reference, caps: ModelCaps) -> None:
    """The documented per-image limits, on whatever the bot already knows about the image."""
    label = f"reference image {index} ({ref.filename})"
    fmt = (ref.mime or "").lower().removeprefix("image/").replace("jpg", "jpeg")
    if fmt and fmt not in caps.reference_formats:
        offered = ", ".join(sorted(caps.reference_formats))
        raise InvalidInput(f"{label} is {fmt}; {caps.model} here takes {offered}.")
    if ref.data is not None and len(ref.data) > caps.reference_max_bytes:
        limit = caps.reference_max_bytes // (1024 * 1024)
        raise InvalidInput(f"{label} is larger than {limit} MB, the limit of {caps.model}.")
    if not (ref.width and ref.height):
        return
    size = f"{ref.width}x{ref.height}"
    if min(ref.width, ref.height) <= 14:
        raise InvalidInput(f"{label} is {size}; width and height must be more than 14 px.")
    if ref.width * ref.height > caps.reference_max_pixels:
        raise InvalidInput(
            f"{label} is {size}; {caps.model} takes at most {caps.reference_max_pixels:,} pixels."
        )
    if not caps.reference_min_aspect <= ref.width / ref.height <= caps.reference_max_aspect:
        low, high = round(1 / caps.reference_min_aspect), round(caps.reference_max_aspect)
        raise InvalidInput(
            f"{label} is {size}; {caps.model} takes aspect ratios from 1:{low} to {high}:1."
        )


def _check_size(width: int, height: int, caps: ModelCaps) -> None:
    if caps.sizes is not None and (width, height) not in caps.sizes:
        offered = ", ".join(f"{w}x{h}" for w, h in sorted(caps.sizes))
        raise InvalidInput(f"{width}x{height} is not offered for {caps.model} here ({offered}).")
    if not (caps.min_side <= min(width, height) and max(width, height) <= caps.max_side):
        raise InvalidInput(
            f"{width}x{height}: each side must be {caps.min_side}–{caps.max_side} px "
            f"for {caps.model} here."
        )
    pixels = width * height
    if not caps.min_pixels <= pixels <= caps.max_pixels:
        raise InvalidInput(
            f"{width}x{height} is {pixels:,} pixels; {caps.model} needs between "
            f"{caps.min_pixels:,} and {caps.max_pixels:,}."
        )
    ratio = width / height
    if not caps.min_aspect <= ratio <= caps.max_aspect:
        raise InvalidInput(f"{width}x{height} is too narrow; {caps.model} allows 1:16 to 16:1.")


def _dimensions(ratio: float, pixels: float) -> tuple[int, int]:
    width = math.sqrt(pixels * ratio)
    return _round(width), _round(width / ratio)


def _round(value: float) -> int:
    return max(_STEP, round(value / _STEP) * _STEP)


def _fit_pixels(width: int, height: int, caps: ModelCaps) -> tuple[int, int]:
    """Scale (keeping the ratio) into the route's pixel range, on a 16-pixel grid."""
    ratio = width / height
    if width * height < caps.min_pixels:
        width = math.ceil(math.sqrt(caps.min_pixels * ratio) / _STEP) * _STEP
        height = math.ceil(width / ratio / _STEP) * _STEP
    while width * height > caps.max_pixels:
        width, height = _dimensions(ratio, width * height * 0.98)
    _check_size(width, height, caps)
    return width, height
