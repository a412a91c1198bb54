"""Application command permission overrides: what admins set in Server Settings → Integrations.

Discord keeps, per guild, lists of ``{"id", "type", "permission"}`` overrides keyed by a command
id, or by the application id for app-level overrides that concern all of the app's commands
(https://discord.com/developers/docs/interactions/application-commands#permissions). ``type`` is
1 (role), 2 (user) or 3 (channel); ``id`` may also be a permission constant: the guild id is
``@everyone`` and guild id − 1 is "All Channels". A list holds at most 100 overrides.

Who may run a command follows the logic Discord's clients use since the change log "Upcoming
Application Command Permission Changes" (2022-11-17, applied to every guild in early 2023; guilds
still on the old logic carry the ``APPLICATION_COMMAND_PERMISSIONS_V2`` feature, which the fake's
guilds never do) and its flowchart:

0. Administrators (and the owner) can use every command, whatever the overrides: "Members with the
   Administrator permission can use all commands"; "server owners and administrators cannot lock
   themselves out of a command" (help centre, "Command Permissions Lockout").
1. Channel: the command's override for this channel (a thread uses its parent channel's, as the
   docs say), else the command's All Channels override, else the app's override for the channel,
   else the app's All Channels override. The first one found decides: a deny refuses. None found:
   go on.
2. User and roles, command level ("an override of the app-level *and* of any restrictions set by
   ``default_member_permissions``"): the member's user override decides; else the overrides of the
   member's roles decide, allowing if any of them allows; else an ``@everyone`` override decides.
3. User and roles, app level (the "base", which works *together* with
   ``default_member_permissions``): the same order, but a deny refuses while an allow only lets
   the check go on to step 4.
4. ``default_member_permissions``: null allows, ``"0"`` refuses, otherwise the member needs all of
   its bits (in the channel, like the ``member.permissions`` Discord sends).

Subcommands and groups are options of their top-level command, so they share its overrides.
Editing overrides needs a guild admin's Bearer token with ``applications.commands.permissions
.update``: bots get 403 20001 "Bots cannot use this endpoint", so tests set overrides with
:meth:`FakeDiscord.set_command_permissions`, as an admin would in the client, and the bot may read
them back (``GET .../commands/{id}/permissions``; 404 10066 when none are set).

Simplifications: an override naming a category is kept but does not reach the channels inside it
(the docs only promise that threads inherit from their channel); user-installed commands and the
old, mutually exclusive logic are not modelled.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from . import permissions as P
from .errors import DiscordError, InvalidAction
from .state import Channel, Guild, Member, Role, State, User

ROLE, USER, CHANNEL = 1, 2, 3
MAX_OVERRIDES = 100
UNKNOWN_COMMAND_PERMISSIONS = 10066


def all_channels_id(guild_id: str) -> str:
    """The "All Channels" constant of a guild: its id minus one."""
    return str(int(guild_id) - 1)


def unknown_command_permissions() -> DiscordError:
    """What ``GET .../commands/{id}/permissions`` answers when no override is set."""
    return DiscordError(404, UNKNOWN_COMMAND_PERMISSIONS, "Unknown application command permissions")


def bots_cannot_edit() -> DiscordError:
    """``PUT .../permissions`` with a bot token (Bearer tokens only since Permissions v2)."""
    return DiscordError(403, 20001, "Bots cannot use this endpoint")


def payload(state: State, guild_id: str, target_id: str) -> dict[str, Any]:
    """A guild application command permissions object."""
    entries = state.command_permissions.get(guild_id, {}).get(target_id, [])
    return {
        "id": target_id,
        "application_id": state.app_id,
        "guild_id": guild_id,
        "permissions": [dict(e) for e in entries],
    }


# ====================================================================== setting overrides
def _target_id(state: State, guild: Guild, kind: int, ref: Any) -> str:
    """Resolve an override target given as an id, a name or an entity, checking it exists."""
    if isinstance(ref, Role | User | Member | Channel):
        ref = ref.id
    key = str(ref)
    if kind == ROLE:
        return state.role(key, guild).id  # the guild id is @everyone, which is a role here
    if kind == USER:
        return state.user(key).id
    if kind == CHANNEL:
        if key == all_channels_id(guild.id):
            return key
        channel = state.channel(key, guild)
        if channel.guild_id != guild.id or channel.is_thread:
            raise InvalidAction(f"channel overrides name channels of {guild.name}, not {key!r}")
        return channel.id
    raise InvalidAction(f"override type must be 1 (role), 2 (user) or 3 (channel), not {kind!r}")


def normalise(
    state: State, guild: Guild, overrides: Sequence[Mapping[str, Any]]
) -> list[dict[str, Any]]:
    """Overrides as Discord stores them, refusing what its settings page could not express."""
    if len(overrides) > MAX_OVERRIDES:
        raise InvalidAction(f"at most {MAX_OVERRIDES} overrides per command, got {len(overrides)}")
    out: list[dict[str, Any]] = []
    seen: set[str] = set()
    for entry in overrides:
        kind, allowed = entry.get("type"), entry.get("permission")
        if not isinstance(allowed, bool):
            raise InvalidAction(f"override {dict(entry)}: permission must be True or False")
        if "id" not in entry:
            raise InvalidAction(f"override {dict(entry)} has no id")
        try:
            target = _target_id(state, guild, kind if isinstance(kind, int) else -1, entry["id"])
        except LookupError as exc:
            raise InvalidAction(f"override {dict(entry)}: {exc}") from None
        if target in seen:
            raise InvalidAction(f"two overrides for {target}")
        seen.add(target)
        out.append({"id": target, "type": kind, "permission": allowed})
    return out


# ====================================================================== enforcement
@dataclass(frozen=True)
class Verdict:
    """Whether the member may run the command here, and which rule decided it."""

    allowed: bool
    reason: str


def _find(entries: list[dict[str, Any]], kind: int, target: str) -> dict[str, Any] | None:
    return next((e for e in entries if e["type"] == kind and e["id"] == target), None)


def _members_side(
    entries: list[dict[str, Any]], guild: Guild, member: Member
) -> tuple[bool, str] | None:
    """The user override, else the member's role overrides (any allow wins), else @everyone."""
    own = _find(entries, USER, member.id)
    if own is not None:
        return own["permission"], "user override"
    roles = [e for e in entries if e["type"] == ROLE and e["id"] in member.roles]  # no @everyone
    if roles:
        return any(e["permission"] for e in roles), "role overrides"
    everyone = _find(entries, ROLE, guild.id)
    if everyone is not None:
        return everyone["permission"], "@everyone override"
    return None


def verdict(state: State, cmd: dict[str, Any], channel: Channel, user: User) -> Verdict:
    """Apply Discord's command permission logic (see the module docstring) in a guild channel."""
    guild = state.guild_of(channel)
    assert guild is not None, "command permissions only exist in guilds"
    member = guild.members[user.id]
    if P.has(state.guild_permissions(guild, user.id), P.ADMINISTRATOR):
        return Verdict(True, "administrators can use every command")
    overrides = state.command_permissions.get(guild.id, {})
    command_level = overrides.get(cmd["id"], [])
    app_level = overrides.get(state.app_id, [])
    parent = state.permission_parent(channel)
    everywhere = all_channels_id(guild.id)
    channel_rules = (
        (level, what, found)
        for level, entries in (("command", command_level), ("app", app_level))
        for target, what in ((parent.id, f"#{parent.name}"), (everywhere, "All Channels"))
        if (found := _find(entries, CHANNEL, target)) is not None
    )
    for level, what, found in channel_rules:
        if not found["permission"]:
            return Verdict(False, f"denied by the {level}-level channel override for {what}")
        break  # the first override found decides; an allow goes on to users and roles
    side = _members_side(command_level, guild, member)
    if side is not None:
        allowed, rule = side
        return Verdict(allowed, f"{'allowed' if allowed else 'denied'} by the command-level {rule}")
    side = _members_side(app_level, guild, member)
    if side is not None and not side[0]:
        return Verdict(False, f"denied by the app-level {side[1]}")
    required = cmd.get("default_member_permissions")
    if required is None:
        return Verdict(True, "no default_member_permissions")
    have = state.channel_permissions(channel, user.id)
    # "0" disables the command for everyone but administrators (handled above) and overrides.
    if int(required) != 0 and P.has(have, int(required)):
        return Verdict(True, "has default_member_permissions")
    return Verdict(False, f"lacks permissions {required}")
