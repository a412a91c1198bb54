"""Job rows and their reference images: create, move through states, read back."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from bot.storage.db import Database

FINAL_STATES = ("done", "failed", "cancelled")
ACTIVE_STATES = ("queued", "submitted", "running", "delivering")

_COLUMNS = (
    "id",
    "source",
    "guild_id",
    "channel_id",
    "user_id",
    "state",
    "model",
    "prompt",
    "request_json",
    "count",
    "application_id",
    "interaction_id",
    "interaction_token",
    "token_expires_at",
    "upload_limit",
    "message_id",
    "created_at",
    "updated_at",
    "queued_at",
    "role_ids",
    "reply_to_id",
    "parent_id",
)
_UPDATABLE = frozenset(
    {
        "state",
        "provider",
        "task_id",
        "width",
        "height",
        "delivered",
        "message_id",
        "error_kind",
        "error_message",
        "started_at",
        "finished_at",
        "result_json",
        "progress",
        "recovered",
        "thread_id",
        "posted",
        "deleted_at",
        "audit_message_id",
        "deleted_by",
    }
)


async def create(
    db: Database, values: dict[str, Any], references: Sequence[dict[str, Any]] = ()
) -> None:
    """Insert a job (and its reference images) in one transaction."""
    now = time.time()
    row = {**values, "created_at": now, "updated_at": now, "queued_at": now}
    names = [name for name in _COLUMNS if name in row]
    async with db.transaction():
        await db.execute(
            f"INSERT INTO jobs ({', '.join(names)}) VALUES ({', '.join('?' * len(names))})",
            [row[name] for name in names],
        )
        for position, ref in enumerate(references):
            await db.execute(
                "INSERT INTO job_references (job_id, position, filename, mime, width, height,"
                " url, data) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    values["id"],
                    position,
                    ref["filename"],
                    ref.get("mime"),
                    ref.get("width"),
                    ref.get("height"),
                    ref.get("url"),
                    ref.get("data"),
                ),
            )


async def update(db: Database, job_id: str, **fields: Any) -> None:
    """Set columns of a job; a final state stamps ``finished_at`` and forgets the token."""
    unknown = set(fields) - _UPDATABLE
    if unknown:
        raise ValueError(f"not updatable: {sorted(unknown)}")
    now = time.time()
    if fields.get("state") in FINAL_STATES:
        fields.setdefault("finished_at", now)
    if fields.get("state") in ("submitted", "running"):
        fields.setdefault("started_at", now)
    columns = ", ".join(f"{name} = ?" for name in fields)
    await db.execute(
        f"UPDATE jobs SET {columns}, updated_at = ? WHERE id = ?", (*fields.values(), now, job_id)
    )


async def finish(
    db: Database,
    job_id: str,
    state: str,
    *,
    delivered: int = 0,
    error_kind: str | None = None,
    error_message: str | None = None,
) -> bool:
    """Move an active job to a final state exactly once; False if it was already final."""
    now = time.time()
    changed = await db.execute(
        "UPDATE jobs SET state = ?, delivered = ?, error_kind = ?, error_message = ?,"
        " finished_at = ?, updated_at = ?, interaction_token = NULL"
        f" WHERE id = ? AND state IN ({', '.join('?' * len(ACTIVE_STATES))})",
        (state, delivered, error_kind, error_message, now, now, job_id, *ACTIVE_STATES),
    )
    return changed == 1


async def get(db: Database, job_id: str) -> dict[str, Any] | None:
    row = await db.fetchone("SELECT * FROM jobs WHERE id = ?", (job_id,))
    return None if row is None else dict(row)


async def references(db: Database, job_ids: Sequence[str]) -> dict[str, list[dict[str, Any]]]:
    """Reference images of these jobs, in order, keyed by job id (one query for all)."""
    found: dict[str, list[dict[str, Any]]] = {}
    for start in range(0, len(job_ids), 500):  # SQLite's bound-parameter limit
        chunk = job_ids[start : start + 500]
        rows = await db.fetchall(
            "SELECT job_id, filename, mime, width, height, url, data FROM job_references"
            f" WHERE job_id IN ({', '.join('?' * len(chunk))}) ORDER BY job_id, position",
            chunk,
        )
        for row in rows:
            item = dict(row)
            found.setdefault(item.pop("job_id"), []).append(item)
    return found


async def active(db: Database) -> list[dict[str, Any]]:
    """Every unfinished job, oldest in the queue first."""
    rows = await db.fetchall(
        f"SELECT * FROM jobs WHERE state IN ({', '.join('?' * len(ACTIVE_STATES))})"
        " ORDER BY queued_at, id",
        ACTIVE_STATES,
    )
    return [dict(row) for row in rows]


async def mark_recovered(db: Database, job_ids: Sequence[str]) -> None:
    """Count a restart against each of these jobs (one statement for all)."""
    if job_ids:
        marks = ", ".join("?" * len(job_ids))
        sql = f"UPDATE jobs SET recovered = recovered + 1 WHERE id IN ({marks})"
        await db.execute(sql, job_ids)


async def recent_for_member(
    db: Database, guild_id: int | None, user_id: int, limit: int = 10
) -> list[dict[str, Any]]:
    rows = await db.fetchall(
        "SELECT id, state, model, prompt, count, delivered, channel_id, message_id, guild_id,"
        " error_kind, created_at, finished_at FROM jobs WHERE guild_id IS ? AND user_id = ?"
        " AND forgotten_at IS NULL"
        " ORDER BY created_at DESC LIMIT ?",
        (guild_id, user_id, limit),
    )
    return [dict(row) for row in rows]
