"""``/seedream …``: server settings for moderators (Manage Server by default).

Discord enforces ``default_permissions``; server admins can widen or narrow who may use these
commands in Server Settings → Integrations, and the bot respects that by adding no check of
its own on top.
"""

from __future__ import annotations

import io
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot import images
from bot.config import Period
from bot.errors import InvalidInput
from bot.moderation.stats import render_chart, stats_text, usage
from bot.storage.moderation import history
from bot.ui.admin import (
    REFERENCE_CHOICES,
    REFERENCE_WORDS,
    blocklist_text,
    channels_text,
    guild_settings_text,
    history_text,
)
from bot.ui.interactions import model_autocomplete
from bot.ui.text import NO_PINGS, quote_prompt

if TYPE_CHECKING:
    from bot.client import SeedreamBot

PERIOD_CHOICES = [app_commands.Choice(name=p.value, value=p.value) for p in Period]
Images = app_commands.Range[int, -1, 100_000]


@app_commands.guild_only()
@app_commands.default_permissions(manage_guild=True)
class Admin(commands.GroupCog, group_name="seedream", group_description="Seedream bot settings"):
    """Server settings. The group's default permission is Manage Server."""

    quota = app_commands.Group(name="quota", description="Image allowances and caps")
    channels = app_commands.Group(name="channels", description="Where the bot may be used")
    blocklist = app_commands.Group(name="blocklist", description="Blocked words and patterns")
    model = app_commands.Group(name="model", description="The server's default model")

    def __init__(self, bot: SeedreamBot) -> None:
        self.bot = bot
        super().__init__()

    async def _reply(self, interaction: discord.Interaction, text: str) -> None:
        await interaction.response.send_message(text, ephemeral=True, allowed_mentions=NO_PINGS)

    @app_commands.command(name="settings", description="Show this server's Seedream settings")
    async def settings(self, interaction: discord.Interaction) -> None:
        assert interaction.guild_id is not None
        current = await self.bot.ledger.guild_settings(interaction.guild_id)
        policy = await self.bot.moderation.policy(interaction.guild_id)
        await self._reply(interaction, guild_settings_text(current, policy, self.bot.settings))

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

    # --- moderation -------------------------------------------------------------------------

    @channels.command(name="allow", description="Allow the bot in a channel (then only there)")
    async def channels_allow(
        self, interaction: discord.Interaction, channel: discord.TextChannel | discord.VoiceChannel
    ) -> None:
        assert interaction.guild_id is not None
        await self.bot.moderation.set_channel(interaction.guild_id, channel.id, "allow")
        await self._reply(interaction, f"✅ {channel.mention} is on the allow-list.")

    @channels.command(name="deny", description="Keep the bot out of a channel")
    async def channels_deny(
        self, interaction: discord.Interaction, channel: discord.TextChannel | discord.VoiceChannel
    ) -> None:
        assert interaction.guild_id is not None
        await self.bot.moderation.set_channel(interaction.guild_id, channel.id, "deny")
        await self._reply(interaction, f"✅ The bot is not used in {channel.mention}.")

    @channels.command(name="remove", description="Take a channel off the allow or deny list")
    async def channels_remove(
        self, interaction: discord.Interaction, channel: discord.TextChannel | discord.VoiceChannel
    ) -> None:
        assert interaction.guild_id is not None
        await self.bot.moderation.set_channel(interaction.guild_id, channel.id, None)
        await self._reply(interaction, f"✅ {channel.mention} is on neither list now.")

    @channels.command(name="list", description="Show the allow and deny lists")
    async def channels_list(self, interaction: discord.Interaction) -> None:
        assert interaction.guild_id is not None
        policy = await self.bot.moderation.policy(interaction.guild_id)
        await self._reply(interaction, channels_text(policy))

    @blocklist.command(name="add", description="Block a word, phrase or /regex/ in prompts")
    @app_commands.describe(term="A word or phrase, or /pattern/ for a regular expression")
    async def blocklist_add(
        self, interaction: discord.Interaction, term: app_commands.Range[str, 1, 200]
    ) -> None:
        assert interaction.guild_id is not None
        added = await self.bot.moderation.add_term(interaction.guild_id, term, interaction.user.id)
        shown = quote_prompt(term, 200)
        await self._reply(
            interaction, f"✅ Blocked `{shown}`." if added else f"`{shown}` was already blocked."
        )

    @blocklist.command(name="remove", description="Unblock a term")
    async def blocklist_remove(
        self, interaction: discord.Interaction, term: app_commands.Range[str, 1, 200]
    ) -> None:
        assert interaction.guild_id is not None
        removed = await self.bot.moderation.remove_term(interaction.guild_id, term)
        shown = quote_prompt(term, 200)
        await self._reply(
            interaction, f"✅ Unblocked `{shown}`." if removed else f"`{shown}` was not blocked."
        )

    @blocklist.command(name="list", description="Show the blocked terms")
    async def blocklist_list(self, interaction: discord.Interaction) -> None:
        assert interaction.guild_id is not None
        policy = await self.bot.moderation.policy(interaction.guild_id)
        await self._reply(interaction, blocklist_text(policy))

    @app_commands.command(name="audit", description="Log every job and refusal to a channel")
    @app_commands.describe(channel="The audit channel; omit to stop logging")
    async def audit(
        self, interaction: discord.Interaction, channel: discord.TextChannel | None = None
    ) -> None:
        assert interaction.guild_id is not None
        await self.bot.moderation.set_setting(
            interaction.guild_id, "audit_channel_id", channel.id if channel else None
        )
        text = (
            f"✅ Every job and refused attempt is logged in {channel.mention}."
            if channel
            else "✅ Audit logging is off."
        )
        await self._reply(interaction, text)

    @app_commands.command(name="ban", description="Bar a member from using the bot here")
    async def ban(
        self,
        interaction: discord.Interaction,
        user: discord.Member,
        reason: app_commands.Range[str, 0, 300] = "",
    ) -> None:
        assert interaction.guild_id is not None
        new = await self.bot.moderation.ban(
            interaction.guild_id, user.id, reason, interaction.user.id
        )
        text = (
            f"⛔ {user.mention} may no longer use the bot here."
            if new
            else (f"{user.mention} was already banned; the reason is updated.")
        )
        await self._reply(interaction, text)

    @app_commands.command(name="unban", description="Let a banned member use the bot again")
    async def unban(self, interaction: discord.Interaction, user: discord.Member) -> None:
        assert interaction.guild_id is not None
        removed = await self.bot.moderation.unban(
            interaction.guild_id, user.id, interaction.user.id
        )
        text = (
            f"✅ {user.mention} may use the bot again."
            if removed
            else (f"{user.mention} was not banned.")
        )
        await self._reply(interaction, text)

    @model.command(name="default", description="The model used when members do not choose one")
    @app_commands.autocomplete(model=model_autocomplete)
    async def model_default(self, interaction: discord.Interaction, model: str) -> None:
        assert interaction.guild_id is not None
        chosen = model.strip().lower()
        if chosen not in self.bot.router.models:
            raise InvalidInput(
                f"unknown model {chosen!r}; available: {', '.join(self.bot.router.models)}."
            )
        await self.bot.moderation.set_setting(interaction.guild_id, "default_model", chosen)
        await self._reply(interaction, f"✅ The default model here is now {chosen}.")

    @app_commands.command(name="references", description="Where members may use reference images")
    @app_commands.choices(policy=REFERENCE_CHOICES)
    async def references(self, interaction: discord.Interaction, policy: str) -> None:
        assert interaction.guild_id is not None
        await self.bot.moderation.set_setting(interaction.guild_id, "references_policy", policy)
        await self._reply(interaction, f"✅ Reference images: {REFERENCE_WORDS[policy]}.")

    @app_commands.command(name="history", description="Recent jobs of a member")
    async def history(self, interaction: discord.Interaction, user: discord.Member) -> None:
        assert interaction.guild_id is not None
        jobs = await history(self.bot.db, interaction.guild_id, user.id)
        await self._reply(interaction, history_text(user.id, jobs, interaction.guild_id))

    @app_commands.command(name="stats", description="Usage over time, with a chart")
    async def stats(
        self, interaction: discord.Interaction, days: app_commands.Range[int, 1, 90] = 7
    ) -> None:
        assert interaction.guild_id is not None
        await interaction.response.defer(ephemeral=True, thinking=True)
        report = await usage(self.bot.db, interaction.guild_id, days)
        chart = await images.run_off_loop(render_chart, report)
        await interaction.followup.send(
            stats_text(report),
            file=discord.File(io.BytesIO(chart), filename="usage.png"),
            ephemeral=True,
            allowed_mentions=NO_PINGS,
        )


async def setup(bot: SeedreamBot) -> None:
    await bot.add_cog(Admin(bot))
