"""Removing a job's output from Discord: its message, its sequence thread, and the record."""

from __future__ import annotations

import contextlib
import time
from typing import TYPE_CHECKING, Any

import discord

from bot.storage import jobs as job_rows
from bot.storage import moderation as mod_rows

if TYPE_CHECKING:
    from bot.client import SeedreamBot


async def delete_output(bot: SeedreamBot, row: dict[str, Any], deleted_by: int) -> None:
    """Delete the result message (and a sequence's thread); mark the job; a moderator deleting
    someone else's output leaves a case record."""
    if row["channel_id"] and row["message_id"]:
        message = bot.get_partial_messageable(row["channel_id"]).get_partial_message(
            row["message_id"]
        )
        with contextlib.suppress(discord.NotFound):
            await message.delete()
    await forget_message(bot, row, deleted_by)


async def forget_message(bot: SeedreamBot, row: dict[str, Any], deleted_by: int) -> None:
    """The result message is gone: remove its thread and mark the job."""
    if row["thread_id"] and row["thread_id"] != row["channel_id"]:
        await _remove_thread(bot, row["thread_id"])
    await job_rows.update(bot.db, row["id"], deleted_at=time.time(), deleted_by=deleted_by)
    if deleted_by != row["user_id"] and row["guild_id"] is not None:
        await mod_rows.record_case(
            bot.db,
            row["guild_id"],
            "delete-output",
            deleted_by,
            target_id=row["user_id"],
            job_id=row["id"],
        )


async def _remove_thread(bot: SeedreamBot, thread_id: int) -> None:
    """Delete a sequence's thread, or at least archive it (deleting needs Manage Threads)."""
    try:
        await bot.http.delete_channel(thread_id, reason="Seedream result deleted")
    except discord.Forbidden:
        with contextlib.suppress(discord.HTTPException):
            await bot.http.edit_channel(thread_id, archived=True)
    except discord.NotFound:
        pass  # already gone
