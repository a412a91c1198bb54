"""``/imagine``: generate images from a prompt."""

from __future__ import annotations

from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot.providers.models import ASPECTS, MATCH, MAX_TOTAL_IMAGES, Resolution
from bot.requests import build_request
from bot.ui.interactions import model_autocomplete, sources, start_generation, start_job_id

if TYPE_CHECKING:
    from bot.client import SeedreamBot

ASPECT_CHOICES = [app_commands.Choice(name=a, value=a) for a in ASPECTS] + [
    app_commands.Choice(name="match (like the first reference)", value=MATCH)
]
COUNT_HELP = "Images in a consistent sequence, 1-15 (the model may return fewer)"
RESOLUTION_CHOICES = [app_commands.Choice(name=r.value, value=r.value) for r in Resolution]


class Imagine(commands.Cog):
    """Member-facing generation commands."""

    def __init__(self, bot: SeedreamBot) -> None:
        self.bot = bot

    @app_commands.command(name="imagine", description="Generate an image with Seedream")
    @app_commands.describe(
        prompt="What to draw",
        aspect="Aspect ratio (default 1:1)",
        resolution="1K, 2K (default) or 4K",
        model="Which Seedream model",
        count=COUNT_HELP,
        seed="Seed for a repeatable result (only where the provider supports it)",
        image1="A reference image",
        image2="Another reference image",
        image3="Another reference image",
        image4="Another reference image",
    )
    @app_commands.choices(aspect=ASPECT_CHOICES, resolution=RESOLUTION_CHOICES)
    @app_commands.autocomplete(model=model_autocomplete)
    async def imagine(
        self,
        interaction: discord.Interaction,
        prompt: app_commands.Range[str, 1, 2000],
        aspect: str | None = None,
        resolution: str | None = None,
        model: str | None = None,
        count: app_commands.Range[int, 1, MAX_TOTAL_IMAGES] = 1,
        seed: app_commands.Range[int, -1, 2_147_483_647] | None = None,
        image1: discord.Attachment | None = None,
        image2: discord.Attachment | None = None,
        image3: discord.Attachment | None = None,
        image4: discord.Attachment | None = None,
    ) -> None:
        start_job_id(interaction)
        request = build_request(
            self.bot.settings,
            self.bot.router.models,
            prompt=prompt,
            model=model,
            default_model=await self.bot.default_model(interaction.guild_id),
            aspect=aspect,
            resolution=resolution,
            count=count,
            seed=seed,
        )
        await start_generation(
            self.bot, interaction, "imagine", request, sources(image1, image2, image3, image4)
        )


async def setup(bot: SeedreamBot) -> None:
    await bot.add_cog(Imagine(bot))
