"""Reply-to-edit end to end: ``@Bot make it night`` in reply to a message with images.

The bot answers with a status message that replies to the member (pinging nobody) and is then
edited into the result; refusals are short replies that call no provider and charge nothing.

Without the Message Content intent, other members' messages reach the bot without their
attachments (README, "Reply-to-edit"), also as the replied-to message (``referenced_message``)
of a reply that mentions the bot: the fake Discord blanks the replied-to message unless the bot
wrote it, it mentions the bot, or the bot has the intent.
"""

from __future__ import annotations

import asyncio
import base64
import io
import logging
from collections.abc import Callable
from typing import Any

import pytest
from PIL import Image

from bot.client import SeedreamBot
from tests.fakes.fake_discord import FakeDiscord
from tests.fakes.providers.myrouter import FakeMyRouter
from tests.helpers import is_result, png_bytes, quota_of, replies_to, result_for

MESSAGE_CONTENT = 1 << 15


# ------------------------------------------------------------------------------ helpers


async def answer_to(fake: FakeDiscord, message: dict[str, Any]) -> dict[str, Any]:
    """The bot's (single) short answer to ``message``."""
    found = await fake.wait_until(
        lambda: replies_to(fake, message), timeout=10, what="the bot's answer"
    )
    return found[0]  # type: ignore[no-any-return]


def sent_images(body: dict[str, Any]) -> list[Image.Image]:
    return [
        Image.open(io.BytesIO(base64.b64decode(url.partition(",")[2]))) for url in body["images"]
    ]


async def bot_result(fake: FakeDiscord, prompt: str = "a lighthouse", user: str = "bob") -> dict:
    inter = await fake.slash("imagine", {"prompt": prompt}, user=user)
    return await inter.original(predicate=is_result, timeout=20)


# ------------------------------------------------------------------------------ happy paths


async def test_reply_to_the_bots_result_edits_it(
    discord_fake: FakeDiscord, myrouter: FakeMyRouter, bot: SeedreamBot
) -> None:
    result = await bot_result(discord_fake)
    result_bytes = discord_fake.attachment_bytes(result["attachments"][0])
    mark = discord_fake.mark()
    request = await discord_fake.user_message(
        "general", "<@BOT>   make it night ", reply_to=result, mention_author=False
    )
    final = await result_for(discord_fake, request)

    body = myrouter.calls[-1].json
    assert body["prompt"] == "make it night"
    assert len(body["images"]) == 1
    assert base64.b64decode(body["images"][0].partition(",")[2]) == result_bytes
    # one status message, posted as a reply and edited into the result in place
    post_path = f"/channels/{final['channel_id']}/messages"
    posts = [c for c in discord_fake.calls_since(mark) if (c.method, c.path) == ("POST", post_path)]
    assert len(posts) == 1 and posts[0].response_json["id"] == final["id"]
    assert posts[0].json["content"].startswith("⏳ Preparing")
    assert posts[0].json["allowed_mentions"]["parse"] == []
    assert posts[0].json["allowed_mentions"].get("replied_user") is False
    assert replies_to(discord_fake, request) == [final]
    edits = [
        c
        for c in discord_fake.calls_since(mark)
        if c.method == "PATCH" and c.path.endswith(f"/messages/{final['id']}")
    ]
    assert edits and all(c.json["allowed_mentions"] == {"parse": []} for c in edits)
    assert "make it night" in final["content"]
    assert Image.open(io.BytesIO(discord_fake.attachment_bytes(final["attachments"][0])))
    assert discord_fake.pings(final) == set()
    assert "**1 of" in await quota_of(discord_fake, "alice")
    assert "**1 of" in await quota_of(discord_fake, "bob")


async def test_reply_with_its_own_image_to_another_members_photo_without_the_intent(
    discord_fake: FakeDiscord, myrouter: FakeMyRouter, bot: SeedreamBot
) -> None:
    assert not bot.intents.message_content
    photo = discord_fake.add_cdn_file("photo.png", png_bytes(300, 200), "image/png")
    posted = await discord_fake.user_message("general", "my cat", author="bob", attachments=[photo])
    style = discord_fake.add_cdn_file("style.png", png_bytes(200, 300, (0, 0, 200)), "image/png")
    request = await discord_fake.user_message(
        "general", "<@BOT> paint it like this", reply_to=posted, attachments=[style]
    )
    await result_for(discord_fake, request)
    body = myrouter.calls[-1].json
    # Discord hid bob's photo: only the image attached to the reply is used
    assert body["prompt"] == "paint it like this"
    assert [img.size for img in sent_images(body)] == [(200, 300)]
    assert "**1 of" in await quota_of(discord_fake, "alice")


@pytest.mark.settings(seedream_message_content=True)
async def test_with_the_intent_the_replied_members_images_come_first(
    discord_fake: FakeDiscord, myrouter: FakeMyRouter, bot: SeedreamBot
) -> None:
    assert discord_fake.privileged_intents & MESSAGE_CONTENT
    assert bot.intents.message_content and discord_fake.intents & MESSAGE_CONTENT
    photo = discord_fake.add_cdn_file("photo.png", png_bytes(300, 200), "image/png")
    posted = await discord_fake.user_message("general", "my cat", author="bob", attachments=[photo])
    style = discord_fake.add_cdn_file("style.png", png_bytes(200, 300, (0, 0, 200)), "image/png")
    request = await discord_fake.user_message(
        "general", "<@BOT> paint it like this", reply_to=posted, attachments=[style]
    )
    final = await result_for(discord_fake, request)
    body = myrouter.calls[-1].json
    assert body["prompt"] == "paint it like this"
    assert [img.size for img in sent_images(body)] == [(300, 200), (200, 300)]
    assert discord_fake.pings(final) == set()


@pytest.mark.settings(seedream_message_content=True)
async def test_with_the_intent_a_reply_to_a_members_photo_alone_works(
    discord_fake: FakeDiscord, myrouter: FakeMyRouter, bot: SeedreamBot
) -> None:
    photo = discord_fake.add_cdn_file("photo.png", png_bytes(300, 200), "image/png")
    posted = await discord_fake.user_message("general", "my cat", author="bob", attachments=[photo])
    request = await discord_fake.user_message(
        "general", "give it a crown <@BOT>", reply_to=posted, mention_author=False
    )
    await result_for(discord_fake, request)
    body = myrouter.calls[-1].json
    assert body["prompt"] == "give it a crown"
    assert [img.size for img in sent_images(body)] == [(300, 200)]


async def test_images_attached_to_the_mention_without_a_reply(
    discord_fake: FakeDiscord, myrouter: FakeMyRouter, bot: SeedreamBot
) -> None:
    photo = discord_fake.add_cdn_file("me.png", png_bytes(240, 160), "image/png")
    request = await discord_fake.user_message(
        "general", "<@BOT> add sunglasses", attachments=[photo]
    )
    await result_for(discord_fake, request)
    body = myrouter.calls[-1].json
    assert body["prompt"] == "add sunglasses"
    assert [img.size for img in sent_images(body)] == [(240, 160)]


async def test_a_request_logs_no_error(
    discord_fake: FakeDiscord,
    myrouter: FakeMyRouter,
    bot: SeedreamBot,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    photo = discord_fake.add_cdn_file("me.png", png_bytes(240, 160), "image/png")
    request = await discord_fake.user_message(
        "general", "<@BOT> add sunglasses", attachments=[photo]
    )
    await result_for(discord_fake, request)
    errors = [f"{r.name}: {r.getMessage()}" for r in caplog.records if r.levelno >= logging.ERROR]
    assert errors == []


# ------------------------------------------------------------------------------ ignored / refused


WITH_THE_INTENT = pytest.mark.settings(seedream_message_content=True)


@pytest.mark.parametrize(
    "intent", [False, pytest.param(True, marks=WITH_THE_INTENT)], ids=["default", "intent"]
)
async def test_a_reply_ping_without_a_written_mention_is_ignored(
    discord_fake: FakeDiscord, myrouter: FakeMyRouter, bot: SeedreamBot, intent: bool
) -> None:
    assert bot.intents.message_content is intent
    result = await bot_result(discord_fake)
    calls_before = len(myrouter.calls)
    ping = await discord_fake.user_message(
        "general", "make it night", reply_to=result, mention_author=True
    )
    # Discord notifies the bot of that reply (so it even gets the content) ...
    assert discord_fake.bot.id in {u["id"] for u in ping["mentions"]}
    # ... and a later real request is answered: by then the ping was long handled
    later = await discord_fake.user_message("general", "<@BOT> hello")
    await answer_to(discord_fake, later)
    await asyncio.sleep(0.3)
    assert replies_to(discord_fake, ping) == []
    assert len(myrouter.calls) == calls_before
    assert "**0 of" in await quota_of(discord_fake, "alice")


@WITH_THE_INTENT
async def test_with_the_intent_images_without_a_mention_are_left_alone(
    discord_fake: FakeDiscord, myrouter: FakeMyRouter, bot: SeedreamBot
) -> None:
    photo = discord_fake.add_cdn_file("me.png", png_bytes(240, 160), "image/png")
    posted = await discord_fake.user_message(
        "general", "Seedream, make it night", attachments=[photo]
    )
    later = await discord_fake.user_message("general", "<@BOT> hello")
    await answer_to(discord_fake, later)
    await asyncio.sleep(0.3)
    assert replies_to(discord_fake, posted) == []
    assert myrouter.calls == []


async def test_a_refusal_by_the_provider_is_told_in_the_status_message_and_refunded(
    discord_fake: FakeDiscord, myrouter: FakeMyRouter, bot: SeedreamBot
) -> None:
    photo = discord_fake.add_cdn_file("me.png", png_bytes(240, 160), "image/png")
    request = await discord_fake.user_message(
        "general", "<@BOT> something forbidden", attachments=[photo]
    )

    def told() -> list[dict[str, Any]]:
        return [m for m in replies_to(discord_fake, request) if "safety filter" in m["content"]]

    answer = await discord_fake.wait_until(told, timeout=15, what="the failure")
    assert replies_to(discord_fake, request) == answer  # the status message, edited
    assert not answer[0]["attachments"] and not answer[0]["components"]
    assert discord_fake.pings(answer[0]) == set()
    assert len(myrouter.calls) == 1
    assert "**0 of" in await quota_of(discord_fake, "alice")


async def test_a_mention_without_an_instruction_says_what_to_write(
    discord_fake: FakeDiscord, myrouter: FakeMyRouter, bot: SeedreamBot
) -> None:
    result = await bot_result(discord_fake)
    calls_before = len(myrouter.calls)
    request = await discord_fake.user_message("general", " <@BOT> ", reply_to=result)
    answer = await answer_to(discord_fake, request)
    assert "Say what to change" in answer["content"] and "make it night" in answer["content"]
    assert not answer["attachments"] and not answer["components"]
    assert discord_fake.pings(answer) == set()
    await asyncio.sleep(0.3)
    assert len(replies_to(discord_fake, request)) == 1
    assert len(myrouter.calls) == calls_before
    assert "**0 of" in await quota_of(discord_fake, "alice")


async def test_a_mention_without_any_image_is_refused(
    discord_fake: FakeDiscord, myrouter: FakeMyRouter, bot: SeedreamBot
) -> None:
    request = await discord_fake.user_message("general", "<@BOT> make it night")
    answer = await answer_to(discord_fake, request)
    assert "found no images" in answer["content"]
    assert discord_fake.pings(answer) == set()
    # a reply to one of the bot's own messages without images: nothing is hidden there
    again = await discord_fake.user_message("general", "<@BOT> make it night", reply_to=answer)
    second = await answer_to(discord_fake, again)
    assert "found no images" in second["content"] and "cannot see" not in second["content"]
    assert myrouter.calls == []
    assert "**0 of" in await quota_of(discord_fake, "alice")


async def test_hidden_images_of_another_member_are_explained(
    discord_fake: FakeDiscord, myrouter: FakeMyRouter, bot: SeedreamBot
) -> None:
    photo = discord_fake.add_cdn_file("photo.png", png_bytes(300, 200), "image/png")
    posted = await discord_fake.user_message("general", "my cat", author="bob", attachments=[photo])
    mark = discord_fake.mark()
    request = await discord_fake.user_message(
        "general", "<@BOT> make it night", reply_to=posted, mention_author=False
    )
    answer = await answer_to(discord_fake, request)
    text = answer["content"]
    assert "cannot see the images" in text and "Message Content" in text
    assert "Attach the image" in text and "Edit image" in text
    assert discord_fake.pings(answer) == set()
    assert myrouter.calls == []
    assert not [c for c in discord_fake.calls_since(mark) if c.path.startswith("/cdn/")]
    assert "**0 of" in await quota_of(discord_fake, "alice")


# ------------------------------------------------------------------------------ restart


@pytest.mark.settings(seedream_max_concurrent=1)
async def test_a_restart_while_queued_still_delivers_in_the_same_status_message(
    discord_fake: FakeDiscord,
    myrouter: FakeMyRouter,
    bot: SeedreamBot,
    start_bot: Callable[..., Any],
) -> None:
    myrouter.latency = 1.5
    blocker = await discord_fake.slash("imagine", {"prompt": "a slow one"}, user="bob")
    await discord_fake.wait_until(lambda: myrouter.calls, timeout=10, what="the first job")
    photo = discord_fake.add_cdn_file("me.png", png_bytes(240, 160), "image/png")
    request = await discord_fake.user_message(
        "general", "<@BOT> add sunglasses", attachments=[photo]
    )
    queued = await discord_fake.wait_until(
        lambda: [m for m in replies_to(discord_fake, request) if "Queued" in m["content"]],
        timeout=10,
        what="the queued status",
    )
    status_id = queued[0]["id"]

    await bot.close()  # the running job may finish; the queued one waits for the next start
    await blocker.original(predicate=is_result, timeout=5)
    assert len(myrouter.calls) == 1
    myrouter.latency = 0.0
    await start_bot()

    final = await result_for(discord_fake, request)
    assert final["id"] == status_id
    assert replies_to(discord_fake, request) == [final]
    assert [c.json["prompt"] for c in myrouter.calls] == ["a slow one", "add sunglasses"]
    assert [img.size for img in sent_images(myrouter.calls[1].json)] == [(240, 160)]
    assert discord_fake.pings(final) == set()
    assert "**1 of" in await quota_of(discord_fake, "alice")
