"""Sequences end to end (``count`` > 1): the summary message, its thread with one post per
image, partial results, more than ten images, progress wording, and channels without threads."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from bot.client import SeedreamBot
from bot.storage import jobs as job_rows
from tests.fakes.fake_discord import FakeDiscord
from tests.fakes.fake_discord import permissions as P
from tests.fakes.providers.myrouter import FakeMyRouter
from tests.helpers import attachments, custom_ids, finished, job_of, quota_of

pytestmark = pytest.mark.usefixtures("bot")

PART_ACTIONS = ("edit", "vary", "4k", "delete")
SUMMARY_ACTIONS = ("reroll", "delete")


async def thread_posts(fake: FakeDiscord, channel_id: str, count: int) -> list[dict[str, Any]]:
    """Wait until ``channel_id`` holds at least ``count`` messages; return them oldest first."""
    await fake.wait_until(
        lambda: (
            channel_id in fake.state.channels and len(fake.channel_messages(channel_id)) >= count
        ),
        timeout=30,
        what=f"{count} messages in channel {channel_id}",
    )
    return fake.channel_messages(channel_id)


def assert_part(message: dict[str, Any], index: int, total: int, job_id: str) -> None:
    assert message["content"].startswith(f"**{index}/{total}**"), message["content"]
    assert len(message["attachments"]) == 1
    assert custom_ids(message) == [f"seedream:{action}:{job_id}" for action in PART_ACTIONS]


async def test_six_image_sequence_gets_a_summary_and_a_thread(
    discord_fake: FakeDiscord, myrouter: FakeMyRouter, bot: SeedreamBot
) -> None:
    bob = discord_fake.user("bob")
    prompt = f"@everyone <@{bob.id}> a comic strip about a fox"
    inter = await discord_fake.slash(
        "imagine", {"prompt": prompt, "count": 6, "resolution": "1K"}, user="alice"
    )
    summary = await inter.original(predicate=attachments(6), timeout=30)

    body = myrouter.calls[0].json
    assert body["sequential_image_generation"] == "auto" and body["max_images"] == 6
    assert len(myrouter.calls) == 1
    assert "6 images" in summary["content"]
    assert "Each image is in the thread below" in summary["content"]
    assert "returned" not in summary["content"]  # nothing missing, no shortfall note
    job_id = job_of(summary)
    assert custom_ids(summary) == [f"seedream:{a}:{job_id}" for a in SUMMARY_ACTIONS]

    posts = await thread_posts(discord_fake, summary["id"], 6)
    assert list(discord_fake.threads) == [summary["id"]]  # one thread, started from the summary
    thread = discord_fake.threads[summary["id"]]
    assert thread.parent_id == discord_fake.channel("general").id
    assert len(posts) == 6
    for index, post in enumerate(posts, start=1):
        assert_part(post, index, 6, job_id)
        assert discord_fake.pings(post) == set()
    assert discord_fake.pings(summary) == set()
    # every image in the thread is a different file, and the same one as in the summary
    sizes = [post["attachments"][0]["size"] for post in posts]
    assert sizes == [att["size"] for att in summary["attachments"]]

    row = await finished(bot, job_id)
    assert (row["state"], row["delivered"], row["posted"]) == ("done", 6, 6)
    assert str(row["thread_id"]) == summary["id"] and str(row["message_id"]) == summary["id"]
    assert "**6 of 10**" in await quota_of(discord_fake, "alice")
    discord_fake.assert_clean()


async def test_fewer_images_than_asked_are_reported_and_only_those_charged(
    discord_fake: FakeDiscord, myrouter: FakeMyRouter, bot: SeedreamBot
) -> None:
    myrouter.sequence_returns = 3
    inter = await discord_fake.slash(
        "imagine", {"prompt": "four seasons of one tree", "count": 5, "resolution": "1K"}
    )
    summary = await inter.original(predicate=attachments(3), timeout=30)
    assert myrouter.calls[0].json["max_images"] == 5
    assert (
        "The model returned 3 of the 5 images asked for; only 3 were charged" in summary["content"]
    )
    assert "3 images" in summary["content"]
    job_id = job_of(summary)
    posts = await thread_posts(discord_fake, summary["id"], 3)
    for index, post in enumerate(posts, start=1):
        assert_part(post, index, 3, job_id)
    row = await finished(bot, job_id)
    assert (row["state"], row["count"], row["delivered"]) == ("done", 5, 3)
    entry = await bot.ledger.entry(job_id)
    assert entry is not None and entry.state == "settled"
    assert entry.charged_allowance + entry.charged_bonus == 3
    assert "**3 of 10**" in await quota_of(discord_fake, "alice")


@pytest.mark.settings(seedream_default_quota=20)
async def test_twelve_images_show_ten_in_the_summary_and_all_in_the_thread(
    discord_fake: FakeDiscord, myrouter: FakeMyRouter, bot: SeedreamBot
) -> None:
    inter = await discord_fake.slash(
        "imagine", {"prompt": "twelve months", "count": 12, "resolution": "1K"}
    )
    summary = await inter.original(predicate=attachments(10), timeout=60)
    assert myrouter.calls[0].json["max_images"] == 12
    assert "12 images" in summary["content"]
    assert "Images 1–10 are shown here; all 12 are in the thread." in summary["content"]
    job_id = job_of(summary)
    await thread_posts(discord_fake, summary["id"], 12)
    await finished(bot, job_id)  # no (wrong) extra post can arrive after this
    posts = discord_fake.channel_messages(summary["id"])
    assert len(posts) == 12
    for index, post in enumerate(posts, start=1):
        assert_part(post, index, 12, job_id)
    assert list(discord_fake.threads) == [summary["id"]]
    assert "**12 of 20**" in await quota_of(discord_fake, "alice")


async def test_progress_says_the_model_may_return_fewer(
    discord_fake: FakeDiscord, myrouter: FakeMyRouter
) -> None:
    myrouter.latency = 1.5
    inter = await discord_fake.slash(
        "imagine", {"prompt": "a flip book", "count": 3, "resolution": "1K"}
    )
    await discord_fake.wait_until(lambda: len(myrouter.calls) == 1, timeout=10)
    running = await inter.original(timeout=5)  # the provider is still working (1.5 s)
    assert not running.get("attachments")
    assert "Generating 3 images (the model may return fewer)" in running["content"]
    await inter.original(predicate=attachments(3), timeout=30)


async def test_progress_of_a_single_image_makes_no_such_promise(
    discord_fake: FakeDiscord, myrouter: FakeMyRouter
) -> None:
    myrouter.latency = 1.0
    mark = discord_fake.mark()
    inter = await discord_fake.slash("imagine", {"prompt": "one lamp", "resolution": "1K"})
    await inter.original(predicate=attachments(1), timeout=30)
    texts = [
        call.json["content"]
        for call in discord_fake.calls_since(mark)
        if call.method == "PATCH" and call.path.startswith("/webhooks/") and call.json
    ]
    assert any("Generating 1 image" in text for text in texts), texts
    assert not any("may return fewer" in text for text in texts)


async def test_sequence_without_permission_to_create_threads_posts_in_the_channel(
    discord_fake: FakeDiscord, myrouter: FakeMyRouter, bot: SeedreamBot
) -> None:
    general = discord_fake.channel("general")
    discord_fake.set_overwrite(general, discord_fake.bot, deny=P.CREATE_PUBLIC_THREADS)
    inter = await discord_fake.slash(
        "imagine", {"prompt": "three doors", "count": 3, "resolution": "1K"}
    )
    summary = await inter.original(predicate=attachments(3), timeout=30)
    job_id = job_of(summary)
    await discord_fake.wait_until(
        lambda: len(discord_fake.channel_messages(general)) >= 4, timeout=30
    )
    messages = discord_fake.channel_messages(general)
    assert messages[0]["id"] == summary["id"]
    parts = messages[1:]
    assert len(parts) == 3
    for index, post in enumerate(parts, start=1):
        assert_part(post, index, 3, job_id)
    assert discord_fake.threads == {}
    thread_calls = [c for c in discord_fake.calls if c.path.endswith("/threads")]
    assert thread_calls and all(c.status == 403 for c in thread_calls)
    row = await finished(bot, job_id)
    assert (row["state"], row["delivered"], row["posted"]) == ("done", 3, 3)
    assert str(row["thread_id"]) == general.id
    caption = discord_fake.messages[summary["id"]]["content"]
    assert "also posted below on its own" in caption and "thread" not in caption, caption
    assert len(discord_fake.messages[summary["id"]]["attachments"]) == 3  # the edit kept them
    assert "**3 of 10**" in await quota_of(discord_fake, "alice")


async def delete_summary(discord_fake: FakeDiscord, prompt: str) -> tuple[dict, str, list]:
    """Post a 2-image sequence and delete its summary as the requester."""
    inter = await discord_fake.slash("imagine", {"prompt": prompt, "count": 2, "resolution": "1K"})
    summary = await inter.original(predicate=attachments(2), timeout=30)
    job_id = job_of(summary)
    await thread_posts(discord_fake, summary["id"], 2)
    mark = discord_fake.mark()
    press = await discord_fake.click(summary, f"seedream:delete:{job_id}", user="alice")
    ack = await press.callback()
    assert ack.json["data"]["flags"] & 64 and "Deleted" in ack.json["data"]["content"]
    assert summary["id"] not in discord_fake.messages
    removal = [
        (c.method, c.status)
        for c in discord_fake.calls_since(mark)
        if c.path == f"/channels/{summary['id']}"
    ]
    return summary, job_id, removal


async def test_deleting_the_summary_removes_its_thread(
    discord_fake: FakeDiscord, myrouter: FakeMyRouter, bot: SeedreamBot
) -> None:
    summary, job_id, removal = await delete_summary(discord_fake, "two birds")
    assert removal == [("DELETE", 200)]
    assert summary["id"] not in discord_fake.threads
    row = await job_rows.get(bot.db, job_id)
    assert row is not None and row["deleted_at"] is not None


async def test_without_manage_threads_the_thread_is_archived_instead(
    discord_fake: FakeDiscord, myrouter: FakeMyRouter, bot: SeedreamBot
) -> None:
    discord_fake.set_overwrite("general", discord_fake.bot, deny=P.MANAGE_THREADS)
    summary, _, removal = await delete_summary(discord_fake, "two owls")
    assert removal == [("DELETE", 403), ("PATCH", 200)]
    assert discord_fake.threads[summary["id"]].thread_metadata["archived"] is True


@pytest.mark.settings(seedream_default_quota=20)
async def test_a_summary_too_big_for_one_request_still_delivers_every_image(
    discord_fake: FakeDiscord, myrouter: FakeMyRouter, bot: SeedreamBot
) -> None:
    # Twelve images at the default 2K are ~2.8 MB each: ten of them (~28 MB) are more than the
    # 25 MiB Discord accepts in one request, although each file is far below the 10 MiB limit.
    inter = await discord_fake.slash("imagine", {"prompt": "twelve months", "count": 12})
    await discord_fake.wait_until(lambda: len(myrouter.calls) == 1, timeout=10)
    row = await finished(bot, await _job_id_of(bot), timeout=60)
    assert (row["state"], row["error_kind"]) == ("done", None), dict(row)
    summary = await inter.original(predicate=lambda m: bool(m.get("attachments")), timeout=5)
    shown = summary["attachments"]
    assert 1 <= len(shown) <= 10
    assert sum(att["size"] for att in shown) <= 25 * 1024 * 1024
    assert "12 images" in summary["content"]
    assert f"Images 1–{len(shown)} are shown here; all 12 are in the thread." in summary["content"]
    posts = await thread_posts(discord_fake, summary["id"], 12)
    assert len(posts) == 12
    for index, post in enumerate(posts, start=1):
        assert_part(post, index, 12, row["id"])
    assert (row["delivered"], row["posted"]) == (12, 12)
    assert "**12 of 20**" in await quota_of(discord_fake, "alice")


async def _job_id_of(bot: SeedreamBot) -> str:
    """The id of the only job in the database."""
    rows = await bot.db.fetchall("SELECT id FROM jobs")
    assert len(rows) == 1
    return str(rows[0]["id"])


async def test_reroll_of_a_summary_repeats_the_whole_sequence(
    discord_fake: FakeDiscord, myrouter: FakeMyRouter, bot: SeedreamBot
) -> None:
    inter = await discord_fake.slash(
        "imagine", {"prompt": "a sunrise in steps", "count": 3, "resolution": "1K"}, user="alice"
    )
    summary = await inter.original(predicate=attachments(3), timeout=30)
    first = job_of(summary)
    await finished(bot, first)
    press = await discord_fake.click(summary, f"seedream:reroll:{first}", user="bob")
    again = await press.original(predicate=attachments(3), timeout=30)
    assert myrouter.calls[1].json == myrouter.calls[0].json
    second = job_of(again)
    assert second != first and again["id"] != summary["id"]
    posts = await thread_posts(discord_fake, again["id"], 3)
    for index, post in enumerate(posts, start=1):
        assert_part(post, index, 3, second)
    assert sorted(discord_fake.threads) == sorted([summary["id"], again["id"]])
    row = await finished(bot, second)
    assert (row["user_id"], row["parent_id"]) == (int(discord_fake.user("bob").id), first)
    assert "**3 of 10**" in await quota_of(discord_fake, "alice")
    assert "**3 of 10**" in await quota_of(discord_fake, "bob")


async def test_the_caption_counts_the_quota_left_after_the_refund_of_missing_images(
    discord_fake: FakeDiscord, myrouter: FakeMyRouter
) -> None:
    myrouter.sequence_returns = 2
    inter = await discord_fake.slash(
        "imagine", {"prompt": "a pair of socks", "count": 4, "resolution": "1K"}
    )
    summary = await inter.original(predicate=attachments(2), timeout=30)
    assert "8 left" in summary["content"], summary["content"]  # 10 - 2 delivered


async def test_thread_buttons_work_after_a_restart(
    discord_fake: FakeDiscord, myrouter: FakeMyRouter, bot: SeedreamBot, start_bot: Any
) -> None:
    inter = await discord_fake.slash(
        "imagine", {"prompt": "three boats", "count": 3, "resolution": "1K"}
    )
    summary = await inter.original(predicate=attachments(3), timeout=30)
    job_id = job_of(summary)
    await finished(bot, job_id)
    third = discord_fake.channel_messages(summary["id"])[2]
    await bot.close()
    restarted: SeedreamBot = await start_bot()

    press = await discord_fake.click(third, f"seedream:4k:{job_id}", user="bob")
    await discord_fake.wait_until(lambda: len(myrouter.calls) == 2, timeout=10)
    body = myrouter.calls[1].json
    assert body["size"] == "4096x4096" and len(body["images"]) == 1
    sent = body["images"][0].partition(",")[2]
    assert base64.b64decode(sent) == discord_fake.attachment_bytes(third["attachments"][0])
    upscaled = await press.original(predicate=attachments(1), timeout=60)
    await finished(restarted, job_of(upscaled), timeout=60)

    delete = await discord_fake.click(summary, f"seedream:delete:{job_id}", user="alice")
    ack = await delete.callback()
    assert ack.json["data"]["flags"] & 64 and "Deleted" in ack.json["data"]["content"]
    assert summary["id"] not in discord_fake.messages
    row = await job_rows.get(restarted.db, job_id)
    assert row is not None and row["deleted_at"] is not None
    assert summary["id"] not in discord_fake.threads


async def test_deleting_one_image_of_a_sequence_keeps_the_rest(
    discord_fake: FakeDiscord, myrouter: FakeMyRouter, bot: SeedreamBot
) -> None:
    inter = await discord_fake.slash(
        "imagine", {"prompt": "four hats", "count": 4, "resolution": "1K"}
    )
    summary = await inter.original(predicate=attachments(4), timeout=30)
    job_id = job_of(summary)
    await finished(bot, job_id)
    posts = discord_fake.channel_messages(summary["id"])
    refused = await discord_fake.click(posts[1], f"seedream:delete:{job_id}", user="bob")
    assert "Only the member" in (await refused.callback()).json["data"]["content"]
    press = await discord_fake.click(posts[1], f"seedream:delete:{job_id}", user="alice")
    assert "Deleted" in (await press.callback()).json["data"]["content"]
    left = [m for m in discord_fake.channel_messages(summary["id"]) if not m["flags"] & 64]
    assert [m["id"] for m in left] == [posts[0]["id"], posts[2]["id"], posts[3]["id"]]
    assert summary["id"] in discord_fake.messages and summary["id"] in discord_fake.threads
    row = await job_rows.get(bot.db, job_id)
    assert row is not None and row["deleted_at"] is None  # the result itself is still there
