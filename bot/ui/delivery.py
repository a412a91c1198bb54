"""Delivering a job to the Discord interaction that started it — also after a restart.

Everything needed is in the job row: the application id and interaction token (valid for 15
minutes) and the id of the response message. While the token is valid, progress and results
edit that message through the interaction webhook; after it expires, results are posted in the
channel as a reply that pings the requester (and only them).
"""

from __future__ import annotations

import io
import logging
import time
from typing import TYPE_CHECKING

import discord

from bot.errors import SeedreamError
from bot.jobs.model import Generated, Job, Stage
from bot.logs import job_context
from bot.ui.captions import progress_text, queued_text, result_caption
from bot.ui.errors import describe
from bot.ui.text import NO_PINGS
from bot.ui.throttle import Throttle

if TYPE_CHECKING:
    from bot.client import SeedreamBot

log = logging.getLogger(__name__)

EDIT_INTERVAL = 3.0  # seconds between progress edits of one job
TOKEN_MARGIN = 60.0  # do not start using a token in its last minute
DEFAULT_UPLOAD_LIMIT = 10 * 1024 * 1024
# Invalid Webhook Token (the 15 minutes are over), Unknown Webhook, Unknown Message
EXPIRED_TOKEN_CODES = frozenset({50027, 10015, 10008})


class InteractionDelivery:
    """Shows a job's progress in, and posts its results to, its interaction response."""

    def __init__(self, bot: SeedreamBot, job: Job) -> None:
        self.bot = bot
        self.job_id = job.id
        self.user_id = job.user_id
        self.channel_id = job.channel_id
        self.message_id = job.message_id
        self.upload_limit = job.upload_limit or DEFAULT_UPLOAD_LIMIT
        self.expires_at = job.token_expires_at or 0.0
        self.webhook: discord.Webhook | None = None
        if job.application_id and job.interaction_token:
            # The same kind of webhook discord.py builds for Interaction.followup.
            self.webhook = discord.Webhook.from_state(
                {"id": job.application_id, "type": 3, "token": job.interaction_token},
                bot._connection,
            )
        self.throttle = Throttle(EDIT_INTERVAL)

    def token_usable(self) -> bool:
        return self.webhook is not None and time.time() < self.expires_at - TOKEN_MARGIN

    async def _edit(
        self, content: str, attachments: list[discord.File] | None = None
    ) -> discord.WebhookMessage | None:
        """Edit the response message while the token lasts; None once it cannot."""
        if not self.token_usable() or self.message_id is None:
            return None
        assert self.webhook is not None
        try:
            if attachments is None:
                return await self.webhook.edit_message(
                    self.message_id, content=content, allowed_mentions=NO_PINGS
                )
            return await self.webhook.edit_message(
                self.message_id,
                content=content,
                attachments=attachments,
                allowed_mentions=NO_PINGS,
            )
        except discord.HTTPException as exc:
            if exc.code not in EXPIRED_TOKEN_CODES:
                raise
            self.expires_at = 0.0  # Discord says the token is gone, whatever our clock says
            return None

    async def queued(self, job: Job, position: int) -> None:
        await self.throttle.submit(lambda: self._edit(content=queued_text(job, position)))

    async def progress(
        self, job: Job, stage: Stage, size: tuple[int, int], percent: int | None
    ) -> None:
        await self.throttle.submit(
            lambda: self._edit(content=progress_text(job, stage, size, percent))
        )

    async def deliver(self, generated: Generated) -> int | None:
        self.throttle.close()
        files = [
            discord.File(io.BytesIO(out.data), filename=out.filename) for out in generated.outputs
        ]
        caption = result_caption(generated)
        message = await self._edit(content=caption, attachments=files)
        if message is not None:
            return message.id
        return await self._reply_in_channel(caption, files)

    async def failed(self, job: Job, error: SeedreamError) -> None:
        self.throttle.close()
        text = describe(error, job.id)
        if self.token_usable() and self.webhook is not None:
            try:
                if self.message_id is not None:
                    await self.webhook.delete_message(self.message_id)
                await self.webhook.send(text, ephemeral=True, allowed_mentions=NO_PINGS)
                return
            except discord.HTTPException as exc:
                if exc.code not in EXPIRED_TOKEN_CODES:
                    raise
                self.expires_at = 0.0
        await self._reply_in_channel(text, [])

    async def cancelled(self, job: Job) -> None:
        self.throttle.close()
        await self._edit(content="🚫 Cancelled. The images it reserved were refunded.")

    async def _reply_in_channel(self, content: str, files: list[discord.File]) -> int | None:
        """After the token expired: a reply to the response message that pings the requester."""
        if self.channel_id is None:
            return None
        channel = self.bot.get_partial_messageable(self.channel_id)
        reference = (
            discord.MessageReference(
                message_id=self.message_id, channel_id=self.channel_id, fail_if_not_exists=False
            )
            if self.message_id
            else None
        )
        ping = f"<@{self.user_id}> " if self.user_id else ""
        mentions = discord.AllowedMentions(
            everyone=False,
            roles=False,
            replied_user=False,
            users=[discord.Object(self.user_id)] if self.user_id else False,
        )
        message = await channel.send(
            (ping + content)[:2000],
            files=files,
            reference=reference,  # type: ignore[arg-type]
            allowed_mentions=mentions,
        )
        with job_context(self.job_id):
            log.info("delivered in the channel (interaction token expired)")
        return message.id
