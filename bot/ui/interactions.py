"""Starting a job from an interaction: one path for every command, menu, button and modal."""

from __future__ import annotations

import functools
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

import discord

from bot.jobs.model import Job, JobState, new_job_id
from bot.providers.download import download
from bot.providers.models import GenerationRequest, with_references
from bot.references import MAX_DOWNLOAD, Source, max_references, prepare, rules_for
from bot.ui.delivery import InteractionDelivery
from bot.ui.text import NO_PINGS

if TYPE_CHECKING:
    from bot.client import SeedreamBot

TOKEN_LIFETIME = 15 * 60  # Discord's interaction tokens last 15 minutes


def sources(*attachments: discord.Attachment | None) -> list[Source]:
    """The attachments a member gave, in order, as reference sources."""
    return [
        Source(filename=att.filename, size=att.size, url=att.url, fetch=att.read)
        for att in attachments
        if att is not None
    ]


def message_sources(bot: SeedreamBot, message: discord.Message) -> list[Source]:
    """Every image of a message: image attachments first, then image embeds (size-capped)."""
    found = [
        Source(filename=att.filename, size=att.size, url=att.url, fetch=att.read)
        for att in message.attachments
        if (att.content_type or "").startswith("image/") or att.width
    ]
    for embed in message.embeds:
        url = (embed.image and embed.image.url) or (embed.thumbnail and embed.thumbnail.url)
        if url:
            found.append(
                Source(
                    filename=url.rsplit("/", 1)[-1].split("?")[0] or "embed",
                    size=0,
                    url=url,
                    fetch=functools.partial(
                        download, bot.session, url, provider="reference", max_bytes=MAX_DOWNLOAD
                    ),
                )
            )
    return found


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
    bot: SeedreamBot,
    interaction: discord.Interaction,
    source: str,
    request: GenerationRequest,
    references: Sequence[Source] = (),
) -> Job:
    """Pre-flight, reserve quota, acknowledge, and queue the job.

    Without reference images every refusal (invalid request, over quota) is raised before the
    interaction is acknowledged, so the central error handler answers it ephemerally within
    Discord's 3 seconds. With references, downloading and checking them may take longer, so the
    interaction is acknowledged first ("Preparing…"), and the quota is reserved once the images
    are known to be usable; a refusal then replaces the public message with a private one.
    """
    if not references:
        bot.router.check(request)
        job = job_for(interaction, source, request)
        await bot.runner.admit(job)
        try:
            message = await _acknowledge(interaction, "⏳ Starting…")
        except discord.HTTPException as exc:
            await bot.runner.abandon(job, f"Discord refused the response (HTTP {exc.status})")
            raise
    else:
        start_job_id(interaction)
        message = await _acknowledge(interaction, "⏳ Preparing the reference images…")
        providers = bot.router.providers
        prepared = await prepare(
            references,
            rules_for(request.model, providers),
            limit=max_references(request.model, providers, request.count),
        )
        request = with_references(request, prepared)
        bot.router.check(request)
        job = job_for(interaction, source, request)
        await bot.runner.admit(job)
    job.message_id = message.id
    await bot.runner.submit(job, InteractionDelivery(bot, job))
    return job


async def _acknowledge(interaction: discord.Interaction, text: str) -> discord.InteractionMessage:
    """Defer publicly and replace Discord's "thinking…" with our own first status."""
    await interaction.response.defer(thinking=True)
    interaction.extras["public_defer"] = True
    message = await interaction.edit_original_response(content=text, allowed_mentions=NO_PINGS)
    interaction.extras["progress_shown"] = True
    return message


async def model_autocomplete(
    interaction: discord.Interaction, current: str
) -> list[discord.app_commands.Choice[str]]:
    """Autocomplete for every command's ``model`` option: the configured models."""
    bot: SeedreamBot = interaction.client  # type: ignore[assignment]
    return bot.model_choices(current)
