"""Moderated group use end to end: ``/seedream`` settings, and the one policy check that every
path starting a generation passes (slash commands, reply-to-edit, result buttons, the "Edit
image" menu) before any charge or provider call. The real bot, the fake Discord, MyRouter."""

from __future__ import annotations

import asyncio
import io
import re
import time
from collections.abc import Callable
from typing import Any

import pytest
from PIL import Image

from bot.client import SeedreamBot
from bot.storage import jobs as job_rows
from tests.fakes.fake_discord import Channel, FakeDiscord, Interaction, InvalidAction
from tests.fakes.fake_discord import permissions as P
from tests.fakes.fake_discord.recording import Call
from tests.fakes.fake_discord.state import PUBLIC_THREAD
from tests.fakes.providers.myrouter import FakeMyRouter
from tests.helpers import attachments, custom_ids, finished, is_result, job_of, png_bytes, quota_of

pytestmark = pytest.mark.usefixtures("bot")

EPHEMERAL = 64
CHANNEL_MESSAGE, MODAL = 4, 9

# What each refusal says (bot/moderation/policy.py), and its code in the refusals table.
BANNED = ("banned", "barred from using this bot")
CHANNEL = ("channel", "not used in this channel")
REFERENCES_OFF = ("references", "does not allow reference images")
REFERENCES_NSFW = ("references", "only in age-restricted channels")
BLOCKED = ("blocklist", "contains a term this server does not allow")


# ------------------------------------------------------------------------------ helpers


async def admin(fake: FakeDiscord, command: str, options: dict[str, Any] | None = None) -> str:
    """Run ``/seedream <command>`` as the moderator; the ephemeral answer's text."""
    inter = await fake.slash(f"seedream {command}", options or {}, user="mod")
    ack = await inter.callback()
    assert ack.json["type"] == CHANNEL_MESSAGE, ack.json
    assert ack.json["data"]["flags"] & EPHEMERAL, ack.json
    return str(ack.json["data"]["content"])


def private_text(ack: Call) -> str:
    """The text of an ephemeral message response (type 4 with the ephemeral flag)."""
    assert ack.json["type"] == CHANNEL_MESSAGE, ack.json
    assert ack.json["data"]["flags"] & EPHEMERAL, ack.json
    return str(ack.json["data"]["content"])


async def refused_privately(inter: Interaction) -> str:
    return private_text(await inter.callback())


async def refusals(bot: SeedreamBot) -> list[dict[str, Any]]:
    rows = await bot.db.fetchall(
        "SELECT guild_id, channel_id, user_id, source, reason, detail, prompt FROM refusals"
        " ORDER BY id"
    )
    return [dict(row) for row in rows]


async def assert_nothing_started(
    fake: FakeDiscord, myrouter: FakeMyRouter, bot: SeedreamBot, *, calls_before: int = 0
) -> None:
    """No provider call, no charge to alice, and no job of hers."""
    await asyncio.sleep(0.3)  # anything started late would show by now
    assert len(myrouter.calls) == calls_before
    assert "**0 of" in await quota_of(fake, "alice")
    alice = int(fake.user("alice").id)
    count = await bot.db.scalar("SELECT COUNT(*) FROM jobs WHERE user_id = ?", (alice,))
    assert count == 0


async def assert_refusal_recorded(
    fake: FakeDiscord, bot: SeedreamBot, reason: str, source: str, channel: str | Channel
) -> dict[str, Any]:
    rows = await refusals(bot)
    assert len(rows) == 1, rows
    row = rows[0]
    assert (row["reason"], row["source"]) == (reason, source)
    assert row["user_id"] == int(fake.user("alice").id)
    assert row["guild_id"] == int(fake.guild.id)
    assert row["channel_id"] == int(fake.channel(channel).id)
    return row


def public_bot_messages(fake: FakeDiscord, channel: str = "general") -> list[str]:
    return [
        m["id"]
        for m in fake.channel_messages(channel)
        if m["author"]["id"] == fake.bot.id and not m["flags"] & EPHEMERAL
    ]


def reference(fake: FakeDiscord, channel: str = "general") -> dict[str, Any]:
    return fake.add_cdn_file("ref.png", png_bytes(300, 200), "image/png", channel=channel)


async def result_of(
    fake: FakeDiscord, prompt: str = "a red fox", user: str = "bob", channel: str = "general"
) -> dict[str, Any]:
    inter = await fake.slash(
        "imagine", {"prompt": prompt, "resolution": "1K"}, user=user, channel=channel
    )
    return await inter.original(predicate=is_result, timeout=30)


async def all_finished(bot: SeedreamBot, timeout: float = 30) -> None:
    """Until no job is queued, running or delivering."""
    deadline = asyncio.get_running_loop().time() + timeout
    marks = ", ".join("?" * len(job_rows.ACTIVE_STATES))
    query = f"SELECT COUNT(*) FROM jobs WHERE state IN ({marks})"
    while await bot.db.scalar(query, job_rows.ACTIVE_STATES):
        assert asyncio.get_running_loop().time() < deadline, "jobs still active"
        await asyncio.sleep(0.05)


def bot_replies(fake: FakeDiscord, message: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        m
        for m in fake.channel_messages(message["channel_id"])
        if m["author"]["id"] == fake.bot.id
        and (m.get("message_reference") or {}).get("message_id") == message["id"]
    ]


async def answer_to(fake: FakeDiscord, message: dict[str, Any]) -> dict[str, Any]:
    found = await fake.wait_until(
        lambda: bot_replies(fake, message), timeout=10, what="the bot's answer"
    )
    return found[0]  # type: ignore[no-any-return]


async def submit_if_modal(fake: FakeDiscord, inter: Interaction, instruction: str) -> Call:
    """The answer to a menu or button: the bot may refuse at once or after the modal."""
    ack = await inter.callback()
    if ack.json["type"] == MODAL:
        submitted = await fake.submit_modal(inter, {"instruction": instruction})
        ack = await submitted.callback()
    return ack


async def thread_in(fake: FakeDiscord, parent: str = "general") -> Channel:
    """A public thread under ``parent``, announced to the bot like Discord does."""
    thread = fake.rest._new_thread(
        fake.channel(parent), fake.state.new_id(), {"name": "sketches"}, PUBLIC_THREAD
    )
    await fake.rest._announce_thread(thread)
    return thread


# ------------------------------------------------------------------------------ who may set


ADMIN_COMMANDS = [
    ("settings", {}),
    ("channels allow", {"channel": "nsfw-art"}),
    ("channels deny", {"channel": "general"}),
    ("channels remove", {"channel": "general"}),
    ("channels list", {}),
    ("blocklist add", {"term": "cat"}),
    ("blocklist remove", {"term": "cat"}),
    ("blocklist list", {}),
    ("audit", {"channel": "mod-log"}),
    ("audit", {}),
    ("ban", {"user": "bob", "reason": "spam"}),
    ("unban", {"user": "bob"}),
    ("model default", {"model": "seedream-4.5"}),
    ("references", {"policy": "off"}),
    ("history", {"user": "bob"}),
    ("stats", {"days": 7}),
]


@pytest.mark.parametrize(
    ("command", "options"),
    ADMIN_COMMANDS,
    ids=[f"{c}-{'-'.join(map(str, o.values())) or 'none'}" for c, o in ADMIN_COMMANDS],
)
async def test_members_without_manage_server_cannot_run_settings(
    discord_fake: FakeDiscord, bot: SeedreamBot, command: str, options: dict[str, Any]
) -> None:
    # Discord's client hides commands whose default permissions the member lacks.
    with pytest.raises(InvalidAction, match=r"lacks permissions|may not use"):
        await discord_fake.slash(f"seedream {command}", options, user="alice")
    policy = await bot.moderation.policy(int(discord_fake.guild.id))
    assert (policy.bans, policy.terms, policy.allowed, policy.denied) == ({}, (), set(), set())
    assert (policy.audit_channel_id, policy.default_model, policy.references_policy) == (
        None,
        None,
        "everywhere",
    )
    # the same command is fine for the moderator (Manage Server), answered privately
    inter = await discord_fake.slash(f"seedream {command}", options, user="mod")
    ack = await inter.callback()
    assert ack.json["data"]["flags"] & EPHEMERAL, ack.json


async def test_the_moderator_changes_every_setting_and_settings_shows_them(
    discord_fake: FakeDiscord, bot: SeedreamBot
) -> None:
    nsfw, general, log = (discord_fake.channel(n).id for n in ("nsfw-art", "general", "mod-log"))
    bob = discord_fake.user("bob").id
    assert "allow-list" in await admin(discord_fake, "channels allow", {"channel": "nsfw-art"})
    assert "not used in" in await admin(discord_fake, "channels deny", {"channel": "general"})
    listing = await admin(discord_fake, "channels list")
    assert f"allowed in <#{nsfw}>" in listing and f"denied in <#{general}>" in listing
    assert "Blocked" in await admin(discord_fake, "blocklist add", {"term": "dragon"})
    assert "already" in await admin(discord_fake, "blocklist add", {"term": "dragon"})
    await admin(discord_fake, "blocklist add", {"term": "/sk[uy]ll/"})
    terms = await admin(discord_fake, "blocklist list")
    assert "dragon" in terms and "/sk[uy]ll/" in terms
    assert f"<#{log}>" in await admin(discord_fake, "audit", {"channel": "mod-log"})
    assert f"<@{bob}>" in await admin(discord_fake, "ban", {"user": "bob", "reason": "spam"})
    assert "seedream-4.5" in await admin(discord_fake, "model default", {"model": "seedream-4.5"})
    assert "age-restricted" in await admin(discord_fake, "references", {"policy": "age-restricted"})

    shown = await admin(discord_fake, "settings")
    assert "Default model: seedream-4.5" in shown
    assert f"allowed in <#{nsfw}>" in shown and f"denied in <#{general}>" in shown
    assert "Reference images: allowed only in age-restricted channels" in shown
    assert "Blocklist: 2 term(s)" in shown
    assert f"Audit channel: <#{log}>" in shown
    assert f"Banned members: <@{bob}>" in shown

    assert "may use the bot again" in await admin(discord_fake, "unban", {"user": "bob"})
    assert "was not banned" in await admin(discord_fake, "unban", {"user": "bob"})
    assert "Unblocked" in await admin(discord_fake, "blocklist remove", {"term": "dragon"})
    assert "was not blocked" in await admin(discord_fake, "blocklist remove", {"term": "dragon"})
    await admin(discord_fake, "channels remove", {"channel": "general"})
    await admin(discord_fake, "channels remove", {"channel": "nsfw-art"})
    assert "off" in await admin(discord_fake, "audit")
    await admin(discord_fake, "references", {"policy": "off"})
    shown = await admin(discord_fake, "settings")
    assert "Channels: allowed in every channel; denied in none" in shown
    assert "Blocklist: 1 term(s)" in shown
    assert "Audit channel: none" in shown and "Banned members: none" in shown
    assert "Reference images: not allowed" in shown


async def test_an_unknown_default_model_is_refused(
    discord_fake: FakeDiscord, bot: SeedreamBot
) -> None:
    text = await admin(discord_fake, "model default", {"model": "dall-e"})
    assert "unknown model 'dall-e'" in text.lower()
    assert (await bot.moderation.policy(int(discord_fake.guild.id))).default_model is None


# ------------------------------------------------------------------------------ /imagine refused


async def setup_banned(fake: FakeDiscord) -> None:
    await admin(fake, "ban", {"user": "alice", "reason": "spamming the channel"})


async def setup_denied(fake: FakeDiscord) -> None:
    await admin(fake, "channels deny", {"channel": "general"})


async def setup_allow_list(fake: FakeDiscord) -> None:
    await admin(fake, "channels allow", {"channel": "nsfw-art"})


async def setup_references_off(fake: FakeDiscord) -> None:
    await admin(fake, "references", {"policy": "off"})


async def setup_references_nsfw(fake: FakeDiscord) -> None:
    await admin(fake, "references", {"policy": "age-restricted"})


async def setup_blocklist(fake: FakeDiscord) -> None:
    await admin(fake, "blocklist add", {"term": "dragon"})


SLASH_CASES = {
    "banned": (setup_banned, BANNED, False),
    "denied-channel": (setup_denied, CHANNEL, False),
    "not-on-allow-list": (setup_allow_list, CHANNEL, False),
    "references-off": (setup_references_off, REFERENCES_OFF, True),
    "references-age-restricted": (setup_references_nsfw, REFERENCES_NSFW, True),
    "blocklist": (setup_blocklist, BLOCKED, False),
}


@pytest.mark.parametrize("case", list(SLASH_CASES))
async def test_imagine_is_refused_privately_before_any_charge(
    discord_fake: FakeDiscord, myrouter: FakeMyRouter, bot: SeedreamBot, case: str
) -> None:
    setup, (reason, words), with_reference = SLASH_CASES[case]
    await setup(discord_fake)
    options: dict[str, Any] = {"prompt": "a green dragon over the sea"}
    if with_reference:
        options["image1"] = reference(discord_fake)
    started = time.monotonic()
    inter = await discord_fake.slash("imagine", options, user="alice")
    ack = await inter.callback()
    assert ack.at - started < 3.0
    text = private_text(ack)
    assert words in text, text
    if case == "banned":
        assert "spamming the channel" in text
    if case == "not-on-allow-list":
        assert f"<#{discord_fake.channel('nsfw-art').id}>" in text  # says where to go
    assert public_bot_messages(discord_fake) == []  # nothing public was posted
    await assert_nothing_started(discord_fake, myrouter, bot)
    row = await assert_refusal_recorded(discord_fake, bot, reason, "imagine", "general")
    assert row["prompt"] == "a green dragon over the sea"
    if case == "blocklist":
        assert row["detail"] == "dragon"


async def test_edit_command_is_refused_with_references_off(
    discord_fake: FakeDiscord, myrouter: FakeMyRouter, bot: SeedreamBot
) -> None:
    await setup_references_off(discord_fake)
    inter = await discord_fake.slash(
        "edit", {"image": reference(discord_fake), "prompt": "make it night"}, user="alice"
    )
    assert REFERENCES_OFF[1] in await refused_privately(inter)
    await assert_nothing_started(discord_fake, myrouter, bot)
    await assert_refusal_recorded(discord_fake, bot, "references", "edit", "general")


async def test_allowed_channel_and_age_restricted_references_work_in_nsfw_art(
    discord_fake: FakeDiscord, myrouter: FakeMyRouter, bot: SeedreamBot
) -> None:
    await setup_allow_list(discord_fake)
    await setup_references_nsfw(discord_fake)
    att = reference(discord_fake, channel="nsfw-art")
    inter = await discord_fake.slash(
        "imagine",
        {"prompt": "the cat as a king", "image1": att, "resolution": "1K"},
        user="alice",
        channel="nsfw-art",
    )
    result = await inter.original(predicate=is_result, timeout=30)
    assert result["channel_id"] == discord_fake.channel("nsfw-art").id
    assert len(myrouter.calls) == 1 and len(myrouter.calls[0].json["images"]) == 1
    assert "**1 of" in await quota_of(discord_fake, "alice")
    assert await refusals(bot) == []


async def test_a_thread_counts_as_its_denied_parent_channel(
    discord_fake: FakeDiscord, myrouter: FakeMyRouter, bot: SeedreamBot
) -> None:
    thread = await thread_in(discord_fake, "general")
    await setup_denied(discord_fake)
    inter = await discord_fake.slash("imagine", {"prompt": "a fox"}, user="alice", channel=thread)
    assert CHANNEL[1] in await refused_privately(inter)
    await assert_nothing_started(discord_fake, myrouter, bot)
    await assert_refusal_recorded(discord_fake, bot, "channel", "imagine", thread)


async def test_a_thread_of_an_allowed_channel_is_allowed(
    discord_fake: FakeDiscord, myrouter: FakeMyRouter, bot: SeedreamBot
) -> None:
    thread = await thread_in(discord_fake, "general")
    await admin(discord_fake, "channels allow", {"channel": "general"})
    inter = await discord_fake.slash(
        "imagine", {"prompt": "a fox", "resolution": "1K"}, user="alice", channel=thread
    )
    await inter.original(predicate=is_result, timeout=30)
    assert len(myrouter.calls) == 1
    refused = await discord_fake.slash(
        "imagine", {"prompt": "a fox"}, user="alice", channel="mod-log"
    )
    assert CHANNEL[1] in await refused_privately(refused)


async def test_reply_to_edit_in_a_thread_of_a_denied_channel_is_refused(
    discord_fake: FakeDiscord, myrouter: FakeMyRouter, bot: SeedreamBot
) -> None:
    thread = await thread_in(discord_fake, "general")
    discord_fake.set_overwrite("general", "alice", allow=P.SEND_MESSAGES_IN_THREADS)
    await setup_denied(discord_fake)
    request = await discord_fake.user_message(
        thread, "<@BOT> make it night", attachments=[reference(discord_fake)]
    )
    answer = await answer_to(discord_fake, request)
    assert CHANNEL[1] in answer["content"]
    assert discord_fake.pings(answer) == set()
    await assert_nothing_started(discord_fake, myrouter, bot)
    await assert_refusal_recorded(discord_fake, bot, "channel", "reply", thread)


async def test_buttons_in_a_sequence_thread_of_a_denied_channel_are_refused(
    discord_fake: FakeDiscord, myrouter: FakeMyRouter, bot: SeedreamBot
) -> None:
    inter = await discord_fake.slash(
        "imagine", {"prompt": "two boats", "count": 2, "resolution": "1K"}, user="bob"
    )
    summary = await inter.original(predicate=attachments(2), timeout=30)

    def images_in_thread() -> list[dict[str, Any]]:
        if summary["id"] not in discord_fake.threads:
            return []
        found = [m for m in discord_fake.channel_messages(summary["id"]) if m["attachments"]]
        return found if len(found) == 2 else []

    posts = await discord_fake.wait_until(images_in_thread, timeout=10, what="the thread images")
    await setup_denied(discord_fake)
    vary = next(c for c in custom_ids(posts[0]) if c.startswith("seedream:vary:"))
    press = await discord_fake.click(posts[0], vary, user="alice")
    assert CHANNEL[1] in await refused_privately(press)
    await assert_nothing_started(discord_fake, myrouter, bot, calls_before=1)
    await assert_refusal_recorded(discord_fake, bot, "channel", "vary", summary["id"])


UNDO = {
    "unban": (setup_banned, "unban", {"user": "alice"}),
    "channels-remove-deny": (setup_denied, "channels remove", {"channel": "general"}),
    "channels-remove-allow": (setup_allow_list, "channels remove", {"channel": "nsfw-art"}),
    "blocklist-remove": (setup_blocklist, "blocklist remove", {"term": "dragon"}),
}


@pytest.mark.parametrize("case", list(UNDO))
async def test_undoing_a_setting_lets_the_member_generate_again(
    discord_fake: FakeDiscord, myrouter: FakeMyRouter, bot: SeedreamBot, case: str
) -> None:
    setup, command, options = UNDO[case]
    await setup(discord_fake)
    prompt = {"prompt": "a dragon kite", "resolution": "1K"}
    refused = await discord_fake.slash("imagine", prompt, user="alice")
    await refused_privately(refused)
    assert myrouter.calls == []
    await admin(discord_fake, command, options)
    again = await discord_fake.slash("imagine", prompt, user="alice")
    await again.original(predicate=is_result, timeout=30)
    assert len(myrouter.calls) == 1
    assert "**1 of" in await quota_of(discord_fake, "alice")


# ------------------------------------------------------------------------------ blocklist


EVASIONS = {
    "uppercase": "a CAT on a mat",
    "cyrillic": "a \u0441\u0430t on a mat",
    "zero-width": "a c\u200bat on a mat",
    "punctuation": "a c.a.t",
    "leetspeak": "my c4t",
    "fullwidth": "a \uff43\uff41\uff54",
    "accented": "a c\u00e0t",
    "spaced-leet": "a C @ T",
}


@pytest.mark.parametrize("prompt", list(EVASIONS.values()), ids=list(EVASIONS))
async def test_blocklist_evasions_are_refused(
    discord_fake: FakeDiscord, myrouter: FakeMyRouter, bot: SeedreamBot, prompt: str
) -> None:
    await admin(discord_fake, "blocklist add", {"term": "cat"})
    inter = await discord_fake.slash("imagine", {"prompt": prompt}, user="alice")
    assert BLOCKED[1] in await refused_privately(inter)
    await assert_nothing_started(discord_fake, myrouter, bot)
    row = await assert_refusal_recorded(discord_fake, bot, "blocklist", "imagine", "general")
    assert (row["detail"], row["prompt"]) == ("cat", prompt)


async def test_a_word_containing_a_blocked_word_is_allowed(
    discord_fake: FakeDiscord, myrouter: FakeMyRouter, bot: SeedreamBot
) -> None:
    await admin(discord_fake, "blocklist add", {"term": "cat"})
    inter = await discord_fake.slash(
        "imagine", {"prompt": "concatenate the shapes", "resolution": "1K"}, user="alice"
    )
    await inter.original(predicate=is_result, timeout=30)
    assert [c.json["prompt"] for c in myrouter.calls] == ["concatenate the shapes"]
    assert await refusals(bot) == []


async def test_a_pathological_pattern_is_refused_when_added_and_quick_when_stored(
    discord_fake: FakeDiscord,
    myrouter: FakeMyRouter,
    bot: SeedreamBot,
    start_bot: Callable[..., Any],
) -> None:
    started = time.monotonic()
    text = await admin(discord_fake, "blocklist add", {"term": "/(a+)+$/"})
    assert time.monotonic() - started < 3.0
    assert "too complex" in text and "(a+)+" in text
    assert "No blocked terms" in await admin(discord_fake, "blocklist list")

    # A pattern stored before the rule existed (or by hand) is still bounded in time.
    await bot.db.execute(
        "INSERT INTO blocklist (guild_id, term, added_by, added_at) VALUES (?, ?, ?, ?)",
        (int(discord_fake.guild.id), "/(a+)+$/", int(discord_fake.user("mod").id), time.time()),
    )
    await bot.close()
    restarted: SeedreamBot = await start_bot()
    prompt = "a" * 1999 + "!"
    started = time.monotonic()
    inter = await discord_fake.slash("imagine", {"prompt": prompt}, user="alice")
    ack = await inter.callback(timeout=5)
    assert ack.at - started < 3.0
    if ack.json["type"] == CHANNEL_MESSAGE:
        # bot/moderation/blocklist.py: a pattern that runs out of time counts as a match
        assert BLOCKED[1] in private_text(ack)
        await assert_nothing_started(discord_fake, myrouter, restarted)
        assert [r["detail"] for r in await refusals(restarted)] == ["/(a+)+$/"]
    else:  # or the prompt is let through: then it is generated like any other
        await inter.original(predicate=is_result, timeout=30)
        assert [c.json["prompt"] for c in myrouter.calls] == [prompt]


# ------------------------------------------------------------------------------ reply-to-edit


REPLY_CASES = {
    "banned": (setup_banned, BANNED),
    "denied-channel": (setup_denied, CHANNEL),
    "not-on-allow-list": (setup_allow_list, CHANNEL),
    "references-off": (setup_references_off, REFERENCES_OFF),
    "references-age-restricted": (setup_references_nsfw, REFERENCES_NSFW),
    "blocklist": (setup_blocklist, BLOCKED),
}


@pytest.mark.parametrize("case", list(REPLY_CASES))
async def test_reply_to_edit_is_refused_with_a_short_reply(
    discord_fake: FakeDiscord, myrouter: FakeMyRouter, bot: SeedreamBot, case: str
) -> None:
    setup, (reason, words) = REPLY_CASES[case]
    await setup(discord_fake)
    mark = discord_fake.mark()
    request = await discord_fake.user_message(
        "general", "<@BOT> give the dragon a crown", attachments=[reference(discord_fake)]
    )
    answer = await answer_to(discord_fake, request)
    assert words in answer["content"], answer["content"]
    assert not answer["attachments"] and not answer["components"]
    assert discord_fake.pings(answer) == set()
    await assert_nothing_started(discord_fake, myrouter, bot)
    assert bot_replies(discord_fake, request) == [answer]  # no status message besides it
    posts = [
        c
        for c in discord_fake.calls_since(mark)
        if c.method == "POST" and c.path.endswith("/messages") and c.json
    ]
    assert not [c for c in posts if "Preparing" in str(c.json.get("content"))]
    assert not [c for c in discord_fake.calls_since(mark) if c.path.startswith("/cdn/")]
    row = await assert_refusal_recorded(discord_fake, bot, reason, "reply", "general")
    assert row["prompt"] == "give the dragon a crown"


# ------------------------------------------------------------------------------ result buttons


BUTTON_CASES = {
    "banned-reroll": (setup_banned, "reroll", BANNED),
    "denied-channel-reroll": (setup_denied, "reroll", CHANNEL),
    "not-on-allow-list-4k": (setup_allow_list, "4k", CHANNEL),
    "references-off-vary": (setup_references_off, "vary", REFERENCES_OFF),
    "references-age-restricted-4k": (setup_references_nsfw, "4k", REFERENCES_NSFW),
    "blocklist-reroll": (setup_blocklist, "reroll", BLOCKED),
}


@pytest.mark.parametrize("case", list(BUTTON_CASES))
async def test_result_buttons_are_refused_before_any_charge(
    discord_fake: FakeDiscord, myrouter: FakeMyRouter, bot: SeedreamBot, case: str
) -> None:
    setup, action, (reason, words) = BUTTON_CASES[case]
    result = await result_of(discord_fake, "a red dragon", user="bob")
    job_id = job_of(result)
    await setup(discord_fake)
    public = public_bot_messages(discord_fake)
    press = await discord_fake.click(result, f"seedream:{action}:{job_id}", user="alice")
    assert words in await refused_privately(press)
    assert public_bot_messages(discord_fake) == public == [result["id"]]
    await assert_nothing_started(discord_fake, myrouter, bot, calls_before=1)
    await assert_refusal_recorded(discord_fake, bot, reason, action, "general")


async def test_the_edit_button_is_refused_for_a_blocked_instruction(
    discord_fake: FakeDiscord, myrouter: FakeMyRouter, bot: SeedreamBot
) -> None:
    result = await result_of(discord_fake, "a red fox", user="bob")
    await admin(discord_fake, "blocklist add", {"term": "crown"})
    press = await discord_fake.click(result, f"seedream:edit:{job_of(result)}", user="alice")
    ack = await submit_if_modal(discord_fake, press, "give it a golden CROWN")
    assert BLOCKED[1] in private_text(ack)
    await assert_nothing_started(discord_fake, myrouter, bot, calls_before=1)
    row = await assert_refusal_recorded(discord_fake, bot, "blocklist", "edit", "general")
    assert row["detail"] == "crown"


async def test_reroll_is_allowed_without_references_when_references_are_off(
    discord_fake: FakeDiscord, myrouter: FakeMyRouter, bot: SeedreamBot
) -> None:
    result = await result_of(discord_fake, "a lighthouse", user="bob")
    await setup_references_off(discord_fake)
    press = await discord_fake.click(result, f"seedream:reroll:{job_of(result)}", user="alice")
    await press.original(predicate=attachments(1), timeout=30)
    assert len(myrouter.calls) == 2
    assert await refusals(bot) == []


# ------------------------------------------------------------------------------ Edit image menu


@pytest.mark.parametrize("case", list(REPLY_CASES))
async def test_edit_image_menu_is_refused_before_any_charge(
    discord_fake: FakeDiscord, myrouter: FakeMyRouter, bot: SeedreamBot, case: str
) -> None:
    setup, (reason, words) = REPLY_CASES[case]
    posted = await discord_fake.user_message(
        "general", "my photo", author="bob", attachments=[reference(discord_fake)]
    )
    await setup(discord_fake)
    mark = discord_fake.mark()
    menu = await discord_fake.message_command("Edit image", posted, user="alice")
    ack = await submit_if_modal(discord_fake, menu, "give the dragon a crown")
    assert words in private_text(ack)
    await assert_nothing_started(discord_fake, myrouter, bot)
    assert not [c for c in discord_fake.calls_since(mark) if c.path.startswith("/cdn/")]
    await assert_refusal_recorded(discord_fake, bot, reason, "menu", "general")


async def test_edit_image_menu_works_in_an_age_restricted_channel(
    discord_fake: FakeDiscord, myrouter: FakeMyRouter, bot: SeedreamBot
) -> None:
    await setup_references_nsfw(discord_fake)
    posted = await discord_fake.user_message(
        "nsfw-art",
        "my photo",
        author="bob",
        attachments=[reference(discord_fake, channel="nsfw-art")],
    )
    menu = await discord_fake.message_command("Edit image", posted, user="alice")
    await menu.modal_shown()
    submitted = await discord_fake.submit_modal(menu, {"instruction": "give it a crown"})
    await submitted.original(predicate=attachments(1), timeout=30)
    assert len(myrouter.calls) == 1 and len(myrouter.calls[0].json["images"]) == 1
    assert await refusals(bot) == []


# ------------------------------------------------------------------------------ model, history


async def test_model_default_changes_the_model_sent_to_the_provider(
    discord_fake: FakeDiscord, myrouter: FakeMyRouter, bot: SeedreamBot
) -> None:
    await admin(discord_fake, "model default", {"model": "seedream-4.5"})
    inter = await discord_fake.slash("imagine", {"prompt": "a harbour"}, user="alice")
    message = await inter.original(predicate=is_result, timeout=30)
    assert [c.path for c in myrouter.calls] == ["/v3/seedream-4.5"]
    assert "seedream-4.5" in message["content"]
    # a member's explicit choice still wins
    chosen = await discord_fake.slash(
        "imagine", {"prompt": "a harbour", "model": "seedream-4.0"}, user="alice"
    )
    await chosen.original(predicate=is_result, timeout=30)
    assert myrouter.calls[1].path == "/v3/seedream-4.0"
    # reply-to-edit without a model option uses the server's default too
    request = await discord_fake.user_message(
        "general", "<@BOT> make it night", attachments=[reference(discord_fake)]
    )
    await discord_fake.wait_until(
        lambda: [m for m in bot_replies(discord_fake, request) if is_result(m)],
        timeout=30,
        what="the reply-to-edit result",
    )
    assert myrouter.calls[2].path == "/v3/seedream-4.5"


async def test_history_lists_a_members_jobs_with_links(
    discord_fake: FakeDiscord, myrouter: FakeMyRouter, bot: SeedreamBot
) -> None:
    first = await result_of(discord_fake, "a quiet harbour", user="alice")
    second = await result_of(discord_fake, "a busy market", user="alice")
    await result_of(discord_fake, "bob's secret garden", user="bob")
    failed = await discord_fake.slash("imagine", {"prompt": "something forbidden"}, user="alice")
    await failed.followups(count=1, timeout=15)
    await all_finished(bot)

    text = await admin(discord_fake, "history", {"user": "alice"})
    guild = discord_fake.guild.id
    alice = discord_fake.user("alice").id
    assert f"<@{alice}>" in text
    for message, prompt in ((first, "a quiet harbour"), (second, "a busy market")):
        link = f"https://discord.com/channels/{guild}/{message['channel_id']}/{message['id']}"
        assert job_of(message) in text and prompt in text and link in text
    assert "failed (moderation)" in text
    assert "secret garden" not in text
    # newest first
    assert text.index("forbidden") < text.index("a busy market") < text.index("a quiet harbour")
    assert "has no jobs" in await admin(discord_fake, "history", {"user": "owner"})


async def test_stats_answers_privately_with_a_png_chart(
    discord_fake: FakeDiscord, myrouter: FakeMyRouter, bot: SeedreamBot
) -> None:
    await result_of(discord_fake, "a quiet harbour", user="alice")
    await setup_blocklist(discord_fake)
    refused = await discord_fake.slash("imagine", {"prompt": "a dragon"}, user="bob")
    await refused_privately(refused)
    await all_finished(bot)

    inter = await discord_fake.slash("seedream stats", {"days": 7}, user="mod")
    ack = await inter.callback()
    assert ack.json["data"]["flags"] & EPHEMERAL
    message = await inter.original(predicate=attachments(1), timeout=15)
    assert message["flags"] & EPHEMERAL
    attachment = message["attachments"][0]
    assert attachment["filename"] == "usage.png"
    data = discord_fake.attachment_bytes(attachment)
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    with Image.open(io.BytesIO(data)) as chart:
        assert chart.format == "PNG" and chart.width > 100 and chart.height > 100
    text = message["content"]
    assert "last 7 days" in text
    assert "**1** images delivered" in text and "1 refused" in text
    assert "2 active members" in text
    assert discord_fake.pings(message) == set()


# ------------------------------------------------------------------------------ delete my history


async def test_jobs_delete_my_history(
    discord_fake: FakeDiscord, myrouter: FakeMyRouter, bot: SeedreamBot
) -> None:
    alice = discord_fake.user("alice").id
    att = reference(discord_fake)
    inter = await discord_fake.slash(
        "imagine", {"prompt": "my secret portrait", "image1": att, "resolution": "1K"}
    )
    result = await inter.original(predicate=is_result, timeout=30)
    job_id = job_of(result)
    bobs = job_of(await result_of(discord_fake, "bob's harbour", user="bob"))
    await finished(bot, job_id)
    await finished(bot, bobs)
    refs = await job_rows.references(bot.db, [job_id])
    assert refs.get(job_id), "the reference was stored with the job"

    listing = await (await discord_fake.slash("jobs", user="alice")).original()
    assert "my secret portrait" in listing["content"]
    forget = f"seedream:forget:{alice}"
    assert forget in custom_ids(listing)

    intruder = await discord_fake.click(listing, forget, user="bob")
    assert "Only the member" in await refused_privately(intruder)
    press = await discord_fake.click(listing, forget, user="alice")
    ack = await press.callback()
    assert ack.json["data"]["flags"] & EPHEMERAL
    confirm = await press.original()
    confirm_id = f"seedream:forget-yes:{alice}"
    assert confirm_id in custom_ids(confirm)
    row = await job_rows.get(bot.db, job_id)
    assert row is not None and row["forgotten_at"] is None  # nothing before the confirmation

    intruder = await discord_fake.click(confirm, confirm_id, user="bob")
    assert "Only the member" in await refused_privately(intruder)
    yes = await discord_fake.click(confirm, confirm_id, user="alice")
    assert re.search(r"history of 1 job", await refused_privately(yes))

    row = await job_rows.get(bot.db, job_id)
    assert row is not None and row["forgotten_at"] is not None
    assert row["prompt"] == "" and "my secret portrait" not in row["request_json"]
    assert (await job_rows.references(bot.db, [job_id])).get(job_id, []) == []
    other = await job_rows.get(bot.db, bobs)
    assert other is not None and other["forgotten_at"] is None and other["prompt"]

    again = await (await discord_fake.slash("jobs", user="alice")).original()
    assert "my secret portrait" not in again["content"] and job_id not in again["content"]
    assert "my secret portrait" not in await admin(discord_fake, "history", {"user": "alice"})
    assert "**1 of" in await quota_of(discord_fake, "alice")  # the count stays


@pytest.mark.parametrize("action", ["reroll", "vary", "4k", "edit"])
async def test_buttons_of_a_forgotten_job_answer_clearly(
    discord_fake: FakeDiscord, myrouter: FakeMyRouter, bot: SeedreamBot, action: str
) -> None:
    """The member deleted the history; the result is still posted and its buttons pressed."""
    alice = discord_fake.user("alice").id
    result = await result_of(discord_fake, "my secret portrait", user="alice")
    await finished(bot, job_of(result))
    listing = await (await discord_fake.slash("jobs", user="alice")).original()
    press = await discord_fake.click(listing, f"seedream:forget:{alice}", user="alice")
    confirm = await press.original()
    yes = await discord_fake.click(confirm, f"seedream:forget-yes:{alice}", user="alice")
    assert "history of 1 job" in await refused_privately(yes)

    press = await discord_fake.click(result, f"seedream:{action}:{job_of(result)}", user="bob")
    ack = await submit_if_modal(discord_fake, press, "make it night")
    if ack.json["type"] == CHANNEL_MESSAGE:  # refused: in plain words, not as a crash
        text = private_text(ack)
        assert "went wrong on the bot's side" not in text, text
    await asyncio.sleep(0.5)
    assert all("my secret portrait" not in c.json["prompt"] for c in myrouter.calls[1:])
