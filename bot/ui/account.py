"""Texts for ``/quota`` and ``/jobs``, and the button that cancels a queued job."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

import discord

from bot.quota import QuotaStatus
from bot.storage.moderation import forget_history
from bot.ui.text import NO_PINGS, quote_prompt

if TYPE_CHECKING:
    from bot.client import SeedreamBot

_STATE_ICONS = {
    "queued": "⏳",
    "submitted": "🎨",
    "running": "🎨",
    "delivering": "⬆️",
    "done": "✅",
    "failed": "❌",
    "cancelled": "🚫",
}


def quota_text(status: QuotaStatus, running: int, waiting: list[int]) -> str:
    """What ``/quota`` shows a member."""
    window = status.window.period.value
    reset = f"<t:{int(status.window.end)}:R>"
    if status.remaining is None:
        lines = [
            f"**Unlimited** images here ({status.allowance.source}); used {status.used} "
            f"this {window}."
        ]
    else:
        lines = [
            f"**{status.used} of {status.allowance.images}** images used this {window} "
            f"({status.allowance.source}); {status.remaining} left, resets {reset}."
        ]
    lines.append(f"Bonus credits: **{status.bonus}** (used after the allowance).")
    if status.server_cap is not None:
        cap, period = status.server_cap
        lines.append(f"Server cap: {status.server_used} of {cap} images this {period.value}.")
    flight = f"In flight: {running} running"
    if waiting:
        flight += ", queue position " + ", ".join(str(place) for place in waiting)
    lines.append(flight + ".")
    return "\n".join(lines)


def jobs_text(rows: list[dict[str, Any]]) -> str:
    """What ``/jobs`` shows: recent jobs with state, model, prompt and a link."""
    if not rows:
        return "You have no jobs here yet. Try `/imagine`."
    lines = ["**Your recent jobs**"]
    for row in rows:
        icon = _STATE_ICONS.get(row["state"], "•")
        link = ""
        if row["message_id"] and row["channel_id"] and row["guild_id"]:
            link = (
                f" · [open](https://discord.com/channels/{row['guild_id']}/"
                f"{row['channel_id']}/{row['message_id']})"
            )
        images = (
            f"{row['delivered']}/{row['count']} images"
            if row["state"] == "done"
            else (f"{row['count']} image{'s' if row['count'] != 1 else ''}")
        )
        lines.append(
            f"{icon} `{row['id']}` {row['state']} · {row['model']} · {images} · "
            f"“{quote_prompt(row['prompt'], 60)}” · <t:{int(row['created_at'])}:R>{link}"
        )
    return "\n".join(lines)[:2000]


class CancelJobButton(
    discord.ui.DynamicItem[discord.ui.Button[discord.ui.View]],
    template=r"seedream:cancel:(?P<job>[0-9a-f]{12})",
):
    """Cancels a queued job; works after a restart (the job id lives in the custom_id)."""

    def __init__(self, job_id: str) -> None:
        super().__init__(
            discord.ui.Button(
                label=f"Cancel {job_id}",
                style=discord.ButtonStyle.danger,
                custom_id=f"seedream:cancel:{job_id}",
            )
        )
        self.job_id = job_id

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: re.Match[str]
    ) -> CancelJobButton:
        return cls(match["job"])

    async def callback(self, interaction: discord.Interaction) -> None:
        bot: SeedreamBot = interaction.client  # type: ignore[assignment]
        owner = await bot.job_owner(self.job_id)
        if owner != interaction.user.id:
            await interaction.response.send_message(
                "⛔ Only the member who started this job can cancel it.", ephemeral=True
            )
            return
        cancelled = await bot.runner.cancel(self.job_id)
        text = (
            f"🚫 Job `{self.job_id}` cancelled; its images were refunded."
            if cancelled
            else f"Job `{self.job_id}` is no longer queued, so it cannot be cancelled."
        )
        await interaction.response.send_message(text, ephemeral=True, allowed_mentions=NO_PINGS)


def jobs_view(rows: list[dict[str, Any]], user_id: int) -> discord.ui.View:
    """Cancel buttons for the member's queued jobs, and "Delete my history"."""
    view = discord.ui.View(timeout=None)
    for job_id in [row["id"] for row in rows if row["state"] == "queued"][:20]:
        view.add_item(CancelJobButton(job_id))
    if any(row["state"] in ("done", "failed", "cancelled") for row in rows):
        view.add_item(ForgetButton(user_id, confirm=False))
    return view


class ForgetButton(
    discord.ui.DynamicItem[discord.ui.Button[discord.ui.View]],
    template=r"seedream:forget(?P<confirm>-yes)?:(?P<user>[0-9]{1,20})",
):
    """ "Delete my history", then a confirmation: erases the member's prompts and references
    from their finished jobs in this server (image counts stay for quotas and statistics)."""

    def __init__(self, user_id: int, *, confirm: bool) -> None:
        super().__init__(
            discord.ui.Button(
                label="Yes, delete my history" if confirm else "Delete my history",
                emoji="🧹",
                style=discord.ButtonStyle.danger if confirm else discord.ButtonStyle.secondary,
                custom_id=f"seedream:forget{'-yes' if confirm else ''}:{user_id}",
            )
        )
        self.user_id = user_id
        self.confirm = confirm

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: re.Match[str]
    ) -> ForgetButton:
        return cls(int(match["user"]), confirm=bool(match["confirm"]))

    async def callback(self, interaction: discord.Interaction) -> None:
        bot: SeedreamBot = interaction.client  # type: ignore[assignment]
        if interaction.user.id != self.user_id:
            await interaction.response.send_message(
                "⛔ Only the member whose history this is can delete it.", ephemeral=True
            )
            return
        if not self.confirm:
            view = discord.ui.View(timeout=None)
            view.add_item(ForgetButton(self.user_id, confirm=True))
            await interaction.response.send_message(
                "Delete the prompts and reference images of all your finished jobs in this "
                "server? Posted images stay; delete those with their 🗑️ button.",
                view=view,
                ephemeral=True,
            )
            return
        forgotten = await forget_history(bot.db, interaction.guild_id, self.user_id)
        await interaction.response.send_message(
            f"🧹 Deleted the history of {forgotten} job(s).", ephemeral=True
        )
