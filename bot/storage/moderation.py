"""Per-server policy rows: settings, channels, blocklist, bans, refusals, cases, history, stats."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from bot.storage.db import Database

_SETTINGS = frozenset({"audit_channel_id", "default_model", "references_policy"})


async def settings(db: Database, guild_id: int) -> dict[str, Any]:
    """The server's settings row, or the defaults when nothing was set."""
    row = await db.fetchone("SELECT * FROM guild_settings WHERE guild_id = ?", (guild_id,))
    if row is None:
        return {
            "guild_id": guild_id,
            "audit_channel_id": None,
            "default_model": None,
            "references_policy": "everywhere",
        }
    return dict(row)


async def set_setting(db: Database, guild_id: int, name: str, value: Any) -> None:
    if name not in _SETTINGS:
        raise ValueError(f"unknown setting {name}")
    await db.execute(
        f"INSERT INTO guild_settings (guild_id, {name}) VALUES (?, ?)"
        f" ON CONFLICT (guild_id) DO UPDATE SET {name} = excluded.{name}",
        (guild_id, value),
    )


async def channels(db: Database, guild_id: int) -> list[tuple[int, str]]:
    rows = await db.fetchall(
        "SELECT channel_id, mode FROM guild_channels WHERE guild_id = ? ORDER BY channel_id",
        (guild_id,),
    )
    return [(row[0], row[1]) for row in rows]


async def set_channel(db: Database, guild_id: int, channel_id: int, mode: str | None) -> None:
    """Allow or deny a channel; ``None`` removes it from both lists."""
    if mode is None:
        await db.execute(
            "DELETE FROM guild_channels WHERE guild_id = ? AND channel_id = ?",
            (guild_id, channel_id),
        )
        return
    await db.execute(
        "INSERT INTO guild_channels (guild_id, channel_id, mode) VALUES (?, ?, ?)"
        " ON CONFLICT (guild_id, channel_id) DO UPDATE SET mode = excluded.mode",
        (guild_id, channel_id, mode),
    )


async def blocklist(db: Database, guild_id: int) -> list[str]:
    rows = await db.fetchall(
        "SELECT term FROM blocklist WHERE guild_id = ? ORDER BY added_at, term", (guild_id,)
    )
    return [row[0] for row in rows]


async def add_term(db: Database, guild_id: int, term: str, added_by: int) -> bool:
    """False when the term was already listed."""
    changed = await db.execute(
        "INSERT OR IGNORE INTO blocklist (guild_id, term, added_by, added_at) VALUES (?, ?, ?, ?)",
        (guild_id, term, added_by, time.time()),
    )
    return changed == 1


async def remove_term(db: Database, guild_id: int, term: str) -> bool:
    changed = await db.execute(
        "DELETE FROM blocklist WHERE guild_id = ? AND term = ?", (guild_id, term)
    )
    return changed == 1


async def ban(db: Database, guild_id: int, user_id: int, reason: str, banned_by: int) -> bool:
    """False when the member was already banned (the reason is updated)."""
    existing = await is_banned(db, guild_id, user_id)
    await db.execute(
        "INSERT INTO bans (guild_id, user_id, reason, banned_by, banned_at) VALUES (?, ?, ?, ?, ?)"
        " ON CONFLICT (guild_id, user_id) DO UPDATE SET reason = excluded.reason",
        (guild_id, user_id, reason, banned_by, time.time()),
    )
    return existing is None


async def unban(db: Database, guild_id: int, user_id: int) -> bool:
    changed = await db.execute(
        "DELETE FROM bans WHERE guild_id = ? AND user_id = ?", (guild_id, user_id)
    )
    return changed == 1


async def is_banned(db: Database, guild_id: int, user_id: int) -> str | None:
    """The ban's reason ('' when none was given), or None when the member is not banned."""
    value = await db.scalar(
        "SELECT reason FROM bans WHERE guild_id = ? AND user_id = ?", (guild_id, user_id)
    )
    return None if value is None else str(value)


async def bans(db: Database, guild_id: int) -> list[tuple[int, str]]:
    rows = await db.fetchall(
        "SELECT user_id, reason FROM bans WHERE guild_id = ? ORDER BY banned_at", (guild_id,)
    )
    return [(row[0], row[1]) for row in rows]


async def record_refusal(db: Database, values: dict[str, Any]) -> int:
    names = ("guild_id", "channel_id", "user_id", "source", "reason", "detail", "prompt", "model")
    return await db.insert(
        f"INSERT INTO refusals ({', '.join(names)}, created_at)"
        f" VALUES ({', '.join('?' * len(names))}, ?)",
        (*(values.get(name, "") for name in names), time.time()),
    )


async def record_case(
    db: Database,
    guild_id: int,
    action: str,
    moderator_id: int,
    *,
    target_id: int | None = None,
    job_id: str | None = None,
    reason: str = "",
) -> int:
    return await db.insert(
        "INSERT INTO mod_cases (guild_id, action, target_id, moderator_id, job_id, reason,"
        " created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
        (guild_id, action, target_id, moderator_id, job_id, reason, time.time()),
    )


async def history(
    db: Database, guild_id: int, user_id: int, *, limit: int = 15
) -> list[dict[str, Any]]:
    """A member's recent jobs in a server, newest first (not those they asked to forget)."""
    rows = await db.fetchall(
        "SELECT id, state, source, model, prompt, count, delivered, channel_id, message_id,"
        " thread_id, error_kind, created_at, deleted_at FROM jobs"
        " WHERE guild_id = ? AND user_id = ? AND forgotten_at IS NULL"
        " ORDER BY created_at DESC LIMIT ?",
        (guild_id, user_id, limit),
    )
    return [dict(row) for row in rows]


async def forget_history(db: Database, guild_id: int | None, user_id: int) -> int:
    """Erase a member's prompts and references from their finished jobs (counts stay for
    usage statistics and the quota ledger). Returns how many jobs were forgotten."""
    now = time.time()
    async with db.transaction():
        await db.execute(
            "DELETE FROM job_references WHERE job_id IN (SELECT id FROM jobs WHERE guild_id IS ?"
            " AND user_id = ? AND state IN ('done', 'failed', 'cancelled'))",
            (guild_id, user_id),
        )
        return await db.execute(
            "UPDATE jobs SET prompt = '', request_json = json_set(request_json, '$.prompt', ''),"
            " forgotten_at = ?, updated_at = ? WHERE guild_id IS ? AND user_id = ?"
            " AND state IN ('done', 'failed', 'cancelled') AND forgotten_at IS NULL",
            (now, now, guild_id, user_id),
        )


async def daily_stats(db: Database, guild_id: int, since: float) -> list[dict[str, Any]]:
    """Per UTC day and model: images delivered, jobs, failures, active members."""
    rows = await db.fetchall(
        "SELECT date(created_at, 'unixepoch') AS day, model,"
        " SUM(CASE WHEN state = 'done' THEN delivered ELSE 0 END) AS images,"
        " COUNT(*) AS jobs,"
        " SUM(CASE WHEN state = 'failed' THEN 1 ELSE 0 END) AS failures,"
        " COUNT(DISTINCT user_id) AS members"
        " FROM jobs WHERE guild_id = ? AND created_at >= ? GROUP BY day, model ORDER BY day, model",
        (guild_id, since),
    )
    return [dict(row) for row in rows]


async def daily_refusals(db: Database, guild_id: int, since: float) -> list[dict[str, Any]]:
    rows = await db.fetchall(
        "SELECT date(created_at, 'unixepoch') AS day, COALESCE(model, '') AS model,"
        " COUNT(*) AS refusals, COUNT(DISTINCT user_id) AS members"
        " FROM refusals WHERE guild_id = ? AND created_at >= ? GROUP BY day, model",
        (guild_id, since),
    )
    return [dict(row) for row in rows]


async def active_members(db: Database, guild_id: int, since: float) -> Sequence[tuple[str, int]]:
    """Distinct members per UTC day, jobs and refused attempts together."""
    rows = await db.fetchall(
        "SELECT day, COUNT(DISTINCT user_id) FROM ("
        " SELECT date(created_at, 'unixepoch') AS day, user_id FROM jobs"
        " WHERE guild_id = ? AND created_at >= ?"
        " UNION SELECT date(created_at, 'unixepoch'), user_id FROM refusals"
        " WHERE guild_id = ? AND created_at >= ?) GROUP BY day ORDER BY day",
        (guild_id, since, guild_id, since),
    )
    return [(row[0], row[1]) for row in rows]
