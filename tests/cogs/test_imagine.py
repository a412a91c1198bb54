"""``/imagine`` end to end: real discord.py over HTTP/websocket to the fake Discord, and the
MyRouter fake serving real images."""

from __future__ import annotations

import io
import logging
import re
import time

import pytest
from PIL import Image

from bot.client import SeedreamBot
from bot.providers.base import PollPolicy
from bot.providers.evolink import EvoLink
from tests.fakes.fake_discord import FakeDiscord
from tests.fakes.providers.common import Scripted
from tests.fakes.providers.evolink import FakeEvoLink
from tests.fakes.providers.myrouter import FakeMyRouter

pytestmark = pytest.mark.usefixtures("bot")


def image_of(fake: FakeDiscord, message: dict) -> Image.Image:
    attachment = message["attachments"][0]
    return Image.open(io.BytesIO(fake.attachment_bytes(attachment)))


async def test_imagine_posts_a_real_image(
    discord_fake: FakeDiscord, myrouter: FakeMyRouter
) -> None:
    started = time.monotonic()
    inter = await discord_fake.slash(
        "imagine", {"prompt": "a red fox, watercolor", "aspect": "16:9"}
    )
    ack = await inter.callback()
    assert ack.json == {"type": 5}
    assert ack.at - started < 1.0
    message = await inter.original(predicate=lambda m: bool(m.get("attachments")), timeout=15)
    image = image_of(discord_fake, message)
    assert image.size == (2560, 1440) and image.format == "JPEG"
    caption = message["content"]
    assert "a red fox, watercolor" in caption
    assert "seedream-4.0" in caption and "2560×1440" in caption and " s" in caption
    assert discord_fake.pings(message) == set()
    assert len(myrouter.calls) == 1
    assert myrouter.calls[0].json["size"] == "2560x1440"


async def test_progress_is_shown_before_the_result(discord_fake: FakeDiscord) -> None:
    mark = discord_fake.mark()
    inter = await discord_fake.slash("imagine", {"prompt": "a lighthouse"})
    await inter.original(predicate=lambda m: bool(m.get("attachments")), timeout=15)
    edits = [
        call
        for call in discord_fake.calls_since(mark)
        if call.method == "PATCH" and call.path.startswith("/webhooks/")
    ]
    assert edits[0].json["content"] == "⏳ Starting…"
    assert any("Generating 1 image" in edit.json["content"] for edit in edits[1:-1])
    assert edits[-1].files and edits[-1].files[0].filename.endswith(".jpg")
    for call in edits:
        assert call.json["allowed_mentions"] == {"parse": []}


async def test_mentions_in_the_prompt_ping_nobody(discord_fake: FakeDiscord) -> None:
    alice = discord_fake.user("alice")
    moderator = discord_fake.role("Moderator")
    prompt = f"@everyone @here <@{alice['id']}> <@&{moderator['id']}> **bold** a cat"
    inter = await discord_fake.slash("imagine", {"prompt": prompt}, user="bob")
    message = await inter.original(predicate=lambda m: bool(m.get("attachments")), timeout=15)
    assert discord_fake.pings(message) == set()
    assert "\\*\\*bold\\*\\*" in message["content"]
    for call in discord_fake.calls:
        if call.json and isinstance(call.json, dict) and "content" in call.json:
            assert call.json.get("allowed_mentions") == {"parse": []}, call.path


async def test_refusal_is_ephemeral_fast_and_calls_no_provider(
    discord_fake: FakeDiscord, myrouter: FakeMyRouter
) -> None:
    inter = await discord_fake.slash(
        "imagine", {"prompt": "x", "model": "seedream-4.5", "resolution": "1K"}
    )
    ack = await inter.callback()
    assert ack.json["type"] == 4
    assert ack.json["data"]["flags"] & 64
    assert "seedream-4.5 does not offer 1K" in ack.json["data"]["content"]
    assert myrouter.calls == []


async def test_unknown_model_is_refused(discord_fake: FakeDiscord, myrouter: FakeMyRouter) -> None:
    inter = await discord_fake.slash("imagine", {"prompt": "x", "model": "dall-e"})
    ack = await inter.callback()
    assert ack.json["data"]["flags"] & 64
    assert "unknown model 'dall-e'" in ack.json["data"]["content"].lower()
    assert myrouter.calls == []


async def test_model_autocomplete(discord_fake: FakeDiscord) -> None:
    choices = await discord_fake.autocomplete(
        "imagine", {"prompt": "x", "model": "4.5"}, focused="model"
    )
    assert [c["value"] for c in choices] == ["seedream-4.5"]
    choices = await discord_fake.autocomplete(
        "imagine", {"prompt": "x", "model": ""}, focused="model"
    )
    assert [c["value"] for c in choices] == ["seedream-4.0", "seedream-4.5"]


async def test_moderation_rejection_is_explained_privately(
    discord_fake: FakeDiscord, bot: SeedreamBot
) -> None:
    inter = await discord_fake.slash("imagine", {"prompt": "something forbidden"})
    followups = await inter.followups(count=1, timeout=15)
    assert followups[0]["flags"] & 64
    assert "safety filter" in followups[0]["content"]
    await discord_fake.wait_for_call("DELETE", re.compile(r"^/webhooks/\d+/[^/]+/messages/\d+$"))
    row = await bot.db.fetchone("SELECT state, error_kind FROM jobs")
    assert row is not None and tuple(row) == ("failed", "moderation")


async def test_provider_outage_after_retries_is_explained(
    discord_fake: FakeDiscord, myrouter: FakeMyRouter, bot: SeedreamBot
) -> None:
    bot.router.backoff = 0.01
    myrouter.fail_next("/v3/", Scripted(503, {"code": 503, "message": "overloaded"}), times=3)
    inter = await discord_fake.slash("imagine", {"prompt": "a boat"})
    followups = await inter.followups(count=1, timeout=15)
    assert "failed to answer" in followups[0]["content"]
    assert len(myrouter.calls) == 3


async def test_unexpected_failure_gives_reference_and_logs_job(
    discord_fake: FakeDiscord, caplog: pytest.LogCaptureFixture
) -> None:
    # Discord refuses the final upload (Missing Permissions): not an error the bot expects.
    discord_fake.inject(
        "PATCH",
        r"/webhooks/\d+/[^/]+/messages/\d+",
        403,
        {"message": "Missing Permissions", "code": 50013},
        times=1,
        predicate=lambda call: bool(call.files),
    )
    caplog.set_level(logging.INFO)
    inter = await discord_fake.slash("imagine", {"prompt": "a tree"})
    followups = await inter.followups(count=1, timeout=15)
    text = followups[0]["content"]
    assert "Something went wrong on the bot's side" in text and followups[0]["flags"] & 64
    job_id = text.split("`")[1]
    assert any(
        getattr(record, "job", None) == job_id and record.levelno == logging.ERROR
        for record in caplog.records
    )


async def test_image_is_fitted_to_the_upload_limit(discord_fake: FakeDiscord) -> None:
    inter = await discord_fake.slash(
        "imagine", {"prompt": "a detailed city", "resolution": "4K"}, attachment_size_limit=300_000
    )
    message = await inter.original(predicate=lambda m: bool(m.get("attachments")), timeout=30)
    attachment = message["attachments"][0]
    assert attachment["size"] <= 300_000
    assert "to fit Discord's upload limit" in message["content"]


async def test_survives_a_gateway_drop(discord_fake: FakeDiscord) -> None:
    await discord_fake.drop(4000)
    await discord_fake.wait_until(lambda: discord_fake.resume_count == 1, timeout=10)
    assert discord_fake.identify_count == 1
    inter = await discord_fake.slash("imagine", {"prompt": "after the storm"})
    message = await inter.original(predicate=lambda m: bool(m.get("attachments")), timeout=15)
    assert image_of(discord_fake, message).size == (2048, 2048)


async def test_commands_synced_once_per_tree(
    discord_fake: FakeDiscord, bot: SeedreamBot, start_bot
) -> None:
    syncs = [c for c in discord_fake.calls if c.method == "PUT" and c.path.endswith("/commands")]
    assert len(syncs) == 1
    imagine = next(c for c in syncs[0].json if c["name"] == "imagine")
    assert [o["name"] for o in imagine["options"]] == [
        "prompt",
        "aspect",
        "resolution",
        "model",
        "count",
        "seed",
        "image1",
        "image2",
        "image3",
        "image4",
    ]
    await bot.close()
    await start_bot()
    syncs = [c for c in discord_fake.calls if c.method == "PUT" and c.path.endswith("/commands")]
    assert len(syncs) == 1, "an unchanged command tree must not be synced again"


@pytest.mark.settings(seedream_providers="evolink")
async def test_provider_progress_is_shown_while_running(
    discord_fake: FakeDiscord, evolink: FakeEvoLink, bot: SeedreamBot
) -> None:
    provider = bot.router.providers[0]
    assert isinstance(provider, EvoLink)
    # One poll a second: the task (4 progress steps) outlasts the 3 s between progress edits.
    provider.poll = PollPolicy(first_delay=1.0, factor=1.0, max_interval=1.0, deadline=30)
    inter = await discord_fake.slash("imagine", {"prompt": "a tower"})
    await inter.original(predicate=lambda m: bool(m.get("attachments")), timeout=30)
    contents = [
        call.json["content"]
        for call in discord_fake.calls
        if call.method == "PATCH" and call.path.startswith("/webhooks/") and call.json
    ]
    assert any(re.search(r"Generating 1 image .* \d+%", text) for text in contents), contents
