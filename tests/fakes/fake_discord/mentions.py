"""Who a message actually notifies, following Discord's allowed_mentions rules.

- No ``allowed_mentions``: every ``<@user>``, ``<@&role>``, ``@everyone``/``@here`` in the content
  pings, and a reply pings the replied-to author.
- With ``allowed_mentions``: only the ``parse`` types (``users``/``roles``/``everyone``) plus the
  explicit ``users``/``roles`` id lists; a reply pings its author only with ``replied_user: true``.
- @everyone/@here need MENTION_EVERYONE; a non-mentionable role needs MENTION_EVERYONE too.
- Only members of the guild (or DM recipients) can be notified; authors never ping themselves;
  the SUPPRESS_NOTIFICATIONS flag (``@silent``) notifies nobody.

Simplification: mentions inside code blocks are treated like any other text.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

from . import permissions as perms

USER_MENTION = re.compile(r"<@!?(\d+)>")
ROLE_MENTION = re.compile(r"<@&(\d+)>")
EVERYONE_MENTION = re.compile(r"@(everyone|here)")
SUPPRESS_NOTIFICATIONS = 1 << 12
EVERYONE = "everyone"


@dataclass(frozen=True)
class Parsed:
    users: list[str]
    roles: list[str]
    everyone: bool


def parse(content: str | None) -> Parsed:
    text = content or ""
    return Parsed(
        users=list(dict.fromkeys(USER_MENTION.findall(text))),
        roles=list(dict.fromkeys(ROLE_MENTION.findall(text))),
        everyone=EVERYONE_MENTION.search(text) is not None,
    )


def compute_pings(
    *,
    content: str | None,
    allowed_mentions: Mapping[str, Any] | None,
    author_id: str,
    author_permissions: int,
    replied_user_id: str | None,
    reachable_users: Collection[str],
    mentionable_roles: Mapping[str, bool],
    flags: int = 0,
    in_guild: bool = True,
) -> set[str]:
    """The set of user ids, role ids and ``"everyone"`` Discord would notify."""
    if flags & SUPPRESS_NOTIFICATIONS:
        return set()
    found = parse(content)
    if allowed_mentions is None:
        parse_types = {"users", "roles", "everyone"}
        allowed_users: set[str] = set()
        allowed_roles: set[str] = set()
        replied = True
    else:
        parse_types = set(allowed_mentions.get("parse") or [])
        allowed_users = {str(u) for u in allowed_mentions.get("users") or []}
        allowed_roles = {str(r) for r in allowed_mentions.get("roles") or []}
        replied = bool(allowed_mentions.get("replied_user", False))

    out: set[str] = set()
    for uid in found.users:
        if "users" in parse_types or uid in allowed_users:
            out.add(uid)
    if replied and replied_user_id is not None:
        out.add(replied_user_id)
    out = {uid for uid in out if uid in reachable_users and uid != author_id}

    can_mass_mention = perms.has(author_permissions, perms.MENTION_EVERYONE)
    if in_guild:
        for rid in found.roles:
            if rid not in mentionable_roles:
                continue
            if ("roles" in parse_types or rid in allowed_roles) and (
                mentionable_roles[rid] or can_mass_mention
            ):
                out.add(rid)
        if found.everyone and "everyone" in parse_types and can_mass_mention:
            out.add(EVERYONE)
    return out
