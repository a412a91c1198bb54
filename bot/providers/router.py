"""Routing: the ``SEEDREAM_PROVIDERS`` order, retries with jittered back-off, and failover.

A request goes to the first enabled provider whose capability table accepts it. Rate limits and
transient errors are retried on the same provider (honouring ``Retry-After``); after that, and on
timeouts or account problems, the next provider is tried. Moderation and invalid input stop at
once: another provider would say the same, and a member must not be charged twice.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable, Sequence

from bot.errors import ErrorKind, InvalidInput, ProviderError, SeedreamError
from bot.providers.base import AsyncProvider, ProgressCallback, Provider
from bot.providers.models import GenerationRequest, GenerationResult

log = logging.getLogger(__name__)

#: receives (provider name, task id) as soon as an asynchronous provider created a task
RoutedTaskCallback = Callable[[str, str], Awaitable[None]]

MAX_RETRY_AFTER = 30.0


class Router:
    """Chooses a provider for each request and fails over between them."""

    def __init__(
        self,
        providers: Sequence[Provider],
        *,
        retries: int = 2,
        backoff: float = 1.0,
        max_concurrency: int = 8,
    ) -> None:
        self.providers = list(providers)
        self.retries = retries
        self.backoff = backoff
        self._limits = {p.name: asyncio.Semaphore(max_concurrency) for p in self.providers}

    @property
    def models(self) -> list[str]:
        """Every model some enabled provider offers, in a stable order."""
        seen: dict[str, None] = {}
        for provider in self.providers:
            for model in provider.models:
                seen.setdefault(model, None)
        return sorted(seen)

    def candidates(self, request: GenerationRequest, only: str | None = None) -> list[Provider]:
        """Providers that can serve ``request``, in order; InvalidInput naming why if none can."""
        pool = [p for p in self.providers if only is None or p.name == only]
        if not pool:
            raise InvalidInput(
                f"provider {only} is not enabled (set its API key)"
                if only
                else "no provider is enabled"
            )
        fitting: list[Provider] = []
        first_refusal: InvalidInput | None = None
        for provider in pool:
            try:
                provider.check(request)
            except InvalidInput as exc:
                first_refusal = first_refusal or exc
                continue
            fitting.append(provider)
        if not fitting:
            assert first_refusal is not None
            raise first_refusal
        return fitting

    def needs_urls(self, request: GenerationRequest, only: str | None = None) -> bool:
        """Whether a route that may serve ``request`` takes reference images only as URLs."""
        return bool(request.references) and any(
            provider.caps[request.model].reference_transport == "url"
            for provider in self.providers
            if request.model in provider.caps and (only is None or provider.name == only)
        )

    def check(self, request: GenerationRequest, only: str | None = None) -> tuple[int, int]:
        """Pre-flight for the UI: the output size the first suitable provider will produce."""
        return self.candidates(request, only)[0].check(request)

    async def generate(
        self,
        request: GenerationRequest,
        *,
        only: str | None = None,
        on_task: RoutedTaskCallback | None = None,
        on_progress: ProgressCallback | None = None,
        job_id: str | None = None,
    ) -> GenerationResult:
        """Generate with failover; raises the last provider's error if every one fails."""
        last: SeedreamError | None = None
        for provider in self.candidates(request, only):
            try:
                return await self._with_retries(provider, request, on_task, on_progress, job_id)
            except ProviderError as exc:
                last = exc
                if not exc.kind.fails_over:
                    raise
                log.warning(
                    "provider failed, trying the next one",
                    extra={"provider": provider.name, "kind": exc.kind.value, "error": exc.message},
                )
        assert last is not None
        raise last

    async def resume(
        self,
        provider_name: str,
        task_id: str,
        request: GenerationRequest,
        *,
        on_progress: ProgressCallback | None = None,
    ) -> GenerationResult:
        """Resume polling a stored task (after a restart); no new task is created."""
        provider = next((p for p in self.providers if p.name == provider_name), None)
        if not isinstance(provider, AsyncProvider):
            raise ProviderError(
                f"cannot resume a {provider_name} task (provider disabled or synchronous)",
                kind=ErrorKind.CONFIG,
                provider=provider_name,
            )
        async with self._limits[provider.name]:
            return await provider.resume(task_id, request, on_progress=on_progress)

    async def _with_retries(
        self,
        provider: Provider,
        request: GenerationRequest,
        on_task: RoutedTaskCallback | None,
        on_progress: ProgressCallback | None,
        job_id: str | None,
    ) -> GenerationResult:
        # The idempotency key names "this job's task on this provider". It changes only once an
        # attempt got a task id (that task ran and failed, so a new one is wanted); a retry after
        # a lost answer reuses the key, so the provider does not create and charge a second task.
        tasks_made = 0
        got_task = False

        async def tagged(task_id: str) -> None:
            nonlocal got_task
            got_task = True
            if on_task is not None:
                await on_task(provider.name, task_id)

        attempt = 0
        while True:
            key = f"{job_id}-{provider.name}-{tasks_made}" if job_id else None
            got_task = False
            try:
                async with self._limits[provider.name]:
                    return await provider.generate(
                        request, on_task=tagged, on_progress=on_progress, idempotency_key=key
                    )
            except ProviderError as exc:
                exc.provider = exc.provider or provider.name
                if not exc.kind.retryable or attempt >= self.retries:
                    raise
                delay = self._delay(attempt, exc)
                log.info(
                    "retrying provider",
                    extra={
                        "provider": provider.name,
                        "kind": exc.kind.value,
                        "delay": f"{delay:.2f}",
                    },
                )
                attempt += 1
                tasks_made += got_task
                await asyncio.sleep(delay)

    def _delay(self, attempt: int, exc: ProviderError) -> float:
        if exc.kind is ErrorKind.RATE_LIMITED and exc.retry_after is not None:
            return min(exc.retry_after, MAX_RETRY_AFTER) + random.uniform(0, 0.25)
        return self.backoff * 2.0**attempt * random.uniform(0.5, 1.5)
