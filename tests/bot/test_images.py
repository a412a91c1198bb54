"""bot/images.py on real images made with Pillow: every bad input a member can attach, the
conversions that rescue a reference instead of refusing it, and outputs fitted under a limit."""

from __future__ import annotations

import asyncio
import glob
import io
import os
import struct
import tempfile
import time
import zlib
from dataclasses import replace

import pytest
from PIL import Image, ImageDraw

from bot import images
from bot.images import ImageRejected, NormalisedImage, ReferenceRules, normalise_reference
from bot.providers.ark import CAPS as ARK_CAPS
from bot.providers.capabilities import ModelCaps

MiB = 1024 * 1024
RED, BLUE = (220, 20, 20), (20, 20, 220)


def rules_for(caps: ModelCaps) -> ReferenceRules:
    """What a caller does: the model's reference limits, and nothing from providers in images."""
    return ReferenceRules(
        formats=caps.reference_formats,
        min_aspect=caps.reference_min_aspect,
        max_aspect=caps.reference_max_aspect,
        max_pixels=caps.reference_max_pixels,
        max_bytes=caps.reference_max_bytes,
    )


#: Seedream 4.0 on ModelArk: JPEG or PNG, 1:3 to 3:1, 36 MP, 10 MB
RULES = rules_for(ARK_CAPS["seedream-4.0"])
#: Seedream 4.5: also WebP, BMP, TIFF and GIF, 1:16 to 16:1
RULES_45 = rules_for(ARK_CAPS["seedream-4.5"])


# -- making images -----------------------------------------------------------------------------


def encode(img: Image.Image, fmt: str, **params: object) -> bytes:
    out = io.BytesIO()
    img.save(out, fmt, **params)
    return out.getvalue()


def decode(data: bytes) -> Image.Image:
    img = Image.open(io.BytesIO(data))
    img.load()
    return img


def png_file(width: int, height: int, raw: bytes, *, depth: int = 8) -> bytes:
    """An RGB PNG written by hand: any header (even a lying one) in microseconds, 16-bit RGB,
    which Pillow cannot write, and 48 MB of noise stored uncompressed in a fraction of a second.
    ``raw`` is unfiltered scanlines; empty means no pixel data."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        )

    stride = len(raw) // height if raw else 0
    rows = b"".join(b"\0" + raw[i * stride : (i + 1) * stride] for i in range(height if raw else 0))
    header = struct.pack(">IIBBBBB", width, height, depth, 2, 0, 0, 0)  # 2: RGB
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows or b"\0" * 64, 0))
        + chunk(b"IEND", b"")
    )


def photo(width: int, height: int) -> Image.Image:
    """Smooth gradients with grain: many colours, like a photo."""
    grain = Image.effect_noise((width, height), 40).convert("RGB")
    gradient = Image.linear_gradient("L").resize((width, height)).convert("RGB")
    return Image.blend(Image.merge("RGB", (*gradient.split()[:2], grain.getchannel(0))), grain, 0.2)


def graphic(width: int, height: int, mode: str = "RGB") -> Image.Image:
    """Flat colours and sharp edges: a handful of colours, like a logo or a screenshot."""
    img = Image.new(mode, (width, height), (255, 255, 255, 0) if mode == "RGBA" else "white")
    draw = ImageDraw.Draw(img)
    draw.rectangle((width // 8, height // 8, width // 2, height // 2), fill=RED)
    draw.ellipse((width // 2, height // 2, width - 4, height - 4), fill=BLUE)
    return img


@pytest.fixture(scope="module")
def noise_png() -> bytes:
    """4096×4096 random noise as PNG (~48 MB): the worst case for every encoder."""
    return png_file(4096, 4096, os.urandom(4096 * 4096 * 3))


def close_to(pixel: tuple[int, ...], colour: tuple[int, int, int], tolerance: int = 40) -> bool:
    return all(abs(a - b) <= tolerance for a, b in zip(pixel, colour, strict=False))


# -- refusals ----------------------------------------------------------------------------------


def test_empty_file() -> None:
    with pytest.raises(ImageRejected, match=r"^empty\.png is empty\.$"):
        normalise_reference(b"", "empty.png", RULES)


def test_text_renamed_png_is_not_an_image() -> None:
    with pytest.raises(ImageRejected) as caught:
        normalise_reference(b"just some notes\n" * 50, "cat.png", RULES)
    assert caught.value.message == "cat.png is not an image (JPEG, PNG, WebP or GIF expected)."
    assert isinstance(caught.value, ValueError)  # callers that catch ValueError still work


def test_truncated_png() -> None:
    data = encode(photo(300, 200), "PNG")
    with pytest.raises(ImageRejected, match=r"^cut\.png is damaged or incomplete"):
        normalise_reference(data[: len(data) // 2], "cut.png", RULES)


def test_corrupt_jpeg_body() -> None:
    data = bytearray(encode(photo(300, 200), "JPEG"))
    data[400:] = b"\xff\xd9" + bytes(10)  # end-of-image marker where the scan should be
    with pytest.raises(ImageRejected, match=r"^broken\.jpg is damaged"):
        normalise_reference(bytes(data), "broken.jpg", RULES)


def test_decompression_bomb_is_refused_from_its_header() -> None:
    bomb = png_file(40_000, 40_000, b"")
    assert len(bomb) < 200
    started = time.perf_counter()
    with pytest.raises(ImageRejected) as caught:
        normalise_reference(bomb, "huge.png", RULES)
    assert time.perf_counter() - started < 0.2  # decoding it would need 4.8 GB and minutes
    assert caught.value.message == (
        "huge.png is 40000×40000 pixels; the limit is 67,108,864 pixels."
    )


def test_bomb_beyond_pillows_own_guard() -> None:
    with pytest.raises(ImageRejected) as caught:
        normalise_reference(png_file(100_000, 100_000, b""), "vast.png", RULES)
    assert caught.value.message == (
        "vast.png has more than 8,589,934,592 pixels; the limit is 67,108,864 pixels."
    )


def test_probe_refuses_the_same_bomb() -> None:
    with pytest.raises(ValueError, match="40000×40000"):
        images.probe(png_file(40_000, 40_000, b""))


def test_side_of_14_px_or_less_is_refused_before_decoding() -> None:
    data = encode(Image.new("RGB", (1, 1000), RED), "PNG")
    with pytest.raises(ImageRejected) as caught:
        normalise_reference(data, "strip.png", RULES)
    assert caught.value.message == (
        "strip.png is 1×1000 pixels; width and height must be at least 15 px."
    )


def test_15_px_is_enough() -> None:
    result = normalise_reference(encode(graphic(15, 30), "PNG"), "small.png", RULES)
    assert (result.width, result.height) == (15, 30)


def test_aspect_ratio_out_of_range_names_the_range() -> None:
    data = encode(graphic(1000, 100), "PNG")
    with pytest.raises(ImageRejected) as caught:
        normalise_reference(data, "banner.png", RULES)
    assert caught.value.message == (
        "banner.png is 1000×100 pixels, an aspect ratio of 10:1; the allowed range is 1:3 to 3:1 "
        "(crop it to fit)."
    )
    # 4.5 takes 1:16 to 16:1, so the same file is fine there
    assert normalise_reference(data, "banner.png", RULES_45).changed == ()


def test_aspect_is_judged_upright() -> None:
    """400×100 stored sideways (EXIF orientation 6) is 100×400 upright: 1:4, out of range."""
    exif = Image.Exif()
    exif[0x0112] = 6
    data = encode(photo(400, 100), "JPEG", exif=exif)
    with pytest.raises(ImageRejected, match=r"side\.jpg is 100×400 pixels, .* 1:4;"):
        normalise_reference(data, "side.jpg", RULES)


def test_file_too_large_even_when_downscaled() -> None:
    """PNG only, 48 KB allowed: noise at the 512 px floor is still 768 KB, so refuse."""
    rules = replace(RULES, formats=frozenset({"png"}), max_bytes=48 * 1024)
    data = png_file(1024, 1024, os.urandom(1024 * 1024 * 3))
    with pytest.raises(ImageRejected) as caught:
        normalise_reference(data, "noise.png", rules)
    assert caught.value.message == (
        "noise.png is 3 MB; even downscaled to 512×512 pixels it would be over 48 KB, the limit."
    )


def test_no_writable_format() -> None:
    rules = replace(RULES, formats=frozenset({"bmp"}))
    with pytest.raises(ImageRejected, match=r"^logo\.gif cannot be converted .* \(BMP\)\.$"):
        normalise_reference(encode(graphic(64, 64), "GIF"), "logo.gif", rules)


# -- what passes unchanged ---------------------------------------------------------------------


def test_compliant_reference_is_returned_byte_for_byte() -> None:
    data = encode(photo(640, 480), "JPEG", quality=90)
    result = normalise_reference(data, "ok.jpg", RULES)
    assert result == NormalisedImage(data, "image/jpeg", 640, 480, "jpeg", ())
    assert result.extension == "jpg"


def test_phone_mpo_is_a_jpeg_not_an_animation() -> None:
    """Many phones write MPO: a JPEG with a second picture appended. Models read it as JPEG."""
    data = encode(photo(320, 240), "MPO", save_all=True, append_images=[photo(160, 120)])
    assert Image.open(io.BytesIO(data)).format == "MPO"
    assert normalise_reference(data, "phone.jpg", RULES) == NormalisedImage(
        data, "image/jpeg", 320, 240, "jpeg", ()
    )


# -- conversions -------------------------------------------------------------------------------


def test_animated_gif_becomes_its_first_frame() -> None:
    frames = [graphic(120, 80), Image.new("RGB", (120, 80), BLUE), Image.new("RGB", (120, 80))]
    data = encode(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=100)
    assert Image.open(io.BytesIO(data)).n_frames == 3
    result = normalise_reference(data, "dance.gif", RULES_45)  # 4.5 takes GIF, but not animated
    assert result.format == "png" and result.mime == "image/png"
    assert result.changed[0] == "first frame of an animated GIF"
    assert "converted from GIF to PNG" in result.changed
    out = decode(result.data)
    assert getattr(out, "n_frames", 1) == 1 and out.mode == "RGB"
    assert close_to(out.getpixel((40, 25)), RED)  # the first frame's rectangle


def test_cmyk_jpeg_becomes_rgb() -> None:
    data = encode(Image.new("CMYK", (200, 100), (0, 255, 255, 0)), "JPEG")  # pure red in CMYK
    result = normalise_reference(data, "print.jpg", RULES)
    out = decode(result.data)
    assert (out.format, out.mode) == ("JPEG", "RGB")
    assert close_to(out.getpixel((100, 50)), (255, 0, 0))
    assert result.changed == ("converted from CMYK to 8-bit RGB",)


def test_16_bit_greyscale_png_is_scaled_not_clipped() -> None:
    ramp = Image.new("I;16", (256, 128))
    ramp.putdata([x * 257 for _ in range(128) for x in range(256)])  # 0…65535 across
    result = normalise_reference(encode(ramp, "PNG"), "scan.png", RULES)
    out = decode(result.data)
    assert out.mode == "L"
    assert [out.getpixel((x, 8)) for x in (0, 128, 255)] == [0, 128, 255]
    assert result.changed == ("converted from 16-bit to 8-bit greyscale",)


def test_16_bit_rgb_png_becomes_8_bit() -> None:
    row = b"".join(struct.pack(">HHH", 65535, 0, x * 65535 // 63) for x in range(64))
    data = png_file(64, 32, row * 32, depth=16)
    assert data[24] == 16  # bit depth in IHDR
    result = normalise_reference(data, "deep.png", RULES)
    assert result.format == "png" and result.data[24] == 8
    out = decode(result.data)
    assert [out.getpixel((x, 0)) for x in (0, 63)] == [(255, 0, 0), (255, 0, 255)]
    assert result.changed == ("converted from 16-bit to 8-bit RGB",)


def test_palette_and_grey_alpha_become_rgb_or_rgba() -> None:
    palette = normalise_reference(encode(graphic(64, 64).convert("P"), "PNG"), "p.png", RULES)
    assert decode(palette.data).mode == "RGB"
    assert palette.changed == ("converted from palette colours to 8-bit RGB",)
    grey = Image.new("LA", (64, 64), (128, 0))
    grey.paste((200, 255), (0, 0, 32, 64))
    la = normalise_reference(encode(grey, "PNG"), "la.png", RULES)
    assert decode(la.data).mode == "RGBA"
    assert decode(la.data).getpixel((48, 10))[3] == 0  # transparency kept


def test_exif_rotation_is_applied_to_the_pixels_and_exif_dropped() -> None:
    """Stored 80×40, red left and blue right, orientation 6 (turn 90° clockwise to view)."""
    stored = Image.new("RGB", (80, 40), RED)
    stored.paste(BLUE, (40, 0, 80, 40))
    exif = Image.Exif()
    exif[0x0112] = 6
    exif[0x010F] = "Camera maker"
    result = normalise_reference(encode(stored, "JPEG", exif=exif), "phone.jpg", RULES)
    assert (result.width, result.height) == (40, 80)
    out = decode(result.data)
    assert close_to(out.getpixel((20, 15)), RED)  # the left side is now on top
    assert close_to(out.getpixel((20, 65)), BLUE)
    assert len(out.getexif()) == 0
    assert result.changed == ("turned upright (EXIF orientation)",)


def test_oversize_png_is_downscaled_within_max_pixels() -> None:
    rules = replace(RULES, max_pixels=1_000_000)
    result = normalise_reference(encode(graphic(2000, 1500), "PNG"), "big.png", rules)
    assert result.width * result.height <= 1_000_000
    assert (result.width, result.height) == (1154, 866)
    assert result.format == "png"
    assert result.changed == ("downscaled from 2000×1500 to 1154×866",)


def test_oversize_jpeg_is_decoded_at_reduced_scale_then_downscaled() -> None:
    rules = replace(RULES, max_pixels=500_000, max_side=700)
    result = normalise_reference(encode(photo(4000, 3000), "JPEG"), "cam.jpg", rules)
    assert (result.width, result.height) == (700, 525)
    assert result.format == "jpeg"
    assert decode(result.data).size == (700, 525)
    assert result.changed == ("downscaled from 4000×3000 to 700×525",)


def test_unaccepted_format_becomes_jpeg_for_photos_and_png_for_graphics() -> None:
    bmp_photo = normalise_reference(encode(photo(320, 240), "BMP"), "holiday.bmp", RULES)
    assert (bmp_photo.format, bmp_photo.changed) == ("jpeg", ("converted from BMP to JPEG",))
    webp_logo = encode(graphic(320, 240), "WEBP", lossless=True)
    logo = normalise_reference(webp_logo, "logo.webp", RULES)
    assert (logo.format, logo.changed) == ("png", ("converted from WebP to PNG",))
    assert decode(logo.data).tobytes() == decode(webp_logo).tobytes()  # lossless both ways
    # the same WebP goes through untouched where WebP is accepted
    assert normalise_reference(webp_logo, "logo.webp", RULES_45).data == webp_logo


def test_transparency_is_kept_in_png_or_flattened_for_jpeg_only_models() -> None:
    data = encode(graphic(200, 200, "RGBA"), "WEBP", lossless=True)
    kept = normalise_reference(data, "sticker.webp", RULES)
    assert kept.format == "png" and decode(kept.data).getpixel((2, 2))[3] == 0
    jpeg_only = replace(RULES, formats=frozenset({"jpeg"}))
    flat = normalise_reference(data, "sticker.webp", jpeg_only)
    assert flat.format == "jpeg"
    assert close_to(decode(flat.data).getpixel((2, 2)), (255, 255, 255))
    assert flat.changed == ("transparent areas filled with white", "converted from WebP to JPEG")


def test_50_mb_png_is_reencoded_under_max_bytes(noise_png: bytes) -> None:
    assert len(noise_png) > 48 * MiB
    result = normalise_reference(noise_png, "noise.png", RULES)
    assert result.format == "jpeg" and len(result.data) <= RULES.max_bytes
    assert (result.width, result.height) == (4096, 4096)  # quality gave way before pixels
    assert result.changed[0] == "converted from PNG to JPEG"
    assert result.changed[1].startswith("reduced from 48 MB to 9.")
    assert result.changed[1].endswith("(the limit is 10 MB)")


def test_png_only_model_gets_a_smaller_png() -> None:
    data = png_file(2048, 2048, os.urandom(2048 * 2048 * 3))  # 12 MB of noise
    rules = replace(RULES, formats=frozenset({"png"}), max_bytes=4 * MiB)
    result = normalise_reference(data, "noise.png", rules)
    assert result.format == "png" and len(result.data) <= 4 * MiB
    assert 512 <= result.width < 2048 and result.width == result.height
    assert decode(result.data).size == (result.width, result.height)


# -- outputs -----------------------------------------------------------------------------------


def test_fit_to_limit_keeps_what_fits() -> None:
    data = encode(photo(300, 200), "PNG")
    fitted = images.fit_to_limit(data, 10 * MiB)
    assert fitted.data is data and not fitted.reencoded and not fitted.downscaled
    assert (fitted.info.format, fitted.info.width, fitted.info.height) == ("PNG", 300, 200)


def test_fit_to_limit_noisy_4096_png_under_10_mib(noise_png: bytes) -> None:
    fitted = images.fit_to_limit(noise_png, 10 * MiB)
    assert len(fitted.data) <= 10 * MiB and fitted.reencoded
    out = decode(fitted.data)
    assert (out.format, out.size) == ("JPEG", (fitted.info.width, fitted.info.height))
    assert fitted.info.mime == "image/jpeg" and fitted.info.extension == "jpg"


def test_fit_to_limit_downscales_when_quality_is_not_enough() -> None:
    data = png_file(1024, 1024, os.urandom(1024 * 1024 * 3))
    fitted = images.fit_to_limit(data, 300 * 1024)
    assert len(fitted.data) <= 300 * 1024 and fitted.downscaled
    assert decode(fitted.data).size == (fitted.info.width, fitted.info.height)
    assert fitted.info.width < 1024


def test_fit_to_limit_keeps_transparency_as_webp() -> None:
    img = photo(1024, 1024).convert("RGBA")
    img.putalpha(Image.linear_gradient("L").resize((1024, 1024)))
    fitted = images.fit_to_limit(encode(img, "PNG"), 400 * 1024)
    out = decode(fitted.data)
    assert (out.format, out.mode) == ("WEBP", "RGBA") and len(fitted.data) <= 400 * 1024
    assert out.getpixel((10, 2))[3] < 16 and out.getpixel((10, 1020))[3] > 240


def test_fit_to_limit_stops_at_64_px() -> None:
    fitted = images.fit_to_limit(png_file(512, 512, os.urandom(512 * 512 * 3)), 100)
    assert max(fitted.info.width, fitted.info.height) == 64 and fitted.downscaled
    decode(fitted.data)


def test_fit_to_limit_refuses_what_is_not_an_image() -> None:
    with pytest.raises(ValueError, match="not an image"):
        images.fit_to_limit(b"<html>gateway timeout</html>", 10)


# -- probe and the helpers that move work off the loop -----------------------------------------


def test_probe() -> None:
    info = images.probe(encode(graphic(30, 20), "WEBP"))
    assert (info.format, info.width, info.height, info.mime) == ("WEBP", 30, 20, "image/webp")
    with pytest.raises(ValueError, match="empty"):
        images.probe(b"")


def spill_files() -> set[str]:
    folder = images._SPILL_DIR or tempfile.gettempdir()
    return set(glob.glob(os.path.join(folder, "seedream-image-*")))


async def test_run_off_loop_and_run_in_process() -> None:
    data = encode(graphic(30, 20), "PNG")
    assert (await images.run_off_loop(images.probe, data)).width == 30
    try:
        result = await images.run_in_process(normalise_reference, data, "a.png", RULES)
        assert result.data == data
        with pytest.raises(ImageRejected, match=r"^a\.png is empty\.$"):
            await images.run_in_process(normalise_reference, b"", "a.png", RULES)
    finally:
        images.shutdown_process_pool()


async def test_run_in_process_moves_large_bytes_as_files_and_cleans_up(noise_png: bytes) -> None:
    before = spill_files()
    data = png_file(1024, 700, os.urandom(1024 * 700 * 3))  # 2 MB each way
    try:
        result = await images.run_in_process(normalise_reference, data, "n.png", RULES)
        assert result.data == data and result.width == 1024
        slow = asyncio.create_task(images.run_in_process(images.fit_to_limit, noise_png, 10 * MiB))
        await asyncio.sleep(0.1)  # spilled, and running in a worker
        slow.cancel()
        with pytest.raises(asyncio.CancelledError):
            await slow
    finally:
        images.shutdown_process_pool()  # waits for the cancelled call, whose files go too
    assert spill_files() == before
