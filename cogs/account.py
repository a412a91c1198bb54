"""``/quota`` and ``/jobs``: what a member has left, and what they have asked for."""

from __future__ import annotations

from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot.storage import jobs as job_rows
from bot.ui.account import jobs_text, jobs_view, quota_text
from bot.ui.text import NO_PINGS

if TYPE_CHECKING:
    from bot.client import SeedreamBot


def _roles(interaction: discord.Interaction) -> list[int]:
    return [role.id for role in getattr(interaction.user, "roles", [])]


class Account(commands.Cog):
    """Member self-service commands."""

    def __init__(self, bot: SeedreamBot) -> None:
        self.bot = bot

    @app_commands.command(name="quota", description="Your images left, when they reset, bonus")
    @app_commands.guild_only()
    async def quota(self, interaction: discord.Interaction) -> None:
        assert interaction.guild_id is not None
        status = await self.bot.ledger.status(
            interaction.guild_id, interaction.user.id, _roles(interaction)
        )
        running, waiting = self.bot.runner.in_flight(interaction.guild_id, interaction.user.id)
        await interaction.response.send_message(
            quota_text(status, running, waiting), ephemeral=True, allowed_mentions=NO_PINGS
        )

    @app_commands.command(
        name="jobs", description="Your recent jobs, with links and cancel buttons"
    )
    async def jobs(self, interaction: discord.Interaction) -> None:
        rows = await job_rows.recent_for_member(
            self.bot.db, interaction.guild_id, interaction.user.id
        )
        await interaction.response.send_message(
            jobs_text(rows),
            view=jobs_view(rows, interaction.user.id),
            ephemeral=True,
            allowed_mentions=NO_PINGS,
        )


async def setup(bot: SeedreamBot) -> None:
    await bot.add_cog(Account(bot))
