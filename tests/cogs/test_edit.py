"""Reference images end to end: /imagine image1..4 and /edit, transports, bad attachments."""

from __future__ import annotations

import base64
import io
import os
from urllib.parse import urlsplit

import pytest
from PIL import Image

from tests.fakes.fake_discord import FakeDiscord
from tests.fakes.providers.evolink import FakeEvoLink
from tests.fakes.providers.myrouter import FakeMyRouter
from tests.helpers import has_image, png_bytes

pytestmark = pytest.mark.usefixtures("bot")


def decoded(data_url: str) -> Image.Image:
    return Image.open(io.BytesIO(base64.b64decode(data_url.partition(",")[2])))


async def test_imagine_with_a_reference_sends_it_inline(
    discord_fake: FakeDiscord, myrouter: FakeMyRouter
) -> None:
    att = discord_fake.add_cdn_file("cat.png", png_bytes(300, 200), "image/png")
    inter = await discord_fake.slash("imagine", {"prompt": "the cat as a king", "image1": att})
    await inter.original(predicate=has_image, timeout=20)
    body = myrouter.calls[-1].json
    assert len(body["images"]) == 1 and body["images"][0].startswith("data:image/png;base64,")
    assert decoded(body["images"][0]).size == (300, 200)


async def test_edit_matches_the_aspect_of_the_image(
    discord_fake: FakeDiscord, myrouter: FakeMyRouter
) -> None:
    first = discord_fake.add_cdn_file("wide.png", png_bytes(320, 180), "image/png")
    second = discord_fake.add_cdn_file("style.png", png_bytes(100, 100), "image/png")
    inter = await discord_fake.slash(
        "edit", {"image": first, "prompt": "make it night", "image2": second}
    )
    await inter.original(predicate=has_image, timeout=20)
    body = myrouter.calls[-1].json
    assert len(body["images"]) == 2
    width, height = (int(v) for v in body["size"].split("x"))
    assert abs(width / height - 16 / 9) < 0.02


@pytest.mark.settings(seedream_providers="evolink")
async def test_url_only_providers_get_the_discord_url(
    discord_fake: FakeDiscord, evolink: FakeEvoLink, bot: object
) -> None:
    provider = bot.router.providers[0]  # type: ignore[attr-defined]
    provider.poll = type(provider.poll)(first_delay=0.05, factor=1.0, max_interval=0.05)
    att = discord_fake.add_cdn_file("dog.png", png_bytes(256, 256), "image/png")
    inter = await discord_fake.slash("edit", {"image": att, "prompt": "a hat on the dog"})
    await inter.original(predicate=has_image, timeout=30)
    sent = evolink.calls_to("/v1/images/generations")[0].json["image_urls"]
    # the same attachment, re-signed by refresh-urls right before the call
    path = urlsplit(att["url"]).path
    assert [urlsplit(url).path for url in sent] == [path]
    assert [urlsplit(url).path for url in evolink.fetched] == [path]


@pytest.mark.parametrize(
    ("filename", "data", "words"),
    [
        ("notes.png", b"this is text, not a picture", "notes.png"),
        ("empty.png", b"", "empty.png"),
        ("strip.png", png_bytes(1, 1000), "strip.png"),
        ("truncated.png", png_bytes(400, 400)[:300], "truncated.png"),
    ],
)
async def test_bad_attachments_are_refused_privately_with_no_charge(
    discord_fake: FakeDiscord, myrouter: FakeMyRouter, filename: str, data: bytes, words: str
) -> None:
    att = discord_fake.add_cdn_file(filename, data, "image/png")
    inter = await discord_fake.slash("edit", {"image": att, "prompt": "x"})
    followups = await inter.followups(count=1, timeout=15)
    assert followups[0]["flags"] & 64 and words in followups[0]["content"]
    assert myrouter.calls == []
    status = await discord_fake.slash("quota")
    assert "**0 of" in (await status.callback()).json["data"]["content"]


async def test_oversized_attachment_is_refused_before_download(
    discord_fake: FakeDiscord, myrouter: FakeMyRouter
) -> None:
    att = discord_fake.add_cdn_file("huge.png", os.urandom(26 * 1024 * 1024), "image/png")
    mark = discord_fake.mark()
    inter = await discord_fake.slash("edit", {"image": att, "prompt": "x"})
    followups = await inter.followups(count=1, timeout=15)
    assert "huge.png" in followups[0]["content"] and "MiB" in followups[0]["content"]
    assert myrouter.calls == []
    assert not [c for c in discord_fake.calls_since(mark) if c.path.startswith("/cdn/")]


async def test_edit_image_context_menu_uses_the_message_images(
    discord_fake: FakeDiscord, myrouter: FakeMyRouter
) -> None:
    photo = discord_fake.add_cdn_file("photo.png", png_bytes(200, 300), "image/png")
    posted = await discord_fake.user_message("general", "my cat", author="bob", attachments=[photo])
    menu = await discord_fake.message_command("Edit image", posted, user="alice")
    modal = await menu.modal_shown()
    assert modal["title"] == "Edit image"
    submitted = await discord_fake.submit_modal(menu, {"instruction": "give it a crown"})
    await submitted.original(predicate=has_image, timeout=20)
    body = myrouter.calls[-1].json
    assert body["prompt"] == "give it a crown" and len(body["images"]) == 1
    width, height = (int(v) for v in body["size"].split("x"))
    assert abs(width / height - 2 / 3) < 0.02


async def test_edit_image_on_a_message_without_images_is_refused(
    discord_fake: FakeDiscord, myrouter: FakeMyRouter
) -> None:
    posted = await discord_fake.user_message("general", "just words", author="bob")
    menu = await discord_fake.message_command("Edit image", posted, user="alice")
    ack = await menu.callback()
    assert ack.json["data"]["flags"] & 64 and "no images" in ack.json["data"]["content"]
    assert myrouter.calls == []
