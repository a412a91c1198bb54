"""Texts for ``/seedream`` admin commands."""

from __future__ import annotations

from typing import Any

from discord import app_commands

from bot.config import Settings
from bot.moderation.policy import REFERENCE_POLICIES, GuildPolicy
from bot.quota import Allowance, GuildQuota
from bot.ui.audit import jump_url
from bot.ui.text import quote_prompt

REFERENCE_WORDS = {
    "everywhere": "allowed in every channel",
    "age-restricted": "allowed only in age-restricted channels",
    "off": "not allowed",
}
REFERENCE_CHOICES = [app_commands.Choice(name=p, value=p) for p in REFERENCE_POLICIES]


def _amount(images: int) -> str:
    return "unlimited" if images == -1 else f"{images}"


def _allowance(allowance: Allowance) -> str:
    return f"{_amount(allowance.images)} images per {allowance.period.value} ({allowance.source})"


def guild_settings_text(current: GuildQuota, policy: GuildPolicy, settings: Settings) -> str:
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
    lines.extend(
        [
            f"Default model: {policy.default_model or settings.seedream_default_model}"
            + ("" if policy.default_model else " (bot default)"),
            channels_text(policy),
            f"Reference images: {REFERENCE_WORDS[policy.references_policy]}",
            f"Blocklist: {len(policy.terms)} term(s) (`/seedream blocklist list`)",
            "Audit channel: "
            + (f"<#{policy.audit_channel_id}>" if policy.audit_channel_id else "none"),
            "Banned members: "
            + (", ".join(f"<@{user}>" for user in policy.bans) if policy.bans else "none"),
        ]
    )
    lines.append(
        f"Bot-wide: daily cap {current.global_cap or 'none'}; at most "
        f"{settings.seedream_max_concurrent} jobs at once, {settings.seedream_max_per_server} per "
        f"server, {settings.seedream_max_per_user} per member; default model "
        f"{settings.seedream_default_model}."
    )
    return "\n".join(lines)[:2000]


def channels_text(policy: GuildPolicy) -> str:
    allowed = ", ".join(f"<#{c}>" for c in sorted(policy.allowed)) or "every channel"
    denied = ", ".join(f"<#{c}>" for c in sorted(policy.denied)) or "none"
    return f"Channels: allowed in {allowed}; denied in {denied}"


def blocklist_text(policy: GuildPolicy) -> str:
    if not policy.terms:
        return "No blocked terms."
    lines = [f"**Blocked terms ({len(policy.terms)})**"]
    for term in policy.terms:
        line = f"- `{quote_prompt(term, 200)}`"
        if sum(len(x) + 1 for x in lines) + len(line) > 1950:
            lines.append("…")
            break
        lines.append(line)
    return "\n".join(lines)


def history_text(user_id: int, jobs: list[dict[str, Any]], guild_id: int) -> str:
    """``/seedream history``: a member's recent jobs, newest first, with links."""
    if not jobs:
        return f"<@{user_id}> has no jobs here."
    lines = [f"**Recent jobs of <@{user_id}>**"]
    for job in jobs:
        link = jump_url(guild_id, job["channel_id"], job["message_id"])
        state = "deleted" if job["deleted_at"] else job["state"]
        if job["state"] == "failed" and job["error_kind"]:
            state += f" ({job['error_kind']})"
        prompt = quote_prompt(job["prompt"], 80) if job["prompt"] else "*(forgotten)*"
        line = (
            f"- <t:{int(job['created_at'])}:R> `{job['id']}` {job['model']} · "
            f"{job['delivered']}/{job['count']} · {state} · {prompt}"
            + (f" · [result]({link})" if link and job["state"] == "done" else "")
        )
        if sum(len(x) + 1 for x in lines) + len(line) > 1990:
            break
        lines.append(line)
    return "\n".join(lines)
