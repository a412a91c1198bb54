"""Jobs: their states, what a job row holds, and how a job's origin is told about it."""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol

from bot.errors import SeedreamError
from bot.providers.models import GenerationRequest, GenerationResult, Reference


class JobState(StrEnum):
    """queued → submitted → running → delivering → done / failed / cancelled.

    ``submitted``: the provider call is in flight and no task id exists yet (a synchronous
    provider, or an asynchronous one before it answered). ``running``: an asynchronous
    provider's task id is stored, so polling can resume after a restart. ``delivering``: the
    provider's result (URLs) is stored; what is left is download and posting.
    """

    QUEUED = "queued"
    SUBMITTED = "submitted"
    RUNNING = "running"
    DELIVERING = "delivering"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def final(self) -> bool:
        return self in (JobState.DONE, JobState.FAILED, JobState.CANCELLED)


ACTIVE_STATES = tuple(state for state in JobState if not state.final)


class Stage(StrEnum):
    """What a member sees while a job runs."""

    QUEUED = "queued"
    GENERATING = "generating"
    UPLOADING = "uploading"


def new_job_id() -> str:
    """Short, unguessable, URL- and custom_id-safe job ids."""
    return secrets.token_hex(6)


@dataclass
class Job:
    """A job row, with its request (references included) and result once known."""

    id: str
    source: str
    state: JobState
    request: GenerationRequest
    guild_id: int | None = None
    channel_id: int | None = None
    user_id: int | None = None
    application_id: int | None = None
    interaction_id: int | None = None
    interaction_token: str | None = None
    token_expires_at: float | None = None
    message_id: int | None = None
    upload_limit: int | None = None
    provider: str | None = None
    task_id: str | None = None
    result: GenerationResult | None = None
    delivered: int = 0
    error_kind: str | None = None
    created_at: float = 0.0
    queued_at: float = 0.0
    recovered: int = 0
    thread_id: int | None = None
    posted: int = 0
    reply_to_id: int | None = None
    parent_id: str | None = None
    role_ids: tuple[int, ...] = field(default=(), repr=False)

    @classmethod
    def from_row(cls, row: dict[str, Any], references: tuple[Reference, ...] = ()) -> Job:
        request = GenerationRequest.model_validate_json(row["request_json"])
        if references:
            request = request.model_copy(update={"references": references})
        result = (
            GenerationResult.model_validate_json(row["result_json"])
            if row.get("result_json")
            else None
        )
        return cls(
            id=row["id"],
            source=row["source"],
            state=JobState(row["state"]),
            request=request,
            guild_id=row["guild_id"],
            channel_id=row["channel_id"],
            user_id=row["user_id"],
            application_id=row.get("application_id"),
            interaction_id=row["interaction_id"],
            interaction_token=row["interaction_token"],
            token_expires_at=row["token_expires_at"],
            message_id=row["message_id"],
            upload_limit=row.get("upload_limit"),
            provider=row["provider"],
            task_id=row["task_id"],
            result=result,
            delivered=row["delivered"],
            error_kind=row["error_kind"],
            created_at=row["created_at"],
            queued_at=row.get("queued_at") or row["created_at"],
            recovered=row.get("recovered") or 0,
            thread_id=row.get("thread_id"),
            posted=row.get("posted") or 0,
            reply_to_id=row.get("reply_to_id"),
            parent_id=row.get("parent_id"),
            role_ids=tuple(int(part) for part in (row.get("role_ids") or "").split(",") if part),
        )

    def request_json(self) -> str:
        """The request without its reference bytes (those go to ``job_references``)."""
        return self.request.model_dump_json(exclude={"references"})


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

    job: Job
    result: GenerationResult
    outputs: list[Output]
    remaining: int | None = None  # member's images left in the window, if metered

    @property
    def request(self) -> GenerationRequest:
        return self.job.request


class Delivery(Protocol):
    """How a job's origin is shown progress and handed results (``bot.ui`` for Discord).

    A delivery must be rebuildable from the job row alone (see ``DeliveryFactory``), because a
    job may finish in a later process than the one that started it.
    """

    upload_limit: int

    async def queued(self, job: Job, position: int) -> None:
        """Show that the job waits, and where it is in the queue."""

    async def progress(
        self, job: Job, stage: Stage, size: tuple[int, int], percent: int | None
    ) -> None:
        """Show the job's current stage (throttled by the implementation)."""

    async def deliver(self, generated: Generated) -> int | None:
        """Post the results; return the id of the message that carries them, if any."""

    async def failed(self, job: Job, error: SeedreamError) -> None:
        """Tell the requester, in plain words, that the job failed (and was refunded)."""

    async def cancelled(self, job: Job) -> None:
        """Tell the requester the job was cancelled (and refunded)."""

    async def host(self, references: Sequence[Reference]) -> tuple[Reference, ...]:
        """The references with URLs a URL-only provider can fetch now (refreshed, uploaded)."""


class DeliveryFactory(Protocol):
    """Rebuilds a job's delivery from its row (after a restart, or for a queued job)."""

    def __call__(self, job: Job) -> Delivery: ...
