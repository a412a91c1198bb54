"""Discord faults end to end: the real bot and discord.py against the fake Discord, with the
MyRouter fake generating real images.

Each case checks the same four things as the provider faults: the member is told (or gets the
image), ``/quota`` is right (no double charge, a refund when nothing was delivered), the job row
is final, and the bot serves the next ``/imagine``. Discord's 429s carry ``Via`` (the fake adds
it to every reply): without it discord.py would take the 429 for a Cloudflare ban and give up.
"""

from __future__ import annotations

import asyncio
import itertools
import re
from typing import Any

import discord
import pytest

from bot.client import SeedreamBot
from bot.errors import ErrorKind
from tests.fakes.fake_discord import Call, FakeDiscord, Interaction
from tests.fakes.providers.common import Scripted
from tests.fakes.providers.myrouter import FakeMyRouter
from tests.faults.common import (
    assert_quota,
    bot_images,
    delivered,
    final_job,
    imagine,
    told,
)

#: the interaction webhook's message edits (``@original`` resolved to its id by the bot)
WEBHOOK_EDIT = r"/webhooks/\d+/[^/]+/messages/\d+"
CHANNEL_POST_PATH = r"/channels/\d+/messages"
CHANNEL_POST = re.compile(CHANNEL_POST_PATH)


def uploads(call: Call) -> bool:
    return bool(call.files)


def upload_calls(fake: FakeDiscord, since: int = 0) -> list[Call]:
    """The webhook edits that carried a file (the result), in order."""
    return fake.find_calls("PATCH", re.compile(WEBHOOK_EDIT), since=since, predicate=uploads)


async def serves_the_next_request(fake: FakeDiscord, bot: SeedreamBot, used: int) -> None:
    """A fresh ``/imagine`` is delivered and charged once, on top of ``used``."""
    inter = await imagine(fake, "after the fault: a quiet harbour")
    await delivered(inter)
    row = await final_job(bot, inter)
    assert (row["state"], row["delivered"]) == ("done", 1)
    await assert_quota(fake, used + 1)


class QuickSleeps:
    """``asyncio`` for discord.py's webhook module, with its 5xx back-off (1, 3, 5, 7 s)
    shortened: the retries still happen, in the same order, only faster."""

    def __init__(self, real: Any) -> None:
        self._real = real

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)

    async def sleep(self, delay: float, result: Any = None) -> Any:
        return await self._real.sleep(min(delay, 0.02), result)


# --- 429 ------------------------------------------------------------------------------------


async def test_rate_limited_result_upload_is_waited_out_and_delivered_once(
    discord_fake: FakeDiscord, bot: SeedreamBot
) -> None:
    retry_after = 0.4
    discord_fake.inject(
        "PATCH",
        WEBHOOK_EDIT,
        429,
        {"message": "You are being rate limited.", "retry_after": retry_after, "global": False},
        headers={"Retry-After": "1", "X-RateLimit-Scope": "user"},
        times=2,
        predicate=uploads,
    )
    inter = await imagine(discord_fake, "a fox in the snow")
    await delivered(inter)
    tries = upload_calls(discord_fake)
    assert [c.status for c in tries] == [429, 429, 200]
    for before, after in itertools.pairwise(tries):
        assert after.at - before.at >= retry_after * 0.9, "discord.py did not wait retry_after"
    row = await final_job(bot, inter)
    assert (row["state"], row["delivered"]) == ("done", 1)
    assert len(bot_images(discord_fake)) == 1
    await assert_quota(discord_fake, 1)
    await serves_the_next_request(discord_fake, bot, used=1)


async def test_rate_limited_channel_post_after_the_token_expired_is_waited_out(
    discord_fake: FakeDiscord, myrouter: FakeMyRouter, bot: SeedreamBot
) -> None:
    """The bot-token route (``POST /channels/{id}/messages``) goes through discord.py's other
    HTTP client, with its own 429 handling: the fallback reply must survive it too."""
    myrouter.latency = 0.5
    discord_fake.inject(
        "POST",
        CHANNEL_POST_PATH,
        429,
        {"message": "You are being rate limited.", "retry_after": 0.3, "global": False},
        headers={"X-RateLimit-Scope": "user"},
        times=1,
        predicate=uploads,
    )
    inter = await imagine(discord_fake, "a slow painting")
    await discord_fake.wait_until(lambda: len(myrouter.calls) == 1, timeout=5)
    discord_fake.clock.advance(16 * 60)  # the interaction token is now dead (50027)
    posts = await discord_fake.wait_until(
        lambda: [
            c
            for c in discord_fake.find_calls("POST", CHANNEL_POST, predicate=uploads)
            if c.status == 200
        ],
        timeout=15,
        what="the result posted in the channel",
    )
    tries = discord_fake.find_calls("POST", CHANNEL_POST, predicate=uploads)
    assert [c.status for c in tries] == [429, 200]
    assert tries[1].at - tries[0].at >= 0.27
    assert len(posts) == 1
    row = await final_job(bot, inter)
    assert (row["state"], row["delivered"]) == ("done", 1)
    await assert_quota(discord_fake, 1)
    await serves_the_next_request(discord_fake, bot, used=1)


# --- 5xx ------------------------------------------------------------------------------------


async def test_server_error_on_the_result_edit_is_retried_and_delivered_once(
    discord_fake: FakeDiscord, bot: SeedreamBot
) -> None:
    discord_fake.inject("PATCH", WEBHOOK_EDIT, 500, times=1, predicate=uploads)
    inter = await imagine(discord_fake, "a red barn")
    await delivered(inter)
    assert [c.status for c in upload_calls(discord_fake)] == [500, 200]
    row = await final_job(bot, inter)
    assert (row["state"], row["delivered"]) == ("done", 1)
    assert len(bot_images(discord_fake)) == 1
    await assert_quota(discord_fake, 1)  # no double charge
    await serves_the_next_request(discord_fake, bot, used=1)


async def test_server_errors_on_the_result_edit_post_the_result_in_the_channel(
    discord_fake: FakeDiscord, bot: SeedreamBot, monkeypatch: pytest.MonkeyPatch
) -> None:
    """discord.py tries a webhook request 5 times on 5xx, then raises DiscordServerError. The
    image is paid for: it goes to the channel as a reply pinging the requester (as after an
    expired token) instead of being thrown away."""
    monkeypatch.setattr(discord.webhook.async_, "asyncio", QuickSleeps(asyncio))
    discord_fake.inject("PATCH", WEBHOOK_EDIT, 503, times=5, predicate=uploads)
    inter = await imagine(discord_fake, "a red barn")
    await discord_fake.wait_until(lambda: bot_images(discord_fake), timeout=15, what="a post")
    row = await final_job(bot, inter)
    assert (row["state"], row["delivered"]) == ("done", 1)
    assert [c.status for c in upload_calls(discord_fake)] == [503] * 5
    posted = bot_images(discord_fake)
    assert len(posted) == 1 and posted[0]["id"] != inter.original_id
    assert discord_fake.pings(posted[0]) == {discord_fake.user("alice").id}
    assert str(row["message_id"]) == posted[0]["id"]
    await assert_quota(discord_fake, 1)
    await serves_the_next_request(discord_fake, bot, used=1)


async def test_server_errors_on_a_progress_edit_do_not_fail_a_paid_job(
    discord_fake: FakeDiscord,
    myrouter: FakeMyRouter,
    bot: SeedreamBot,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The "⬆️ Uploading" status edit comes after the provider was paid. If Discord fails it
    (a 5xx storm outlasting discord.py's 5 tries), that cosmetic edit must not throw the paid
    image away: the result edit still goes out. (The runner's own rule, ``_quietly``: "Discord
    being down must not fail a paid job".)

    In production the edit interval is 3 s, so the Uploading edit is sent at once whenever the
    generation took 3 s or more (nearly always); the interval is 0 here only to skip the wait.
    """
    monkeypatch.setattr("bot.ui.delivery.EDIT_INTERVAL", 0.0)
    monkeypatch.setattr(discord.webhook.async_, "asyncio", QuickSleeps(asyncio))
    discord_fake.inject(
        "PATCH",
        WEBHOOK_EDIT,
        503,
        times=5,
        predicate=lambda call: str((call.json or {}).get("content", "")).startswith("⬆️"),
    )
    inter = await imagine(discord_fake, "a red barn")
    await discord_fake.wait_until(
        lambda: inter.followup_ids or has_result(discord_fake, inter),
        timeout=15,
        what="a result or a notice",
    )
    failed_edits = [
        c for c in discord_fake.find_calls("PATCH", re.compile(WEBHOOK_EDIT)) if c.status == 503
    ]
    assert len(failed_edits) == 5, "the fault did not hit the Uploading edit"
    assert len(myrouter.calls) == 1  # the provider was paid
    row = await final_job(bot, inter)
    assert (row["state"], row["delivered"]) == ("done", 1), (
        f"a failed progress edit failed the paid job: {row['state']} {row['error_kind']} "
        f"{row['error_message']}"
    )
    await delivered(inter)
    await assert_quota(discord_fake, 1)
    await serves_the_next_request(discord_fake, bot, used=1)


def has_result(fake: FakeDiscord, inter: Interaction) -> bool:
    original = fake.messages.get(inter.original_id or "")
    return bool(original and original.get("attachments"))


# --- 413 ------------------------------------------------------------------------------------


async def test_upload_refused_as_too_large_is_fitted_again(
    discord_fake: FakeDiscord, bot: SeedreamBot
) -> None:
    """413/40005 on the result upload (the announced limit was wrong): the bot fits the image
    again, half as big, and delivers it; the caption says it was re-encoded."""
    discord_fake.inject(
        "PATCH",
        WEBHOOK_EDIT,
        413,
        {"message": "Request entity too large", "code": 40005},
        times=1,
        predicate=uploads,
    )
    inter = await imagine(discord_fake, "a detailed city")
    message = await delivered(inter)
    row = await final_job(bot, inter)
    refused, retried = upload_calls(discord_fake)
    assert (refused.status, retried.status) == (413, 200)
    assert len(retried.files[0].data) <= len(refused.files[0].data) // 2, "not fitted again"
    assert "Re-encoded to fit" in message["content"] or "Downscaled" in message["content"]
    assert (row["state"], row["delivered"]) == ("done", 1)
    await assert_quota(discord_fake, 1)
    await serves_the_next_request(discord_fake, bot, used=1)


# --- interaction token expired (50027) ------------------------------------------------------


async def test_expired_token_result_is_a_reply_to_the_requester_in_the_channel(
    discord_fake: FakeDiscord, myrouter: FakeMyRouter, bot: SeedreamBot
) -> None:
    myrouter.latency = 0.5
    alice = discord_fake.user("alice")
    inter = await imagine(discord_fake, "a slow painting")
    await discord_fake.wait_until(lambda: len(myrouter.calls) == 1, timeout=5)
    mark = discord_fake.mark()
    discord_fake.clock.advance(16 * 60)  # every webhook call now answers 401/50027
    post = await discord_fake.wait_for_call(
        "POST", CHANNEL_POST, since=mark, predicate=uploads, timeout=15
    )
    refused = [c for c in discord_fake.calls_since(mark) if c.status == 401]
    assert refused and all(c.response_json["code"] == 50027 for c in refused)
    message = discord_fake.messages[str(post.response_json["id"])]
    assert int(message["message_reference"]["message_id"]) == int(inter.original_id or 0)
    assert discord_fake.pings(message) == {str(alice.id)}
    row = await final_job(bot, inter)
    assert (row["state"], row["delivered"]) == ("done", 1)
    assert row["message_id"] == int(message["id"])
    assert len(bot_images(discord_fake)) == 1, "delivered more than once"
    await assert_quota(discord_fake, 1)
    await serves_the_next_request(discord_fake, bot, used=1)


async def test_expired_token_failure_is_told_in_a_reply_and_refunded(
    discord_fake: FakeDiscord, myrouter: FakeMyRouter, bot: SeedreamBot
) -> None:
    bot.router.backoff = 0.01
    down = {"code": 503, "reason": "SERVICE_UNAVAILABLE", "message": "down"}
    myrouter.fail_next("/v3/", Scripted(503, down, delay=0.4))  # in flight while time passes
    myrouter.fail_next("/v3/", Scripted(503, down), times=2)
    alice = discord_fake.user("alice")
    inter = await imagine(discord_fake, "a slow painting")
    await discord_fake.wait_until(lambda: len(myrouter.calls) == 1, timeout=5)
    mark = discord_fake.mark()
    discord_fake.clock.advance(16 * 60)
    post = await discord_fake.wait_for_call("POST", CHANNEL_POST, since=mark, timeout=15)
    message = discord_fake.messages[str(post.response_json["id"])]
    alice_ping = f"<@{alice.id}> "
    assert message["content"] == alice_ping + told(ErrorKind.TRANSIENT), message["content"]
    assert int(message["message_reference"]["message_id"]) == int(inter.original_id or 0)
    assert discord_fake.pings(message) == {str(alice.id)}
    row = await final_job(bot, inter)
    assert (row["state"], row["delivered"], row["error_kind"]) == ("failed", 0, "transient")
    await assert_quota(discord_fake, 0)
    await serves_the_next_request(discord_fake, bot, used=0)


# --- unknown interaction (10062) ------------------------------------------------------------


async def test_unknown_interaction_on_the_first_response_abandons_and_refunds(
    discord_fake: FakeDiscord, myrouter: FakeMyRouter, bot: SeedreamBot
) -> None:
    """The 3-second window was missed (here: it is made 0 s): Discord answers the deferral with
    10062, so the member cannot be told anything. The job must end, refunded, unpaid."""
    discord_fake.ack_deadline = 0.0
    mark = discord_fake.mark()
    inter = await imagine(discord_fake, "a fox")
    row = await final_job(bot, inter)
    assert (row["state"], row["error_kind"], row["delivered"]) == ("cancelled", "abandoned", 0)
    callbacks = discord_fake.find_calls("POST", "/callback", since=mark)
    assert callbacks and all(c.response_json["code"] == 10062 for c in callbacks)
    assert not inter.acked
    assert myrouter.calls == [], "the provider was paid for a job nobody can receive"
    assert [
        m
        for m in discord_fake.channel_messages("general")
        if m["author"]["id"] == discord_fake.bot.id
    ] == []
    discord_fake.ack_deadline = 3.0
    await assert_quota(discord_fake, 0)
    await serves_the_next_request(discord_fake, bot, used=0)


# --- gateway --------------------------------------------------------------------------------


async def test_gateway_drop_and_resume_with_a_job_in_flight_delivers_once(
    discord_fake: FakeDiscord, myrouter: FakeMyRouter, bot: SeedreamBot
) -> None:
    myrouter.latency = 0.6
    inter = await imagine(discord_fake, "a lighthouse")
    await discord_fake.wait_until(lambda: len(myrouter.calls) == 1, timeout=5)
    await discord_fake.drop(4000)
    # Sent while the socket is down: Discord buffers it and replays it on RESUME.
    during = await imagine(discord_fake, "a second lighthouse", user="bob")
    await discord_fake.wait_until(lambda: discord_fake.resume_count == 1, timeout=10)
    assert discord_fake.identify_count == 1
    await delivered(inter)
    await delivered(during)
    for each in (inter, during):
        row = await final_job(bot, each)
        assert (row["state"], row["delivered"]) == ("done", 1)
    assert len(bot_images(discord_fake)) == 2, "a job was delivered twice (or not at all)"
    assert len(myrouter.calls) == 2, "a replayed event started a second job"
    assert len(discord_fake.find_calls("POST", "/callback")) == 2
    await assert_quota(discord_fake, 1, user="alice")
    await assert_quota(discord_fake, 1, user="bob")
    await serves_the_next_request(discord_fake, bot, used=1)


async def test_invalid_session_reidentifies_and_keeps_serving(
    discord_fake: FakeDiscord,
    myrouter: FakeMyRouter,
    bot: SeedreamBot,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async def no_identify_pause(shard_id: int | None, *, initial: bool = False) -> None:
        """discord.py waits 5 s before every IDENTIFY but the first; the bot keeps that
        default. Shortened here only to keep the suite fast: the re-IDENTIFY still happens."""
        await asyncio.sleep(0.05)

    monkeypatch.setattr(bot, "before_identify_hook", no_identify_pause)
    myrouter.latency = 0.6
    inter = await imagine(discord_fake, "a lighthouse")
    await discord_fake.wait_until(lambda: len(myrouter.calls) == 1, timeout=5)
    await discord_fake.invalidate(resumable=False)
    await discord_fake.wait_until(lambda: discord_fake.identify_count == 2, timeout=10)
    await discord_fake.wait_until_connected()
    assert discord_fake.resume_count == 0
    await delivered(inter)
    row = await final_job(bot, inter)
    assert (row["state"], row["delivered"]) == ("done", 1)
    assert len(bot_images(discord_fake)) == 1
    await assert_quota(discord_fake, 1)
    await serves_the_next_request(discord_fake, bot, used=1)
    assert bot.is_ready() and not bot.is_closed()
