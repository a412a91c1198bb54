"""Pillow work: normalise reference images for a model, and fit outputs under an upload limit.

Every public function here is synchronous and CPU-bound. Callers run it off the event loop with
:func:`run_off_loop` (a worker thread) or :func:`run_in_process` (a worker process: Pillow holds
the GIL for part of its decoding and encoding, so several large images at once in threads stall
the loop for tens of milliseconds; ``bench/images.py`` measures both).

Nothing here imports discord or a provider module: callers build :class:`ReferenceRules` from
their model's caps and turn :class:`ImageRejected` into their own errors. Untrusted bytes are only
opened as one of :data:`INPUT_FORMATS`, and the size an image declares is checked before any
pixel is decoded, so a small file that claims 40,000×40,000 pixels costs microseconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import io
import math
import multiprocessing
import os
import tempfile
import threading
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from typing import Any, ParamSpec, TypeGuard, TypeVar, cast

from PIL import ExifTags, Image, ImageFile, ImageOps, UnidentifiedImageError

#: the most pixels any image may declare (for references: or the model's limit, if higher)
MAX_DECODE_PIXELS = 8192 * 8192
# Pillow's own guard only backs ours up: ours runs first and names the size, and Pillow's
# warning between its limit and twice it would be noise for sizes ours already refuses.
_PILLOW_GUARD = 1 << 32
Image.MAX_IMAGE_PIXELS = _PILLOW_GUARD

# Naming formats makes Image.open skip Pillow's lazy plugin loading, so load them all now.
Image.init()
#: formats untrusted bytes may be opened as (Pillow also knows EPS, PSD, ICO and more: not here);
#: JPEG includes MPO, the multi-picture JPEG that many phone cameras write; AVIF needs Pillow 11.3
INPUT_FORMATS = tuple(
    fmt for fmt in ("JPEG", "PNG", "WEBP", "GIF", "BMP", "TIFF", "AVIF") if fmt in Image.OPEN
)
_EXPECTED = "JPEG, PNG, WebP or GIF"
#: Pillow's format names as the lower-case names used in ReferenceRules.formats
_RULE_NAME = {"MPO": "jpeg"}
_LABEL = {"jpeg": "JPEG", "png": "PNG", "webp": "WebP", "gif": "GIF", "bmp": "BMP", "tiff": "TIFF"}
#: formats this module writes; a reference is re-encoded as one of them
_WRITABLE = ("jpeg", "png", "webp")

#: Pillow's format name -> (MIME type, file extension)
_TYPES = {
    "JPEG": ("image/jpeg", "jpg"),
    "MPO": ("image/jpeg", "jpg"),
    "PNG": ("image/png", "png"),
    "WEBP": ("image/webp", "webp"),
    "GIF": ("image/gif", "gif"),
    "BMP": ("image/bmp", "bmp"),
    "TIFF": ("image/tiff", "tiff"),
    "AVIF": ("image/avif", "avif"),
}
_UNKNOWN_TYPE = ("application/octet-stream", "bin")

#: encoder settings from largest to smallest output; downscaling keeps the last one. No JPEG
#: ``optimize``: it buffers the whole file and fails on large noisy images ("Suspension not
#: allowed here"), for a few per cent of size at twice the time.
_LADDERS: dict[str, tuple[Mapping[str, Any], ...]] = {
    "JPEG": (
        {"quality": 92, "subsampling": 0},
        {"quality": 90, "subsampling": 2},
        {"quality": 85, "subsampling": 2},
        {"quality": 80, "subsampling": 2},
        {"quality": 75, "subsampling": 2},
    ),
    "WEBP": ({"quality": 90}, {"quality": 85}, {"quality": 80}, {"quality": 75}),
    "PNG": ({"compress_level": 6}, {"optimize": True}),
}
#: a mosaic of this many tiles a side, each this many pixels a side, predicts encoded sizes
_TILES, _TILE = 16, 64
#: predicted sizes must leave this share of the limit free (the real bytes are checked anyway)
_MARGIN = 0.97
#: each downscale step keeps at most this share of the width (so every step makes progress)
_MAX_STEP = 0.9
_MAX_DOWNSCALES = 8
#: outputs stop shrinking at this longest side; references are refused below theirs
_OUTPUT_FLOOR = 64
_REFERENCE_FLOOR = 512

#: a small sample with more distinct colours than this is a photo (JPEG suits it, not PNG)
_PHOTO_COLOURS = {"L": 128, "RGB": 1024}
_MODE_NAME = {
    "1": "1-bit",
    "L": "8-bit greyscale",
    "LA": "greyscale with alpha",
    "P": "palette colours",
    "PA": "palette colours with alpha",
    "CMYK": "CMYK",
    "YCbCr": "YCbCr",
    "RGB": "8-bit RGB",
    "RGBA": "8-bit RGBA",
}

P = ParamSpec("P")
T = TypeVar("T")


class ImageRejected(ValueError):
    """An image that cannot be used; the message names the file and the limit, for members."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class ImageInfo:
    """What a verified image is."""

    format: str
    width: int
    height: int

    @property
    def mime(self) -> str:
        return _TYPES.get(self.format, _UNKNOWN_TYPE)[0]

    @property
    def extension(self) -> str:
        return _TYPES.get(self.format, _UNKNOWN_TYPE)[1]


@dataclass(frozen=True)
class FittedImage:
    """An output ready to upload, and whether it had to be changed to fit."""

    data: bytes
    info: ImageInfo
    reencoded: bool = False
    downscaled: bool = False


@dataclass(frozen=True)
class ReferenceRules:
    """What a model accepts as a reference image (the caller builds it from its caps).

    ``formats`` are lower-case names as in ``ModelCaps.reference_formats`` ("jpeg", "png", …).
    """

    formats: frozenset[str]
    min_aspect: float
    max_aspect: float
    max_pixels: int
    max_bytes: int
    min_side: int = 15
    max_side: int | None = None


@dataclass(frozen=True)
class NormalisedImage:
    """A reference the model accepts; ``changed`` says in plain words what was done to it, and
    is empty exactly when ``data`` is the original file (so its original URL is usable too)."""

    data: bytes
    mime: str
    width: int
    height: int
    format: str
    changed: tuple[str, ...] = ()

    @property
    def extension(self) -> str:
        return _TYPES.get(self.format.upper(), _UNKNOWN_TYPE)[1]


# -- running off the event loop ----------------------------------------------------------------


async def run_off_loop(func: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """Run Pillow work in a worker thread: cheap to start, fine for one image at a time."""
    return await asyncio.to_thread(func, *args, **kwargs)


#: worker processes for :func:`run_in_process`; each holds one large image at a time
PROCESS_WORKERS = min(
    4, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
)
#: workers yield the CPU to the bot's own threads (the event loop above all)
_WORKER_NICENESS = 10
#: bytes this large go to a worker as a file in RAM, which the kernel writes and reads without
#: the GIL; pickling them would hold it for ~30 ms per 48 MB (measured in bench/images.py)
_SPILL_BYTES = 1 << 20
_SPILL_DIR = "/dev/shm" if os.access("/dev/shm", os.W_OK) else None
_pool: ProcessPoolExecutor | None = None
_pool_lock = threading.Lock()


def _process_pool() -> ProcessPoolExecutor:
    """The shared pool, made on first use with every worker started (blocks ~0.15 s, so
    :func:`run_in_process` calls it in a thread). Forkserver workers start clean, with no
    copied threads or sockets, and fork from a server that has already imported this module."""
    global _pool
    with _pool_lock:
        if _pool is None:
            context: multiprocessing.context.BaseContext
            if "forkserver" in multiprocessing.get_all_start_methods():
                context = multiprocessing.get_context("forkserver")
                context.set_forkserver_preload([__name__])
            else:
                context = multiprocessing.get_context("spawn")
            pool = ProcessPoolExecutor(
                PROCESS_WORKERS, mp_context=context, initializer=_start_worker
            )
            # Workers start on demand, one per submission while none is idle: start them all
            # now, or the first calls would start them from the event loop's thread.
            for started in [pool.submit(os.getpid) for _ in range(PROCESS_WORKERS)]:
                started.result()
            _pool = pool
        return _pool


def _start_worker() -> None:
    with contextlib.suppress(AttributeError, OSError):  # no os.nice on Windows
        os.nice(_WORKER_NICENESS)


@dataclass(frozen=True)
class _Spilled:
    """Bytes that travel between processes as a file; whoever made it deletes it."""

    path: str

    @classmethod
    def create(cls) -> _Spilled:
        fd, path = tempfile.mkstemp(prefix="seedream-image-", dir=_SPILL_DIR)
        os.close(fd)
        return cls(path)

    @classmethod
    def holding(cls, data: bytes) -> _Spilled:
        spilled = cls.create()
        spilled.fill(data)
        return spilled

    def fill(self, data: bytes) -> None:
        with open(self.path, "wb") as out:
            out.write(data)

    def read(self) -> bytes:
        with open(self.path, "rb") as source:
            return source.read()

    def delete(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)


def _large(value: object) -> TypeGuard[bytes]:
    return isinstance(value, bytes) and len(value) >= _SPILL_BYTES


def _call_spilled(func: Callable[..., T], *args: object, **kwargs: object) -> object:
    """In the worker: read spilled arguments back, call ``func``, spill the result's bytes."""
    result = func(*(a.read() if isinstance(a, _Spilled) else a for a in args), **kwargs)
    if dataclasses.is_dataclass(result) and not isinstance(result, type):
        fields = {
            f.name: _Spilled.holding(getattr(result, f.name))
            for f in dataclasses.fields(result)
            if _large(getattr(result, f.name))
        }
        return _SpilledResult(dataclasses.replace(result, **dict.fromkeys(fields, b"")), fields)
    return result


@dataclass(frozen=True)
class _SpilledResult:
    """A worker's dataclass result whose large bytes fields wait in files."""

    value: Any
    fields: dict[str, _Spilled]

    def restore(self) -> Any:
        try:
            return dataclasses.replace(self.value, **{k: f.read() for k, f in self.fields.items()})
        finally:
            self.discard()

    def discard(self) -> None:
        for spilled in self.fields.values():
            spilled.delete()


def _discard_result(future: Future[object]) -> None:
    """For a call whose caller gave up: delete the files its result left behind."""
    if not future.cancelled() and future.exception() is None:
        result = future.result()
        if isinstance(result, _SpilledResult):
            result.discard()


async def run_in_process(func: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """Run Pillow work in a worker process, so it never holds this process's GIL.

    ``func`` must be a module-level function and its arguments and result picklable (every
    public function here qualifies). Large positional bytes arguments, and large bytes fields
    of a dataclass result, travel as files in RAM.
    """
    sent: list[object] = []
    try:
        for arg in args:
            if _large(arg):
                spilled = _Spilled.create()
                sent.append(spilled)  # listed first, so that it is deleted even if cancelled
                await asyncio.to_thread(spilled.fill, arg)
            else:
                sent.append(arg)
        pool = _pool if _pool is not None else await asyncio.to_thread(_process_pool)
        future = pool.submit(functools.partial(_call_spilled, func, *sent, **kwargs))
        try:
            result = await asyncio.wrap_future(future)
        except asyncio.CancelledError:
            future.add_done_callback(_discard_result)
            raise
    finally:
        for arg in sent:
            if isinstance(arg, _Spilled):
                arg.delete()
    if isinstance(result, _SpilledResult):
        return cast(T, await asyncio.to_thread(result.restore))
    return cast(T, result)


def shutdown_process_pool() -> None:
    """Stop the worker processes (at shutdown); the next :func:`run_in_process` starts new ones."""
    global _pool
    with _pool_lock:
        pool, _pool = _pool, None
    if pool is not None:
        pool.shutdown(wait=True, cancel_futures=True)


# -- public operations -------------------------------------------------------------------------


def probe(data: bytes) -> ImageInfo:
    """Identify and fully decode ``data``; raise :class:`ImageRejected` unless it is sound."""
    img = _open(data, "the file", MAX_DECODE_PIXELS)
    _load(img, "the file")
    return ImageInfo(img.format or "?", img.width, img.height)


def normalise_reference(data: bytes, filename: str, rules: ReferenceRules) -> NormalisedImage:
    """Make ``data`` a reference the model accepts, or refuse it naming the file and the limit.

    An image that already complies is returned byte for byte. Otherwise it is converted rather
    than refused wherever that keeps it faithful: first frame, upright, 8-bit RGB(A), a format
    the model takes, and downscaled into its pixel and byte limits. Only what would need
    cropping (aspect ratio, too-thin sides) or a uselessly small result is refused.
    """
    name = filename or "the image"
    img = _open(data, name, max(MAX_DECODE_PIXELS, rules.max_pixels))
    if min(img.size) < rules.min_side:
        raise ImageRejected(
            f"{name} is {_dims(img.size)} pixels; width and height must be at least "
            f"{rules.min_side} px."
        )
    scale = _reference_scale(img.size, rules)
    decoded = _decode(img, name, draft_scale=scale)
    _check_aspect(name, decoded.size, rules)
    frame, notes = decoded.image, decoded.notes
    target = _reference_size(decoded.size, scale, rules)
    if frame.size != target:  # also a JPEG decoded at a reduced scale by draft()
        frame = _resize(frame, target)
    source = _RULE_NAME.get(decoded.format, decoded.format.lower())
    fits = len(data) <= rules.max_bytes
    if not notes and target == decoded.size and source in rules.formats and fits:
        return NormalisedImage(data, _TYPES[decoded.format][0], *decoded.size, source)

    frame = _drop_opaque_alpha(frame)
    fmt = _choose_format(name, source if fits else None, frame, rules.formats)
    if fmt == "jpeg" and frame.mode == "RGBA":
        frame = _flatten(frame)
        notes.append("transparent areas filled with white")
    smallest = max(rules.min_side / min(frame.size), min(1.0, _REFERENCE_FLOOR / max(frame.size)))
    fit = _fit_bytes(frame, fmt.upper(), rules.max_bytes, smallest, decoded.icc)
    if not fit.fits:
        raise ImageRejected(
            f"{name} is {_mb(len(data))}; even downscaled to {_dims(fit.size)} pixels it would "
            f"be over {_mb(rules.max_bytes)}, the limit."
        )
    if fmt != source:
        notes.append(f"converted from {_label(source)} to {_label(fmt)}")
    if fit.size != decoded.size:
        notes.append(f"downscaled from {_dims(decoded.size)} to {_dims(fit.size)}")
    if not fits:
        notes.append(
            f"reduced from {_mb(len(data))} to {_mb(len(fit.data))} "
            f"(the limit is {_mb(rules.max_bytes)})"
        )
    return NormalisedImage(fit.data, _TYPES[fmt.upper()][0], *fit.size, fmt, tuple(notes))


def fit_to_limit(data: bytes, limit: int) -> FittedImage:
    """Make an output at most ``limit`` bytes: the original if it fits, else re-encoded.

    High-quality JPEG (WebP when transparency must be kept) at decreasing quality, then
    downscaled in steps; a tile sample predicts the quality that fits, so a large image is
    usually encoded in full once. Stops at 64 px with the smallest result it could make.
    """
    img = _open(data, "the file", MAX_DECODE_PIXELS)
    if len(data) <= limit:
        _load(img, "the file")
        return FittedImage(data, ImageInfo(img.format or "?", img.width, img.height))
    decoded = _decode(img, "the file")
    frame = _drop_opaque_alpha(decoded.image)
    fmt = "WEBP" if frame.mode == "RGBA" else "JPEG"
    fit = _fit_bytes(frame, fmt, limit, min(1.0, _OUTPUT_FLOOR / max(frame.size)), decoded.icc)
    return FittedImage(
        fit.data,
        ImageInfo(fmt, *fit.size),
        reencoded=True,
        downscaled=fit.size != frame.size,
    )


def thumbnail(data: bytes, side: int = 256) -> bytes:
    """A small JPEG of an image (audit entries show references this way)."""
    img = _decode(_open(data, "the file", MAX_DECODE_PIXELS), "the file").image
    if img.mode == "RGBA":
        img = _flatten(img)
    img.thumbnail((side, side))
    return _encode(img.convert("RGB"), "JPEG", {"quality": 80}, None)


# -- decoding ----------------------------------------------------------------------------------


@dataclass
class _Decoded:
    """A loaded, upright, L/RGB/RGBA image and what it took to get there."""

    image: Image.Image
    format: str  # Pillow's name for the source format
    size: tuple[int, int]  # upright size as declared, before any draft() reduction
    icc: bytes | None
    notes: list[str] = field(default_factory=list)


def _open(data: bytes, subject: str, ceiling: int) -> ImageFile.ImageFile:
    """Read only the header: refuse what is not an image, or declares too many pixels."""
    if not data:
        raise ImageRejected(f"{subject} is empty.")
    try:
        img = Image.open(io.BytesIO(data), formats=INPUT_FORMATS)
    except UnidentifiedImageError:
        raise ImageRejected(f"{subject} is not an image ({_EXPECTED} expected).") from None
    except Image.DecompressionBombError:
        raise ImageRejected(
            f"{subject} has more than {2 * _PILLOW_GUARD:,} pixels; "
            f"the limit is {ceiling:,} pixels."
        ) from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise ImageRejected(f"{subject} is damaged and cannot be read.") from exc
    if img.width * img.height > ceiling:
        raise ImageRejected(
            f"{subject} is {_dims(img.size)} pixels; the limit is {ceiling:,} pixels."
        )
    return img


def _load(img: Image.Image, subject: str) -> None:
    """Decode every pixel: truncated and corrupt files fail here."""
    try:
        img.load()
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise ImageRejected(f"{subject} is damaged or incomplete and cannot be read.") from exc


def _decode(img: ImageFile.ImageFile, subject: str, draft_scale: float = 1.0) -> _Decoded:
    """Decode the first frame upright in 8-bit L, RGB or RGBA.

    A JPEG that will be at most half its size anyway is decoded at 1/2, 1/4 or 1/8 scale by
    libjpeg (``draft``), several times faster than decoding it whole and then shrinking it.
    """
    fmt = img.format or "?"
    declared = img.size
    # 16 bits a channel show in the raw mode the decoder will unpack: "RGB;16B", "I;16B"
    sixteen = any(";16" in str(tile[3]) for tile in img.tile) or img.mode.startswith("I;16")
    animated = fmt != "MPO" and bool(getattr(img, "is_animated", False))
    if fmt in ("JPEG", "MPO") and draft_scale <= 0.5:
        img.draft(img.mode, _shrink(declared, draft_scale, math.ceil))
    _load(img, subject)
    notes = [f"first frame of an animated {_label(fmt.lower())}"] if animated else []
    icc = None if img.mode == "CMYK" else img.info.get("icc_profile")  # CMYK's no longer fits
    frame: Image.Image = img
    orientation = img.getexif().get(ExifTags.Base.Orientation, 1)
    if orientation in range(2, 9):
        frame = ImageOps.exif_transpose(img) or img  # a new image unless in_place=True
        notes.append("turned upright (EXIF orientation)")
        if orientation >= 5:
            declared = declared[::-1]
    frame, note = _standard_mode(frame, sixteen)
    if note:
        notes.append(note)
    return _Decoded(frame, fmt, declared, icc, notes)


def _standard_mode(img: Image.Image, sixteen: bool) -> tuple[Image.Image, str | None]:
    """8-bit L, RGB or RGBA, which every model and encoder takes; and what was converted."""
    mode = img.mode
    if mode in ("L", "RGB", "RGBA") and not sixteen:
        return img, None
    if mode.startswith("I") or mode == "F":
        wide = img.convert("F" if mode == "F" else "I")
        peak = cast(float, wide.getextrema()[1])
        top = 65535.0 if mode.startswith("I;16") else max(255.0, peak)
        converted = wide.point(lambda v: v * (255.0 / top)).convert("L")
    elif mode == "1":
        converted = img.convert("L")
    elif mode in ("L", "RGB", "RGBA"):  # 16 bits a channel, already reduced by the decoder
        converted = img
    else:
        converted = img.convert("RGBA" if img.has_transparency_data else "RGB")
    before = "16-bit" if sixteen else _MODE_NAME.get(mode, mode)
    return converted, f"converted from {before} to {_MODE_NAME[converted.mode]}"


def _drop_opaque_alpha(img: Image.Image) -> Image.Image:
    """RGB when no pixel is transparent, so the image may become a JPEG."""
    if img.mode == "RGBA" and img.getchannel("A").getextrema()[0] == 255:
        return img.convert("RGB")
    return img


def _flatten(img: Image.Image) -> Image.Image:
    """RGBA onto white, for a model that takes no format with transparency."""
    base = Image.new("RGB", img.size, "white")
    base.paste(img, mask=img.getchannel("A"))
    return base


# -- reference rules ---------------------------------------------------------------------------


def _reference_scale(size: tuple[int, int], rules: ReferenceRules) -> float:
    """The factor (at most 1) that brings ``size`` within the pixel and side limits."""
    width, height = size
    scale = min(1.0, math.sqrt(rules.max_pixels / (width * height)))
    if rules.max_side is not None:
        scale = min(scale, rules.max_side / max(width, height))
    return scale


def _reference_size(size: tuple[int, int], scale: float, rules: ReferenceRules) -> tuple[int, int]:
    """``size`` scaled, rounded down so the limits hold, the ratio kept inside the range."""
    if scale >= 1.0:
        return size
    width, height = _shrink(size, scale)
    width = min(width, math.floor(height * rules.max_aspect))
    height = min(height, math.floor(width / rules.min_aspect))
    return width, height


def _check_aspect(name: str, size: tuple[int, int], rules: ReferenceRules) -> None:
    width, height = size
    if not rules.min_aspect <= width / height <= rules.max_aspect:
        raise ImageRejected(
            f"{name} is {_dims(size)} pixels, an aspect ratio of {_ratio(width / height)}; "
            f"the allowed range is {_ratio(rules.min_aspect)} to {_ratio(rules.max_aspect)} "
            "(crop it to fit)."
        )


def _choose_format(name: str, keep: str | None, img: Image.Image, allowed: frozenset[str]) -> str:
    """``keep`` (the source's format) if the model takes it and it can hold the image; else
    PNG for transparency and graphics, JPEG for photos, whichever the model takes first."""
    alpha = img.mode == "RGBA"
    if keep in allowed and keep in _WRITABLE and not (alpha and keep == "jpeg"):
        return keep
    if alpha:
        order = ("png", "webp", "jpeg")
    elif _looks_like_photo(img):
        order = ("jpeg", "webp", "png")
    else:
        order = ("png", "webp", "jpeg")
    for fmt in order:
        if fmt in allowed:
            return fmt
    offered = ", ".join(_label(f) for f in sorted(allowed))
    raise ImageRejected(f"{name} cannot be converted to a format this model takes ({offered}).")


def _looks_like_photo(img: Image.Image) -> bool:
    """Many distinct colours in a small nearest-neighbour sample: a photo, not a graphic."""
    sample = img.resize((min(img.width, 128), min(img.height, 128)), Image.Resampling.NEAREST)
    return sample.getcolors(_PHOTO_COLOURS.get(img.mode, 1024)) is None


# -- encoding within a byte limit --------------------------------------------------------------


@dataclass(frozen=True)
class _Fit:
    data: bytes
    size: tuple[int, int]
    fits: bool


def _fit_bytes(img: Image.Image, fmt: str, limit: int, smallest: float, icc: bytes | None) -> _Fit:
    """Encode ``img`` in at most ``limit`` bytes: lower quality first, then fewer pixels.

    ``smallest`` is the least scale allowed; below it the last (too large) attempt is returned
    with ``fits=False``. Every answer is checked on the real bytes; predictions only skip steps.
    """
    ladder = _LADDERS[fmt]
    start, estimate = _predict(img, fmt, ladder, limit)
    data = b""
    for params in ladder[start:]:
        data = _encode(img, fmt, params, icc)
        if len(data) <= limit:
            return _Fit(data, img.size, True)
    current, scale, size = len(data) or estimate, 1.0, img.size
    for _ in range(_MAX_DOWNSCALES):
        step = min(_MAX_STEP, math.sqrt(limit * _MARGIN / current))
        next_scale = max(smallest, scale * step)
        if next_scale >= scale:
            break
        scale, size = next_scale, _shrink(img.size, next_scale)
        data = _encode(_resize(img, size), fmt, ladder[-1], icc)
        if len(data) <= limit:
            return _Fit(data, size, True)
        current = len(data)
    if not data:  # predicted too large at every step and not allowed to shrink
        data = _encode(img, fmt, ladder[-1], icc)
    return _Fit(data, size, False)


def _predict(
    img: Image.Image, fmt: str, ladder: tuple[Mapping[str, Any], ...], limit: int
) -> tuple[int, int]:
    """The first ladder step a tile mosaic predicts to fit, and the size it predicts for the
    last step. Encoded size is close to additive over tiles, so 1/16 of a 16 MP image predicts
    the whole within a few per cent at 1/16 of the cost. Small images skip this (step 0)."""
    sample = _mosaic(img)
    if sample is None:
        return 0, 0
    factor = img.width * img.height / (sample.width * sample.height)
    predicted = 0
    for index, params in enumerate(ladder):
        predicted = round(len(_encode(sample, fmt, params, None)) * factor)
        if predicted <= limit * _MARGIN:
            return index, predicted
    return len(ladder), predicted


def _mosaic(img: Image.Image) -> Image.Image | None:
    """Tiles from an even grid over ``img``, aligned to 16 px so JPEG blocks stay whole."""
    side = _TILES * _TILE
    if img.width * img.height < 4 * side * side or min(img.size) < 2 * _TILE:
        return None
    sample = Image.new(img.mode, (side, side))
    xs, ys = _spread(img.width), _spread(img.height)
    for row, y in enumerate(ys):
        for col, x in enumerate(xs):
            sample.paste(img.crop((x, y, x + _TILE, y + _TILE)), (col * _TILE, row * _TILE))
    return sample


def _spread(length: int) -> list[int]:
    return [(length - _TILE) * i // (_TILES - 1) // 16 * 16 for i in range(_TILES)]


def _encode(img: Image.Image, fmt: str, params: Mapping[str, Any], icc: bytes | None) -> bytes:
    out = io.BytesIO()
    img.save(out, fmt, **params, **({"icc_profile": icc} if icc else {}))
    return out.getvalue()


def _resize(img: Image.Image, size: tuple[int, int]) -> Image.Image:
    """Lanczos, after a fast integer box reduction when shrinking by 3× or more."""
    return img.resize(size, Image.Resampling.LANCZOS, reducing_gap=3.0)


def _shrink(
    size: tuple[int, int], scale: float, rounding: Callable[[float], int] = math.floor
) -> tuple[int, int]:
    return max(1, rounding(size[0] * scale)), max(1, rounding(size[1] * scale))


# -- wording -----------------------------------------------------------------------------------


def _dims(size: tuple[int, int]) -> str:
    return f"{size[0]}×{size[1]}"


def _ratio(value: float) -> str:
    """1/16 as "1:16", 2.5 as "2.5:1"."""
    return f"{value:.3g}:1" if value >= 1 else f"1:{1 / value:.3g}"


def _mb(size: int) -> str:
    if size < 1024 * 1024:
        return f"{size / 1024:.0f} KB"
    return f"{size / (1024 * 1024):.1f}".removesuffix(".0") + " MB"


def _label(fmt: str) -> str:
    """ "webp" as "WebP", "mpo" as "JPEG": how members know the format."""
    return _LABEL.get(_RULE_NAME.get(fmt.upper(), fmt), fmt.upper())
