"""At most one message edit per interval per job; the latest state always wins.

Discord rate-limits webhook edits per message, and members do not need more than one update
every few seconds. An update that arrives too soon is parked; a single timer posts the newest
parked update when the interval has passed. Final posts (results, errors) call
:meth:`Throttle.close` first so that no stale progress edit can land after them.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

log = logging.getLogger(__name__)

Edit = Callable[[], Awaitable[object]]


class Throttle:
    """Rate-limits one message's progress edits."""

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self._last = 0.0
        self._parked: Edit | None = None
        self._timer: asyncio.Task[None] | None = None
        self._closed = False

    async def submit(self, edit: Edit) -> None:
        """Run ``edit`` now if the interval has passed, else park it (replacing older ones)."""
        if self._closed:
            return
        wait = self._last + self.interval - time.monotonic()
        if wait <= 0 and self._timer is None:
            self._last = time.monotonic()
            await edit()
            return
        self._parked = edit
        if self._timer is None:
            self._timer = asyncio.create_task(self._flush(max(wait, 0.0)))

    async def _flush(self, wait: float) -> None:
        await asyncio.sleep(wait)
        edit, self._parked = self._parked, None
        self._timer = None
        if edit is not None and not self._closed:
            self._last = time.monotonic()
            try:
                await edit()
            except Exception:
                log.warning("progress edit failed", exc_info=True)

    def close(self) -> None:
        """No more progress edits: drop anything parked."""
        self._closed = True
        self._parked = None
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
