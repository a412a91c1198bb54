"""Texts for ``/seedream`` admin commands."""

from __future__ import annotations

from bot.config import Settings
from bot.quota import Allowance, GuildQuota


def _amount(images: int) -> str:
    return "unlimited" if images == -1 else f"{images}"


def _allowance(allowance: Allowance) -> str:
    return f"{_amount(allowance.images)} images per {allowance.period.value} ({allowance.source})"


def guild_settings_text(current: GuildQuota, settings: Settings) -> str:
    """``/seedream settings``: everything set for this server, in one ephemeral message."""
    lines = [
        "**Seedream settings for this server**",
        f"Default allowance: {_allowance(current.default)}",
    ]
    if current.roles:
        roles = ", ".join(f"<@&{role}> {_amount(images)}" for role, images in current.roles)
        lines.append(f"Role allowances (highest wins): {roles}")
    if current.members:
        members = ", ".join(f"<@{user}> {_amount(images)}" for user, images in current.members)
        lines.append(f"Member overrides: {members}")
    if current.bonuses:
        bonuses = ", ".join(f"<@{user}> {balance}" for user, balance in current.bonuses)
        lines.append(f"Bonus credits: {bonuses}")
    if current.server_cap:
        images, period = current.server_cap
        lines.append(f"Server cap: {images} images per {period.value}")
    else:
        lines.append("Server cap: none")
    lines.append(
        f"Bot-wide: daily cap {current.global_cap or 'none'}; at most "
        f"{settings.seedream_max_concurrent} jobs at once, {settings.seedream_max_per_server} per "
        f"server, {settings.seedream_max_per_user} per member; default model "
        f"{settings.seedream_default_model}."
    )
    return "\n".join(lines)[:2000]
