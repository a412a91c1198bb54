"""Start-up recovery: every unfinished job is resumed, re-queued, or failed and refunded.

- ``queued``: back in the queue, in its old order.
- ``running`` with a task id: polling resumes (no new provider task, no second charge).
- ``delivering``: the stored result URLs are downloaded and posted (posting edits the same
  interaction response, so it cannot appear twice).
- ``submitted`` (a call without a task id was in flight): cannot be resumed; failed, refunded,
  and the member is told.
- CLI jobs belonged to a process that is gone: failed and refunded.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field

from bot.jobs.model import DeliveryFactory, Job, JobState
from bot.jobs.runner import JobRunner, RestartLost
from bot.providers.models import Reference
from bot.storage import jobs as job_rows

log = logging.getLogger(__name__)


@dataclass
class RecoveryReport:
    """What start-up recovery found and did."""

    requeued: int = 0
    resumed: int = 0
    failed: int = 0
    refunded: int = 0
    seconds: float = 0.0
    notices: list[asyncio.Task[None]] = field(default_factory=list, repr=False)


async def recover(runner: JobRunner, deliveries: DeliveryFactory) -> RecoveryReport:
    """Queue or fail every unfinished job found in the database."""
    started = time.monotonic()
    report = RecoveryReport()
    rows = await job_rows.active(runner.db)
    refs = await job_rows.references(runner.db, [row["id"] for row in rows])
    await job_rows.mark_recovered(runner.db, [row["id"] for row in rows])
    for row in rows:
        references = tuple(Reference(**ref) for ref in refs.get(row["id"], []))
        job = Job.from_row(row, references)
        if job.source == "cli" or job.state is JobState.SUBMITTED:
            report.failed += 1
            report.notices.append(asyncio.create_task(_lost(runner, job, deliveries)))
        elif job.state is JobState.QUEUED:
            report.requeued += 1
            runner.enqueue(job, deliveries(job))
        else:  # running with a task id, or delivering with a stored result
            report.resumed += 1
            runner.enqueue(job, deliveries(job), first=True)
    report.refunded = await _refund_orphans(runner, {row["id"] for row in rows})
    report.seconds = time.monotonic() - started
    if rows:
        log.info(
            "recovered unfinished jobs",
            extra={
                "requeued": report.requeued,
                "resumed": report.resumed,
                "failed": report.failed,
                "seconds": f"{report.seconds:.3f}",
            },
        )
    return report


async def _refund_orphans(runner: JobRunner, unfinished: set[str]) -> int:
    """Reservations whose job is gone or final (a crash between reserve and the job row, or
    between the final state and settling): give the images back."""
    orphans = [job_id for job_id in await runner.ledger.open_jobs() if job_id not in unfinished]
    for job_id in orphans:
        row = await job_rows.get(runner.db, job_id)
        await runner.ledger.settle(job_id, row["delivered"] if row else 0)
    return len(orphans)


async def _lost(runner: JobRunner, job: Job, deliveries: DeliveryFactory) -> None:
    """Fail and refund a job that cannot be resumed, and tell its requester."""
    error = RestartLost("the bot restarted during a provider call without a task id")
    delivery = None if job.source == "cli" else deliveries(job)
    await runner.fail_recovered(job, delivery, error)
