"""``/edit``: edit or restyle images by instruction."""

from __future__ import annotations

from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot.providers.models import MATCH
from bot.requests import build_request
from bot.ui.interactions import model_autocomplete, sources, start_generation, start_job_id
from cogs.imagine import ASPECT_CHOICES, RESOLUTION_CHOICES

if TYPE_CHECKING:
    from bot.client import SeedreamBot


class Edit(commands.Cog):
    """Editing commands (the context menu and reply-to-edit join them)."""

    def __init__(self, bot: SeedreamBot) -> None:
        self.bot = bot

    @app_commands.command(name="edit", description="Edit or restyle an image by instruction")
    @app_commands.describe(
        image="The image to edit",
        prompt="What to change",
        image2="Another reference image",
        image3="Another reference image",
        image4="Another reference image",
        aspect="Aspect ratio (default: like the image)",
        resolution="1K, 2K (default) or 4K",
        model="Which Seedream model",
    )
    @app_commands.choices(aspect=ASPECT_CHOICES, resolution=RESOLUTION_CHOICES)
    @app_commands.autocomplete(model=model_autocomplete)
    async def edit(
        self,
        interaction: discord.Interaction,
        image: discord.Attachment,
        prompt: app_commands.Range[str, 1, 2000],
        image2: discord.Attachment | None = None,
        image3: discord.Attachment | None = None,
        image4: discord.Attachment | None = None,
        aspect: str | None = None,
        resolution: str | None = None,
        model: str | None = None,
    ) -> None:
        start_job_id(interaction)
        request = build_request(
            self.bot.settings,
            self.bot.router.models,
            prompt=prompt,
            model=model,
            aspect=aspect or MATCH,
            resolution=resolution,
        )
        await start_generation(
            self.bot, interaction, "edit", request, sources(image, image2, image3, image4)
        )


async def setup(bot: SeedreamBot) -> None:
    await bot.add_cog(Edit(bot))
