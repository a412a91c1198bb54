"""The buttons under a result (reroll, edit, variations, 4K, delete) end to end, also pressed
after the bot restarted: the real bot, the fake Discord, the MyRouter fake."""

from __future__ import annotations

import base64
import io
import re
from typing import Any

import pytest
from PIL import Image

from bot.client import SeedreamBot
from bot.storage import jobs as job_rows
from tests.fakes.fake_discord import FakeDiscord, Interaction
from tests.fakes.fake_discord import permissions as P
from tests.fakes.providers.myrouter import FakeMyRouter
from tests.helpers import attachments, custom_ids, finished, job_of, png_bytes, quota_of

pytestmark = pytest.mark.usefixtures("bot")

SINGLE_ACTIONS = ("reroll", "edit", "vary", "4k", "delete")


def decoded(data_url: str) -> bytes:
    head, _, payload = data_url.partition(",")
    assert head.startswith("data:image/") and head.endswith(";base64"), head
    return base64.b64decode(payload)


def size_of(data: bytes) -> tuple[int, int]:
    with Image.open(io.BytesIO(data)) as image:
        return image.size


async def single_result(
    fake: FakeDiscord, prompt: str = "a red fox", user: str = "alice", **options: Any
) -> dict[str, Any]:
    inter = await fake.slash(
        "imagine", {"prompt": prompt, "resolution": "1K", **options}, user=user
    )
    return await inter.original(predicate=attachments(1), timeout=30)


async def ephemeral_text(press: Interaction) -> str:
    ack = await press.callback()
    assert ack.json["type"] == 4 and ack.json["data"]["flags"] & 64, ack.json
    return str(ack.json["data"]["content"])


async def test_a_single_result_has_every_button(discord_fake: FakeDiscord) -> None:
    message = await single_result(discord_fake)
    job_id = job_of(message)
    assert custom_ids(message) == [f"seedream:{action}:{job_id}" for action in SINGLE_ACTIONS]


async def test_reroll_makes_a_new_job_charged_to_the_presser(
    discord_fake: FakeDiscord, myrouter: FakeMyRouter, bot: SeedreamBot
) -> None:
    bob = discord_fake.user("bob")
    message = await single_result(discord_fake, "a red fox", aspect="16:9")
    job_id = job_of(message)
    press = await discord_fake.click(message, f"seedream:reroll:{job_id}", user="bob")
    rerolled = await press.original(predicate=attachments(1), timeout=30)

    assert rerolled["id"] != message["id"] and message["id"] in discord_fake.messages
    assert len(myrouter.calls) == 2
    assert myrouter.calls[1].json == myrouter.calls[0].json  # same prompt, size, everything
    assert myrouter.calls[1].json["prompt"] == "a red fox"
    new_job = job_of(rerolled)
    assert new_job != job_id
    assert f"<@{bob.id}>" in rerolled["content"] and discord_fake.pings(rerolled) == set()
    row = await finished(bot, new_job)
    assert (row["user_id"], row["parent_id"], row["state"]) == (int(bob.id), job_id, "done")
    assert "**1 of 10**" in await quota_of(discord_fake, "bob")
    assert "**1 of 10**" in await quota_of(discord_fake, "alice")


async def test_edit_opens_a_modal_and_uses_the_pressed_image(
    discord_fake: FakeDiscord, myrouter: FakeMyRouter, bot: SeedreamBot
) -> None:
    message = await single_result(discord_fake, "a red fox", aspect="16:9")
    pressed = discord_fake.attachment_bytes(message["attachments"][0])
    pressed_size = size_of(pressed)
    assert pressed_size[0] > pressed_size[1]  # 16:9, so a size mix-up would show
    job_id = job_of(message)
    press = await discord_fake.click(message, f"seedream:edit:{job_id}", user="alice")
    modal = await press.modal_shown()
    assert modal["custom_id"] == f"seedream:editmodal:{job_id}"
    assert myrouter.calls[1:] == []  # nothing generated before the instruction is given
    submitted = await discord_fake.submit_modal(press, {"instruction": "give it a crown"})
    edited = await submitted.original(predicate=attachments(1), timeout=30)

    assert len(myrouter.calls) == 2
    body = myrouter.calls[1].json
    assert body["prompt"] == "give it a crown"
    assert len(body["images"]) == 1
    assert size_of(decoded(body["images"][0])) == pressed_size
    width, height = (int(v) for v in body["size"].split("x"))
    assert abs(width / height - pressed_size[0] / pressed_size[1]) < 0.02
    new_job = job_of(edited)
    row = await finished(bot, new_job)
    assert (row["parent_id"], row["prompt"], row["state"]) == (job_id, "give it a crown", "done")


async def test_variations_ask_for_four_images_with_the_pressed_image(
    discord_fake: FakeDiscord, myrouter: FakeMyRouter, bot: SeedreamBot
) -> None:
    message = await single_result(discord_fake, "a lighthouse")
    pressed = discord_fake.attachment_bytes(message["attachments"][0])
    job_id = job_of(message)
    press = await discord_fake.click(message, f"seedream:vary:{job_id}", user="alice")
    summary = await press.original(predicate=attachments(4), timeout=30)

    body = myrouter.calls[1].json
    assert body["prompt"].endswith(": a lighthouse")  # the sequence wording, then the prompt
    assert body["sequential_image_generation"] == "auto" and body["max_images"] == 4
    assert len(body["images"]) == 1
    assert size_of(decoded(body["images"][0])) == size_of(pressed)
    row = await finished(bot, job_of(summary))
    assert (row["count"], row["delivered"], row["parent_id"]) == (4, 4, job_id)
    assert len(discord_fake.channel_messages(summary["id"])) == 4  # its thread
    assert "**5 of 10**" in await quota_of(discord_fake, "alice")


async def test_4k_asks_for_4k_with_the_pressed_image(
    discord_fake: FakeDiscord, myrouter: FakeMyRouter, bot: SeedreamBot
) -> None:
    message = await single_result(discord_fake, "a mountain")
    pressed = discord_fake.attachment_bytes(message["attachments"][0])
    job_id = job_of(message)
    press = await discord_fake.click(message, f"seedream:4k:{job_id}", user="alice")
    upscaled = await press.original(predicate=attachments(1), timeout=60)

    body = myrouter.calls[1].json
    assert body["size"] == "4096x4096"
    assert body["prompt"] == "a mountain"
    assert body.get("sequential_image_generation", "disabled") == "disabled"
    assert len(body["images"]) == 1
    assert size_of(decoded(body["images"][0])) == size_of(pressed) == (1024, 1024)
    row = await finished(bot, job_of(upscaled), timeout=60)
    assert (row["state"], row["parent_id"], row["width"], row["height"]) == (
        "done",
        job_id,
        4096,
        4096,
    )


async def test_delete_by_the_requester(
    discord_fake: FakeDiscord, myrouter: FakeMyRouter, bot: SeedreamBot
) -> None:
    message = await single_result(discord_fake)
    job_id = job_of(message)
    press = await discord_fake.click(message, f"seedream:delete:{job_id}", user="alice")
    assert "Deleted" in await ephemeral_text(press)
    assert message["id"] not in discord_fake.messages
    row = await job_rows.get(bot.db, job_id)
    assert row is not None and row["deleted_at"] is not None
    assert "**1 of 10**" in await quota_of(discord_fake, "alice")  # deleting refunds nothing


async def test_delete_by_another_member_is_refused(
    discord_fake: FakeDiscord, myrouter: FakeMyRouter, bot: SeedreamBot
) -> None:
    message = await single_result(discord_fake)
    job_id = job_of(message)
    mark = discord_fake.mark()
    press = await discord_fake.click(message, f"seedream:delete:{job_id}", user="bob")
    assert "Only the member who asked" in await ephemeral_text(press)
    assert message["id"] in discord_fake.messages
    assert not [c for c in discord_fake.calls_since(mark) if c.method == "DELETE"]
    row = await job_rows.get(bot.db, job_id)
    assert row is not None and row["deleted_at"] is None


@pytest.mark.parametrize("how", ["moderator role", "channel overwrite"])
async def test_delete_by_a_member_with_manage_messages(
    discord_fake: FakeDiscord, myrouter: FakeMyRouter, bot: SeedreamBot, how: str
) -> None:
    if how == "moderator role":
        deleter = "mod"  # the Moderator role has Manage Messages server-wide
    else:
        deleter = "bob"
        discord_fake.set_overwrite("general", "bob", allow=P.MANAGE_MESSAGES)
    message = await single_result(discord_fake)
    job_id = job_of(message)
    press = await discord_fake.click(message, f"seedream:delete:{job_id}", user=deleter)
    assert "Deleted" in await ephemeral_text(press)
    assert message["id"] not in discord_fake.messages
    row = await job_rows.get(bot.db, job_id)
    assert row is not None and row["deleted_at"] is not None


async def test_manage_messages_in_another_channel_does_not_allow_deleting(
    discord_fake: FakeDiscord, myrouter: FakeMyRouter, bot: SeedreamBot
) -> None:
    discord_fake.set_overwrite("mod-log", "bob", allow=P.MANAGE_MESSAGES)
    message = await single_result(discord_fake)
    job_id = job_of(message)
    press = await discord_fake.click(message, f"seedream:delete:{job_id}", user="bob")
    assert "Only the member who asked" in await ephemeral_text(press)
    assert message["id"] in discord_fake.messages


async def test_buttons_work_after_a_restart(
    discord_fake: FakeDiscord, myrouter: FakeMyRouter, bot: SeedreamBot, start_bot: Any
) -> None:
    message = await single_result(discord_fake, "a paper boat", aspect="16:9")
    pressed_size = size_of(discord_fake.attachment_bytes(message["attachments"][0]))
    job_id = job_of(message)
    await bot.close()
    restarted: SeedreamBot = await start_bot()

    reroll = await discord_fake.click(message, f"seedream:reroll:{job_id}", user="bob")
    rerolled = await reroll.original(predicate=attachments(1), timeout=30)
    assert myrouter.calls[1].json == myrouter.calls[0].json
    await finished(restarted, job_of(rerolled))

    edit = await discord_fake.click(message, f"seedream:edit:{job_id}", user="alice")
    modal = await edit.modal_shown()
    assert modal["custom_id"] == f"seedream:editmodal:{job_id}"
    submitted = await discord_fake.submit_modal(edit, {"instruction": "make it night"})
    edited = await submitted.original(predicate=attachments(1), timeout=30)
    body = myrouter.calls[2].json
    assert body["prompt"] == "make it night" and len(body["images"]) == 1
    assert size_of(decoded(body["images"][0])) == pressed_size
    row = await finished(restarted, job_of(edited))
    assert (row["state"], row["parent_id"]) == ("done", job_id)
    assert len(myrouter.calls) == 3


async def test_a_modal_opened_before_a_restart_is_submitted_after_it(
    discord_fake: FakeDiscord, myrouter: FakeMyRouter, bot: SeedreamBot, start_bot: Any
) -> None:
    message = await single_result(discord_fake, "a castle")
    job_id = job_of(message)
    press = await discord_fake.click(message, f"seedream:edit:{job_id}", user="alice")
    await press.modal_shown()
    await bot.close()
    restarted: SeedreamBot = await start_bot()

    submitted = await discord_fake.submit_modal(press, {"instruction": "add a dragon"})
    edited = await submitted.original(predicate=attachments(1), timeout=30)
    body = myrouter.calls[1].json
    assert body["prompt"] == "add a dragon" and len(body["images"]) == 1
    assert size_of(decoded(body["images"][0])) == (1024, 1024)
    row = await finished(restarted, job_of(edited))
    assert (row["state"], row["parent_id"], row["user_id"]) == (
        "done",
        job_id,
        int(discord_fake.user("alice").id),
    )


async def test_buttons_of_a_job_the_bot_no_longer_knows_are_refused(
    discord_fake: FakeDiscord, myrouter: FakeMyRouter, bot: SeedreamBot
) -> None:
    message = await single_result(discord_fake)
    job_id = job_of(message)
    await finished(bot, job_id)
    await bot.db.execute("DELETE FROM jobs WHERE id = ?", (job_id,))
    for action in ("reroll", "vary", "edit", "delete"):
        press = await discord_fake.click(message, f"seedream:{action}:{job_id}", user="alice")
        assert "no longer knows this result" in await ephemeral_text(press), action
    assert len(myrouter.calls) == 1
    assert message["id"] in discord_fake.messages


async def test_variations_of_an_image_in_a_thread_use_that_image(
    discord_fake: FakeDiscord, myrouter: FakeMyRouter, bot: SeedreamBot
) -> None:
    inter = await discord_fake.slash(
        "imagine", {"prompt": "three cats", "count": 3, "resolution": "1K"}
    )
    summary = await inter.original(predicate=attachments(3), timeout=30)
    sequence = job_of(summary)
    await finished(bot, sequence)
    posts = discord_fake.channel_messages(summary["id"])
    assert len(posts) == 3
    second = posts[1]
    assert second["content"].startswith("**2/3**")
    press = await discord_fake.click(second, f"seedream:vary:{sequence}", user="bob")
    varied = await press.original(predicate=attachments(4), timeout=30)

    body = myrouter.calls[1].json
    assert body["max_images"] == 4 and len(body["images"]) == 1
    # the reference is the pressed image (2/3), not the first image of the sequence
    sent = decoded(body["images"][0])
    assert sent == discord_fake.attachment_bytes(second["attachments"][0])
    assert sent != discord_fake.attachment_bytes(posts[0]["attachments"][0])
    new_job = job_of(varied)
    row = await finished(bot, new_job)
    assert (row["state"], row["delivered"], row["user_id"]) == (
        "done",
        4,
        int(discord_fake.user("bob").id),
    )
    # A thread cannot hold a thread: the four images follow in the same thread, each indexed.
    assert varied["channel_id"] == summary["id"]
    parts = [m for m in discord_fake.channel_messages(summary["id"]) if new_job in str(m)]
    parts = [m for m in parts if m["id"] != varied["id"]]
    assert [m["content"][:7] for m in parts] == ["**1/4**", "**2/4**", "**3/4**", "**4/4**"]


async def test_reroll_of_an_edit_sends_the_same_reference_again(
    discord_fake: FakeDiscord, myrouter: FakeMyRouter, bot: SeedreamBot
) -> None:
    photo = discord_fake.add_cdn_file("cat.png", png_bytes(300, 200), "image/png")
    inter = await discord_fake.slash("edit", {"image": photo, "prompt": "the cat as a king"})
    message = await inter.original(predicate=attachments(1), timeout=30)
    job_id = job_of(message)
    press = await discord_fake.click(message, f"seedream:reroll:{job_id}", user="alice")
    await press.original(predicate=attachments(1), timeout=30)
    first, second = myrouter.calls[0].json, myrouter.calls[1].json
    assert second["prompt"] == first["prompt"] == "the cat as a king"
    assert second["size"] == first["size"]
    assert len(second["images"]) == 1 and second["images"] == first["images"]
    assert size_of(decoded(second["images"][0])) == (300, 200)


@pytest.mark.settings(seedream_default_quota=1)
async def test_reroll_by_a_member_over_quota_is_refused_privately(
    discord_fake: FakeDiscord, myrouter: FakeMyRouter
) -> None:
    message = await single_result(discord_fake, "a kite", user="alice")
    job_id = job_of(message)
    allowed = await discord_fake.click(message, f"seedream:reroll:{job_id}", user="bob")
    await allowed.original(predicate=attachments(1), timeout=30)
    refused = await discord_fake.click(message, f"seedream:reroll:{job_id}", user="bob")
    text = await ephemeral_text(refused)
    assert re.search(r"<t:\d+:R>", text), text  # when the allowance comes back
    assert len(myrouter.calls) == 2
    assert "**1 of 1**" in await quota_of(discord_fake, "bob")


async def test_a_blank_edit_instruction_is_refused(
    discord_fake: FakeDiscord, myrouter: FakeMyRouter
) -> None:
    message = await single_result(discord_fake)
    job_id = job_of(message)
    press = await discord_fake.click(message, f"seedream:edit:{job_id}", user="alice")
    await press.modal_shown()
    submitted = await discord_fake.submit_modal(press, {"instruction": "   "})
    assert "Say what should change" in await ephemeral_text(submitted)
    assert len(myrouter.calls) == 1
    assert "**1 of 10**" in await quota_of(discord_fake, "alice")
