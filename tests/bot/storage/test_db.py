"""The data-access core: migrations, pragmas, and transactions that do not interleave."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

import pytest

from bot.storage.db import Database, PriorityLock, migrations


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


async def test_urgent_waiters_get_the_lock_before_earlier_background_work() -> None:
    lock = PriorityLock()
    order: list[str] = []

    async def use(name: str, urgent: bool) -> None:
        with Database.urgent() if urgent else contextlib.nullcontext():
            async with lock:
                order.append(name)
                await asyncio.sleep(0)

    await lock.acquire()  # held: everyone below has to wait
    tasks = [asyncio.create_task(use(name, name.startswith("u"))) for name in ("b1", "b2", "u1")]
    await asyncio.sleep(0)
    lock.release()
    await asyncio.gather(*tasks)
    assert order == ["u1", "b1", "b2"]
    assert not lock.locked()


async def test_a_cancelled_waiter_does_not_keep_the_lock() -> None:
    lock = PriorityLock()
    await lock.acquire()
    waiter = asyncio.create_task(lock.acquire())
    await asyncio.sleep(0)
    lock.release()  # handed to the waiter ...
    waiter.cancel()  # ... which is cancelled before it runs
    with contextlib.suppress(asyncio.CancelledError):
        await waiter
    assert not lock.locked()
    await asyncio.wait_for(lock.acquire(), 1)
