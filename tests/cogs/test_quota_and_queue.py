"""Quotas, the queue and /jobs end to end: the real bot, the fake Discord, the MyRouter fake."""

from __future__ import annotations

import asyncio
import re
import time

import pytest

from bot.client import SeedreamBot
from tests.fakes.fake_discord import FakeDiscord, InvalidAction
from tests.fakes.providers.myrouter import FakeMyRouter
from tests.helpers import has_image, quota_of

pytestmark = pytest.mark.usefixtures("bot")


@pytest.mark.settings(seedream_default_quota=1)
async def test_over_quota_is_refused_fast_with_reset_time(
    discord_fake: FakeDiscord, myrouter: FakeMyRouter
) -> None:
    first = await discord_fake.slash("imagine", {"prompt": "one fox"})
    await first.original(predicate=has_image, timeout=15)
    started = time.monotonic()
    second = await discord_fake.slash("imagine", {"prompt": "another fox"})
    ack = await second.callback()
    assert ack.at - started < 3.0
    assert ack.json["type"] == 4 and ack.json["data"]["flags"] & 64
    text = ack.json["data"]["content"]
    assert re.search(r"<t:\d+:R>", text), text
    assert "1 image" in text or "0 images" in text or "allowance" in text
    assert len(myrouter.calls) == 1


@pytest.mark.settings(seedream_default_quota=3, seedream_max_per_user=10)
async def test_ten_simultaneous_requests_with_an_allowance_of_three(
    discord_fake: FakeDiscord, myrouter: FakeMyRouter
) -> None:
    myrouter.latency = 0.3
    interactions = await asyncio.gather(
        *(discord_fake.slash("imagine", {"prompt": f"fox {n}"}) for n in range(10))
    )
    acks = [await inter.callback() for inter in interactions]
    accepted = [
        inter for inter, ack in zip(interactions, acks, strict=True) if ack.json["type"] == 5
    ]
    refused = [ack for ack in acks if ack.json["type"] == 4]
    assert len(accepted) == 3 and len(refused) == 7
    for inter in accepted:
        await inter.original(predicate=has_image, timeout=20)
    assert len(myrouter.calls) == 3
    assert "**3 of 3**" in await quota_of(discord_fake, "alice")


@pytest.mark.settings(seedream_default_quota=1)
async def test_moderation_rejection_leaves_the_quota_untouched(
    discord_fake: FakeDiscord, myrouter: FakeMyRouter
) -> None:
    rejected = await discord_fake.slash("imagine", {"prompt": "something forbidden"})
    followups = await rejected.followups(count=1, timeout=15)
    assert "safety filter" in followups[0]["content"]
    assert "**0 of 1**" in await quota_of(discord_fake, "alice")
    again = await discord_fake.slash("imagine", {"prompt": "a calm lake"})
    await again.original(predicate=has_image, timeout=15)
    assert "**1 of 1**" in await quota_of(discord_fake, "alice")


async def admin(fake: FakeDiscord, command: str, options: dict) -> str:
    inter = await fake.slash(f"seedream quota {command}", options, user="mod")
    ack = await inter.callback()
    assert ack.json["data"]["flags"] & 64, ack.json
    return str(ack.json["data"]["content"])


async def test_role_and_member_overrides_and_grants(discord_fake: FakeDiscord) -> None:
    artist = discord_fake.role("Artist")
    alice = discord_fake.user("alice")
    assert "1 images per day" in await admin(
        discord_fake, "default", {"images": 1, "period": "day"}
    )
    await admin(discord_fake, "role", {"role": artist.id, "images": 3})
    assert "of 3**" in await quota_of(discord_fake, "bob")  # bob has the Artist role
    assert "of 1**" in await quota_of(discord_fake, "alice")
    await admin(discord_fake, "user", {"user": alice.id, "images": 2})
    assert "of 2**" in await quota_of(discord_fake, "alice")
    assert "now has 4 bonus" in await admin(discord_fake, "grant", {"user": alice.id, "images": 4})
    assert "Bonus credits: **4**" in await quota_of(discord_fake, "alice")
    await admin(discord_fake, "role", {"role": artist.id, "images": -1})
    assert "Unlimited" in await quota_of(discord_fake, "bob")
    await admin(discord_fake, "user", {"user": alice.id})  # no images: remove the override
    assert "of 1**" in await quota_of(discord_fake, "alice")


async def test_admin_commands_are_refused_to_members(discord_fake: FakeDiscord) -> None:
    with pytest.raises(InvalidAction, match="lacks permissions"):
        await discord_fake.slash("seedream quota default", {"images": 99, "period": "day"})


@pytest.mark.settings(seedream_max_concurrent=1)
async def test_queue_position_is_shown_and_moves(
    discord_fake: FakeDiscord, myrouter: FakeMyRouter
) -> None:
    myrouter.latency = 1.0
    first = await discord_fake.slash("imagine", {"prompt": "first"}, user="alice")
    await discord_fake.wait_until(lambda: len(myrouter.calls) == 1, timeout=5)
    second = await discord_fake.slash("imagine", {"prompt": "second"}, user="bob")
    queued = await second.original(predicate=lambda m: "Queued" in m["content"], timeout=5)
    assert "position 1" in queued["content"]
    assert "queue position 1" in await quota_of(discord_fake, "bob")
    await first.original(predicate=has_image, timeout=15)
    await second.original(predicate=has_image, timeout=15)
    assert len(myrouter.calls) == 2


@pytest.mark.settings(seedream_max_concurrent=1, seedream_default_quota=2)
async def test_jobs_lists_and_cancels_a_queued_job_with_a_refund(
    discord_fake: FakeDiscord, myrouter: FakeMyRouter, bot: SeedreamBot
) -> None:
    myrouter.latency = 1.5
    first = await discord_fake.slash("imagine", {"prompt": "first"}, user="alice")
    await discord_fake.wait_until(lambda: len(myrouter.calls) == 1, timeout=5)
    second = await discord_fake.slash("imagine", {"prompt": "waiting one"}, user="alice")
    await second.original(predicate=lambda m: "Queued" in m["content"], timeout=5)
    assert "**2 of 2**" in await quota_of(discord_fake, "alice")
    listing = await discord_fake.slash("jobs", user="alice")
    shown = await listing.original()
    assert "waiting one" in shown["content"] and "queued" in shown["content"]
    buttons = [c["custom_id"] for row in shown["components"] for c in row["components"]]
    assert len(buttons) == 1
    job_id = buttons[0].split(":")[-1]
    intruder = await discord_fake.click(shown, f"seedream:cancel:{job_id}", user="bob")
    assert "Only the member" in (await intruder.callback()).json["data"]["content"]
    press = await discord_fake.click(shown, f"seedream:cancel:{job_id}", user="alice")
    assert "cancelled" in (await press.callback()).json["data"]["content"]
    await second.original(predicate=lambda m: "Cancelled" in m["content"], timeout=5)
    assert "**1 of 2**" in await quota_of(discord_fake, "alice")
    await first.original(predicate=has_image, timeout=15)
    await asyncio.sleep(0.3)
    assert len(myrouter.calls) == 1
    row = await bot.db.fetchone("SELECT state FROM jobs WHERE id = ?", (job_id,))
    assert row is not None and row["state"] == "cancelled"


async def test_result_after_the_token_expired_is_a_reply_that_pings_only_the_requester(
    discord_fake: FakeDiscord, myrouter: FakeMyRouter
) -> None:
    myrouter.latency = 1.0
    alice = discord_fake.user("alice")
    inter = await discord_fake.slash("imagine", {"prompt": "@everyone a slow painting"})
    await discord_fake.wait_until(lambda: len(myrouter.calls) == 1, timeout=5)
    discord_fake.clock.advance(16 * 60)  # the interaction token is now dead (50027)
    reply = await discord_fake.wait_for_call(
        "POST",
        re.compile(r"^/channels/\d+/messages$"),
        predicate=lambda c: bool(c.files),
        timeout=15,
    )
    assert int(reply.json["message_reference"]["message_id"]) == int(inter.original_id)
    message = discord_fake.messages[str(reply.response_json["id"])]
    assert discord_fake.pings(message) == {str(alice.id)}
