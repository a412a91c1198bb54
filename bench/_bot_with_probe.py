"""``python -m bot run`` with probes: the bot process of ``bench/load.py``.

The bot logs nothing about its event loop or its internal queues, so this entry point adds
measurements before handing over to the normal CLI (:func:`bot.cli.main`, unchanged). Files go
to the directory named by ``BENCH_PROBE_DIR``, as little-endian doubles; every time is
``time.monotonic()`` (CLOCK_MONOTONIC is system-wide, so the driver can cut the samples to its
own measurement window):

* ``lag.bin``: ``(at, lag)`` pairs. A task on the bot's loop sleeps ``BENCH_LAG_TICK`` seconds
  (default 0.01) at a time and records how late it woke up. Appended about twice a second.
* ``db_lock.bin``: ``(at, wait, hold)`` triples, one per use of the database lock
  (:class:`bot.storage.db.Database` runs every statement and transaction under one asyncio lock):
  how long the caller waited for it and how long it held it. Written when the bot stops.
* ``pool.bin``: ``(at, seconds)`` pairs, one per :func:`bot.images.run_in_process` call
  (Pillow work in the worker processes, queueing included). Written when the bot stops.

Each probe costs a few microseconds per event. What-if, off unless ``BENCH_CONNECTION_LIMIT``
is set: HTTP sessions created without a connector (the bot's own ``aiohttp.ClientSession()`` in
:mod:`bot.client`) get a connector with that connection limit (0 = none) instead of aiohttp's
default of 100; discord.py passes its own connector and is unaffected. ``bench/load.py
--connection-limit`` uses it to show what the limit costs; the bot as shipped runs without it.

Only bench code uses this module; nothing in ``bot/`` knows about it.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import struct
import sys
import time
from array import array
from pathlib import Path
from types import TracebackType
from typing import Any

import aiohttp.client

import bot.cli as cli
from bot import images
from bot.storage import db

FLUSH_EVERY = 0.5
PROBE_DIR = Path(os.environ.get("BENCH_PROBE_DIR", "."))
#: (at, wait, hold) per database-lock use, and (at, seconds) per process-pool call
DB_LOCK: array[float] = array("d")
POOL: array[float] = array("d")


async def lag_probe(path: Path, tick: float) -> None:
    """Sleep ``tick`` s at a time; the time overslept is the loop's lag at that moment."""
    pending = bytearray()
    pair = struct.Struct("<dd")
    flushed = time.monotonic()
    with path.open("ab", buffering=0) as out:
        try:
            while True:
                start = time.monotonic()
                await asyncio.sleep(tick)
                now = time.monotonic()
                pending += pair.pack(now, max(0.0, now - start - tick))
                if now - flushed >= FLUSH_EVERY:
                    out.write(pending)
                    pending.clear()
                    flushed = now
        finally:
            out.write(pending)


class TimedLock:
    """The database's lock, recording how long each holder waited for it and held it.

    Only the holder appends (once it has the lock), so the last record is always its own.
    """

    def __init__(self, inner: db.PriorityLock) -> None:
        self._lock = inner
        self._got = 0.0

    def locked(self) -> bool:
        return self._lock.locked()

    async def __aenter__(self) -> None:
        asked = time.monotonic()
        await self._lock.acquire()
        self._got = time.monotonic()
        DB_LOCK.extend((asked, self._got - asked, 0.0))

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        DB_LOCK[-1] = time.monotonic() - self._got
        self._lock.release()


def _instrument() -> None:
    open_db = db.Database.__init__

    def init(self: db.Database, *args: Any, **kwargs: Any) -> None:
        open_db(self, *args, **kwargs)
        self._lock = TimedLock(self._lock)  # type: ignore[assignment]

    db.Database.__init__ = init  # type: ignore[method-assign]

    in_process = images.run_in_process

    async def timed(*args: Any, **kwargs: Any) -> Any:
        start = time.monotonic()
        try:
            return await in_process(*args, **kwargs)
        finally:
            POOL.extend((start, time.monotonic() - start))

    images.run_in_process = timed

    limit = os.environ.get("BENCH_CONNECTION_LIMIT")
    if limit:
        # ClientSession() looks TCPConnector up in aiohttp.client when it needs a default one.
        aiohttp.client.TCPConnector = functools.partial(  # type: ignore[misc,assignment]
            aiohttp.client.TCPConnector, limit=int(limit)
        )


_run_bot = cli._run_bot


async def _run_bot_with_probe(settings: Any) -> int:
    tick = float(os.environ.get("BENCH_LAG_TICK", "0.01"))
    task = asyncio.create_task(lag_probe(PROBE_DIR / "lag.bin", tick), name="bench-lag-probe")
    try:
        return await _run_bot(settings)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        (PROBE_DIR / "db_lock.bin").write_bytes(DB_LOCK.tobytes())
        (PROBE_DIR / "pool.bin").write_bytes(POOL.tobytes())


_instrument()
cli._run_bot = _run_bot_with_probe  # cli.run() looks the name up when it is called

if __name__ == "__main__":
    sys.exit(cli.main(sys.argv[1:]))
