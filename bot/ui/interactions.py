"""Small steps every interaction-started job takes: its id, its deferral, its job row."""

from __future__ import annotations

import time

import discord

from bot.generation import new_job_id
from bot.providers.models import GenerationRequest
from bot.storage.jobs import NewJob

TOKEN_LIFETIME = 15 * 60  # Discord's interaction tokens last 15 minutes


def start_job_id(interaction: discord.Interaction) -> str:
    """Give the interaction a job id now, so every log line and error message can cite it."""
    job_id = new_job_id()
    interaction.extras["job_id"] = job_id
    return job_id


async def defer_public(interaction: discord.Interaction) -> None:
    """Acknowledge at once with a public "thinking" state (Discord allows 3 s)."""
    await interaction.response.defer(thinking=True)
    interaction.extras["public_defer"] = True


def job_for(interaction: discord.Interaction, source: str, request: GenerationRequest) -> NewJob:
    """The job row describing this interaction's generation."""
    return NewJob(
        id=interaction.extras.get("job_id") or start_job_id(interaction),
        source=source,
        model=request.model,
        prompt=request.prompt,
        request_json=request.model_dump_json(exclude={"references"}),
        count=request.count,
        guild_id=interaction.guild_id,
        channel_id=interaction.channel_id,
        user_id=interaction.user.id,
        interaction_id=interaction.id,
        interaction_token=interaction.token,
        token_expires_at=time.time() + TOKEN_LIFETIME,
    )
