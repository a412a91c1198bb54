"""Starting a job from an interaction: one path for every command, menu, button and modal."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import discord

from bot.jobs.model import Job, JobState, new_job_id
from bot.providers.models import GenerationRequest
from bot.ui.delivery import InteractionDelivery
from bot.ui.text import NO_PINGS

if TYPE_CHECKING:
    from bot.client import SeedreamBot

TOKEN_LIFETIME = 15 * 60  # Discord's interaction tokens last 15 minutes


def start_job_id(interaction: discord.Interaction) -> str:
    """Give the interaction a job id now, so every log line and error message can cite it."""
    job_id: str = interaction.extras.get("job_id") or new_job_id()
    interaction.extras["job_id"] = job_id
    return job_id


def job_for(interaction: discord.Interaction, source: str, request: GenerationRequest) -> Job:
    """The job this interaction asks for."""
    roles = getattr(interaction.user, "roles", [])
    return Job(
        id=start_job_id(interaction),
        source=source,
        state=JobState.QUEUED,
        request=request,
        guild_id=interaction.guild_id,
        channel_id=interaction.channel_id,
        user_id=interaction.user.id,
        application_id=interaction.application_id,
        interaction_id=interaction.id,
        interaction_token=interaction.token,
        token_expires_at=time.time() + TOKEN_LIFETIME,
        upload_limit=interaction.filesize_limit,
        created_at=time.time(),
        role_ids=tuple(role.id for role in roles),
    )


async def start_generation(
    bot: SeedreamBot, interaction: discord.Interaction, source: str, request: GenerationRequest
) -> Job:
    """Pre-flight, reserve quota, acknowledge, and queue the job.

    Refusals (invalid request, over quota) raise before the interaction is acknowledged, so the
    central error handler answers them ephemerally within Discord's 3 seconds.
    """
    bot.router.check(request)
    job = job_for(interaction, source, request)
    await bot.runner.admit(job)
    try:
        await interaction.response.defer(thinking=True)
        interaction.extras["public_defer"] = True
        message = await interaction.edit_original_response(
            content="⏳ Starting…", allowed_mentions=NO_PINGS
        )
    except discord.HTTPException as exc:
        await bot.runner.abandon(job, f"Discord refused the response (HTTP {exc.status})")
        raise
    interaction.extras["progress_shown"] = True
    job.message_id = message.id
    await bot.runner.submit(job, InteractionDelivery(bot, job))
    return job
