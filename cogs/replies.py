"""Reply-to-edit: a reply that mentions the bot edits the replied message's images."""

from __future__ import annotations

from typing import TYPE_CHECKING

import discord
from discord.ext import commands

from bot.ui.replies import handle_message

if TYPE_CHECKING:
    from bot.client import SeedreamBot


class Replies(commands.Cog):
    """Listens for messages that mention the bot."""

    def __init__(self, bot: SeedreamBot) -> None:
        self.bot = bot

    @commands.Cog.listener()
    async def on_message(self, message: discord.Message) -> None:
        await handle_message(self.bot, message)


async def setup(bot: SeedreamBot) -> None:
    await bot.add_cog(Replies(bot))
