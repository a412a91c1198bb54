"""The one path every generation takes: job row, provider, download, fit, deliver, settle.

Whatever starts a generation (slash command, CLI, later buttons and replies) builds a
:class:`GenerationRequest` and hands it to :meth:`Generator.run` with a :class:`Delivery` that
knows how to show progress and post results for that origin. The generator knows nothing about
Discord.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

import aiohttp

from bot import images
from bot.errors import ErrorKind, ProviderError, Refused, SeedreamError
from bot.logs import job_context
from bot.providers import Router
from bot.providers.download import download
from bot.providers.models import GenerationRequest, GenerationResult, ResultImage
from bot.storage import jobs
from bot.storage.db import Database

log = logging.getLogger(__name__)


class Stage(StrEnum):
    """What a member sees while a job runs."""

    GENERATING = "generating"
    UPLOADING = "uploading"


@dataclass(frozen=True)
class Output:
    """One image ready to post."""

    data: bytes
    filename: str
    width: int
    height: int
    reencoded: bool = False
    downscaled: bool = False


@dataclass(frozen=True)
class Generated:
    """A finished generation: what the provider said, and the files to post."""

    job_id: str
    request: GenerationRequest
    result: GenerationResult
    outputs: list[Output]


class Delivery(Protocol):
    """How a job's origin shows progress and receives results (implemented in ``bot.ui``)."""

    upload_limit: int

    async def progress(
        self, stage: Stage, request: GenerationRequest, size: tuple[int, int]
    ) -> None:
        """Show the job's current stage."""

    async def deliver(self, generated: Generated) -> int | None:
        """Post the results; return the id of the message that carries them (if any)."""


def new_job_id() -> str:
    """Short, unguessable, URL- and custom_id-safe job ids."""
    return secrets.token_hex(6)


class Generator:
    """Runs generations and keeps their job rows honest."""

    def __init__(self, db: Database, router: Router, session: aiohttp.ClientSession) -> None:
        self.db = db
        self.router = router
        self.session = session
        self.accepting = True
        self._active: set[asyncio.Task[object]] = set()

    async def drain(self, timeout: float) -> int:
        """Stop taking jobs and wait up to ``timeout`` s for running ones; return how many
        were still running (they are left in their state for the next start to deal with)."""
        self.accepting = False
        pending = {task for task in self._active if not task.done()}
        if pending:
            log.info("waiting for running jobs", extra={"jobs": len(pending)})
            _, pending = await asyncio.wait(pending, timeout=timeout)
        return len(pending)

    async def run(
        self,
        job: jobs.NewJob,
        request: GenerationRequest,
        delivery: Delivery,
        *,
        provider: str | None = None,
    ) -> Generated:
        """Generate, download, fit and deliver; the job row ends ``done`` or ``failed``."""
        if not self.accepting:
            raise Refused("The bot is restarting. Please try again in a minute.")
        task = asyncio.current_task()
        if task is not None:
            self._active.add(task)
            task.add_done_callback(self._active.discard)
        await jobs.create(self.db, job)
        with job_context(job.id):
            try:
                return await self._run(job, request, delivery, provider)
            except SeedreamError as exc:
                await jobs.update(
                    self.db,
                    job.id,
                    state="failed",
                    error_kind=exc.kind.value,
                    error_message=str(exc)[:500],
                )
                expected = exc.kind in (ErrorKind.MODERATION, ErrorKind.INVALID_INPUT)
                log.log(
                    logging.INFO if expected else logging.WARNING,
                    "job failed",
                    extra={"kind": exc.kind.value, "error": str(exc), "provider": exc.provider},
                )
                raise
            except BaseException as exc:
                await asyncio.shield(
                    jobs.update(
                        self.db,
                        job.id,
                        state="failed",
                        error_kind="internal",
                        error_message=type(exc).__name__,
                    )
                )
                raise

    async def _run(
        self,
        job: jobs.NewJob,
        request: GenerationRequest,
        delivery: Delivery,
        provider: str | None,
    ) -> Generated:
        size = self.router.check(request, provider)
        await jobs.update(self.db, job.id, state="running")
        await delivery.progress(Stage.GENERATING, request, size)
        result = await self.router.generate(request, only=provider, job_id=job.id)
        await jobs.update(
            self.db,
            job.id,
            state="delivering",
            provider=result.provider,
            task_id=result.task_id,
            width=result.size[0],
            height=result.size[1],
        )
        log.info(
            "provider finished",
            extra={
                "provider": result.provider,
                "images": len(result.images),
                "elapsed": f"{result.elapsed:.2f}",
            },
        )
        await delivery.progress(Stage.UPLOADING, request, result.size)
        outputs = await self.fetch(job.id, result, delivery.upload_limit)
        generated = Generated(job.id, request, result, outputs)
        message_id = await delivery.deliver(generated)
        await jobs.update(
            self.db, job.id, state="done", delivered=len(outputs), message_id=message_id
        )
        log.info("job done", extra={"images": len(outputs)})
        return generated

    async def fetch(self, job_id: str, result: GenerationResult, limit: int) -> list[Output]:
        """Download every result at once (URLs expire), verify it, and fit it to ``limit``."""
        return list(
            await asyncio.gather(
                *(
                    self._fetch_one(job_id, index, image, result.provider, limit)
                    for index, image in enumerate(result.images, start=1)
                )
            )
        )

    async def _fetch_one(
        self, job_id: str, index: int, image: ResultImage, provider: str, limit: int
    ) -> Output:
        if image.data is not None:
            data = image.data
        else:
            assert image.url is not None
            data = await download(self.session, image.url, provider=provider)
        try:
            fitted = await images.run_off_loop(images.fit_to_limit, data, limit)
        except ValueError as exc:
            raise ProviderError(
                f"returned a file that is not an image: {exc}",
                kind=ErrorKind.TRANSIENT,
                provider=provider,
            ) from None
        return Output(
            data=fitted.data,
            filename=f"seedream-{job_id}-{index}.{fitted.info.extension}",
            width=fitted.info.width,
            height=fitted.info.height,
            reencoded=fitted.reencoded,
            downscaled=fitted.downscaled,
        )
