"""Starting a job from an interaction: one path for every command, menu, button and modal."""

from __future__ import annotations

import functools
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import discord

from bot.jobs.model import Delivery, Job, JobState, new_job_id
from bot.providers.download import download
from bot.providers.models import GenerationRequest, with_references
from bot.references import MAX_DOWNLOAD, Source, max_references, prepare, rules_for
from bot.ui.policy import enforce, interaction_attempt
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


@dataclass(frozen=True)
class Origin:
    """Who asked for a job, where, and how to reach them again (stored in the job row)."""

    guild_id: int | None
    channel_id: int | None
    user_id: int
    role_ids: tuple[int, ...]
    upload_limit: int
    application_id: int | None = None
    interaction_id: int | None = None
    token: str | None = None
    reply_to_id: int | None = None

    @classmethod
    def of_interaction(cls, interaction: discord.Interaction) -> Origin:
        return cls(
            guild_id=interaction.guild_id,
            channel_id=interaction.channel_id,
            user_id=interaction.user.id,
            role_ids=tuple(role.id for role in getattr(interaction.user, "roles", [])),
            upload_limit=interaction.filesize_limit,
            application_id=interaction.application_id,
            interaction_id=interaction.id,
            token=interaction.token,
        )

    def job(
        self, job_id: str, source: str, request: GenerationRequest, parent_id: str | None = None
    ) -> Job:
        """The job this origin asks for."""
        now = time.time()
        return Job(
            id=job_id,
            source=source,
            state=JobState.QUEUED,
            request=request,
            guild_id=self.guild_id,
            channel_id=self.channel_id,
            user_id=self.user_id,
            application_id=self.application_id,
            interaction_id=self.interaction_id,
            interaction_token=self.token,
            token_expires_at=now + TOKEN_LIFETIME if self.token else None,
            upload_limit=self.upload_limit,
            created_at=now,
            role_ids=self.role_ids,
            reply_to_id=self.reply_to_id,
            parent_id=parent_id,
        )


async def admit_with_references(
    bot: SeedreamBot, job: Job, delivery: Delivery, references: Sequence[Source]
) -> None:
    """Download and normalise the member's images, host them where a URL-only route needs it,
    run the pre-flight, and reserve the quota (raises on any refusal)."""
    request = job.request
    if references:
        providers = bot.router.providers
        prepared = await prepare(
            references,
            rules_for(request.model, providers),
            limit=max_references(request.model, providers, request.count),
        )
        request = with_references(request, prepared)
    if bot.router.needs_urls(request) and any(ref.url is None for ref in request.references):
        # Converted images get a URL now, so the pre-flight can pass; the runner refreshes
        # every URL again right before the provider call.
        request = with_references(request, await delivery.host(request.references))
    bot.router.check(request)
    job.request = request
    await bot.runner.admit(job)


async def start_generation(
    bot: SeedreamBot,
    interaction: discord.Interaction,
    source: str,
    request: GenerationRequest,
    references: Sequence[Source] = (),
    *,
    parent_id: str | None = None,
) -> Job:
    """Pre-flight, reserve quota, acknowledge, and queue the job.

    Without reference images every refusal (invalid request, over quota) is raised before the
    interaction is acknowledged, so the central error handler answers it ephemerally within
    Discord's 3 seconds. With references, downloading and checking them may take longer, so the
    interaction is acknowledged first ("Preparing…"), and the quota is reserved once the images
    are known to be usable; a refusal then replaces the public message with a private one.
    """
    await enforce(
        bot,
        interaction_attempt(
            interaction,
            prompt=request.prompt,
            model=request.model,
            source=source,
            references=len(references) + len(request.references),
        ),
    )
    job = Origin.of_interaction(interaction).job(
        start_job_id(interaction), source, request, parent_id
    )
    if not references and not request.references:
        bot.router.check(request)
        await bot.runner.admit(job)
        try:
            message = await _acknowledge(interaction, "⏳ Starting…")
        except discord.HTTPException as exc:
            await bot.runner.abandon(job, f"Discord refused the response (HTTP {exc.status})")
            raise
        job.message_id = message.id
        delivery = bot.delivery_for(job)
    else:
        message = await _acknowledge(interaction, "⏳ Preparing the reference images…")
        job.message_id = message.id
        delivery = bot.delivery_for(job)
        await admit_with_references(bot, job, delivery, references)
    await bot.runner.submit(job, delivery)
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
