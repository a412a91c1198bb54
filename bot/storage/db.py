"""The SQLite connection: WAL, foreign keys, a busy timeout, and numbered migrations.

This is the only module that opens a database. Query functions live beside it
(:mod:`bot.storage.jobs`, :mod:`bot.storage.meta`, ...) and take a :class:`Database`, so a
PostgreSQL backend can later implement the same small surface.

One connection serves the whole bot, so statements of concurrent coroutines would otherwise
interleave inside each other's transactions. Every statement therefore runs under one asyncio
lock; :meth:`Database.transaction` holds that lock from ``BEGIN IMMEDIATE`` to ``COMMIT``, and
statements issued inside it (in the same task) run without re-taking it.

Waiting for that lock is first come, first served, except for work marked urgent
(:meth:`Database.urgent`): admitting a job happens while a member waits on Discord's 3-second
acknowledgement window, so it goes ahead of background writes (progress, results, settling).
Under load this kept the acknowledgement's p99 from growing with every burst of finishing jobs
(``bench/load.py``).
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import re
from collections import deque
from collections.abc import AsyncIterator, Iterable, Iterator
from contextlib import asynccontextmanager, contextmanager
from importlib import resources
from pathlib import Path
from typing import Any

import aiosqlite

log = logging.getLogger(__name__)

_MIGRATION = re.compile(r"^(\d{3})_[a-z0-9_]+\.sql$")
_inside: contextvars.ContextVar[Database | None] = contextvars.ContextVar("tx", default=None)
_urgent: contextvars.ContextVar[bool] = contextvars.ContextVar("db_urgent", default=False)


class PriorityLock:
    """An asyncio lock whose urgent waiters are served before the others (FIFO within each)."""

    def __init__(self) -> None:
        self._held = False
        self._waiting: dict[bool, deque[asyncio.Future[None]]] = {True: deque(), False: deque()}

    def locked(self) -> bool:
        return self._held

    async def acquire(self) -> None:
        if not self._held:
            self._held = True
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        queue = self._waiting[_urgent.get()]
        queue.append(waiter)
        try:
            await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                self.release()  # the lock was handed over just as this task was cancelled
            else:
                queue.remove(waiter)
            raise

    def release(self) -> None:
        """Hand the lock to the next waiter (it stays held), or free it."""
        for urgent in (True, False):
            queue = self._waiting[urgent]
            while queue:
                waiter = queue.popleft()
                if not waiter.done():
                    waiter.set_result(None)
                    return
        self._held = False

    async def __aenter__(self) -> None:
        await self.acquire()

    async def __aexit__(self, *exc: object) -> None:
        self.release()


class Database:
    """One aiosqlite connection shared by the bot (SQLite serialises writers anyway)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._conn: aiosqlite.Connection | None = None
        self._lock = PriorityLock()

    @property
    def conn(self) -> aiosqlite.Connection:
        if self._conn is None:
            raise RuntimeError("database is not open")
        return self._conn

    async def open(self) -> None:
        """Connect, configure and migrate."""
        if self.path.parent and not self.path.parent.exists():
            self.path.parent.mkdir(parents=True, exist_ok=True)
        self._conn = await aiosqlite.connect(self.path, isolation_level=None)
        self._conn.row_factory = aiosqlite.Row
        await self._conn.execute("PRAGMA journal_mode=WAL")
        await self._conn.execute("PRAGMA foreign_keys=ON")
        await self._conn.execute("PRAGMA busy_timeout=5000")
        await self._conn.execute("PRAGMA synchronous=NORMAL")
        await self.migrate()

    async def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            await conn.close()

    async def migrate(self) -> list[int]:
        """Apply every migration newer than ``PRAGMA user_version``; return those applied."""
        current = await self.scalar("PRAGMA user_version") or 0
        applied = []
        for number, sql in migrations():
            if number <= current:
                continue
            await self.conn.executescript(
                f"BEGIN;\n{sql}\nPRAGMA user_version = {number};\nCOMMIT;"
            )
            applied.append(number)
            log.info("applied migration", extra={"migration": number})
        return applied

    @staticmethod
    @contextmanager
    def urgent() -> Iterator[None]:
        """Statements in this block (this task) go ahead of waiting background work."""
        token = _urgent.set(True)
        try:
            yield
        finally:
            _urgent.reset(token)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[None]:
        """``BEGIN IMMEDIATE`` ... ``COMMIT`` (``ROLLBACK`` on error), exclusive in this process.

        IMMEDIATE takes SQLite's write lock at once, so read-then-write logic inside (quota
        reservations) cannot race another process either.
        """
        if _inside.get() is self:
            raise RuntimeError("nested transactions are not supported")
        async with self._lock:
            token = _inside.set(self)
            try:
                await self.conn.execute("BEGIN IMMEDIATE")
                try:
                    yield
                except BaseException:
                    await self.conn.execute("ROLLBACK")
                    raise
                await self.conn.execute("COMMIT")
            finally:
                _inside.reset(token)

    @asynccontextmanager
    async def _turn(self) -> AsyncIterator[None]:
        """Take the lock unless this task is inside a transaction that already holds it."""
        if _inside.get() is self:
            yield
        else:
            async with self._lock:
                yield

    async def execute(self, sql: str, params: Iterable[Any] = ()) -> int:
        """Run one statement; return the number of rows changed."""
        async with self._turn():
            cursor = await self.conn.execute(sql, tuple(params))
            await cursor.close()
            return cursor.rowcount

    async def insert(self, sql: str, params: Iterable[Any] = ()) -> int:
        """Run an INSERT; return the new row's id."""
        async with self._turn():
            cursor = await self.conn.execute(sql, tuple(params))
            await cursor.close()
            return cursor.lastrowid or 0

    async def fetchone(self, sql: str, params: Iterable[Any] = ()) -> aiosqlite.Row | None:
        async with self._turn(), self.conn.execute(sql, tuple(params)) as cursor:
            row: aiosqlite.Row | None = await cursor.fetchone()
            return row

    async def fetchall(self, sql: str, params: Iterable[Any] = ()) -> list[aiosqlite.Row]:
        async with self._turn(), self.conn.execute(sql, tuple(params)) as cursor:
            return list(await cursor.fetchall())

    async def scalar(self, sql: str, params: Iterable[Any] = ()) -> Any:
        row = await self.fetchone(sql, params)
        return None if row is None else row[0]


def migrations() -> list[tuple[int, str]]:
    """The packaged ``migrations/NNN_name.sql`` files, in order."""
    folder = resources.files("bot.storage") / "migrations"
    found = []
    for entry in folder.iterdir():
        match = _MIGRATION.match(entry.name)
        if match:
            found.append((int(match.group(1)), entry.read_text(encoding="utf-8")))
    numbers = [n for n, _ in sorted(found)]
    if numbers != list(range(1, len(numbers) + 1)):
        raise RuntimeError(f"migrations must be numbered 001, 002, ... without gaps: {numbers}")
    return sorted(found)
