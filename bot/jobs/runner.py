"""The job runner: admit (reserve quota, store the row), queue under concurrency limits, run,
deliver, settle. Every generation goes through it, whatever started it.

State lives in the database; the in-memory queue is a cache of the ``queued`` rows, rebuilt by
:mod:`bot.jobs.recovery` at start-up. A job's quota reservation is settled exactly once, when
its row reaches a final state (:func:`bot.storage.jobs.finish` succeeds only once).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

import aiohttp

from bot.config import Settings
from bot.errors import ErrorKind, Refused, SeedreamError
from bot.jobs.model import Delivery, Generated, Job, JobState, Stage
from bot.jobs.steps import fetch_outputs
from bot.logs import job_context
from bot.providers import Router
from bot.providers.base import ProgressCallback
from bot.providers.models import GenerationResult, with_references
from bot.providers.router import RoutedTaskCallback
from bot.quota import Ledger
from bot.storage import jobs as job_rows
from bot.storage.db import Database

log = logging.getLogger(__name__)


class RestartLost(SeedreamError):
    """The bot stopped while a provider call without a task id was in flight."""

    kind = ErrorKind.TRANSIENT

    @property
    def public_message(self) -> str:
        return (
            "The bot restarted while your image was being generated and could not pick it up "
            "again. Your quota was refunded; please try again."
        )


@dataclass(frozen=True)
class Limits:
    """How many jobs may run at once: in total, per server, per member."""

    total: int
    per_server: int
    per_member: int

    @classmethod
    def from_settings(cls, settings: Settings) -> Limits:
        return cls(
            total=settings.seedream_max_concurrent,
            per_server=settings.seedream_max_per_server,
            per_member=settings.seedream_max_per_user,
        )


class JobRunner:
    """Runs jobs under the concurrency limits, oldest first, and keeps their rows honest."""

    def __init__(
        self,
        db: Database,
        router: Router,
        session: aiohttp.ClientSession,
        ledger: Ledger,
        limits: Limits,
    ) -> None:
        self.db = db
        self.router = router
        self.session = session
        self.ledger = ledger
        self.limits = limits
        self.accepting = True
        self._queue: list[Job] = []
        self._running: dict[str, tuple[Job, asyncio.Task[Generated | None]]] = {}
        self._deliveries: dict[str, Delivery] = {}
        self._positions: dict[str, int] = {}
        self._notices: set[asyncio.Task[None]] = set()
        #: told (synchronously: start a task for slow work) when a job reaches a final state
        self.on_final: Callable[[Job], None] | None = None
        self._wake = asyncio.Event()
        self._loop_task: asyncio.Task[None] | None = None

    # --- admission --------------------------------------------------------------------------

    async def admit(self, job: Job) -> None:
        """Reserve the job's images and store its row (``queued``); raises QuotaExceeded.

        Called before the interaction is deferred, so a refusal is a fast ephemeral reply.
        """
        if not self.accepting:
            raise Refused("The bot is restarting. Please try again in a minute.")
        with self.db.urgent():  # a member is waiting on Discord's 3 s
            await self._admit(job)

    async def _admit(self, job: Job) -> None:
        await self.ledger.reserve(
            job_id=job.id,
            guild_id=job.guild_id,
            user_id=job.user_id or 0,
            role_ids=job.role_ids,
            count=job.request.count,
        )
        try:
            await job_rows.create(self.db, _row(job), _references(job))
        except BaseException:
            await self.ledger.refund(job.id)
            raise

    async def abandon(self, job: Job, reason: str) -> None:
        """An admitted job that will never run (e.g. Discord refused the deferral): refund."""
        await self._finish(job, JobState.CANCELLED, error_kind="abandoned", message=reason)

    async def submit(self, job: Job, delivery: Delivery) -> None:
        """Queue an admitted job whose origin now has a message to show progress in."""
        if job.message_id is not None:
            await job_rows.update(self.db, job.id, message_id=job.message_id)
        self.enqueue(job, delivery)

    def enqueue(self, job: Job, delivery: Delivery, *, first: bool = False) -> None:
        """Queue an admitted (or recovered) job; ``first`` puts it ahead of waiting jobs."""
        self._deliveries[job.id] = delivery
        if first:
            self._queue.insert(0, job)
        else:
            self._queue.append(job)
        self._wake.set()

    # --- queue ------------------------------------------------------------------------------

    def start(self) -> None:
        """Start the scheduling loop (after recovery has queued what it found)."""
        if self._loop_task is None:
            self._loop_task = asyncio.create_task(self._schedule(), name="job-scheduler")

    def position(self, job_id: str) -> int | None:
        """1-based place in the queue, or None when the job is not waiting."""
        for index, job in enumerate(self._queue, start=1):
            if job.id == job_id:
                return index
        return None

    def in_flight(self, guild_id: int | None, user_id: int) -> tuple[int, list[int]]:
        """A member's running jobs and the queue positions of their waiting ones."""
        running = sum(
            1
            for job, _ in self._running.values()
            if job.guild_id == guild_id and job.user_id == user_id
        )
        waiting = [
            index
            for index, job in enumerate(self._queue, start=1)
            if job.guild_id == guild_id and job.user_id == user_id
        ]
        return running, waiting

    async def cancel(self, job_id: str) -> bool:
        """Cancel a queued job (refunded, its message updated); False if it is not queued."""
        job = next((queued for queued in self._queue if queued.id == job_id), None)
        if job is None:
            return False
        self._queue.remove(job)
        self._wake.set()
        delivery = self._deliveries.pop(job.id, None)
        await self._finish(job, JobState.CANCELLED, error_kind="cancelled")
        if delivery is not None:
            await _quietly(delivery.cancelled(job), job.id)
        return True

    async def _schedule(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            for job in list(self._queue):
                if self._fits(job):
                    self._queue.remove(job)
                    task = asyncio.create_task(self._execute(job), name=f"job-{job.id}")
                    self._running[job.id] = (job, task)
                    task.add_done_callback(self._done)
            await self._announce_positions()

    def _fits(self, job: Job) -> bool:
        running = [other for other, _ in self._running.values()]
        if len(running) >= self.limits.total:
            return False
        if sum(other.guild_id == job.guild_id for other in running) >= self.limits.per_server:
            return False
        same_member = sum(
            other.guild_id == job.guild_id and other.user_id == job.user_id for other in running
        )
        return same_member < self.limits.per_member

    def _done(self, task: asyncio.Task[Generated | None]) -> None:
        self._running.pop(task.get_name().removeprefix("job-"), None)
        self._wake.set()

    async def _announce_positions(self) -> None:
        """Tell every waiting job whose place in the queue changed (deliveries throttle).

        Each notice runs in its own task: one slow Discord call must not hold up scheduling.
        """
        current = {job.id: index for index, job in enumerate(self._queue, start=1)}
        for job in self._queue:
            place = current[job.id]
            if self._positions.get(job.id) != place:
                delivery = self._deliveries.get(job.id)
                if delivery is not None:
                    task = asyncio.create_task(_quietly(delivery.queued(job, place), job.id))
                    self._notices.add(task)  # asyncio keeps only weak references to tasks
                    task.add_done_callback(self._notices.discard)
        self._positions = current

    # --- execution --------------------------------------------------------------------------

    async def run_inline(self, job: Job, delivery: Delivery) -> Generated:
        """Run one admitted job now, outside the queue (the CLI); raises its error."""
        self._deliveries[job.id] = delivery
        outcome = await self._execute(job, raise_errors=True)
        assert outcome is not None
        return outcome

    async def _execute(self, job: Job, *, raise_errors: bool = False) -> Generated | None:
        delivery = self._deliveries[job.id]
        with job_context(job.id):
            try:
                generated = await self._generate(job, delivery)
            except asyncio.CancelledError:
                log.info(
                    "job interrupted; it resumes at the next start", extra={"state": job.state}
                )
                raise
            except SeedreamError as exc:
                await self._fail(job, delivery, exc)
                if raise_errors:
                    raise
                return None
            except Exception as exc:
                log.exception("job crashed")
                await self._fail(job, delivery, SeedreamError(type(exc).__name__))
                if raise_errors:
                    raise
                return None
            finally:
                self._deliveries.pop(job.id, None)
            return generated

    async def _generate(self, job: Job, delivery: Delivery) -> Generated:
        request = job.request
        size = job.result.size if job.result else self.router.check(request, job.provider)
        result = job.result
        if result is None:
            if job.state is JobState.RUNNING and job.provider and job.task_id:
                await _quietly(delivery.progress(job, Stage.GENERATING, size, None), job.id)
                result = await self.router.resume(
                    job.provider,
                    job.task_id,
                    request,
                    on_progress=self._progress(job, delivery, size),
                )
            elif job.state is JobState.QUEUED:
                if self.router.needs_urls(request, job.provider):
                    # URLs expire (and restarts happen): fresh ones right before the call
                    request = with_references(request, await delivery.host(request.references))
                    job.request = request
                await self._move(job, JobState.SUBMITTED)
                await _quietly(delivery.progress(job, Stage.GENERATING, size, None), job.id)
                result = await self.router.generate(
                    request,
                    only=job.provider,
                    job_id=job.id,
                    on_task=self._task_stored(job),
                    on_progress=self._progress(job, delivery, size),
                )
            else:
                raise RestartLost("provider call in flight at restart, no task id to resume")
            await self._store_result(job, result)
        log.info(
            "provider finished",
            extra={
                "provider": result.provider,
                "images": len(result.images),
                "elapsed": f"{result.elapsed:.2f}",
            },
        )
        await _quietly(delivery.progress(job, Stage.UPLOADING, result.size, None), job.id)
        limit = job.upload_limit or delivery.upload_limit
        outputs = await fetch_outputs(self.session, job.id, result, limit)
        remaining = None
        if job.guild_id is not None and job.user_id is not None:
            status = await self.ledger.status(job.guild_id, job.user_id, job.role_ids)
            remaining = status.remaining
            if remaining is not None:
                remaining += max(0, job.request.count - len(outputs))  # refunded just below
        generated = Generated(job, result, outputs, remaining)
        message_id = await delivery.deliver(generated)
        if message_id is not None:
            job.message_id = message_id
            await job_rows.update(self.db, job.id, message_id=message_id)
        await self._finish(job, JobState.DONE, delivered=len(outputs))
        log.info("job done", extra={"images": len(outputs)})
        return generated

    def _task_stored(self, job: Job) -> RoutedTaskCallback:
        async def store(provider: str, task_id: str) -> None:
            job.provider, job.task_id = provider, task_id
            await self._move(job, JobState.RUNNING, provider=provider, task_id=task_id)

        return store

    def _progress(self, job: Job, delivery: Delivery, size: tuple[int, int]) -> ProgressCallback:
        async def show(percent: int) -> None:
            await job_rows.update(self.db, job.id, progress=percent)
            await _quietly(delivery.progress(job, Stage.GENERATING, size, percent), job.id)

        return show

    async def _store_result(self, job: Job, result: GenerationResult) -> None:
        job.result = result
        job.provider = result.provider
        await self._move(
            job,
            JobState.DELIVERING,
            provider=result.provider,
            task_id=result.task_id or job.task_id,
            width=result.size[0],
            height=result.size[1],
            result_json=result.model_dump_json(),
        )

    async def _move(self, job: Job, state: JobState, **fields: object) -> None:
        job.state = state
        await job_rows.update(self.db, job.id, state=state.value, **fields)

    async def fail_recovered(
        self, job: Job, delivery: Delivery | None, error: SeedreamError
    ) -> None:
        """Fail and refund a job that recovery found impossible to resume."""
        with job_context(job.id):
            if (
                await self._finish(
                    job, JobState.FAILED, error_kind=error.kind.value, message=str(error)
                )
                and delivery is not None
            ):
                await _quietly(delivery.failed(job, error), job.id)

    async def _fail(self, job: Job, delivery: Delivery, error: SeedreamError) -> None:
        expected = error.kind in (ErrorKind.MODERATION, ErrorKind.INVALID_INPUT)
        log.log(
            logging.INFO if expected else logging.WARNING,
            "job failed",
            extra={"kind": error.kind.value, "error": str(error), "provider": error.provider},
        )
        if await self._finish(
            job, JobState.FAILED, error_kind=error.kind.value, message=str(error)
        ):
            await _quietly(delivery.failed(job, error), job.id)

    async def _finish(
        self,
        job: Job,
        state: JobState,
        *,
        delivered: int = 0,
        error_kind: str | None = None,
        message: str | None = None,
    ) -> bool:
        """Final state and quota settlement, exactly once per job."""
        changed = await job_rows.finish(
            self.db,
            job.id,
            state.value,
            delivered=delivered,
            error_kind=error_kind,
            error_message=None if message is None else message[:500],
        )
        job.state = state
        job.delivered, job.error_kind = delivered, error_kind
        await self.ledger.settle(job.id, delivered)  # idempotent: a final reservation stays put
        if changed and self.on_final is not None:
            self.on_final(job)
        return changed

    # --- shutdown ---------------------------------------------------------------------------

    async def drain(self, timeout: float) -> int:
        """Stop admitting, give running jobs ``timeout`` s, then interrupt the rest (their rows
        keep their state and the next start resumes them). Returns how many were interrupted."""
        self.accepting = False
        if self._loop_task is not None:
            self._loop_task.cancel()
        tasks = [task for _, task in self._running.values() if not task.done()]
        if tasks:
            log.info("waiting for running jobs", extra={"jobs": len(tasks)})
            _, pending = await asyncio.wait(tasks, timeout=timeout)
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.wait(pending, timeout=5)
            return len(pending)
        return 0


def _row(job: Job) -> dict[str, object]:
    return {
        "id": job.id,
        "source": job.source,
        "guild_id": job.guild_id,
        "channel_id": job.channel_id,
        "user_id": job.user_id,
        "state": JobState.QUEUED.value,
        "model": job.request.model,
        "prompt": job.request.prompt,
        "request_json": job.request_json(),
        "count": job.request.count,
        "application_id": job.application_id,
        "interaction_id": job.interaction_id,
        "interaction_token": job.interaction_token,
        "token_expires_at": job.token_expires_at,
        "upload_limit": job.upload_limit,
        "message_id": job.message_id,
        "role_ids": ",".join(str(role) for role in job.role_ids),
        "reply_to_id": job.reply_to_id,
        "parent_id": job.parent_id,
    }


def _references(job: Job) -> Sequence[dict[str, object]]:
    return [
        {
            "filename": ref.filename,
            "mime": ref.mime,
            "width": ref.width,
            "height": ref.height,
            "url": ref.url,
            "data": ref.data,
        }
        for ref in job.request.references
    ]


async def _quietly(step: Awaitable[None], job_id: str) -> None:
    """Telling a member is best effort: Discord being down must not fail a paid job."""
    try:
        await step
    except Exception:
        with job_context(job_id):
            log.warning("could not update the member", exc_info=True)
