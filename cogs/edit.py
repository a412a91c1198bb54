"""``/edit``: edit or restyle images by instruction."""

from __future__ import annotations

from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot.errors import InvalidInput
from bot.providers.models import MATCH, MAX_TOTAL_IMAGES
from bot.references import Source, max_references
from bot.requests import build_request
from bot.ui.actions import InstructionModal
from bot.ui.errors import handle_interaction_error
from bot.ui.interactions import (
    message_sources,
    model_autocomplete,
    sources,
    start_generation,
    start_job_id,
)
from cogs.imagine import ASPECT_CHOICES, COUNT_HELP, RESOLUTION_CHOICES

if TYPE_CHECKING:
    from bot.client import SeedreamBot


class Edit(commands.Cog):
    """Editing: ``/edit`` and the message context menu "Edit image"."""

    def __init__(self, bot: SeedreamBot) -> None:
        self.bot = bot
        # discord.py has no decorator for context menus inside cogs: register it by hand.
        self.menu = app_commands.ContextMenu(name="Edit image", callback=self.edit_image)
        bot.tree.add_command(self.menu)

    async def cog_unload(self) -> None:
        self.bot.tree.remove_command(self.menu.name, type=self.menu.type)

    async def edit_image(self, interaction: discord.Interaction, message: discord.Message) -> None:
        """Ask for the instruction in a modal, then edit the message's images."""
        start_job_id(interaction)
        found = message_sources(self.bot, message)
        if not found:
            raise InvalidInput("That message has no images to edit.")
        await interaction.response.send_modal(EditModal(self.bot, found))

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
        count=COUNT_HELP,
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
        count: app_commands.Range[int, 1, MAX_TOTAL_IMAGES] = 1,
    ) -> None:
        start_job_id(interaction)
        request = build_request(
            self.bot.settings,
            self.bot.router.models,
            prompt=prompt,
            model=model,
            default_model=await self.bot.default_model(interaction.guild_id),
            aspect=aspect or MATCH,
            resolution=resolution,
            count=count,
        )
        await start_generation(
            self.bot, interaction, "edit", request, sources(image, image2, image3, image4)
        )


class EditModal(InstructionModal, title="Edit image"):
    """The instruction for "Edit image"; its submission starts the job."""

    def __init__(self, bot: SeedreamBot, found: list[Source]) -> None:
        super().__init__()
        self.bot = bot
        self.found = found

    async def on_submit(self, interaction: discord.Interaction) -> None:
        start_job_id(interaction)
        request = build_request(
            self.bot.settings,
            self.bot.router.models,
            prompt=self.instruction.value,
            aspect=MATCH,
            default_model=await self.bot.default_model(interaction.guild_id),
        )
        limit = max_references(request.model, self.bot.router.providers, request.count)
        await start_generation(self.bot, interaction, "menu", request, self.found[:limit])

    async def on_error(  # type: ignore[override]  # discord.py's Modal narrows it the same way
        self, interaction: discord.Interaction, error: Exception, /
    ) -> None:
        await handle_interaction_error(interaction, error)


async def setup(bot: SeedreamBot) -> None:
    await bot.add_cog(Edit(bot))
