"""Delivery of a job to the interaction that started it: progress edits, then the result."""

from __future__ import annotations

import io
import time

import discord

from bot.generation import Generated, Stage
from bot.providers.models import GenerationRequest
from bot.ui.captions import progress_text, result_caption
from bot.ui.text import NO_PINGS


class InteractionDelivery:
    """Shows progress in, and posts results to, the deferred original response."""

    def __init__(self, interaction: discord.Interaction) -> None:
        self.interaction = interaction
        self.upload_limit = interaction.filesize_limit
        self.started = time.time()

    async def progress(
        self, stage: Stage, request: GenerationRequest, size: tuple[int, int]
    ) -> None:
        await self.interaction.edit_original_response(
            content=progress_text(stage, request, size, self.started), allowed_mentions=NO_PINGS
        )
        self.interaction.extras["progress_shown"] = True

    async def deliver(self, generated: Generated) -> int | None:
        files = [
            discord.File(io.BytesIO(out.data), filename=out.filename) for out in generated.outputs
        ]
        message = await self.interaction.edit_original_response(
            content=result_caption(generated, self.interaction.user.id, self.started),
            attachments=files,
            allowed_mentions=NO_PINGS,
        )
        return message.id
