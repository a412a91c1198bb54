"""The interface every provider adapter implements, and the HTTP plumbing they share.

An adapter is one module: its capability table, its request mapping, its response parsing,
and its error mapping. Everything else (retries, failover, download) lives outside adapters.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import aiohttp

from bot.errors import ErrorKind, InvalidInput, ProviderError
from bot.logs import REDACTED
from bot.providers.capabilities import ModelCaps, validate
from bot.providers.models import GenerationRequest, GenerationResult, ResultImage

TaskCallback = Callable[[str], Awaitable[None]]
ProgressCallback = Callable[[int], Awaitable[None]]

_MODERATION_WORDS = (
    "sensitive",
    "moderation",
    "safety",
    "content policy",
    "content_policy",
    "nsfw",
    "flagged",
    "inappropriate",
)


def http_session() -> aiohttp.ClientSession:
    """The one HTTP session for provider calls and downloads.

    aiohttp's default connector allows 100 connections in all, which silently capped the bot
    at 100 jobs in flight and queued result downloads behind new provider calls (found by
    ``bench/load.py``). How much runs at once is the job runner's and the router's business
    (``SEEDREAM_MAX_CONCURRENT``, per-provider limits), so the connector sets no limit of its own.
    """
    return aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))


class Provider(ABC):
    """One paid HTTP route to Seedream."""

    name: str
    #: model name (``seedream-4.0``) -> its limits on this provider
    caps: Mapping[str, ModelCaps]

    def __init__(
        self,
        session: aiohttp.ClientSession,
        api_key: str,
        base_url: str,
        *,
        request_timeout: float = 180.0,
    ) -> None:
        self.session = session
        self._api_key = api_key
        self.base_url = base_url.rstrip("/")
        self.request_timeout = request_timeout

    def __repr__(self) -> str:  # never show the key
        return f"<{type(self).__name__} {self.base_url}>"

    def malformed(self, message: str, data: Any = None) -> ProviderError:
        """An answer the provider's docs do not allow: a transient fault of the provider."""
        detail = None if data is None else self.scrub(str(data)[:200])
        return ProviderError(message, kind=ErrorKind.TRANSIENT, provider=self.name, detail=detail)

    def scrub(self, text: str) -> str:
        """Providers may echo what they were sent: the key never reaches a message or log."""
        return text.replace(self._api_key, REDACTED) if self._api_key else text

    @property
    def models(self) -> list[str]:
        return list(self.caps)

    def check(self, request: GenerationRequest) -> tuple[int, int]:
        """Pre-flight: raise :class:`InvalidInput` if this route cannot serve the request."""
        caps = self.caps.get(request.model)
        if caps is None:
            raise InvalidInput(f"{self.name} does not offer {request.model}.")
        return validate(request, caps)

    @abstractmethod
    async def generate(
        self,
        request: GenerationRequest,
        *,
        on_task: TaskCallback | None = None,
        on_progress: ProgressCallback | None = None,
        idempotency_key: str | None = None,
    ) -> GenerationResult:
        """Run the generation to completion and return image URLs or bytes.

        ``on_task`` receives the provider's task id as soon as it exists, so the job layer can
        store it and resume polling after a restart instead of paying twice. ``idempotency_key``
        is unique per job and attempt; providers that support idempotent submits send it.
        """

    async def request_json(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str],
        payload: Any = None,
        timeout: float | None = None,
    ) -> Any:
        """Send one request; return its parsed JSON body or raise a mapped ProviderError.

        ``timeout`` overrides ``request_timeout`` for this call (synchronous providers scale it
        with the number of images asked for).
        """
        seconds = self.request_timeout if timeout is None else timeout
        client_timeout = aiohttp.ClientTimeout(total=seconds)
        body = None if payload is None else json.dumps(payload, separators=(",", ":"))
        send_headers = dict(headers)
        if body is not None:
            send_headers["Content-Type"] = "application/json"
        try:
            async with self.session.request(
                method, url, data=body, headers=send_headers, timeout=client_timeout
            ) as response:
                raw = await response.read()
                status = response.status
                retry_after = _retry_after(response.headers.get("Retry-After"))
        except TimeoutError:
            raise ProviderError(
                f"no answer within {seconds:.0f} s",
                kind=ErrorKind.TIMEOUT,
                provider=self.name,
            ) from None
        except aiohttp.ClientError as exc:
            raise ProviderError(
                f"connection failed ({type(exc).__name__})",
                kind=ErrorKind.TRANSIENT,
                provider=self.name,
            ) from None
        data = _parse_json(raw)
        if status >= 400:
            raise self.map_http_error(status, data, raw, retry_after)
        if data is _NOT_JSON:
            raise ProviderError(
                f"answered HTTP {status} with a body that is not JSON",
                kind=ErrorKind.TRANSIENT,
                provider=self.name,
                detail=raw[:200].decode("utf-8", "replace"),
            )
        return data

    def map_http_error(
        self, status: int, data: Any, raw: bytes, retry_after: float | None
    ) -> ProviderError:
        """Default mapping of an HTTP error onto the taxonomy; adapters refine it."""
        message = self.scrub(error_text(data) or raw[:200].decode("utf-8", "replace").strip())
        kind = kind_for_status(status)
        if kind is ErrorKind.INVALID_INPUT and looks_like_moderation(message):
            kind = ErrorKind.MODERATION
        return ProviderError(
            f"HTTP {status}: {message}"[:300],
            kind=kind,
            provider=self.name,
            retry_after=retry_after,
            detail=message,
        )


def kind_for_status(status: int) -> ErrorKind:
    """HTTP status -> error kind, as documented by every provider in providers.md."""
    if status in (401, 403):
        return ErrorKind.AUTH
    if status == 402:
        return ErrorKind.QUOTA
    if status == 429:
        return ErrorKind.RATE_LIMITED
    if status in (408, 504):
        return ErrorKind.TIMEOUT
    if status >= 500:
        return ErrorKind.TRANSIENT
    return ErrorKind.INVALID_INPUT


def percent(value: Any) -> int | None:
    """A provider's progress field as 0–100, or None when it is absent or not a number."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if isinstance(value, int | float):
        return max(0, min(100, int(value)))
    return None


def looks_like_moderation(text: str) -> bool:
    lowered = text.lower()
    return any(word in lowered for word in _MODERATION_WORDS)


def error_text(data: Any) -> str:
    """The human part of the common error body shapes (``{"error": ...}``, ``{"message": ...}``)."""
    if isinstance(data, dict):
        err = data.get("error")
        if isinstance(err, dict):
            return str(err.get("message") or err.get("code") or "")
        if isinstance(err, str):
            return err
        for key in ("message", "reason", "detail", "msg"):
            if isinstance(data.get(key), str):
                return str(data[key])
    return ""


_NOT_JSON = object()


def _parse_json(raw: bytes) -> Any:
    try:
        return json.loads(raw) if raw else None
    except ValueError:
        return _NOT_JSON


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


class Stopwatch:
    """Elapsed seconds since creation (monotonic)."""

    def __init__(self) -> None:
        self.start = time.monotonic()

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.start


@dataclass(frozen=True)
class TaskStatus:
    """One poll of an asynchronous task."""

    state: Literal["pending", "done", "failed"]
    progress: int | None = None
    images: list[ResultImage] = field(default_factory=list)
    error: ProviderError | None = None


@dataclass(frozen=True)
class PollPolicy:
    """How often to poll and for how long (overall deadline) before giving up."""

    first_delay: float = 2.0
    factor: float = 1.5
    max_interval: float = 10.0
    deadline: float = 600.0


class AsyncProvider(Provider):
    """A provider that answers a submit with a task id which is then polled to completion."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        api_key: str,
        base_url: str,
        *,
        request_timeout: float = 60.0,
        poll: PollPolicy | None = None,
    ) -> None:
        super().__init__(session, api_key, base_url, request_timeout=request_timeout)
        self.poll = poll or PollPolicy()

    @abstractmethod
    async def submit(
        self, request: GenerationRequest, size: tuple[int, int], idempotency_key: str | None
    ) -> str:
        """Create the task; return its id."""

    @abstractmethod
    async def status(self, task_id: str) -> TaskStatus:
        """Read the task's state once (an idempotent GET)."""

    async def generate(
        self,
        request: GenerationRequest,
        *,
        on_task: TaskCallback | None = None,
        on_progress: ProgressCallback | None = None,
        idempotency_key: str | None = None,
    ) -> GenerationResult:
        size = self.check(request)
        clock = Stopwatch()
        task_id = await self.submit(request, size, idempotency_key)
        if on_task is not None:
            await on_task(task_id)
        return await self._wait(task_id, request, size, clock, on_progress)

    async def resume(
        self,
        task_id: str,
        request: GenerationRequest,
        *,
        on_progress: ProgressCallback | None = None,
    ) -> GenerationResult:
        """Continue polling a task created before a restart."""
        return await self._wait(task_id, request, self.check(request), Stopwatch(), on_progress)

    async def _wait(
        self,
        task_id: str,
        request: GenerationRequest,
        size: tuple[int, int],
        clock: Stopwatch,
        on_progress: ProgressCallback | None,
    ) -> GenerationResult:
        interval = self.poll.first_delay
        last_progress: int | None = None
        while True:
            if clock.elapsed + interval > self.poll.deadline:
                raise ProviderError(
                    f"task {task_id} did not finish within {self.poll.deadline:.0f} s",
                    kind=ErrorKind.TIMEOUT,
                    provider=self.name,
                )
            # jitter: tasks submitted together must not poll in lock-step for their whole life
            await asyncio.sleep(interval * random.uniform(0.9, 1.1))
            interval = min(interval * self.poll.factor, self.poll.max_interval)
            try:
                status = await self.status(task_id)
            except ProviderError as exc:
                if exc.kind.retryable or exc.kind is ErrorKind.TIMEOUT:
                    if exc.retry_after:
                        interval = max(interval, min(exc.retry_after, self.poll.max_interval))
                    continue  # polls are idempotent: keep trying until the deadline
                raise
            if status.state == "failed":
                raise status.error or ProviderError(
                    f"task {task_id} failed", kind=ErrorKind.TRANSIENT, provider=self.name
                )
            if status.state == "done":
                if not status.images:
                    raise ProviderError(
                        f"task {task_id} finished without images",
                        kind=ErrorKind.TRANSIENT,
                        provider=self.name,
                    )
                return GenerationResult(
                    images=status.images[: request.count],
                    provider=self.name,
                    model=request.model,
                    size=size,
                    task_id=task_id,
                    elapsed=clock.elapsed,
                )
            if on_progress is not None and status.progress not in (None, last_progress):
                last_progress = status.progress
                assert status.progress is not None
                await on_progress(status.progress)
