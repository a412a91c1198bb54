"""A server's policy, and the one check every generation passes before any charge or call.

Order of the checks: banned member, channel, reference images, blocklist — the first that
refuses wins, so the member hears the most fundamental reason. Policies are cached per server
and dropped whenever a moderator changes one through :class:`Moderation` (this process is the
only writer), so the check costs no query on the hot path.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from bot.errors import Refused
from bot.moderation.blocklist import Blocklist, Term, parse_term
from bot.storage import moderation as rows
from bot.storage.db import Database

REFERENCE_POLICIES = ("everywhere", "age-restricted", "off")


class PolicyRefused(Refused):
    """The server's policy refuses this attempt; ``reason`` is its short code."""

    def __init__(self, reason: str, message: str, detail: str = "") -> None:
        super().__init__(message)
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True)
class Attempt:
    """Someone wants to generate: who, where, what."""

    guild_id: int | None
    channel_id: int | None
    user_id: int
    prompt: str
    model: str | None
    source: str
    references: int = 0
    parent_channel_id: int | None = None  # a thread's channel: allow/deny lists name channels
    age_restricted: bool = False


@dataclass(frozen=True)
class GuildPolicy:
    """Everything the check needs for one server, read once."""

    guild_id: int
    audit_channel_id: int | None = None
    default_model: str | None = None
    references_policy: str = "everywhere"
    allowed: frozenset[int] = frozenset()
    denied: frozenset[int] = frozenset()
    terms: tuple[str, ...] = ()
    bans: dict[int, str] = field(default_factory=dict)
    blocklist: Blocklist = field(default_factory=lambda: Blocklist(()))

    def check(self, attempt: Attempt) -> None:
        """Raise :class:`PolicyRefused` naming the reason, or return when allowed."""
        if attempt.user_id in self.bans:
            reason = self.bans[attempt.user_id]
            raise PolicyRefused(
                "banned",
                "You are barred from using this bot in this server"
                + (f": {reason}" if reason else "."),
            )
        places = {attempt.channel_id, attempt.parent_channel_id} - {None}
        if places & self.denied or (self.allowed and not places & self.allowed):
            where = ", ".join(f"<#{channel}>" for channel in sorted(self.allowed))
            raise PolicyRefused(
                "channel",
                "The bot is not used in this channel" + (f"; try {where}." if where else "."),
            )
        if attempt.references:
            if self.references_policy == "off":
                raise PolicyRefused("references", "This server does not allow reference images.")
            if self.references_policy == "age-restricted" and not attempt.age_restricted:
                raise PolicyRefused(
                    "references",
                    "On this server reference images are allowed only in age-restricted channels.",
                )
        term = self.blocklist.first_match(attempt.prompt)
        if term is not None:
            raise PolicyRefused(
                "blocklist",
                "Your prompt contains a term this server does not allow.",
                detail=term.text,
            )


class Moderation:
    """Reads and changes server policies; keeps a cache of them."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._cache: dict[int, GuildPolicy] = {}

    async def policy(self, guild_id: int) -> GuildPolicy:
        cached = self._cache.get(guild_id)
        if cached is None:
            cached = self._cache[guild_id] = await self._load(guild_id)
        return cached

    async def _load(self, guild_id: int) -> GuildPolicy:
        settings = await rows.settings(self.db, guild_id)
        channels = await rows.channels(self.db, guild_id)
        terms = tuple(await rows.blocklist(self.db, guild_id))
        return GuildPolicy(
            guild_id=guild_id,
            audit_channel_id=settings["audit_channel_id"],
            default_model=settings["default_model"],
            references_policy=settings["references_policy"],
            allowed=frozenset(channel for channel, mode in channels if mode == "allow"),
            denied=frozenset(channel for channel, mode in channels if mode == "deny"),
            terms=terms,
            bans=dict(await rows.bans(self.db, guild_id)),
            # stored terms were validated when added; Blocklist skips any it cannot compile
            blocklist=Blocklist(Term(term) for term in terms),
        )

    async def check(self, attempt: Attempt) -> None:
        """Outside a server (DMs) there is no policy to apply."""
        if attempt.guild_id is not None:
            (await self.policy(attempt.guild_id)).check(attempt)

    async def record_refusal(self, attempt: Attempt, refusal: PolicyRefused) -> int:
        assert attempt.guild_id is not None
        return await rows.record_refusal(
            self.db,
            {
                "guild_id": attempt.guild_id,
                "channel_id": attempt.channel_id,
                "user_id": attempt.user_id,
                "source": attempt.source,
                "reason": refusal.reason,
                "detail": refusal.detail,
                "prompt": attempt.prompt,
                "model": attempt.model,
            },
        )

    # --- changes (each drops the cached policy) ---------------------------------------------

    async def set_setting(self, guild_id: int, name: str, value: Any) -> None:
        await rows.set_setting(self.db, guild_id, name, value)
        self._cache.pop(guild_id, None)

    async def set_channel(self, guild_id: int, channel_id: int, mode: str | None) -> None:
        await rows.set_channel(self.db, guild_id, channel_id, mode)
        self._cache.pop(guild_id, None)

    async def add_term(self, guild_id: int, text: str, moderator_id: int) -> bool:
        term = parse_term(text)  # refuses empty, too long or invalid patterns
        added = await rows.add_term(self.db, guild_id, term.text, moderator_id)
        self._cache.pop(guild_id, None)
        return added

    async def remove_term(self, guild_id: int, text: str) -> bool:
        removed = await rows.remove_term(self.db, guild_id, text.strip())
        self._cache.pop(guild_id, None)
        return removed

    async def ban(self, guild_id: int, user_id: int, reason: str, moderator_id: int) -> bool:
        new = await rows.ban(self.db, guild_id, user_id, reason, moderator_id)
        await rows.record_case(
            self.db, guild_id, "ban", moderator_id, target_id=user_id, reason=reason
        )
        self._cache.pop(guild_id, None)
        return new

    async def unban(self, guild_id: int, user_id: int, moderator_id: int) -> bool:
        removed = await rows.unban(self.db, guild_id, user_id)
        if removed:
            await rows.record_case(self.db, guild_id, "unban", moderator_id, target_id=user_id)
        self._cache.pop(guild_id, None)
        return removed
