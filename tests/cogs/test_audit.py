"""The audit channel end to end: one entry per finished job and per refused attempt, and the
moderator buttons on entries ("Delete output", "Ban from bot"), also pressed after a restart.
The real bot, the fake Discord, the MyRouter fake."""

from __future__ import annotations

import asyncio
import io
import logging
import re
from collections.abc import Callable
from typing import Any

import pytest
from PIL import Image

from bot.client import SeedreamBot
from bot.storage import jobs as job_rows
from tests.fakes.fake_discord import FakeDiscord, Interaction
from tests.fakes.fake_discord import permissions as P
from tests.fakes.providers.myrouter import FakeMyRouter
from tests.helpers import attachments, custom_ids, is_result, job_of, png_bytes, quota_of

pytestmark = pytest.mark.usefixtures("bot")

EPHEMERAL = 64


# ------------------------------------------------------------------------------ helpers


async def admin(fake: FakeDiscord, command: str, options: dict[str, Any] | None = None) -> str:
    inter = await fake.slash(f"seedream {command}", options or {}, user="mod")
    ack = await inter.callback()
    assert ack.json["type"] == 4 and ack.json["data"]["flags"] & EPHEMERAL, ack.json
    return str(ack.json["data"]["content"])


async def private_text(inter: Interaction) -> str:
    ack = await inter.callback()
    assert ack.json["type"] == 4 and ack.json["data"]["flags"] & EPHEMERAL, ack.json
    return str(ack.json["data"]["content"])


def entries(fake: FakeDiscord) -> list[dict[str, Any]]:
    """The bot's public messages in the audit channel, oldest first (the ephemeral answers to
    button presses there are not entries)."""
    return [
        m
        for m in fake.channel_messages("mod-log")
        if m["author"]["id"] == fake.bot.id and not m["flags"] & EPHEMERAL
    ]


async def entries_after(fake: FakeDiscord, count: int) -> list[dict[str, Any]]:
    found = await fake.wait_until(
        lambda: entries(fake) if len(entries(fake)) >= count else None,
        timeout=10,
        what=f"{count} audit entries",
    )
    return found  # type: ignore[no-any-return]


def fields(entry: dict[str, Any]) -> dict[str, str]:
    (embed,) = entry["embeds"]
    return {field["name"]: field["value"] for field in embed.get("fields") or []}


def everything_said(entry: dict[str, Any]) -> str:
    (embed,) = entry["embeds"]
    return " ".join(
        [
            entry.get("content") or "",
            embed.get("title") or "",
            embed.get("description") or "",
            *(f"{f['name']} {f['value']}" for f in embed.get("fields") or []),
        ]
    )


async def result_of(
    fake: FakeDiscord, prompt: str = "a red fox", user: str = "alice"
) -> dict[str, Any]:
    inter = await fake.slash("imagine", {"prompt": prompt, "resolution": "1K"}, user=user)
    return await inter.original(predicate=is_result, timeout=30)


async def cases(bot: SeedreamBot) -> list[dict[str, Any]]:
    rows = await bot.db.fetchall(
        "SELECT guild_id, action, target_id, moderator_id, job_id FROM mod_cases ORDER BY id"
    )
    return [dict(row) for row in rows]


# ------------------------------------------------------------------------------ entries


async def test_a_finished_job_with_a_reference_is_audited(
    discord_fake: FakeDiscord, myrouter: FakeMyRouter, bot: SeedreamBot
) -> None:
    await admin(discord_fake, "audit", {"channel": "mod-log"})
    alice, bob = discord_fake.user("alice").id, discord_fake.user("bob").id
    moderator = discord_fake.role("Moderator").id
    prompt = f"the cat as a king, for <@{bob}> and <@&{moderator}> @everyone"
    att = discord_fake.add_cdn_file("cat.png", png_bytes(600, 400), "image/png")
    inter = await discord_fake.slash(
        "imagine", {"prompt": prompt, "image1": att, "resolution": "1K"}, user="alice"
    )
    result = await inter.original(predicate=is_result, timeout=30)
    job_id = job_of(result)
    (entry,) = await entries_after(discord_fake, 1)
    await bot.auditor.settle()
    assert len(entries(discord_fake)) == 1

    (embed,) = entry["embeds"]
    assert job_id in embed["title"]
    assert "the cat as a king" in embed["description"]
    got = fields(entry)
    assert f"<@{alice}>" in got["Requester"]
    assert got["Model"] == "seedream-4.0"
    assert got["Cost"].startswith("1 image")
    assert "delivered 1 image" in got["Outcome"]
    assert got["References"].startswith("1")
    link = f"https://discord.com/channels/{discord_fake.guild.id}/{result['channel_id']}/"
    assert link + result["id"] in got["Result"]
    # the reference as a small thumbnail attachment
    (thumb,) = entry["attachments"]
    with Image.open(io.BytesIO(discord_fake.attachment_bytes(thumb))) as image:
        assert max(image.size) <= 512 and image.size[0] > image.size[1]
    assert discord_fake.pings(entry) == set()
    assert custom_ids(entry) == [f"seedream:moddel:{job_id}", f"seedream:modban:{alice}"]
    row = await job_rows.get(bot.db, job_id)
    assert row is not None and row["audit_message_id"] == int(entry["id"])


async def test_a_job_without_references_has_no_thumbnails(
    discord_fake: FakeDiscord, myrouter: FakeMyRouter, bot: SeedreamBot
) -> None:
    await admin(discord_fake, "audit", {"channel": "mod-log"})
    result = await result_of(discord_fake, "a quiet harbour")
    (entry,) = await entries_after(discord_fake, 1)
    assert job_of(result) in entry["embeds"][0]["title"]
    assert entry["attachments"] == [] and "References" not in fields(entry)
    assert discord_fake.pings(entry) == set()


async def test_a_refused_attempt_is_audited(
    discord_fake: FakeDiscord, myrouter: FakeMyRouter, bot: SeedreamBot
) -> None:
    await admin(discord_fake, "audit", {"channel": "mod-log"})
    await admin(discord_fake, "blocklist add", {"term": "dragon"})
    alice = discord_fake.user("alice").id
    inter = await discord_fake.slash("imagine", {"prompt": "a DRAGON for @everyone"}, user="alice")
    assert "does not allow" in await private_text(inter)
    (entry,) = await entries_after(discord_fake, 1)
    said = everything_said(entry)
    assert "Refused" in entry["embeds"][0]["title"]
    assert "a DRAGON for" in entry["embeds"][0]["description"]
    assert f"<@{alice}>" in fields(entry)["Requester"]
    reason = fields(entry)["Reason"]
    assert "does not allow" in reason and "dragon" in reason
    assert "blocklist" in said
    assert discord_fake.pings(entry) == set()
    # nothing was generated, so there is nothing to delete; the requester can be banned
    assert custom_ids(entry) == [f"seedream:modban:{alice}"]
    assert myrouter.calls == []


async def test_no_audit_channel_no_entries(
    discord_fake: FakeDiscord, myrouter: FakeMyRouter, bot: SeedreamBot
) -> None:
    await admin(discord_fake, "audit", {"channel": "mod-log"})
    assert "off" in await admin(discord_fake, "audit")
    await result_of(discord_fake, "a quiet harbour")
    await admin(discord_fake, "ban", {"user": "bob"})
    refused = await discord_fake.slash("imagine", {"prompt": "x"}, user="bob")
    await private_text(refused)
    await bot.auditor.settle()
    await asyncio.sleep(0.2)
    assert entries(discord_fake) == []


@pytest.mark.settings(seedream_default_quota=1)
async def test_a_provider_moderation_rejection_is_audited_and_refunded(
    discord_fake: FakeDiscord, myrouter: FakeMyRouter, bot: SeedreamBot
) -> None:
    await admin(discord_fake, "audit", {"channel": "mod-log"})
    inter = await discord_fake.slash("imagine", {"prompt": "something forbidden"}, user="alice")
    (told,) = await inter.followups(count=1, timeout=15)
    assert told["flags"] & EPHEMERAL
    assert "rejected by the model's safety filter" in told["content"]
    (entry,) = await entries_after(discord_fake, 1)
    await asyncio.sleep(0.3)
    assert len(myrouter.calls) == 1  # not retried, not failed over
    assert "**0 of 1**" in await quota_of(discord_fake, "alice")
    outcome = fields(entry)["Outcome"]
    assert "rejected by the model's safety filter" in outcome and "refunded" in outcome
    assert fields(entry)["Cost"].startswith("0 image")
    assert "Result" not in fields(entry)
    assert custom_ids(entry) == [f"seedream:modban:{discord_fake.user('alice').id}"]
    assert discord_fake.pings(entry) == set()
    row = await bot.db.fetchone("SELECT state, error_kind FROM jobs")
    assert row is not None and tuple(row) == ("failed", "moderation")


# ------------------------------------------------------------------------------ buttons


async def test_delete_output_by_a_moderator_after_a_restart(
    discord_fake: FakeDiscord,
    myrouter: FakeMyRouter,
    bot: SeedreamBot,
    start_bot: Callable[..., Any],
) -> None:
    await admin(discord_fake, "audit", {"channel": "mod-log"})
    result = await result_of(discord_fake, "a harbour at dusk")
    job_id = job_of(result)
    (entry,) = await entries_after(discord_fake, 1)
    await bot.close()
    restarted: SeedreamBot = await start_bot()

    press = await discord_fake.click(entry, f"seedream:moddel:{job_id}", user="mod")
    assert "deleted" in (await private_text(press)).lower()
    assert result["id"] not in discord_fake.messages
    assert entry["id"] in discord_fake.messages  # the audit entry stays
    row = await job_rows.get(restarted.db, job_id)
    assert row is not None and row["deleted_at"] is not None
    assert row["deleted_by"] == int(discord_fake.user("mod").id)
    assert await cases(restarted) == [
        {
            "guild_id": int(discord_fake.guild.id),
            "action": "delete-output",
            "target_id": int(discord_fake.user("alice").id),
            "moderator_id": int(discord_fake.user("mod").id),
            "job_id": job_id,
        }
    ]
    again = await discord_fake.click(entry, f"seedream:moddel:{job_id}", user="mod")
    assert "already gone" in await private_text(again)


async def test_moderator_buttons_are_refused_to_members(
    discord_fake: FakeDiscord,
    myrouter: FakeMyRouter,
    bot: SeedreamBot,
    start_bot: Callable[..., Any],
) -> None:
    await admin(discord_fake, "audit", {"channel": "mod-log"})
    result = await result_of(discord_fake, "a harbour at dusk", user="bob")
    job_id = job_of(result)
    (entry,) = await entries_after(discord_fake, 1)
    bob = discord_fake.user("bob").id
    await bot.close()
    restarted: SeedreamBot = await start_bot()

    mark = discord_fake.mark()
    delete = await discord_fake.click(entry, f"seedream:moddel:{job_id}", user="alice")
    assert "Manage Messages" in await private_text(delete)
    ban = await discord_fake.click(entry, f"seedream:modban:{bob}", user="alice")
    assert "Manage Server" in await private_text(ban)
    assert result["id"] in discord_fake.messages
    assert not [c for c in discord_fake.calls_since(mark) if c.method == "DELETE"]
    row = await job_rows.get(restarted.db, job_id)
    assert row is not None and row["deleted_at"] is None
    assert await cases(restarted) == []
    still = await discord_fake.slash("imagine", {"prompt": "b", "resolution": "1K"}, user="bob")
    await still.original(predicate=is_result, timeout=30)  # bob was not banned


async def test_ban_from_bot_after_a_restart(
    discord_fake: FakeDiscord,
    myrouter: FakeMyRouter,
    bot: SeedreamBot,
    start_bot: Callable[..., Any],
) -> None:
    await admin(discord_fake, "audit", {"channel": "mod-log"})
    await result_of(discord_fake, "a harbour at dusk")
    (entry,) = await entries_after(discord_fake, 1)
    alice = discord_fake.user("alice").id
    await bot.close()
    restarted: SeedreamBot = await start_bot()

    press = await discord_fake.click(entry, f"seedream:modban:{alice}", user="mod")
    assert "may no longer use the bot" in await private_text(press)
    calls = len(myrouter.calls)
    inter = await discord_fake.slash("imagine", {"prompt": "one more"}, user="alice")
    assert "barred from using this bot" in await private_text(inter)
    await asyncio.sleep(0.3)
    assert len(myrouter.calls) == calls
    assert "**1 of" in await quota_of(discord_fake, "alice")  # the first job only
    assert [(c["action"], c["target_id"], c["moderator_id"]) for c in await cases(restarted)] == [
        ("ban", int(alice), int(discord_fake.user("mod").id))
    ]
    # the refused attempt is audited too
    refused = (await entries_after(discord_fake, 2))[1]
    assert "banned" in refused["embeds"][0]["title"] and "one more" in everything_said(refused)
    assert f"<@{alice}>" in (await admin(discord_fake, "settings")).split("Banned members:")[1]


async def test_a_moderator_deleting_a_result_with_its_button_records_a_case(
    discord_fake: FakeDiscord, myrouter: FakeMyRouter, bot: SeedreamBot
) -> None:
    own = await result_of(discord_fake, "mine to delete")
    press = await discord_fake.click(own, f"seedream:delete:{job_of(own)}", user="alice")
    assert "Deleted" in await private_text(press)
    assert await cases(bot) == []  # deleting one's own result is no moderation

    other = await result_of(discord_fake, "for the moderator")
    job_id = job_of(other)
    press = await discord_fake.click(other, f"seedream:delete:{job_id}", user="mod")
    assert "Deleted" in await private_text(press)
    assert other["id"] not in discord_fake.messages
    got = await cases(bot)
    assert [(c["action"], c["job_id"], c["target_id"], c["moderator_id"]) for c in got] == [
        (
            "delete-output",
            job_id,
            int(discord_fake.user("alice").id),
            int(discord_fake.user("mod").id),
        )
    ]
    row = await job_rows.get(bot.db, job_id)
    assert row is not None and row["deleted_by"] == int(discord_fake.user("mod").id)
    assert re.fullmatch(r"[0-9a-f]{12}", job_id)


async def test_delete_output_of_a_sequence_removes_its_thread(
    discord_fake: FakeDiscord, myrouter: FakeMyRouter, bot: SeedreamBot
) -> None:
    await admin(discord_fake, "audit", {"channel": "mod-log"})
    inter = await discord_fake.slash(
        "imagine", {"prompt": "two boats", "count": 2, "resolution": "1K"}, user="alice"
    )
    summary = await inter.original(predicate=attachments(2), timeout=30)
    job_id = job_of(summary)
    (entry,) = await entries_after(discord_fake, 1)
    assert fields(entry)["Cost"].startswith("2 image")
    assert summary["id"] in fields(entry)["Result"]
    await discord_fake.wait_until(lambda: summary["id"] in discord_fake.threads, timeout=10)

    press = await discord_fake.click(entry, f"seedream:moddel:{job_id}", user="mod")
    assert "deleted" in (await private_text(press)).lower()
    assert summary["id"] not in discord_fake.messages
    assert summary["id"] not in discord_fake.threads
    row = await job_rows.get(bot.db, job_id)
    assert row is not None and row["deleted_at"] is not None


async def test_the_link_follows_a_result_posted_after_the_token_expired(
    discord_fake: FakeDiscord, myrouter: FakeMyRouter, bot: SeedreamBot
) -> None:
    await admin(discord_fake, "audit", {"channel": "mod-log"})
    myrouter.latency = 1.0
    inter = await discord_fake.slash("imagine", {"prompt": "slow", "resolution": "1K"})
    await discord_fake.wait_until(lambda: len(myrouter.calls) == 1, timeout=5)
    discord_fake.clock.advance(16 * 60)  # the interaction token is dead: a channel reply
    (entry,) = await entries_after(discord_fake, 1)
    posted = [
        m
        for m in discord_fake.channel_messages("general")
        if m["author"]["id"] == discord_fake.bot.id and is_result(m)
    ]
    assert len(posted) == 1 and posted[0]["id"] != inter.original_id
    assert posted[0]["id"] in fields(entry)["Result"]
    assert discord_fake.pings(entry) == set()


async def test_an_audit_channel_the_bot_cannot_post_in_fails_nothing(
    discord_fake: FakeDiscord,
    myrouter: FakeMyRouter,
    bot: SeedreamBot,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    await admin(discord_fake, "audit", {"channel": "mod-log"})
    discord_fake.set_overwrite("mod-log", "imagebot", deny=P.SEND_MESSAGES)
    result = await result_of(discord_fake, "a quiet harbour")
    await bot.auditor.settle()
    await admin(discord_fake, "ban", {"user": "bob"})
    refused = await discord_fake.slash("imagine", {"prompt": "x"}, user="bob")
    assert "barred" in await private_text(refused)
    await bot.auditor.settle()
    assert entries(discord_fake) == []
    row = await job_rows.get(bot.db, job_of(result))
    assert row is not None and row["state"] == "done" and row["audit_message_id"] is None
    warned = [r for r in caplog.records if "audit channel" in r.getMessage()]
    assert len(warned) == 2 and all(r.levelno == logging.WARNING for r in warned)
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    # and once the bot may post again, entries come back
    discord_fake.set_overwrite("mod-log", "imagebot")
    await result_of(discord_fake, "another harbour")
    await entries_after(discord_fake, 1)
