"""The fake's world: users, guilds, roles, members, channels, threads, messages, commands.

Entities are small dataclasses with string snowflake ids, like Discord's JSON; messages are kept as
the exact JSON dicts the fake returns, because that is what tests assert on. Time comes from
:class:`FakeClock` (real time plus an offset a test can advance), so token expiry, CDN expiry and
the 3 s ack rule all move together.
"""

from __future__ import annotations

import datetime as dt
import itertools
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from . import permissions as perms
from .errors import (
    UNKNOWN_CHANNEL,
    UNKNOWN_GUILD,
    UNKNOWN_MESSAGE,
    UNKNOWN_ROLE,
    UNKNOWN_USER,
    DiscordError,
    unknown,
)
from .permissions import Overwrite

if TYPE_CHECKING:
    from .interactions import Interaction

DISCORD_EPOCH_MS = 1420070400000

TEXT, DM, VOICE, CATEGORY, ANNOUNCEMENT = 0, 1, 2, 4, 5
ANNOUNCEMENT_THREAD, PUBLIC_THREAD, PRIVATE_THREAD, FORUM = 10, 11, 12, 15
THREAD_TYPES = frozenset({ANNOUNCEMENT_THREAD, PUBLIC_THREAD, PRIVATE_THREAD})


@dataclass
class Settings:
    """Knobs tests turn (exposed as attributes of FakeDiscord)."""

    ack_deadline: float = 3.0
    attachment_size_limit: int = 10 * 1024 * 1024
    shard_count: int = 1
    gateway_url: str = ""


class FakeClock:
    """Wall clock plus an offset; ``advance()`` moves every deadline at once."""

    def __init__(self) -> None:
        self.offset = 0.0

    def now(self) -> float:
        return time.time() + self.offset

    def advance(self, seconds: float) -> None:
        self.offset += seconds

    def iso(self, at: float | None = None) -> str:
        """ISO-8601 timestamp as Discord formats it."""
        moment = self.now() if at is None else at
        return dt.datetime.fromtimestamp(moment, dt.UTC).isoformat(timespec="microseconds")


class Snowflakes:
    """Monotonic snowflakes whose timestamp part follows the fake clock."""

    def __init__(self, clock: FakeClock) -> None:
        self._clock = clock
        self._last = 0
        self._increment = itertools.count()

    def next(self) -> str:
        ms = int(self._clock.now() * 1000) - DISCORD_EPOCH_MS
        value = (ms << 22) | (1 << 17) | (next(self._increment) & 0xFFF)
        value = max(value, self._last + 1)
        self._last = value
        return str(value)


class ItemAccess:
    """Lets tests read entities like Discord JSON too: ``fake.user("alice")["id"]``."""

    def __getitem__(self, key: str) -> Any:
        try:
            return getattr(self, key)
        except AttributeError:
            raise KeyError(key) from None


@dataclass
class User(ItemAccess):
    id: str
    username: str
    bot: bool = False
    global_name: str | None = None
    avatar: str | None = None
    locale: str = "en-US"

    @property
    def mention(self) -> str:
        return f"<@{self.id}>"


@dataclass
class Role(ItemAccess):
    id: str
    guild_id: str
    name: str
    permissions: int
    position: int = 0
    color: int = 0
    hoist: bool = False
    mentionable: bool = False
    managed: bool = False
    bot_id: str | None = None

    @property
    def mention(self) -> str:
        return "@everyone" if self.id == self.guild_id else f"<@&{self.id}>"


@dataclass
class Member(ItemAccess):
    user: User
    guild_id: str
    roles: list[str]
    joined_at: str
    nick: str | None = None

    @property
    def id(self) -> str:
        return self.user.id


@dataclass
class Channel(ItemAccess):
    id: str
    type: int
    name: str | None
    guild_id: str | None
    position: int = 0
    nsfw: bool = False
    topic: str | None = None
    parent_id: str | None = None
    overwrites: list[Overwrite] = field(default_factory=list)
    rate_limit_per_user: int = 0
    last_message_id: str | None = None
    recipients: list[str] = field(default_factory=list)
    # thread-only
    owner_id: str | None = None
    thread_metadata: dict[str, Any] | None = None
    message_count: int = 0
    total_message_sent: int = 0
    thread_members: set[str] = field(default_factory=set)

    @property
    def is_thread(self) -> bool:
        return self.type in THREAD_TYPES

    @property
    def is_dm(self) -> bool:
        return self.type == DM

    @property
    def mention(self) -> str:
        return f"<#{self.id}>"


@dataclass
class Guild(ItemAccess):
    id: str
    name: str
    owner_id: str
    joined_at: str
    roles: dict[str, Role] = field(default_factory=dict)
    members: dict[str, Member] = field(default_factory=dict)
    channel_ids: list[str] = field(default_factory=list)
    preferred_locale: str = "en-US"
    premium_tier: int = 0

    @property
    def everyone(self) -> Role:
        return self.roles[self.id]


@dataclass
class MessageMeta:
    """What the fake needs to remember about a message beyond its JSON (for ``pings()``)."""

    allowed_mentions: dict[str, Any] | None
    author_permissions: int
    replied_user_id: str | None = None
    interaction_id: str | None = None


class State:
    """All mutable fake-Discord data plus id lookups that accept names, ids or entities."""

    def __init__(self, *, token: str, bot_name: str = "imagebot") -> None:
        self.clock = FakeClock()
        self.snowflakes = Snowflakes(self.clock)
        self.token = token
        self.app_id = self.snowflakes.next()
        self.bot = User(self.app_id, bot_name, bot=True)
        self.users: dict[str, User] = {self.bot.id: self.bot}
        self.guilds: dict[str, Guild] = {}
        self.channels: dict[str, Channel] = {}
        self.messages: dict[str, dict[str, Any]] = {}
        self.message_meta: dict[str, MessageMeta] = {}
        self.channel_log: dict[str, list[str]] = {}
        self.commands: dict[str | None, list[dict[str, Any]]] = {}
        #: guild id -> command id (or the app id, for app-level) -> permission overrides
        self.command_permissions: dict[str, dict[str, list[dict[str, Any]]]] = {}
        self.interactions: dict[str, Interaction] = {}
        self.dm_channels: dict[str, str] = {}
        self.dm_blocked: set[str] = set()

    # ----------------------------------------------------------------- creation
    def new_id(self) -> str:
        return self.snowflakes.next()

    def add_user(self, username: str, *, bot: bool = False) -> User:
        user = User(self.new_id(), username, bot=bot, global_name=None if bot else username.title())
        self.users[user.id] = user
        return user

    def add_guild(self, name: str, owner: User) -> Guild:
        gid = self.new_id()
        guild = Guild(gid, name, owner.id, joined_at=self.clock.iso())
        guild.roles[gid] = Role(gid, gid, "@everyone", perms.EVERYONE_DEFAULT)
        self.guilds[gid] = guild
        return guild

    def add_role(self, guild: Guild, name: str, permissions: int, **extra: Any) -> Role:
        position = max(role.position for role in guild.roles.values()) + 1
        role = Role(self.new_id(), guild.id, name, permissions, position=position, **extra)
        guild.roles[role.id] = role
        return role

    def add_member(self, guild: Guild, user: User, roles: list[Role] | None = None) -> Member:
        member = Member(user, guild.id, [r.id for r in roles or []], joined_at=self.clock.iso())
        guild.members[user.id] = member
        return member

    def add_channel(
        self, guild: Guild | None, name: str | None, type: int, **extra: Any
    ) -> Channel:
        position = len(guild.channel_ids) if guild is not None else 0
        channel = Channel(
            self.new_id(), type, name, guild.id if guild else None, position=position, **extra
        )
        self.channels[channel.id] = channel
        if guild is not None and not channel.is_thread:
            guild.channel_ids.append(channel.id)
        return channel

    def dm_channel(self, user: User) -> Channel:
        """The bot's DM channel with ``user`` (created on first use, like Discord)."""
        existing = self.dm_channels.get(user.id)
        if existing is not None:
            return self.channels[existing]
        channel = self.add_channel(None, None, DM, recipients=[user.id])
        self.dm_channels[user.id] = channel.id
        return channel

    def prune_command_permissions(self) -> None:
        """Deleting a command deletes its permission overrides in every guild, like Discord."""
        alive = {self.app_id} | {c["id"] for cmds in self.commands.values() for c in cmds}
        for per_guild in self.command_permissions.values():
            for target in [t for t in per_guild if t not in alive]:
                del per_guild[target]

    # ----------------------------------------------------------------- lookups
    def user(self, ref: User | Member | str | int) -> User:
        if isinstance(ref, User):
            return ref
        if isinstance(ref, Member):
            return ref.user
        key = str(ref)
        if key in self.users:
            return self.users[key]
        for user in self.users.values():
            if user.username == key:
                return user
        raise unknown("User", UNKNOWN_USER)

    def guild(self, ref: Guild | str | int) -> Guild:
        if isinstance(ref, Guild):
            return ref
        key = str(ref)
        if key in self.guilds:
            return self.guilds[key]
        for guild in self.guilds.values():
            if guild.name == key:
                return guild
        raise unknown("Guild", UNKNOWN_GUILD)

    def channel(self, ref: Channel | str | int, guild: Guild | None = None) -> Channel:
        """By entity, id, or name (searched in ``guild`` first, then everywhere)."""
        if isinstance(ref, Channel):
            return ref
        key = str(ref)
        if key in self.channels:
            return self.channels[key]
        candidates = [c for c in self.channels.values() if c.name == key]
        if guild is not None:
            in_guild = [c for c in candidates if c.guild_id == guild.id]
            candidates = in_guild or candidates
        if candidates:
            return candidates[0]
        raise unknown("Channel", UNKNOWN_CHANNEL)

    def role(self, ref: Role | str | int, guild: Guild) -> Role:
        if isinstance(ref, Role):
            return ref
        key = str(ref)
        if key in guild.roles:
            return guild.roles[key]
        for role in guild.roles.values():
            if role.name == key:
                return role
        raise unknown("Role", UNKNOWN_ROLE)

    def message(self, ref: dict[str, Any] | str | int) -> dict[str, Any]:
        key = str(ref["id"]) if isinstance(ref, dict) else str(ref)
        try:
            return self.messages[key]
        except KeyError:
            raise unknown("Message", UNKNOWN_MESSAGE) from None

    def guild_of(self, channel: Channel) -> Guild | None:
        return self.guilds.get(channel.guild_id) if channel.guild_id else None

    def permission_parent(self, channel: Channel) -> Channel:
        """Threads take their permissions from the parent channel."""
        if channel.is_thread and channel.parent_id:
            return self.channels[channel.parent_id]
        return channel

    # ----------------------------------------------------------------- permissions
    def guild_permissions(self, guild: Guild, user_id: str) -> int:
        member = guild.members.get(user_id)
        roles = [guild.roles[r].permissions for r in member.roles] if member else []
        return perms.base_permissions(
            everyone=guild.everyone.permissions,
            role_permissions=roles,
            is_owner=guild.owner_id == user_id,
        )

    def channel_permissions(self, channel: Channel, user_id: str) -> int:
        """What ``user_id`` may do in ``channel`` (DMs: the fixed DM set)."""
        guild = self.guild_of(channel)
        if guild is None:
            return perms.DM_APP_PERMISSIONS
        member = guild.members.get(user_id)
        if member is None:
            return 0
        source = self.permission_parent(channel)
        return perms.apply_overwrites(
            self.guild_permissions(guild, user_id),
            guild_id=guild.id,
            member_id=user_id,
            member_roles=member.roles,
            overwrites=source.overwrites,
        )

    def require(self, channel: Channel, user_id: str, required: int) -> None:
        """403 50013 unless ``user_id`` has every bit of ``required`` in ``channel``."""
        have = self.channel_permissions(channel, user_id)
        if not have & perms.VIEW_CHANNEL:
            raise DiscordError(403, 50001, "Missing Access")
        if not perms.has(have, required):
            raise DiscordError(403, 50013, "Missing Permissions")
