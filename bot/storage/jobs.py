"""Job rows: create, move through the state machine, read back."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from bot.storage.db import Database

FINAL_STATES = frozenset({"done", "failed", "cancelled"})


@dataclass(frozen=True)
class NewJob:
    """What is known about a job when it is created."""

    id: str
    source: str
    model: str
    prompt: str
    request_json: str
    count: int
    guild_id: int | None = None
    channel_id: int | None = None
    user_id: int | None = None
    interaction_id: int | None = None
    interaction_token: str | None = None
    token_expires_at: float | None = None


async def create(db: Database, job: NewJob, state: str = "queued") -> None:
    now = time.time()
    await db.execute(
        "INSERT INTO jobs (id, source, guild_id, channel_id, user_id, state, model, prompt,"
        " request_json, count, interaction_id, interaction_token, token_expires_at,"
        " created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            job.id,
            job.source,
            job.guild_id,
            job.channel_id,
            job.user_id,
            state,
            job.model,
            job.prompt,
            job.request_json,
            job.count,
            job.interaction_id,
            job.interaction_token,
            job.token_expires_at,
            now,
            now,
        ),
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
    }
)


async def update(db: Database, job_id: str, **fields: Any) -> None:
    """Set columns of a job; ``finished_at`` is stamped when it reaches a final state."""
    unknown = set(fields) - _UPDATABLE
    if unknown:
        raise ValueError(f"not updatable: {sorted(unknown)}")
    now = time.time()
    if fields.get("state") in FINAL_STATES:
        fields.setdefault("finished_at", now)
        fields["interaction_token"] = None  # a secret of sorts: do not keep it past its use
    if fields.get("state") == "running":
        fields.setdefault("started_at", now)
    columns = ", ".join(f"{name} = ?" for name in fields)
    await db.execute(
        f"UPDATE jobs SET {columns}, updated_at = ? WHERE id = ?",
        (*fields.values(), now, job_id),
    )


async def get(db: Database, job_id: str) -> dict[str, Any] | None:
    row = await db.fetchone("SELECT * FROM jobs WHERE id = ?", (job_id,))
    return None if row is None else dict(row)
