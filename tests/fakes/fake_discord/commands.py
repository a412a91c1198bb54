"""Turning a test's ``slash("name sub", {...})`` into the ``data`` Discord's client would send.

The command is looked up among what the bot synced (guild commands first, then global), and each
option value is checked against the registered definition the way Discord's client does before
sending: unknown or missing required options, wrong types, values outside ``choices``,
``min_value``/``max_value``, ``min_length``/``max_length`` or ``channel_types`` raise
:class:`InvalidAction` in the test. ``resolved`` gets the users/members/roles/channels/attachments
the options reference, with per-channel permissions like Discord computes them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from . import command_permissions, payloads
from .cdn import CdnStore
from .errors import DiscordError, InvalidAction
from .state import Channel, Guild, Role, State, User

SUB_COMMAND, SUB_COMMAND_GROUP = 1, 2
STRING, INTEGER, BOOLEAN, USER, CHANNEL, ROLE, MENTIONABLE, NUMBER, ATTACHMENT = (
    3,
    4,
    5,
    6,
    7,
    8,
    9,
    10,
    11,
)
CHAT_INPUT, USER_COMMAND, MESSAGE_COMMAND = 1, 2, 3
GUILD_CONTEXT, BOT_DM_CONTEXT = 0, 1


def find_command(state: State, name: str, ctype: int, guild_id: str | None) -> dict[str, Any]:
    """The synced command called ``name`` visible in ``guild_id`` (guild-scoped wins)."""
    scopes: list[str | None] = [guild_id, None] if guild_id else [None]
    for scope in scopes:
        for cmd in state.commands.get(scope, []):
            if cmd["name"] == name and cmd.get("type", 1) == ctype:
                return cmd
    known = sorted(
        c["name"] for s in scopes for c in state.commands.get(s, []) if c.get("type", 1) == ctype
    )
    raise InvalidAction(f"no synced command {name!r} of type {ctype}; the bot synced {known}")


def check_usable(state: State, cmd: dict[str, Any], channel: Channel, user: User) -> None:
    """Discord's client hides commands the user may not run here; refuse them the same way.

    In guilds that includes ``default_member_permissions`` and the guild's command permission
    overrides, combined as :mod:`.command_permissions` describes.
    """
    context = BOT_DM_CONTEXT if channel.is_dm else GUILD_CONTEXT
    contexts = cmd.get("contexts")
    if contexts is not None and context not in contexts:
        raise InvalidAction(f"command {cmd['name']!r} is not available in context {context}")
    if channel.is_dm and cmd.get("guild_id"):
        raise InvalidAction(f"guild command {cmd['name']!r} cannot be used in DMs")
    if cmd.get("nsfw") and not state.permission_parent(channel).nsfw and not channel.is_dm:
        raise InvalidAction(
            f"command {cmd['name']!r} is age-restricted and the channel is not NSFW"
        )
    if channel.is_dm:
        return  # default_member_permissions and overrides only exist in guilds
    decided = command_permissions.verdict(state, cmd, channel, user)
    if not decided.allowed:
        raise InvalidAction(
            f"{user.username} may not use {cmd['name']!r} in #{channel.name}: {decided.reason}"
        )


def descend(
    cmd: dict[str, Any], path: list[str]
) -> tuple[list[dict[str, Any]], list[tuple[str, int]]]:
    """Walk ``sub group`` names into the leaf's option definitions; returns (defs, wrappers)."""
    defs: list[dict[str, Any]] = cmd.get("options") or []
    wrappers: list[tuple[str, int]] = []
    for part in path:
        sub = next(
            (
                o
                for o in defs
                if o["name"] == part and o["type"] in (SUB_COMMAND, SUB_COMMAND_GROUP)
            ),
            None,
        )
        if sub is None:
            raise InvalidAction(f"{cmd['name']!r} has no subcommand or group {part!r}")
        wrappers.append((part, sub["type"]))
        defs = sub.get("options") or []
    if any(o["type"] in (SUB_COMMAND, SUB_COMMAND_GROUP) for o in defs):
        names = [o["name"] for o in defs]
        raise InvalidAction(f"{cmd['name']!r} needs a subcommand: one of {names}")
    return defs, wrappers


def wrap(options: list[dict[str, Any]], wrappers: list[tuple[str, int]]) -> list[dict[str, Any]]:
    """Nest leaf options inside their subcommand/group option objects."""
    for name, otype in reversed(wrappers):
        options = [{"name": name, "type": otype, "options": options}]
    return options


class OptionBuilder:
    """Builds ``options`` and ``resolved`` for one interaction."""

    def __init__(
        self, state: State, cdn: CdnStore, *, guild: Guild | None, channel: Channel, invoker: User
    ) -> None:
        self.state = state
        self.cdn = cdn
        self.guild = guild
        self.channel = channel
        self.invoker = invoker
        self.resolved: dict[str, dict[str, Any]] = {}

    # ----------------------------------------------------------------- resolved entries
    def add_user(self, user: User) -> str:
        self.resolved.setdefault("users", {})[user.id] = payloads.user(user)
        member = self.guild.members.get(user.id) if self.guild else None
        if member is not None:
            perms = self.state.channel_permissions(self.channel, user.id)
            self.resolved.setdefault("members", {})[user.id] = payloads.member(
                member, with_user=False, permissions=perms
            )
        return user.id

    def add_role(self, role: Role) -> str:
        self.resolved.setdefault("roles", {})[role.id] = payloads.role(role)
        return role.id

    def add_channel(self, channel: Channel) -> str:
        body = payloads.channel(self.state, channel, for_user=self.invoker.id)
        keep = (
            "id",
            "name",
            "type",
            "permissions",
            "parent_id",
            "thread_metadata",
            "guild_id",
            "nsfw",
        )
        self.resolved.setdefault("channels", {})[channel.id] = {
            k: body[k] for k in keep if k in body
        }
        return channel.id

    def add_attachment(self, att: Mapping[str, Any] | str) -> str:
        att_id = str(att["id"]) if isinstance(att, Mapping) else str(att)
        stored = self.cdn.files.get(att_id)
        if stored is None:
            raise InvalidAction(
                f"attachment {att_id} is not in the fake CDN (use fake.add_cdn_file)"
            )
        self.resolved.setdefault("attachments", {})[att_id] = self.cdn.attachment(
            stored, ephemeral=True
        )
        return att_id

    def add_message(self, message: dict[str, Any]) -> str:
        self.resolved.setdefault("messages", {})[message["id"]] = message
        return str(message["id"])

    # ----------------------------------------------------------------- options
    def _entity(self, otype: int, value: Any, name: str) -> str:
        try:
            if otype == USER:
                return self.add_user(self.state.user(value))
            if otype == ROLE:
                return self.add_role(self._role(value))
            if otype == CHANNEL:
                return self.add_channel(self.state.channel(value, self.guild))
            if otype == MENTIONABLE:
                try:
                    return self.add_user(self.state.user(value))
                except LookupError:
                    return self.add_role(self._role(value))
        except DiscordError as exc:
            raise InvalidAction(
                f"option {name!r}: {value!r} does not resolve ({exc.message})"
            ) from None
        return self.add_attachment(value)

    def _role(self, value: Any) -> Role:
        if self.guild is None:
            raise InvalidAction("role options need a guild")
        return self.state.role(value, self.guild)

    def build(
        self,
        definitions: list[dict[str, Any]],
        values: Mapping[str, Any],
        *,
        focused: str | None = None,
    ) -> list[dict[str, Any]]:
        by_name = {d["name"]: d for d in definitions}
        unknown = set(values) - set(by_name)
        if unknown:
            raise InvalidAction(
                f"unknown options {sorted(unknown)}; the command has {sorted(by_name)}"
            )
        if focused is not None and focused not in values:
            raise InvalidAction(f"focused option {focused!r} needs a value")
        options: list[dict[str, Any]] = []
        for definition in definitions:  # Discord sends options in definition order
            name = definition["name"]
            if name not in values:
                if definition.get("required") and focused is None:
                    raise InvalidAction(f"missing required option {name!r}")
                continue
            value = values[name]
            if name == focused:
                if not definition.get("autocomplete"):
                    raise InvalidAction(f"option {name!r} has no autocomplete")
                options.append(
                    {"name": name, "type": definition["type"], "value": str(value), "focused": True}
                )
                continue
            options.append(
                {"name": name, "type": definition["type"], "value": self.value(definition, value)}
            )
        return options

    def value(self, definition: dict[str, Any], value: Any) -> Any:
        name, otype = definition["name"], definition["type"]
        if otype in (USER, CHANNEL, ROLE, MENTIONABLE, ATTACHMENT):
            entity_id = self._entity(otype, value, name)
            if otype == CHANNEL and definition.get("channel_types"):
                ctype = self.state.channels[entity_id].type
                if ctype not in definition["channel_types"]:
                    allowed = definition["channel_types"]
                    raise InvalidAction(f"option {name!r}: channel type {ctype} not in {allowed}")
            return entity_id
        if otype == STRING:
            if not isinstance(value, str):
                raise InvalidAction(f"option {name!r} expects a string, got {value!r}")
            if (
                not definition.get("min_length", 0)
                <= len(value)
                <= definition.get("max_length", 6000)
            ):
                raise InvalidAction(
                    f"option {name!r}: length {len(value)} outside the allowed range"
                )
        elif otype == BOOLEAN:
            if not isinstance(value, bool):
                raise InvalidAction(f"option {name!r} expects a boolean, got {value!r}")
        elif otype in (INTEGER, NUMBER):
            wrong = isinstance(value, bool) or not isinstance(value, int | float)
            if wrong or (otype == INTEGER and not isinstance(value, int)):
                kind = "an integer" if otype == INTEGER else "a number"
                raise InvalidAction(f"option {name!r} expects {kind}, got {value!r}")
            low, high = definition.get("min_value"), definition.get("max_value")
            if (low is not None and value < low) or (high is not None and value > high):
                raise InvalidAction(f"option {name!r}: {value} outside [{low}, {high}]")
        choices = definition.get("choices")
        allowed_values = [c["value"] for c in choices or []]
        if choices and value not in allowed_values:
            raise InvalidAction(
                f"option {name!r}: {value!r} is not one of the choices {allowed_values}"
            )
        return value
