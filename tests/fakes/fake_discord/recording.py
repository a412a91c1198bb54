"""What the bot did: recorded calls, problems, scripted faults, and waiting for any of it.

Every HTTP request becomes a :class:`Call` once it has been answered. Waiters sleep on a "pulse"
event that is replaced whenever anything changes (a call finishes, a gateway frame arrives), so
``wait_for_call``/``wait_until`` react immediately without polling loops in tests.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class File:
    """One uploaded multipart file part (``files[n]``)."""

    field: str
    filename: str
    content_type: str
    data: bytes


@dataclass
class Call:
    """One HTTP request the bot made and how the fake answered it.

    ``path`` is relative to ``/api/v10`` for API calls (``/channels/1/messages``) and absolute for
    the CDN (``/cdn/attachments/...``); ``json`` is the decoded body or multipart ``payload_json``.
    ``at`` is ``time.monotonic()`` when the request arrived (compare it with your own
    ``time.monotonic()``); ``fake_at`` is the fake clock at that moment (what deadlines use).
    """

    method: str
    path: str
    query: dict[str, str]
    json: Any
    files: list[File] = field(default_factory=list)
    status: int = 0
    response_json: Any = None
    at: float = field(default_factory=time.monotonic)
    headers: dict[str, str] = field(default_factory=dict)
    fake_at: float = 0.0


@dataclass(frozen=True)
class Problem:
    """Something a faithful Discord would reject or the fake could not serve.

    ``kind`` is ``schema`` (spec violation), ``limit`` (Discord-enforced limit), ``unimplemented``
    (route the fake does not serve), ``gateway`` (protocol misuse) or ``fake`` (the fake's own reply
    broke the spec: a bug in the fake).
    """

    method: str
    path: str
    message: str
    kind: str = "schema"

    def __str__(self) -> str:
        return f"[{self.kind}] {self.method} {self.path}: {self.message}"


@dataclass
class Fault:
    """A scripted reply consumed before normal handling."""

    method: str
    path: re.Pattern[str]
    status: int
    json_body: Any
    headers: dict[str, str]
    remaining: int
    predicate: Callable[[Call], bool] | None = None


PathMatcher = str | re.Pattern[str]


def path_matches(path: str, wanted: PathMatcher, *, exact: bool) -> bool:
    """String: substring of the path (a prefix is the usual case), or equality with ``exact``.

    A compiled regex must match the whole path.
    """
    if isinstance(wanted, re.Pattern):
        return wanted.fullmatch(path) is not None
    if wanted.startswith("/api/v10/"):
        wanted = wanted[len("/api/v10") :]
    return path == wanted if exact else wanted in path


class Recorder:
    """Call log, problem list, fault queue and the change notification everything waits on."""

    def __init__(self) -> None:
        self.calls: list[Call] = []
        self.problems: list[Problem] = []
        self.faults: list[Fault] = []
        self._allowed: list[Callable[[Problem], bool]] = []
        self._pulse: asyncio.Event | None = None

    # ----------------------------------------------------------------- change notification
    def changed(self) -> None:
        """Wake every waiter; they re-check their condition."""
        if self._pulse is not None:
            self._pulse.set()
            self._pulse = None

    async def wait_until(self, predicate: Callable[[], Any], *, timeout: float, what: str) -> Any:
        """Wait until ``predicate()`` is truthy and return its value, or fail the test."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            value = predicate()
            if value:
                return value
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise AssertionError(f"timed out after {timeout}s waiting for {what}")
            if self._pulse is None:
                self._pulse = asyncio.Event()
            # Wake on any change in the fake; poll briefly for conditions on the bot's side.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._pulse.wait(), min(remaining, 0.02))

    # ----------------------------------------------------------------- calls
    def add_call(self, call: Call) -> None:
        self.calls.append(call)
        self.changed()

    def find(
        self,
        method: str,
        path: PathMatcher,
        *,
        since: int = 0,
        exact: bool = False,
        predicate: Callable[[Call], bool] | None = None,
    ) -> list[Call]:
        method = method.upper()
        return [
            c
            for c in self.calls[since:]
            if c.method == method
            and path_matches(c.path, path, exact=exact)
            and (predicate is None or predicate(c))
        ]

    # ----------------------------------------------------------------- problems
    def problem(self, method: str, path: str, message: str, kind: str) -> None:
        self.problems.append(Problem(method, path, message, kind))
        self.changed()

    def allow(self, predicate: Callable[[Problem], bool]) -> None:
        self._allowed.append(predicate)

    def unexpected_problems(self) -> list[Problem]:
        return [p for p in self.problems if not any(ok(p) for ok in self._allowed)]

    # ----------------------------------------------------------------- faults
    def take_fault(self, call: Call) -> Fault | None:
        """The first scripted reply that applies to ``call`` (consuming one use of it)."""
        for fault in self.faults:
            if (
                fault.remaining > 0
                and fault.method in (call.method, "*")
                and fault.path.fullmatch(call.path)
                and (fault.predicate is None or fault.predicate(call))
            ):
                fault.remaining -= 1
                return fault
        return None
