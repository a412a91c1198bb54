"""Reference images for URL-only providers (Apiframe, GMI): Discord URLs, refreshed or uploaded.

An image used unchanged is sent as its own attachment URL, re-signed through
``POST /attachments/refresh-urls`` right before the provider call; an image the bot had to convert
or downscale is uploaded as an attachment of the bot's status message and that URL is sent. The
provider fakes download every URL they are given, so an expired or wrong URL fails the job.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import pytest
from PIL import Image
from pydantic import SecretStr

from bot.client import SeedreamBot
from bot.config import Settings
from bot.providers import apiframe as apiframe_adapter
from bot.providers.base import PollPolicy
from tests.fakes.fake_discord import FakeDiscord
from tests.fakes.fake_discord.cdn import CdnStore
from tests.fakes.providers.apiframe import FakeApiframe
from tests.fakes.providers.gmi import PATH as GMI_PATH
from tests.fakes.providers.gmi import FakeGMI
from tests.fakes.providers.myrouter import FakeMyRouter
from tests.helpers import is_result, png_bytes, replies_to, result_for

APIFRAME_CREATE = "/v2/images/generate"
FAST = PollPolicy(first_delay=0.05, factor=1.0, max_interval=0.05, deadline=60)
GREEN = (20, 180, 60)


@pytest.fixture
def bot_settings(bot_settings: Settings, apiframe: FakeApiframe, gmi: FakeGMI) -> Settings:
    """The shared settings plus keys for the Apiframe and GMI fakes."""
    return bot_settings.model_copy(
        update={
            "apiframe_api_key": SecretStr(apiframe.api_key),
            "apiframe_base_url": apiframe.base_url,
            "gmi_api_key": SecretStr(gmi.api_key),
            "gmi_base_url": gmi.base_url,
        }
    )


@pytest.fixture
def fast_bot(bot: SeedreamBot) -> SeedreamBot:
    for provider in bot.router.providers:
        if hasattr(provider, "poll"):
            provider.poll = FAST  # type: ignore[attr-defined]
    return bot


# ------------------------------------------------------------------------------ images


def encoded(img: Image.Image, fmt: str, **params: Any) -> bytes:
    out = io.BytesIO()
    img.save(out, fmt, **params)
    return out.getvalue()


def bmp() -> bytes:
    return encoded(Image.new("RGB", (300, 200), GREEN), "BMP")


def animated_gif() -> bytes:
    frames = [Image.new("RGB", (240, 160), GREEN), Image.new("RGB", (240, 160), (200, 0, 0))]
    return encoded(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=100)


def webp() -> bytes:
    return encoded(Image.new("RGB", (320, 240), GREEN), "WEBP", lossless=True)


def huge_png() -> bytes:
    return encoded(Image.new("RGB", (7000, 7000), GREEN), "PNG")


# ------------------------------------------------------------------------------ helpers


def apiframe_urls(apiframe: FakeApiframe, index: int = -1) -> list[str]:
    return apiframe.calls_to(APIFRAME_CREATE)[index].json["seedreamParams"]["image_input"]  # type: ignore[no-any-return]


def gmi_urls(gmi: FakeGMI) -> list[str]:
    submits = [c for c in gmi.calls_to(GMI_PATH) if c.method == "POST"]
    image = submits[-1].json["payload"]["image"]
    return [image] if isinstance(image, str) else image  # type: ignore[no-any-return]


def works(fake: FakeDiscord, url: str) -> bool:
    """Whether the fake CDN serves ``url`` now (signature valid, not expired)."""
    return fake.cdn.lookup(urlsplit(url).path, CdnStore.query_of(url)) is not None


def file_id(fake: FakeDiscord, url: str) -> str:
    stored = fake.cdn.from_url(url)
    assert stored is not None, url
    return stored.id


def uploads_to(fake: FakeDiscord, message_path: str, since: int = 0) -> list[Any]:
    """Files the bot attached by editing the message at ``message_path``."""
    return [
        f
        for c in fake.calls_since(since)
        if c.method == "PATCH" and c.path.endswith(message_path)
        for f in c.files
    ]


def refreshes(fake: FakeDiscord, since: int = 0) -> list[Any]:
    return [
        c
        for c in fake.calls_since(since)
        if c.method == "POST" and c.path == "/attachments/refresh-urls"
    ]


def close_to(pixel: Any, colour: tuple[int, int, int], tolerance: int = 8) -> bool:
    return all(abs(a - b) <= tolerance for a, b in zip(pixel, colour, strict=True))


# ------------------------------------------------------------------------------ uploaded


@pytest.mark.settings(seedream_providers="apiframe")
@pytest.mark.parametrize(
    ("filename", "make", "size"),
    [
        ("drawing.bmp", bmp, (300, 200)),
        ("moving.gif", animated_gif, (240, 160)),
        ("photo.webp", webp, (320, 240)),
        ("huge.png", huge_png, None),  # 7000x7000: over the 6000x6000 pixel limit
    ],
)
async def test_a_converted_reference_is_uploaded_to_the_status_message(
    discord_fake: FakeDiscord,
    apiframe: FakeApiframe,
    fast_bot: SeedreamBot,
    filename: str,
    make: Callable[[], bytes],
    size: tuple[int, int] | None,
) -> None:
    original = make()
    att = discord_fake.add_cdn_file(filename, original)
    mark = discord_fake.mark()
    request = await discord_fake.user_message("general", "<@BOT> make it night", attachments=[att])
    final = await result_for(discord_fake, request)

    [sent] = apiframe_urls(apiframe)
    assert sent in apiframe.fetched
    assert file_id(discord_fake, sent) != request["attachments"][0]["id"]
    hosted = discord_fake.file_bytes(sent)
    assert hosted != original
    # uploaded by editing the bot's own status message (the message that became the result)
    uploaded = uploads_to(discord_fake, f"/channels/{final['channel_id']}/messages/{final['id']}")
    assert [f.data for f in uploaded if f.data == hosted], "not attached to the status message"
    image = Image.open(io.BytesIO(hosted))
    assert image.format in ("PNG", "JPEG")  # what Seedream 4.0 on Apiframe takes
    if size is not None:
        assert image.size == size
    else:
        assert image.width == image.height and image.width >= 5900
        assert image.width * image.height <= 6000 * 6000
    assert close_to(image.convert("RGB").getpixel((5, 5)), GREEN)
    assert not [c for c in discord_fake.calls_since(mark) if c.status >= 400]


@pytest.mark.settings(seedream_providers="apiframe")
async def test_a_hosted_reference_is_named_for_its_new_format(
    discord_fake: FakeDiscord, apiframe: FakeApiframe, fast_bot: SeedreamBot
) -> None:
    att = discord_fake.add_cdn_file("drawing.bmp", bmp())
    request = await discord_fake.user_message("general", "<@BOT> make it night", attachments=[att])
    await result_for(discord_fake, request)
    [sent] = apiframe_urls(apiframe)
    fmt = Image.open(io.BytesIO(discord_fake.file_bytes(sent))).format
    # Discord serves a file by its name: PNG bytes named .bmp reach the provider as a BMP
    name = urlsplit(sent).path.rsplit("/", 1)[-1]
    assert name.lower().endswith({"PNG": ".png", "JPEG": (".jpg", ".jpeg")}[fmt or ""]), name


@pytest.mark.settings(seedream_providers="gmi")
async def test_a_converted_reference_of_a_slash_edit_is_uploaded_to_its_response(
    discord_fake: FakeDiscord, gmi: FakeGMI, fast_bot: SeedreamBot
) -> None:
    att = discord_fake.add_cdn_file("drawing.bmp", bmp())
    inter = await discord_fake.slash("edit", {"image": att, "prompt": "make it night"})
    final = await inter.original(predicate=is_result, timeout=30)
    [sent] = gmi_urls(gmi)
    assert sent in gmi.fetched and file_id(discord_fake, sent) != att["id"]
    hosted = discord_fake.file_bytes(sent)
    uploaded = uploads_to(discord_fake, f"/messages/{final['id']}")
    assert [f.data for f in uploaded if f.data == hosted], "not attached to the response"
    image = Image.open(io.BytesIO(hosted))
    assert image.format in ("PNG", "JPEG") and image.size == (300, 200)


# ------------------------------------------------------------------------------ kept, refreshed


@pytest.mark.parametrize(
    "provider",
    [
        pytest.param(name, marks=pytest.mark.settings(seedream_providers=name))
        for name in ("apiframe", "gmi")
    ],
)
async def test_an_unchanged_reference_keeps_its_attachment_url_refreshed(
    discord_fake: FakeDiscord,
    apiframe: FakeApiframe,
    gmi: FakeGMI,
    fast_bot: SeedreamBot,
    provider: str,
) -> None:
    assert [p.name for p in fast_bot.router.providers] == [provider]
    data = png_bytes(256, 256, GREEN)
    att = discord_fake.add_cdn_file("dog.png", data, "image/png")
    request = await discord_fake.user_message("general", "<@BOT> a hat", attachments=[att])
    final = await result_for(discord_fake, request)

    fake = apiframe if provider == "apiframe" else gmi
    [sent] = apiframe_urls(apiframe) if provider == "apiframe" else gmi_urls(gmi)
    assert sent in fake.fetched
    assert file_id(discord_fake, sent) == request["attachments"][0]["id"]
    assert discord_fake.file_bytes(sent) == data
    refreshed = [
        item["refreshed"]
        for call in refreshes(discord_fake)
        for item in call.response_json["refreshed_urls"]
    ]
    assert sent in refreshed, "the URL sent was not one Discord had just re-signed"
    # nothing uploaded: the only file the bot attached is its result
    uploaded = uploads_to(discord_fake, f"/messages/{final['id']}")
    assert [f.filename for f in uploaded if not f.filename.startswith("seedream-")] == []


@pytest.mark.settings(seedream_providers="apiframe", seedream_max_concurrent=1)
async def test_expired_urls_are_refreshed_before_a_queued_job_runs(
    discord_fake: FakeDiscord, apiframe: FakeApiframe, fast_bot: SeedreamBot
) -> None:
    apiframe.hang = True  # the first job holds the only slot until released
    await discord_fake.slash("imagine", {"prompt": "a slow one"}, user="bob")
    await discord_fake.wait_until(lambda: apiframe.jobs, timeout=10, what="the first job")

    kept = discord_fake.add_cdn_file("dog.png", png_bytes(256, 256, GREEN), "image/png")
    converted = discord_fake.add_cdn_file("drawing.bmp", bmp())
    request = await discord_fake.user_message(
        "general", "<@BOT> make it night", attachments=[kept, converted]
    )
    await discord_fake.wait_until(
        lambda: [m for m in replies_to(discord_fake, request) if "Queued" in m["content"]],
        timeout=15,
        what="the second job to be queued",
    )
    status = replies_to(discord_fake, request)[0]
    admitted = [
        item["refreshed"]
        for call in refreshes(discord_fake)
        for item in call.response_json["refreshed_urls"]
    ] + [a["url"] for a in status["attachments"]]
    assert len(admitted) >= 2 and all(works(discord_fake, url) for url in admitted)

    discord_fake.clock.advance(discord_fake.cdn.lifetime + 60)
    assert not any(works(discord_fake, url) for url in admitted)
    expired_at = discord_fake.clock.now()
    mark = discord_fake.mark()
    apiframe.hang = False
    final = await result_for(discord_fake, request)

    sent = apiframe_urls(apiframe, 1)
    assert len(sent) == 2 and all(url in apiframe.fetched for url in sent)
    assert all(works(discord_fake, url) for url in sent)
    assert file_id(discord_fake, sent[0]) == request["attachments"][0]["id"]
    assert file_id(discord_fake, sent[1]) in {file_id(discord_fake, url) for url in admitted}
    assert [c for c in refreshes(discord_fake, mark) if c.fake_at >= expired_at]
    assert final["id"] == status["id"]


@pytest.mark.settings(seedream_providers="apiframe", seedream_max_concurrent=1)
async def test_urls_of_a_job_queued_across_a_restart_are_refreshed(
    discord_fake: FakeDiscord,
    apiframe: FakeApiframe,
    fast_bot: SeedreamBot,
    start_bot: Callable[..., Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(apiframe_adapter, "SDK_POLL", FAST)  # the restarted bot polls fast too
    apiframe.hang = True
    blocker = await discord_fake.slash("imagine", {"prompt": "a slow one"}, user="bob")
    await discord_fake.wait_until(lambda: apiframe.jobs, timeout=10, what="the first job")
    kept = discord_fake.add_cdn_file("dog.png", png_bytes(256, 256, GREEN), "image/png")
    request = await discord_fake.user_message("general", "<@BOT> a hat", attachments=[kept])
    await discord_fake.wait_until(
        lambda: [m for m in replies_to(discord_fake, request) if "Queued" in m["content"]],
        timeout=15,
        what="the second job to be queued",
    )
    status = replies_to(discord_fake, request)[0]
    apiframe.hang = False
    await fast_bot.close()  # the first job finishes; the queued one waits for the next start
    await blocker.original(predicate=is_result, timeout=10)
    assert len(apiframe.calls_to(APIFRAME_CREATE)) == 1
    stored = request["attachments"][0]["url"]  # an unchanged image keeps its URL when admitted
    assert works(discord_fake, stored)

    discord_fake.clock.advance(discord_fake.cdn.lifetime + 60)
    assert not works(discord_fake, stored)
    await start_bot()
    final = await result_for(discord_fake, request)

    [sent] = apiframe_urls(apiframe, 1)
    assert sent in apiframe.fetched and works(discord_fake, sent)
    assert file_id(discord_fake, sent) == request["attachments"][0]["id"]
    assert final["id"] == status["id"]


# ------------------------------------------------------------------------------ data URLs


async def test_a_data_url_provider_needs_no_hosting(
    discord_fake: FakeDiscord, myrouter: FakeMyRouter, bot: SeedreamBot
) -> None:
    first = discord_fake.add_cdn_file("drawing.bmp", bmp())
    second = discord_fake.add_cdn_file("dog.png", png_bytes(256, 256, GREEN), "image/png")
    inter = await discord_fake.slash(
        "edit", {"image": first, "prompt": "make it night", "image2": second}
    )
    final = await inter.original(predicate=is_result, timeout=20)
    images = myrouter.calls[-1].json["images"]
    assert len(images) == 2 and all(url.startswith("data:image/") for url in images)
    assert refreshes(discord_fake) == []
    uploaded = uploads_to(discord_fake, f"/messages/{final['id']}")
    assert [f.filename for f in uploaded if not f.filename.startswith("seedream-")] == []
    assert myrouter.fetched == []
