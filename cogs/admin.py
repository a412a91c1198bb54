"""``/seedream …``: server settings for moderators (Manage Server by default).

Discord enforces ``default_permissions``; server admins can widen or narrow who may use these
commands in Server Settings → Integrations, and the bot respects that by adding no check of
its own on top.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot.config import Period
from bot.ui.admin import guild_settings_text
from bot.ui.text import NO_PINGS

if TYPE_CHECKING:
    from bot.client import SeedreamBot

PERIOD_CHOICES = [app_commands.Choice(name=p.value, value=p.value) for p in Period]
Images = app_commands.Range[int, -1, 100_000]


@app_commands.guild_only()
@app_commands.default_permissions(manage_guild=True)
class Admin(commands.GroupCog, group_name="seedream", group_description="Seedream bot settings"):
    """Server settings. The group's default permission is Manage Server."""

    quota = app_commands.Group(name="quota", description="Image allowances and caps")

    def __init__(self, bot: SeedreamBot) -> None:
        self.bot = bot
        super().__init__()

    async def _reply(self, interaction: discord.Interaction, text: str) -> None:
        await interaction.response.send_message(text, ephemeral=True, allowed_mentions=NO_PINGS)

    @app_commands.command(name="settings", description="Show this server's Seedream settings")
    async def settings(self, interaction: discord.Interaction) -> None:
        assert interaction.guild_id is not None
        current = await self.bot.ledger.guild_settings(interaction.guild_id)
        await self._reply(interaction, guild_settings_text(current, self.bot.settings))

    @quota.command(name="default", description="Default allowance per member")
    @app_commands.describe(images="Images per period (-1 = unlimited)", period="Window length")
    @app_commands.choices(period=PERIOD_CHOICES)
    async def quota_default(
        self, interaction: discord.Interaction, images: Images, period: str
    ) -> None:
        assert interaction.guild_id is not None
        await self.bot.ledger.set_default(interaction.guild_id, images, Period(period))
        amount = "unlimited images" if images == -1 else f"{images} images"
        await self._reply(interaction, f"✅ Members now get {amount} per {period}.")

    @quota.command(name="role", description="Allowance for members with a role (highest wins)")
    @app_commands.describe(images="Images per period (-1 = unlimited); omit to remove")
    async def quota_role(
        self, interaction: discord.Interaction, role: discord.Role, images: Images | None = None
    ) -> None:
        assert interaction.guild_id is not None
        await self.bot.ledger.set_role(interaction.guild_id, role.id, images)
        text = (
            f"✅ Removed the allowance of {role.mention}."
            if images is None
            else f"✅ Members with {role.mention} get "
            f"{'unlimited' if images == -1 else images} images per period."
        )
        await self._reply(interaction, text)

    @quota.command(name="user", description="Allowance for one member (overrides roles)")
    @app_commands.describe(images="Images per period (-1 = unlimited); omit to remove")
    async def quota_user(
        self, interaction: discord.Interaction, user: discord.Member, images: Images | None = None
    ) -> None:
        assert interaction.guild_id is not None
        await self.bot.ledger.set_member(interaction.guild_id, user.id, images)
        text = (
            f"✅ Removed the override of {user.mention}."
            if images is None
            else f"✅ {user.mention} gets {'unlimited' if images == -1 else images} images "
            "per period."
        )
        await self._reply(interaction, text)

    @quota.command(name="grant", description="One-off bonus credits, used after the allowance")
    async def quota_grant(
        self,
        interaction: discord.Interaction,
        user: discord.Member,
        images: app_commands.Range[int, -100_000, 100_000],
    ) -> None:
        assert interaction.guild_id is not None
        balance = await self.bot.ledger.grant(interaction.guild_id, user.id, images)
        await self._reply(interaction, f"✅ {user.mention} now has {balance} bonus credits.")

    @quota.command(name="reset", description="Clear a member's usage in the current window")
    async def quota_reset(self, interaction: discord.Interaction, user: discord.Member) -> None:
        assert interaction.guild_id is not None
        forgiven = await self.bot.ledger.reset(interaction.guild_id, user.id)
        await self._reply(
            interaction, f"✅ Cleared {forgiven} used images of {user.mention} in this window."
        )

    @quota.command(name="server", description="Cap for the whole server (0 = none)")
    @app_commands.choices(period=PERIOD_CHOICES)
    async def quota_server(
        self,
        interaction: discord.Interaction,
        images: app_commands.Range[int, 0, 10_000_000],
        period: str,
    ) -> None:
        assert interaction.guild_id is not None
        await self.bot.ledger.set_server_cap(interaction.guild_id, images, Period(period))
        text = (
            "✅ Removed the server cap."
            if images == 0
            else f"✅ This server may generate {images} images per {period}."
        )
        await self._reply(interaction, text)


async def setup(bot: SeedreamBot) -> None:
    await bot.add_cog(Admin(bot))
