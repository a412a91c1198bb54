"""What every fault test checks once the fault has played out: the member was told, the quota
is right, the job row is final, and the bot still serves the next request."""

from __future__ import annotations

import asyncio
from typing import Any

from bot.client import SeedreamBot
from bot.errors import ErrorKind, SeedreamError
from bot.storage import jobs as job_rows
from tests.fakes.fake_discord import FakeDiscord, Interaction
from tests.helpers import has_image, quota_of

EPHEMERAL = 64
#: the allowance every member has in these tests (``SEEDREAM_DEFAULT_QUOTA``'s default)
ALLOWANCE = 10


def told(kind: ErrorKind) -> str:
    """Exactly what a member reads for a failure of ``kind`` (bot/errors.py's public texts)."""
    return "❌ " + SeedreamError("", kind=kind).public_message


async def imagine(fake: FakeDiscord, prompt: str, user: str = "alice") -> Interaction:
    """``/imagine`` at 1K: the smallest real images every provider makes (keeps tests fast)."""
    return await fake.slash("imagine", {"prompt": prompt, "resolution": "1K"}, user=user)


async def delivered(inter: Interaction, timeout: float = 15) -> dict[str, Any]:
    """The response message once it carries the image."""
    return await inter.original(predicate=has_image, timeout=timeout)


async def private_notice(inter: Interaction, timeout: float = 15) -> str:
    """The ephemeral follow-up a failed job leaves (its public status message is removed)."""
    followups = await inter.followups(count=1, timeout=timeout)
    assert len(followups) == 1, followups
    notice = followups[0]
    assert notice["flags"] & EPHEMERAL, notice
    return str(notice["content"])


async def assert_quota(fake: FakeDiscord, used: int, user: str = "alice") -> None:
    text = await quota_of(fake, user)
    assert f"**{used} of {ALLOWANCE}**" in text, text


async def final_job(bot: SeedreamBot, inter: Interaction, timeout: float = 10) -> dict[str, Any]:
    """The job row started by ``inter``, once it has reached a final state.

    (A result is posted before the row is settled, so the row may trail the message briefly;
    a row that never settles fails here, showing the state it is stuck in.)
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    row: dict[str, Any] | None = None
    while True:
        found = await bot.db.fetchone(
            "SELECT id FROM jobs WHERE interaction_id = ?", (int(inter.id),)
        )
        if found is not None:
            row = await job_rows.get(bot.db, found["id"])
            if row is not None and row["state"] in job_rows.FINAL_STATES:
                return row
        if loop.time() > deadline:
            raise AssertionError(f"the job of interaction {inter.id} is not final: {row}")
        await asyncio.sleep(0.02)


def bot_images(fake: FakeDiscord, channel: str = "general") -> list[dict[str, Any]]:
    """Every message of the bot that carries an image in ``channel``."""
    return [
        m
        for m in fake.channel_messages(channel)
        if m["author"]["id"] == fake.bot.id and has_image(m)
    ]
