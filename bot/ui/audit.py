"""The audit channel: one entry per finished job and per refused attempt, with moderator
buttons ("Delete output", "Ban from bot") that work after a restart.

Entries are posted in background tasks (an audit post must never delay or fail a job) and
ping nobody. A job's entry names the requester, prompt, model, references (thumbnails), cost,
outcome and a link to the result; a refusal's entry names the requester, prompt and reason.
"""

from __future__ import annotations

import asyncio
import io
import logging
import re
from typing import TYPE_CHECKING, Any

import discord

from bot import images
from bot.jobs.model import Job, JobState
from bot.logs import job_context
from bot.moderation.policy import Attempt, PolicyRefused
from bot.storage import jobs as job_rows
from bot.ui.outputs import delete_output
from bot.ui.text import NO_PINGS, quote_prompt

if TYPE_CHECKING:
    from bot.client import SeedreamBot

log = logging.getLogger(__name__)

THUMBNAILS = 4
_OUTCOMES = {
    "moderation": "rejected by the model's safety filter",
    "invalid_input": "refused by the provider (invalid request)",
    "rate_limited": "failed: provider busy",
    "quota": "failed: provider quota or billing",
    "auth": "failed: provider rejected the bot's key",
    "transient": "failed: provider error",
    "timeout": "failed: timed out",
}


def jump_url(guild_id: int | None, channel_id: int | None, message_id: int | None) -> str | None:
    if not (channel_id and message_id):
        return None
    return f"https://discord.com/channels/{guild_id or '@me'}/{channel_id}/{message_id}"


def outcome_text(job: Job) -> str:
    if job.state is JobState.DONE:
        return f"✅ delivered {job.delivered} image{'s' if job.delivered != 1 else ''}"
    if job.state is JobState.CANCELLED:
        return "🚫 cancelled (refunded)"
    return "❌ " + _OUTCOMES.get(job.error_kind or "", "failed") + " (refunded)"


class Auditor:
    """Posts audit entries for one bot; keeps its background tasks referenced."""

    def __init__(self, bot: SeedreamBot) -> None:
        self.bot = bot
        self._tasks: set[asyncio.Task[None]] = set()

    def _spawn(self, work: Any) -> None:
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def settle(self) -> None:
        """Wait for entries being posted (tests, shutdown)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    def job_finished(self, job: Job) -> None:
        if job.guild_id is not None and job.source != "cli":
            self._spawn(self._post_job(job))

    def refused(self, attempt: Attempt, refusal: PolicyRefused, refusal_id: int) -> None:
        self._spawn(self._post_refusal(attempt, refusal, refusal_id))

    async def _channel(self, guild_id: int) -> int | None:
        return (await self.bot.moderation.policy(guild_id)).audit_channel_id

    async def _post_job(self, job: Job) -> None:
        assert job.guild_id is not None
        with job_context(job.id):
            channel_id = await self._channel(job.guild_id)
            if channel_id is None:
                return
            request = job.request
            embed = discord.Embed(
                title=f"Job {job.id} · {job.source}",
                description=f"**{quote_prompt(request.prompt, 1000)}**",
                colour=discord.Colour.green()
                if job.state is JobState.DONE
                else discord.Colour.red(),
            )
            embed.add_field(name="Requester", value=f"<@{job.user_id}>")
            embed.add_field(name="Model", value=request.model)
            embed.add_field(name="Cost", value=f"{job.delivered} image(s)")
            embed.add_field(name="Outcome", value=outcome_text(job), inline=False)
            refs = list(request.references)
            if refs:
                links = [f"[{i}]({ref.url})" for i, ref in enumerate(refs, 1) if ref.url]
                embed.add_field(
                    name="References",
                    value=f"{len(refs)}" + (f" · {' '.join(links)}" if links else ""),
                )
            link = jump_url(job.guild_id, job.channel_id, job.message_id)
            if link and job.state is JobState.DONE:
                embed.add_field(name="Result", value=f"[jump to the result]({link})")
            files = await _thumbnails([ref.data for ref in refs if ref.data is not None])
            view = moderator_view(job.user_id or 0, job.id if job.state is JobState.DONE else None)
            message_id = await self._send(channel_id, embed, files, view)
            if message_id is not None:
                await job_rows.update(self.bot.db, job.id, audit_message_id=message_id)

    async def _post_refusal(
        self, attempt: Attempt, refusal: PolicyRefused, refusal_id: int
    ) -> None:
        assert attempt.guild_id is not None
        channel_id = await self._channel(attempt.guild_id)
        if channel_id is None:
            return
        embed = discord.Embed(
            title=f"Refused attempt #{refusal_id} · {refusal.reason}",
            description=f"**{quote_prompt(attempt.prompt, 1000)}**",
            colour=discord.Colour.orange(),
        )
        embed.add_field(name="Requester", value=f"<@{attempt.user_id}>")
        if attempt.channel_id:
            embed.add_field(name="Channel", value=f"<#{attempt.channel_id}>")
        embed.add_field(name="Model", value=attempt.model or "default")
        reason = refusal.public_message
        if refusal.detail:
            reason += f" (matched `{quote_prompt(refusal.detail, 100)}`)"
        embed.add_field(name="Reason", value=reason, inline=False)
        if attempt.references:
            embed.add_field(name="References", value=str(attempt.references))
        await self._send(channel_id, embed, [], moderator_view(attempt.user_id, None))

    async def _send(
        self,
        channel_id: int,
        embed: discord.Embed,
        files: list[discord.File],
        view: discord.ui.View,
    ) -> int | None:
        try:
            message = await self.bot.get_partial_messageable(channel_id).send(
                embed=embed, files=files, view=view, allowed_mentions=NO_PINGS
            )
        except discord.HTTPException as exc:
            log.warning(
                "could not post to the audit channel",
                extra={"channel": channel_id, "status": exc.status, "code": exc.code},
            )
            return None
        return message.id


async def _thumbnails(datas: list[bytes]) -> list[discord.File]:
    files = []
    for index, data in enumerate(datas[:THUMBNAILS], start=1):
        try:
            small = await images.run_in_process(images.thumbnail, data)
        except images.ImageRejected:
            continue
        files.append(discord.File(io.BytesIO(small), filename=f"reference{index}.jpg"))
    return files


# --- moderator buttons ------------------------------------------------------------------------


def moderator_view(user_id: int, job_id: str | None) -> discord.ui.View:
    view = discord.ui.View(timeout=None)
    if job_id is not None:
        view.add_item(DeleteOutputButton(job_id))
    if user_id:
        view.add_item(BanButton(user_id))
    return view


class DeleteOutputButton(
    discord.ui.DynamicItem[discord.ui.Button[discord.ui.View]],
    template=r"seedream:moddel:(?P<job>[0-9a-f]{12})",
):
    """Deletes a job's result; needs Manage Messages where the entry is."""

    def __init__(self, job_id: str) -> None:
        super().__init__(
            discord.ui.Button(
                label="Delete output",
                emoji="🗑️",
                style=discord.ButtonStyle.danger,
                custom_id=f"seedream:moddel:{job_id}",
            )
        )
        self.job_id = job_id

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: re.Match[str]
    ) -> DeleteOutputButton:
        return cls(match["job"])

    async def callback(self, interaction: discord.Interaction) -> None:
        bot: SeedreamBot = interaction.client  # type: ignore[assignment]
        if not interaction.permissions.manage_messages:
            await _private(interaction, "⛔ Deleting outputs needs Manage Messages.")
            return
        row = await job_rows.get(bot.db, self.job_id)
        if row is None or row["deleted_at"] is not None:
            await _private(interaction, "That output is already gone.")
            return
        await delete_output(bot, row, interaction.user.id)
        await _private(interaction, f"🗑️ Output of job `{self.job_id}` deleted.")


class BanButton(
    discord.ui.DynamicItem[discord.ui.Button[discord.ui.View]],
    template=r"seedream:modban:(?P<user>[0-9]{1,20})",
):
    """Bars the requester from the bot in this server; needs Manage Server."""

    def __init__(self, user_id: int) -> None:
        super().__init__(
            discord.ui.Button(
                label="Ban from bot",
                emoji="⛔",
                style=discord.ButtonStyle.secondary,
                custom_id=f"seedream:modban:{user_id}",
            )
        )
        self.user_id = user_id

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: re.Match[str]
    ) -> BanButton:
        return cls(int(match["user"]))

    async def callback(self, interaction: discord.Interaction) -> None:
        bot: SeedreamBot = interaction.client  # type: ignore[assignment]
        if interaction.guild_id is None or not interaction.permissions.manage_guild:
            await _private(interaction, "⛔ Banning members from the bot needs Manage Server.")
            return
        new = await bot.moderation.ban(
            interaction.guild_id, self.user_id, "from the audit log", interaction.user.id
        )
        text = (
            f"⛔ <@{self.user_id}> may no longer use the bot here."
            if new
            else f"<@{self.user_id}> was already banned from the bot."
        )
        await _private(interaction, text)


async def _private(interaction: discord.Interaction, text: str) -> None:
    await interaction.response.send_message(text, ephemeral=True, allowed_mentions=NO_PINGS)
