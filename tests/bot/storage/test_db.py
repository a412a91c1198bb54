"""The data-access core: migrations, pragmas, and transactions that do not interleave."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from bot.storage.db import Database, migrations


async def test_migrations_apply_once_and_pragmas_hold(tmp_path: Path) -> None:
    db = Database(tmp_path / "sub" / "x.db")
    await db.open()
    assert await db.scalar("PRAGMA user_version") == len(migrations())
    assert await db.scalar("PRAGMA journal_mode") == "wal"
    assert await db.scalar("PRAGMA foreign_keys") == 1
    await db.close()
    again = Database(tmp_path / "sub" / "x.db")
    await again.open()
    assert await again.migrate() == []
    await again.close()


async def test_transactions_are_atomic_and_serialised(tmp_path: Path) -> None:
    db = Database(tmp_path / "x.db")
    await db.open()
    await db.execute("CREATE TABLE counter (n INTEGER NOT NULL)")
    await db.execute("INSERT INTO counter VALUES (0)")

    async def bump() -> None:
        async with db.transaction():
            n = await db.scalar("SELECT n FROM counter")
            await asyncio.sleep(0)  # another coroutine would slip in here without the lock
            await db.execute("UPDATE counter SET n = ?", (n + 1,))

    await asyncio.gather(*(bump() for _ in range(50)))
    assert await db.scalar("SELECT n FROM counter") == 50

    with pytest.raises(RuntimeError, match="boom"):
        async with db.transaction():
            await db.execute("UPDATE counter SET n = 999")
            raise RuntimeError("boom")
    assert await db.scalar("SELECT n FROM counter") == 50
    await db.close()
