"""Attachments refused before any provider call, naming the file and the limit, charging nothing:
a decompression bomb, and more reference images than the model takes."""

from __future__ import annotations

import struct
import zlib
from typing import Any

import pytest

from tests.fakes.fake_discord import FakeDiscord
from tests.fakes.providers.myrouter import FakeMyRouter
from tests.helpers import png_bytes, quota_of, replies_to

pytestmark = pytest.mark.usefixtures("bot")

#: the most pixels the bot decodes (8192 x 8192; Seedream's own limit, 6000 x 6000, is lower)
DECODE_LIMIT = f"{8192 * 8192:,}"


def png_claiming(width: int, height: int) -> bytes:
    """A small, well-formed PNG whose header declares ``width`` x ``height`` pixels.

    Only the IHDR chunk is rewritten (with a correct CRC): a reader that trusts the header before
    decoding refuses it at once, one that decodes first finds the pixel data short.
    """
    data = bytearray(png_bytes(16, 16))
    assert data[12:16] == b"IHDR"
    data[16:24] = struct.pack(">II", width, height)
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(data[12:29])))
    return bytes(data)


async def test_a_decompression_bomb_is_refused_privately_with_no_charge(
    discord_fake: FakeDiscord, myrouter: FakeMyRouter
) -> None:
    bomb = png_claiming(40000, 40000)
    assert len(bomb) < 1024
    att = discord_fake.add_cdn_file("bomb.png", bomb, "image/png")
    assert (att["width"], att["height"]) == (40000, 40000)
    inter = await discord_fake.slash("edit", {"image": att, "prompt": "make it night"})
    followups = await inter.followups(count=1, timeout=15)
    text = followups[0]["content"]
    assert followups[0]["flags"] & 64
    assert "bomb.png" in text and "40000×40000" in text and DECODE_LIMIT in text
    assert myrouter.calls == []
    assert "**0 of" in await quota_of(discord_fake)


async def test_a_decompression_bomb_in_a_reply_is_refused_with_no_charge(
    discord_fake: FakeDiscord, myrouter: FakeMyRouter
) -> None:
    att = discord_fake.add_cdn_file("bomb.png", png_claiming(40000, 40000), "image/png")
    request = await discord_fake.user_message("general", "<@BOT> make it night", attachments=[att])
    answer = await discord_fake.wait_until(
        lambda: [m for m in replies_to(discord_fake, request) if "bomb.png" in m["content"]],
        timeout=15,
        what="the refusal",
    )
    text = answer[0]["content"]
    assert "40000×40000" in text and DECODE_LIMIT in text
    assert not answer[0]["attachments"] and not answer[0]["components"]
    assert discord_fake.pings(answer[0]) == set()
    assert myrouter.calls == []
    assert "**0 of" in await quota_of(discord_fake)


@pytest.mark.settings(seedream_message_content=True)
async def test_too_many_reference_images_are_refused_naming_the_limit(
    discord_fake: FakeDiscord, myrouter: FakeMyRouter
) -> None:
    def images(prefix: str) -> list[dict[str, Any]]:
        return [
            discord_fake.add_cdn_file(f"{prefix}{n}.png", png_bytes(64, 64), "image/png")
            for n in range(8)
        ]

    posted = await discord_fake.user_message(
        "general", "my album", author="bob", attachments=images("bob")
    )
    mark = discord_fake.mark()
    request = await discord_fake.user_message(
        "general", "<@BOT> make them all night", reply_to=posted, attachments=images("mine")
    )
    answer = await discord_fake.wait_until(
        lambda: [m for m in replies_to(discord_fake, request) if "too many" in m["content"]],
        timeout=15,
        what="the refusal",
    )
    text = answer[0]["content"]
    # seedream-4.0 takes at most 10 reference images on MyRouter
    assert "16 reference images" in text and "limit is 10" in text
    assert discord_fake.pings(answer[0]) == set()
    assert myrouter.calls == []
    # refused by counting, before downloading anything
    assert not [c for c in discord_fake.calls_since(mark) if c.path.startswith("/cdn/")]
    assert "**0 of" in await quota_of(discord_fake)


@pytest.mark.settings(seedream_message_content=True)
async def test_exactly_the_reference_limit_is_accepted(
    discord_fake: FakeDiscord, myrouter: FakeMyRouter
) -> None:
    def images(prefix: str) -> list[dict[str, Any]]:
        return [
            discord_fake.add_cdn_file(f"{prefix}{n}.png", png_bytes(64, 64), "image/png")
            for n in range(5)
        ]

    posted = await discord_fake.user_message(
        "general", "my album", author="bob", attachments=images("bob")
    )
    request = await discord_fake.user_message(
        "general", "<@BOT> make them all night", reply_to=posted, attachments=images("mine")
    )
    await discord_fake.wait_until(
        lambda: [m for m in replies_to(discord_fake, request) if m["components"]],
        timeout=20,
        what="the result",
    )
    assert len(myrouter.calls[-1].json["images"]) == 10
    assert "**1 of" in await quota_of(discord_fake)
