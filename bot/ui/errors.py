"""The central error handler: any failure becomes one clear ephemeral message and a log line."""

from __future__ import annotations

import logging
from contextlib import nullcontext

import discord
from discord import app_commands

from bot.errors import ErrorKind, SeedreamError
from bot.logs import job_context
from bot.ui.text import MAX_CONTENT, NO_PINGS, truncate

log = logging.getLogger(__name__)


def unwrap(error: BaseException) -> BaseException:
    """The exception the command actually raised."""
    while isinstance(error, app_commands.CommandInvokeError | app_commands.TransformerError):
        inner = (
            error.__cause__ if isinstance(error, app_commands.TransformerError) else error.original
        )
        if inner is None:
            break
        error = inner
    return error


def describe(error: BaseException, job_id: str | None) -> str:
    """The text a member sees for ``error``."""
    if isinstance(error, SeedreamError) and error.kind is not ErrorKind.INTERNAL:
        text = error.public_message
        if error.kind is ErrorKind.INVALID_INPUT:
            text = "⚠️ " + text
        elif error.kind is not ErrorKind.REFUSED:
            text = "❌ " + text
        return text
    if isinstance(error, app_commands.MissingPermissions | app_commands.BotMissingPermissions):
        return f"⛔ {error}"
    if isinstance(error, app_commands.CheckFailure):
        return "⛔ You cannot use this command here."
    if isinstance(error, app_commands.CommandOnCooldown):
        return f"⏳ Slow down: try again in {error.retry_after:.0f} s."
    ref = f" (reference `{job_id}`)" if job_id else ""
    return f"❌ Something went wrong on the bot's side{ref}. The admins can find it in the log."


async def handle_interaction_error(interaction: discord.Interaction, error: BaseException) -> None:
    """Log ``error`` with the job id and tell the member, ephemerally, in plain words."""
    error = unwrap(error)
    job_id = interaction.extras.get("job_id")
    with job_context(job_id) if job_id else nullcontext():
        command = (
            interaction.command.qualified_name if interaction.command else interaction.type.name
        )
        log_error(command, error)
        try:
            await send_ephemeral(interaction, describe(error, job_id))
        except discord.HTTPException as exc:
            log.warning(
                "could not tell the member about an error",
                extra={"status": exc.status, "code": exc.code},
            )


def log_error(command: str, error: BaseException) -> None:
    """Expected refusals at INFO, provider failures at WARNING, anything else with a trace."""
    if isinstance(error, SeedreamError):
        expected = error.kind in (ErrorKind.INVALID_INPUT, ErrorKind.REFUSED, ErrorKind.MODERATION)
        log.log(
            logging.INFO if expected else logging.WARNING,
            "request refused" if expected else "request failed",
            extra={"command": command, "kind": error.kind.value, "error": str(error)},
        )
    elif isinstance(error, app_commands.CheckFailure):
        log.info("check failed", extra={"command": command, "error": str(error)})
    else:
        log.error(
            "unexpected error",
            extra={"command": command},
            exc_info=(type(error), error, error.__traceback__),
        )


async def send_ephemeral(interaction: discord.Interaction, text: str) -> None:
    """Reply privately whatever state the interaction is in.

    A public "thinking" defer cannot turn private: its first follow-up would replace the
    loading message publicly. So if the public original still shows progress, it is removed
    and the message goes out as a separate ephemeral follow-up; if it was never edited, the
    loading message itself carries the (harmless) error text.
    """
    text = truncate(text, MAX_CONTENT)  # an over-long message would be refused, leaving silence
    if not interaction.response.is_done():
        await interaction.response.send_message(text, ephemeral=True, allowed_mentions=NO_PINGS)
        return
    if interaction.extras.get("public_defer"):
        if not interaction.extras.get("progress_shown"):
            await interaction.edit_original_response(content=text, allowed_mentions=NO_PINGS)
            return
        await interaction.delete_original_response()
    await interaction.followup.send(text, ephemeral=True, allowed_mentions=NO_PINGS)
