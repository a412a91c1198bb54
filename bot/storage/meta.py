"""Key/value facts kept between runs."""

from __future__ import annotations

from bot.storage.db import Database


async def get(db: Database, key: str) -> str | None:
    value = await db.scalar("SELECT value FROM meta WHERE key = ?", (key,))
    return None if value is None else str(value)


async def put(db: Database, key: str, value: str) -> None:
    await db.execute(
        "INSERT INTO meta (key, value) VALUES (?, ?) "
        "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        (key, value),
    )
