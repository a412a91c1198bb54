"""Delivering a job to Discord — progress, results, failures — also after a restart.

Everything needed is in the job row, so a delivery can be rebuilt in a later process:

- :class:`InteractionDelivery` (slash commands, context menu, modals, buttons): while the
  15-minute interaction token is valid, progress and results edit the response message through
  the interaction webhook; after it expires, results are posted in the channel as a reply that
  pings the requester (and only them).
- :class:`ChannelDelivery` (reply-to-edit): there is no interaction, so the bot edits its own
  status message (a reply to the member's message) with its bot token.

Both post one image with the full row of result buttons; a sequence becomes a summary message
(at most 10 attachments) plus a thread with every image on its own (:mod:`bot.ui.sequences`).
"""

from __future__ import annotations

import io
import logging
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

import discord
from discord.utils import MISSING

from bot.errors import SeedreamError
from bot.jobs.model import Generated, Job, Output, Stage
from bot.jobs.steps import refit
from bot.logs import job_context
from bot.providers.models import Reference
from bot.storage import jobs as job_rows
from bot.ui import hosting
from bot.ui.captions import progress_text, queued_text, result_caption, shown_outputs
from bot.ui.errors import describe
from bot.ui.limits import batches
from bot.ui.results import ResultKind, result_view
from bot.ui.sequences import post_sequence
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
UNKNOWN_MESSAGE = 10008


def files_of(outputs: Sequence[Output]) -> list[discord.File]:
    return [discord.File(io.BytesIO(out.data), filename=out.filename) for out in outputs]


class MessageDelivery:
    """What both deliveries share: throttled status edits, result layout, channel fallback.

    Subclasses say how the status message is edited (:meth:`_edit`, ``None`` when it cannot
    be) and which message a fallback post replies to (``reply_target``).
    """

    def __init__(self, bot: SeedreamBot, job: Job) -> None:
        self.bot = bot
        self.job = job
        self.upload_limit = job.upload_limit or DEFAULT_UPLOAD_LIMIT
        self.throttle = Throttle(EDIT_INTERVAL)

    @property
    def reply_target(self) -> int | None:
        return self.job.message_id

    async def _edit(
        self,
        content: str,
        files: list[discord.File] | None = None,
        view: discord.ui.View | None = None,
    ) -> discord.Message | None:
        raise NotImplementedError

    # --- Delivery protocol ------------------------------------------------------------------

    async def queued(self, job: Job, position: int) -> None:
        await self.throttle.submit(lambda: self._edit(queued_text(job, position)))

    async def progress(
        self, job: Job, stage: Stage, size: tuple[int, int], percent: int | None
    ) -> None:
        await self.throttle.submit(lambda: self._edit(progress_text(job, stage, size, percent)))

    async def deliver(self, generated: Generated) -> int | None:
        """The result message (a summary for sequences), then the thread of a sequence."""
        self.throttle.close()
        job = generated.job
        outputs = generated.outputs
        kind = ResultKind.SINGLE if len(outputs) == 1 else ResultKind.SUMMARY
        caption = result_caption(generated)
        view = result_view(job.id, kind)
        shown = shown_outputs(outputs)
        message_id: int | None = None
        if job.thread_id is None and job.posted == 0:  # not yet delivered by an earlier process
            message, shown, caption = await self._edit_result(generated, shown, caption, view)
            message_id = (
                message.id if message is not None else await self._post_once(caption, shown, view)
            )
        else:
            message_id = job.message_id
        if len(outputs) > 1 and message_id is not None and job.channel_id is not None:
            try:
                await post_sequence(self.bot, generated, message_id)
                if job.thread_id == job.channel_id:  # no thread could be made: say where
                    await self._edit(result_caption(generated, threaded=False))
            except discord.HTTPException as exc:
                # The images are delivered in the summary; the thread is a convenience.
                with job_context(job.id):
                    log.warning(
                        "could not post the sequence's thread",
                        extra={"status": exc.status, "code": exc.code},
                    )
        return message_id

    async def _edit_result(
        self,
        generated: Generated,
        shown: list[Output],
        caption: str,
        view: discord.ui.View,
    ) -> tuple[discord.Message | None, list[Output], str]:
        """Put the result in the status message. Discord refusing the files as too large (its
        limit for this channel is below what the interaction said) gets them fitted again at
        half their size; Discord failing (5xx after discord.py's retries) leaves the channel post
        to the caller instead of failing a paid job."""
        try:
            return await self._edit(caption, files_of(shown), view), shown, caption
        except discord.HTTPException as exc:
            if exc.status >= 500:
                log.warning("could not edit in the result", extra={"status": exc.status})
                return None, shown, caption
            if exc.status != 413:
                raise
        smaller = await refit(shown)
        refitted = Generated(generated.job, generated.result, smaller, generated.remaining)
        caption = result_caption(refitted)
        return await self._edit(caption, files_of(smaller), view), smaller, caption

    async def failed(self, job: Job, error: SeedreamError) -> None:
        self.throttle.close()
        text = describe(error, job.id)
        if await self._edit(text) is None:
            await self._post(text, [], None)

    async def cancelled(self, job: Job) -> None:
        self.throttle.close()
        await self._edit("🚫 Cancelled. The images it reserved were refunded.")

    async def host(self, references: Sequence[Reference]) -> tuple[Reference, ...]:
        """Fresh Discord URLs for references (URL-only providers): refresh, else upload."""
        return await hosting.fresh_references(self.bot, references, self._upload)

    async def _upload(self, files: list[tuple[str, bytes]]) -> list[str]:
        """Attach files to the status message; what does not fit goes in channel messages."""
        urls: list[str] = []
        for number, group in enumerate(batches(files, lambda file: len(file[1]))):
            attached = [discord.File(io.BytesIO(data), filename=name) for name, data in group]
            message = None
            if number == 0:
                message = await self._edit("⏳ Preparing the reference images…", attached)
            if message is None:
                channel = self.bot.get_partial_messageable(self.job.channel_id or 0)
                message = await channel.send(
                    f"📎 Reference images for job `{self.job.id}`",
                    files=attached,
                    allowed_mentions=NO_PINGS,
                )
            urls.extend(attachment.url for attachment in message.attachments)
        return urls

    # --- fallback: a new message in the channel ---------------------------------------------

    async def _post_once(
        self, content: str, outputs: Sequence[Output], view: discord.ui.View
    ) -> int | None:
        """Post the result in the channel unless an earlier process already did."""
        if self.job.recovered:
            earlier = await self._find_posted()
            if earlier is not None:
                return earlier
        return await self._post(content, files_of(outputs), view)

    async def _find_posted(self) -> int | None:
        """A message of ours carrying this job's buttons, posted after the status message."""
        if self.job.channel_id is None or self.reply_target is None:
            return None
        channel = self.bot.get_partial_messageable(self.job.channel_id)
        try:
            async for message in channel.history(
                after=discord.Object(self.reply_target), limit=100
            ):
                mine = self.bot.user is not None and message.author.id == self.bot.user.id
                if mine and self.job.id in _custom_ids(message):
                    return message.id
        except discord.HTTPException:
            return None
        return None

    async def _post(
        self, content: str, files: list[discord.File], view: discord.ui.View | None
    ) -> int | None:
        """A reply in the channel that pings the requester (and only them)."""
        job = self.job
        if job.channel_id is None:
            return None
        channel = self.bot.get_partial_messageable(job.channel_id)
        target = self.reply_target
        reference = (
            discord.MessageReference(
                message_id=target, channel_id=job.channel_id, fail_if_not_exists=False
            )
            if target
            else None
        )
        ping = f"<@{job.user_id}> " if job.user_id else ""
        mentions = discord.AllowedMentions(
            everyone=False,
            roles=False,
            replied_user=False,
            users=[discord.Object(job.user_id)] if job.user_id else False,
        )
        message = await channel.send(
            (ping + content)[:2000],
            files=files,
            reference=reference,  # type: ignore[arg-type]
            allowed_mentions=mentions,
            view=MISSING if view is None else view,
        )
        with job_context(job.id):
            log.info("posted in the channel", extra={"message_id": message.id})
        return message.id


class InteractionDelivery(MessageDelivery):
    """Shows a job's progress in, and posts its results to, its interaction response."""

    def __init__(self, bot: SeedreamBot, job: Job) -> None:
        super().__init__(bot, job)
        self.expires_at = job.token_expires_at or 0.0
        self.webhook: discord.Webhook | None = None
        if job.application_id and job.interaction_token:
            # The same kind of webhook discord.py builds for Interaction.followup.
            self.webhook = discord.Webhook.from_state(
                {"id": job.application_id, "type": 3, "token": job.interaction_token},
                bot._connection,
            )

    def token_usable(self) -> bool:
        return self.webhook is not None and time.time() < self.expires_at - TOKEN_MARGIN

    async def _edit(
        self,
        content: str,
        files: list[discord.File] | None = None,
        view: discord.ui.View | None = None,
    ) -> discord.Message | None:
        """Edit the response message while the token lasts; None once it cannot."""
        if not self.token_usable() or self.job.message_id is None:
            return None
        assert self.webhook is not None
        try:
            return await self.webhook.edit_message(
                self.job.message_id,
                content=content,
                attachments=MISSING if files is None else files,
                view=MISSING if view is None else view,
                allowed_mentions=NO_PINGS,
            )
        except discord.HTTPException as exc:
            if exc.code not in EXPIRED_TOKEN_CODES:
                raise
            self.expires_at = 0.0  # Discord says the token is gone, whatever our clock says
            return None

    async def failed(self, job: Job, error: SeedreamError) -> None:
        """Privately while the token lasts (the public status message is removed)."""
        self.throttle.close()
        text = describe(error, job.id)
        if self.token_usable() and self.webhook is not None:
            try:
                if job.message_id is not None:
                    await self.webhook.delete_message(job.message_id)
                await self.webhook.send(text, ephemeral=True, allowed_mentions=NO_PINGS)
                return
            except discord.HTTPException as exc:
                if exc.code not in EXPIRED_TOKEN_CODES:
                    raise
                self.expires_at = 0.0
        await self._post(text, [], None)


class ChannelDelivery(MessageDelivery):
    """Reply-to-edit: the bot's own status message, edited with the bot token."""

    @property
    def reply_target(self) -> int | None:
        return self.job.reply_to_id

    async def _edit(
        self,
        content: str,
        files: list[discord.File] | None = None,
        view: discord.ui.View | None = None,
    ) -> discord.Message | None:
        job = self.job
        if job.channel_id is None or job.message_id is None:
            return None
        message = self.bot.get_partial_messageable(job.channel_id).get_partial_message(
            job.message_id
        )
        try:
            return await message.edit(
                content=content,
                attachments=MISSING if files is None else files,
                view=MISSING if view is None else view,
                allowed_mentions=NO_PINGS,
            )
        except discord.NotFound as exc:  # someone deleted the status message
            if exc.code != UNKNOWN_MESSAGE:
                raise
            job.message_id = None
            await job_rows.update(self.bot.db, job.id, message_id=None)
            return None


def _custom_ids(message: discord.Message) -> str:
    """Every custom_id on a message, joined (result buttons carry the job id)."""
    return " ".join(
        getattr(item, "custom_id", None) or ""
        for row in message.components
        for item in getattr(row, "children", [])
    )


def delivery_for(bot: SeedreamBot, job: Job) -> MessageDelivery:
    """Rebuild a job's delivery from its row (queued jobs, start-up recovery)."""
    if job.source == "reply":
        return ChannelDelivery(bot, job)
    return InteractionDelivery(bot, job)
