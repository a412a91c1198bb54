"""The server's policy applied to a Discord request: build the attempt, check, audit refusals.

Every path that starts a generation calls :func:`enforce` first — slash commands, the context
menu, modals, reply-to-edit and result buttons — so a refused attempt is never charged and no
provider is called.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import discord

from bot.moderation.policy import Attempt, PolicyRefused

if TYPE_CHECKING:
    from bot.client import SeedreamBot


def attempt_in(
    channel: Any,
    *,
    guild_id: int | None,
    user_id: int,
    prompt: str,
    model: str | None,
    source: str,
    references: int,
) -> Attempt:
    """An attempt in ``channel`` (a thread counts as its parent channel for the lists)."""
    is_nsfw = getattr(channel, "is_nsfw", None)
    return Attempt(
        guild_id=guild_id,
        channel_id=getattr(channel, "id", None),
        parent_channel_id=getattr(channel, "parent_id", None),
        age_restricted=bool(is_nsfw()) if callable(is_nsfw) else False,
        user_id=user_id,
        prompt=prompt,
        model=model,
        source=source,
        references=references,
    )


async def enforce(bot: SeedreamBot, attempt: Attempt) -> None:
    """Raise :class:`PolicyRefused` (recorded, and posted to the audit channel) or return."""
    try:
        await bot.moderation.check(attempt)
    except PolicyRefused as refusal:
        refusal_id = await bot.moderation.record_refusal(attempt, refusal)
        bot.auditor.refused(attempt, refusal, refusal_id)
        raise


def interaction_attempt(
    interaction: discord.Interaction, *, prompt: str, model: str, source: str, references: int
) -> Attempt:
    return attempt_in(
        interaction.channel,
        guild_id=interaction.guild_id,
        user_id=interaction.user.id,
        prompt=prompt,
        model=model,
        source=source,
        references=references,
    )
