"""A sequence's thread: created from the summary message, one post per image (``3/6``).

Progress is stored as it happens (the thread id, then how many images are posted), so a job
resumed after a crash continues where it stopped instead of posting images twice. Where a
thread cannot be created (a DM, a channel that is itself a thread, no permission), the images
are posted in the channel itself, each still with its index and buttons.
"""

from __future__ import annotations

import io
import logging
from typing import TYPE_CHECKING, Literal

import discord

from bot.jobs.model import Generated
from bot.logs import job_context
from bot.storage import jobs as job_rows
from bot.ui.results import ResultKind, result_view
from bot.ui.text import NO_PINGS, one_line, quote_prompt, truncate

if TYPE_CHECKING:
    from bot.client import SeedreamBot

log = logging.getLogger(__name__)

THREAD_NAME_LIMIT = 100
ARCHIVE_AFTER: Literal[1440] = 1440  # minutes: a day without activity


def thread_name(prompt: str) -> str:
    """Discord thread names are at most 100 characters and cannot be empty."""
    return truncate(one_line(prompt), THREAD_NAME_LIMIT) or "Seedream sequence"


def part_caption(prompt: str, index: int, total: int) -> str:
    return f"**{index}/{total}** · {quote_prompt(prompt, 150)}"


async def post_sequence(bot: SeedreamBot, generated: Generated, summary_id: int) -> None:
    """Create the thread (once) and post every image not posted yet."""
    job = generated.job
    assert job.channel_id is not None
    if job.message_id != summary_id:
        job.message_id = summary_id
        await job_rows.update(bot.db, job.id, message_id=summary_id)
    if job.thread_id is None:
        job.thread_id = await _open_thread(bot, job.channel_id, summary_id, job.request.prompt)
        await job_rows.update(bot.db, job.id, thread_id=job.thread_id)
    target = bot.get_partial_messageable(job.thread_id)
    total = len(generated.outputs)
    for index in range(job.posted, total):
        output = generated.outputs[index]
        await target.send(
            part_caption(job.request.prompt, index + 1, total),
            file=discord.File(io.BytesIO(output.data), filename=output.filename),
            view=result_view(job.id, ResultKind.PART),
            allowed_mentions=NO_PINGS,
        )
        job.posted = index + 1
        await job_rows.update(bot.db, job.id, posted=job.posted)
    with job_context(job.id):
        log.info("sequence posted", extra={"thread_id": job.thread_id, "images": total})


async def _open_thread(bot: SeedreamBot, channel_id: int, message_id: int, prompt: str) -> int:
    """The new thread's id (a thread started from a message shares its id), or the channel's."""
    try:
        thread = await bot.http.start_thread_with_message(
            channel_id, message_id, name=thread_name(prompt), auto_archive_duration=ARCHIVE_AFTER
        )
    except discord.HTTPException as exc:
        if exc.code == 160004:  # a thread was already created from this message
            return message_id
        log.info(
            "no thread for the sequence; posting in the channel",
            extra={"status": exc.status, "code": exc.code},
        )
        return channel_id
    return int(thread["id"])
