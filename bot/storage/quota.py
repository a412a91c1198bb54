"""Quota queries: the only SQL for quotas.

:mod:`bot.quota` states the rules; the ones that decide a reservation (precedence, windows, the
allowance-then-bonus split, caps) are written here in SQL, because a reservation is ONE
statement, ``INSERT ... SELECT ... WHERE <it fits>``: every statement through
:class:`~bot.storage.db.Database` costs a round trip to its worker thread, and a read followed
by a write would add two more to the hot path. The same ``_LIMITS`` query feeds both that
statement and :func:`read_limits` (quota status, refusal messages), so what the ledger enforces
and what members are told cannot drift apart.

Usage in a window is a sum of hourly totals, and bonus balances follow the ledger: triggers in
``003_quota.sql`` keep both in step with every ledger write, so the code here only writes the
ledger itself.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from aiosqlite import Row

from bot.storage.db import Database

#: quota window names, as stored (bot.config.Period values)
PERIODS = ("hour", "day", "week", "month")

# Parameters are numbered so that one value can be used in several places:
#  ?1 guild  ?2 user  ?3 role ids (JSON array)  ?4 env allowance  ?5 env period  ?6 global cap
#  ?7 count  ?8 job id  ?9 now  ?10-?17 first and after-last hour of the current hour, day,
#  week and month (hour = Unix seconds // 3600, as in the hourly totals).


def _edge(period: str, edge: int) -> str:
    """SQL for the first (edge 0) or after-last (edge 1) hour of a period's current window."""
    cases = " ".join(f"WHEN '{name}' THEN ?{10 + 2 * i + edge}" for i, name in enumerate(PERIODS))
    return f"CASE {period} {cases} END"


_LIMITS = f"""
WITH
p (guild, user, roles, env_images, env_period, global_cap, count, job, now) AS (
    VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
),
settings AS (
    SELECT
        m.images AS member_images,
        r.role_id AS role_id,
        r.images AS role_images,
        g.default_images AS server_images,
        -- precedence: member override > best role > server default > environment
        COALESCE(m.images, r.images, g.default_images, p.env_images) AS allowed,
        COALESCE(g.default_period, p.env_period) AS period,
        g.cap_images AS cap_images,
        g.cap_period AS cap_period,
        COALESCE(b.balance, 0) AS bonus
    FROM p
    LEFT JOIN quota_guilds AS g ON g.guild_id = p.guild
    LEFT JOIN quota_members AS m ON m.guild_id = p.guild AND m.user_id = p.user
    LEFT JOIN quota_bonus AS b ON b.guild_id = p.guild AND b.user_id = p.user
    LEFT JOIN (
        -- the member's best role, unlimited (-1) above all: role_id and images come from the
        -- row with the maximum (SQLite's bare columns); all NULL when no role has an allowance
        SELECT role_id, images, MAX(CASE images WHEN -1 THEN 1e300 ELSE images END)
        FROM quota_roles, p
        WHERE guild_id = p.guild AND role_id IN (SELECT value FROM json_each(p.roles))
    ) AS r ON TRUE
),
usage AS MATERIALIZED (  -- each sum once, however often it is used below
    SELECT
        s.*,
        (SELECT COALESCE(SUM(h.images), 0) FROM quota_member_hours AS h, p
         WHERE h.guild_id = p.guild AND h.user_id = p.user
           AND h.hour >= {_edge("s.period", 0)} AND h.hour < {_edge("s.period", 1)}) AS used,
        (SELECT COALESCE(SUM(h.images), 0) FROM quota_server_hours AS h, p
         WHERE h.guild_id = p.guild
           AND h.hour >= {_edge("s.cap_period", 0)} AND h.hour < {_edge("s.cap_period", 1)})
            AS server_used,
        (SELECT COALESCE(SUM(h.images), 0) FROM quota_global_hours AS h, p
         WHERE p.global_cap > 0
           AND h.hour >= {_edge("'day'", 0)} AND h.hour < {_edge("'day'", 1)}) AS global_used
    FROM settings AS s
),
limits AS (
    -- images left under each limit; NULL = no such limit
    SELECT
        u.*,
        CASE WHEN u.allowed = -1 THEN NULL ELSE MAX(u.allowed - u.used, 0) END
            AS allowance_left,
        CASE WHEN u.cap_images IS NULL THEN NULL ELSE MAX(u.cap_images - u.server_used, 0) END
            AS server_left,
        CASE WHEN p.global_cap = 0 THEN NULL ELSE MAX(p.global_cap - u.global_used, 0) END
            AS global_left
    FROM usage AS u, p
)
"""

# The INSERT comes first: sqlite3 reports a row count only for statements that start with it.
_RESERVE = (
    """
INSERT INTO quota_reservations (job_id, guild_id, user_id, count, from_allowance, from_bonus,
                                charged_allowance, charged_bonus, created_at)
"""
    + _LIMITS
    + """
SELECT p.job, p.guild, p.user, p.count, t.taken, p.count - t.taken,
       t.taken, p.count - t.taken, p.now
FROM p, (
    -- allowance first, the rest from bonus credits
    SELECT l.*, COALESCE(MIN(p.count, l.allowance_left), p.count) AS taken FROM limits AS l, p
) AS t
WHERE p.count <= COALESCE(t.allowance_left + t.bonus, p.count)
  AND p.count <= COALESCE(t.server_left, p.count)
  AND p.count <= COALESCE(t.global_left, p.count)
ON CONFLICT (job_id) DO NOTHING
"""
)

_READ_LIMITS = (
    _LIMITS
    + """
SELECT l.*,
       (SELECT COALESCE(SUM(q.count), 0) FROM quota_reservations AS q, p
        WHERE q.guild_id = p.guild AND q.user_id = p.user AND q.state = 'reserved') AS in_flight
FROM limits AS l
"""
)


@dataclass(frozen=True)
class Scope:
    """A member of a server, and what the environment says, for one decision."""

    guild_id: int
    user_id: int
    role_ids: Sequence[int]
    env_images: int
    env_period: str
    global_cap: int
    #: the current (start, stop) of every period in PERIODS
    windows: Mapping[str, tuple[float, float]]

    def params(self, count: int = 0, job_id: str | None = None, now: float = 0.0) -> list[Any]:
        values: list[Any] = [
            self.guild_id,
            self.user_id,
            json.dumps(list(self.role_ids)),
            self.env_images,
            self.env_period,
            self.global_cap,
            count,
            job_id,
            now,
        ]
        for period in PERIODS:
            start, stop = self.windows[period]
            values += [int(start // 3600), int(stop // 3600)]
        return values


@dataclass(frozen=True)
class Limits:
    """Everything that decides a member's next reservation, read in one statement."""

    member_images: int | None
    role_id: int | None
    role_images: int | None
    server_images: int | None
    allowed: int
    period: str
    cap_images: int | None
    cap_period: str | None
    bonus: int
    used: int
    server_used: int
    global_used: int
    allowance_left: int | None
    server_left: int | None
    global_left: int | None
    in_flight: int


async def reserve(db: Database, scope: Scope, job_id: str, count: int, now: float) -> bool:
    """Insert the reservation if it fits every limit and job_id is new; say whether it did.

    Nothing is returned from the row (no ``RETURNING``): reading a result costs one more round
    trip than a bare statement, a fifth of a reservation's time.
    """
    return await db.execute(_RESERVE, scope.params(count, job_id, now)) == 1


async def read_limits(db: Database, scope: Scope) -> Limits:
    row = await db.fetchone(_READ_LIMITS, scope.params())
    assert row is not None  # the query always yields exactly one row
    return Limits(**dict(row))


async def get_reservation(db: Database, job_id: str) -> Row | None:
    return await db.fetchone("SELECT * FROM quota_reservations WHERE job_id = ?", (job_id,))


async def finish(
    db: Database,
    job_id: str,
    *,
    state: str,
    charged_allowance: int,
    charged_bonus: int,
    now: float,
) -> int:
    """Make a reservation final (the bonus trigger gives back what is no longer charged)."""
    return await db.execute(
        "UPDATE quota_reservations SET state = ?, charged_allowance = ?, charged_bonus = ?,"
        " delivered = ?, final_at = ? WHERE job_id = ? AND state = 'reserved'",
        (state, charged_allowance, charged_bonus, charged_allowance + charged_bonus, now, job_id),
    )


async def forgive(db: Database, guild_id: int, user_id: int, start: float, stop: float) -> int:
    """Leave a member's rows of one window out of their usage; return the images forgiven."""
    rows = await db.fetchall(
        "UPDATE quota_reservations SET forgiven = 1 WHERE guild_id = ? AND user_id = ?"
        " AND forgiven = 0 AND created_at >= ? AND created_at < ? RETURNING charged_allowance",
        (guild_id, user_id, start, stop),
    )
    return sum(int(row[0]) for row in rows)


async def open_jobs(db: Database) -> list[str]:
    rows = await db.fetchall(
        "SELECT job_id FROM quota_reservations WHERE state = 'reserved' ORDER BY created_at"
    )
    return [str(row[0]) for row in rows]


async def in_flight(db: Database, guild_id: int, user_id: int) -> int:
    return int(
        await db.scalar(
            "SELECT COALESCE(SUM(count), 0) FROM quota_reservations"
            " WHERE guild_id = ? AND user_id = ? AND state = 'reserved'",
            (guild_id, user_id),
        )
    )


# -- bonus credits -----------------------------------------------------------------------------


async def add_bonus(db: Database, guild_id: int, user_id: int, images: int) -> int:
    """Add (or take back, never below 0) bonus credits; return the new balance."""
    balance = await db.scalar(
        "INSERT INTO quota_bonus (guild_id, user_id, balance) VALUES (?1, ?2, MAX(?3, 0))"
        " ON CONFLICT (guild_id, user_id) DO UPDATE SET balance = MAX(balance + ?3, 0)"
        " RETURNING balance",
        (guild_id, user_id, images),
    )
    return int(balance)


async def bonus(db: Database, guild_id: int, user_id: int) -> int:
    value = await db.scalar(
        "SELECT balance FROM quota_bonus WHERE guild_id = ? AND user_id = ?", (guild_id, user_id)
    )
    return int(value or 0)


# -- what admins set ---------------------------------------------------------------------------


async def guild_row(db: Database, guild_id: int) -> Row | None:
    return await db.fetchone("SELECT * FROM quota_guilds WHERE guild_id = ?", (guild_id,))


async def set_default(db: Database, guild_id: int, images: int, period: str) -> None:
    await db.execute(
        "INSERT INTO quota_guilds (guild_id, default_images, default_period) VALUES (?, ?, ?)"
        " ON CONFLICT (guild_id) DO UPDATE SET default_images = excluded.default_images,"
        " default_period = excluded.default_period",
        (guild_id, images, period),
    )


async def set_cap(db: Database, guild_id: int, images: int | None, period: str | None) -> None:
    """Set the server cap, or remove it with ``None, None``."""
    await db.execute(
        "INSERT INTO quota_guilds (guild_id, cap_images, cap_period) VALUES (?, ?, ?)"
        " ON CONFLICT (guild_id) DO UPDATE SET cap_images = excluded.cap_images,"
        " cap_period = excluded.cap_period",
        (guild_id, images, period),
    )


async def set_role(db: Database, guild_id: int, role_id: int, images: int | None) -> None:
    """Set a role's allowance, or remove it with ``None``."""
    if images is None:
        await db.execute(
            "DELETE FROM quota_roles WHERE guild_id = ? AND role_id = ?", (guild_id, role_id)
        )
    else:
        await db.execute(
            "INSERT INTO quota_roles (guild_id, role_id, images) VALUES (?, ?, ?)"
            " ON CONFLICT (guild_id, role_id) DO UPDATE SET images = excluded.images",
            (guild_id, role_id, images),
        )


async def set_member(db: Database, guild_id: int, user_id: int, images: int | None) -> None:
    """Set a member's override, or remove it with ``None``."""
    if images is None:
        await db.execute(
            "DELETE FROM quota_members WHERE guild_id = ? AND user_id = ?", (guild_id, user_id)
        )
    else:
        await db.execute(
            "INSERT INTO quota_members (guild_id, user_id, images) VALUES (?, ?, ?)"
            " ON CONFLICT (guild_id, user_id) DO UPDATE SET images = excluded.images",
            (guild_id, user_id, images),
        )


async def roles(db: Database, guild_id: int) -> list[tuple[int, int]]:
    """(role id, images) of every role with an allowance."""
    rows = await db.fetchall(
        "SELECT role_id, images FROM quota_roles WHERE guild_id = ? ORDER BY role_id",
        (guild_id,),
    )
    return [(int(row[0]), int(row[1])) for row in rows]


async def members(db: Database, guild_id: int) -> list[tuple[int, int]]:
    """(user id, images) of every member override."""
    rows = await db.fetchall(
        "SELECT user_id, images FROM quota_members WHERE guild_id = ? ORDER BY user_id",
        (guild_id,),
    )
    return [(int(row[0]), int(row[1])) for row in rows]


async def bonuses(db: Database, guild_id: int) -> list[tuple[int, int]]:
    """(user id, balance) of every member with bonus credits left."""
    rows = await db.fetchall(
        "SELECT user_id, balance FROM quota_bonus WHERE guild_id = ? AND balance > 0"
        " ORDER BY user_id",
        (guild_id,),
    )
    return [(int(row[0]), int(row[1])) for row in rows]
