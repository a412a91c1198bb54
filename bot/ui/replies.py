"""Reply-to-edit: ``@Bot make it night`` in reply to a message with images.

The instruction is the reply's text without the bot's mention; the references are the replied
message's images, then any images attached to the reply. Discord delivers the content of a
message that mentions the bot even without the privileged Message Content intent, so this works
without it; what the intent adds is the images of replied-to messages that are neither the
bot's own nor mention the bot (without it Discord sends those messages empty).

A reply that only pings the bot because the member replied to one of its results (Discord's
"@ON" reply ping) is not a request: the mention must be written in the text.
"""

from __future__ import annotations

import logging
import re
from typing import TYPE_CHECKING

import discord

from bot.errors import InvalidInput
from bot.jobs.model import new_job_id
from bot.logs import job_context
from bot.providers.models import MATCH
from bot.requests import build_request
from bot.ui.delivery import DEFAULT_UPLOAD_LIMIT
from bot.ui.errors import describe, log_error
from bot.ui.interactions import Origin, admit_with_references, message_sources
from bot.ui.policy import attempt_in, enforce
from bot.ui.text import NO_PINGS

if TYPE_CHECKING:
    from bot.client import SeedreamBot

log = logging.getLogger(__name__)

NO_INSTRUCTION = (
    "Say what to change after mentioning me, for example `@Seedream make it night`, in a reply "
    "to a message with images."
)
NO_IMAGES = (
    "I found no images to edit. Reply to a message with images (or attach some to your "
    "message) and mention me with what to change."
)
HIDDEN_IMAGES = (
    "I cannot see the images of that message: this bot runs without Discord's Message Content "
    "intent. Attach the image to your reply, or use the message menu **Apps → Edit image** on "
    "that message."
)


def instruction_of(content: str, bot_id: int) -> str | None:
    """The text without the bot's mentions; None when the text does not mention the bot."""
    mention = re.compile(rf"<@!?{bot_id}>")
    if not mention.search(content):
        return None
    return " ".join(mention.sub(" ", content).split())


async def handle_message(bot: SeedreamBot, message: discord.Message) -> None:
    """Start an edit job for a message that mentions the bot, or explain what is missing."""
    if message.author.bot or bot.user is None:
        return
    instruction = instruction_of(message.content, bot.user.id)
    if instruction is None:
        return
    job_id = new_job_id()
    status: discord.Message | None = None
    with job_context(job_id):
        try:
            replied = await _replied_message(message)
            found = (message_sources(bot, replied) if replied else []) + message_sources(
                bot, message
            )
            if not found:
                hidden = (
                    replied is not None
                    and not bot.intents.message_content
                    and replied.author.id != bot.user.id
                    and not replied.attachments
                )
                raise InvalidInput(HIDDEN_IMAGES if hidden else NO_IMAGES)
            if not instruction:
                raise InvalidInput(NO_INSTRUCTION)
            request = build_request(
                bot.settings,
                bot.router.models,
                prompt=instruction,
                aspect=MATCH,
                default_model=await bot.default_model(message.guild.id if message.guild else None),
            )
            await enforce(
                bot,
                attempt_in(
                    message.channel,
                    guild_id=message.guild.id if message.guild else None,
                    user_id=message.author.id,
                    prompt=instruction,
                    model=request.model,
                    source="reply",
                    references=len(found),
                ),
            )
            status = await message.reply(
                "⏳ Preparing the reference images…",
                mention_author=False,
                allowed_mentions=NO_PINGS,
            )
            job = _origin(message).job(job_id, "reply", request)
            job.message_id = status.id
            delivery = bot.delivery_for(job)
            await admit_with_references(bot, job, delivery, found)
            await bot.runner.submit(job, delivery)
        except Exception as exc:
            log_error("reply-to-edit", exc)
            await _refuse(message, status, describe(exc, job_id))


def _origin(message: discord.Message) -> Origin:
    roles = getattr(message.author, "roles", [])
    return Origin(
        guild_id=message.guild.id if message.guild else None,
        channel_id=message.channel.id,
        user_id=message.author.id,
        role_ids=tuple(role.id for role in roles),
        upload_limit=message.guild.filesize_limit if message.guild else DEFAULT_UPLOAD_LIMIT,
        reply_to_id=message.id,
    )


async def _replied_message(message: discord.Message) -> discord.Message | None:
    """The message replied to: as Discord sent it with the reply, else fetched."""
    reference = message.reference
    if reference is None or reference.message_id is None:
        return None
    if isinstance(reference.resolved, discord.Message):
        return reference.resolved
    try:
        return await message.channel.fetch_message(reference.message_id)
    except discord.HTTPException:
        return None


async def _refuse(message: discord.Message, status: discord.Message | None, text: str) -> None:
    """A short answer in place of the status message (or as a reply), pinging nobody."""
    try:
        if status is not None:
            await status.edit(content=text, allowed_mentions=NO_PINGS)
        else:
            await message.reply(text, mention_author=False, allowed_mentions=NO_PINGS)
    except discord.HTTPException as exc:
        log.warning("could not answer a reply", extra={"status": exc.status, "code": exc.code})
