"""Start-up recovery time with 1,000 unfinished jobs (target: under 2 s).

Builds a real SQLite database with 1,000 unfinished jobs in every recoverable state, each with
its quota reservation (and some with reference images), then times what the bot does at
start-up: migrations, :func:`bot.jobs.recovery.recover` (load, classify, re-queue or resume),
and the refunds and notices of jobs that cannot be resumed. Deliveries are recorded in memory:
this measures the bot's own work, not Discord's. Baseline in the same run: reading the same
rows with one bare ``SELECT``.

Run: ``python -m bench.recovery [--jobs N]``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import tempfile
import time
from pathlib import Path

import aiohttp

from bot.config import Settings
from bot.errors import SeedreamError
from bot.jobs.model import Generated, Job, JobState, Stage
from bot.jobs.recovery import recover
from bot.jobs.runner import JobRunner, Limits
from bot.providers.models import GenerationRequest, GenerationResult, ResultImage
from bot.providers.router import Router
from bot.quota import Ledger
from bot.storage import jobs as job_rows
from bot.storage.db import Database

TARGET_SECONDS = 2.0
STATES = (
    [JobState.QUEUED] * 4
    + [JobState.RUNNING] * 3
    + [JobState.DELIVERING] * 2
    + [JobState.SUBMITTED]
)


class Recorder:
    """A delivery that only counts what it is told (Discord is not what is measured)."""

    upload_limit = 10 * 1024 * 1024
    told = 0

    async def queued(self, job: Job, position: int) -> None:
        Recorder.told += 1

    async def progress(
        self, job: Job, stage: Stage, size: tuple[int, int], pct: int | None
    ) -> None:
        Recorder.told += 1

    async def deliver(self, generated: Generated) -> int | None:
        return None

    async def failed(self, job: Job, error: SeedreamError) -> None:
        Recorder.told += 1

    async def cancelled(self, job: Job) -> None:
        Recorder.told += 1


async def populate(path: Path, count: int, settings: Settings) -> None:
    db = Database(path)
    await db.open()
    ledger = Ledger(db, settings)
    result = GenerationResult(
        images=[ResultImage(url="http://127.0.0.1:9/x.jpeg")],
        provider="evolink",
        model="seedream-4.0",
        size=(2048, 2048),
        task_id="t",
    )
    for n in range(count):
        state = STATES[n % len(STATES)]
        request = GenerationRequest(prompt=f"job {n}", model="seedream-4.0")
        job_id = f"{n:012x}"
        await ledger.reserve(job_id=job_id, guild_id=1, user_id=n % 200, role_ids=(), count=1)
        await job_rows.create(
            db,
            {
                "id": job_id,
                "source": "imagine",
                "guild_id": 1,
                "channel_id": 2,
                "user_id": n % 200,
                "state": state.value,
                "model": request.model,
                "prompt": request.prompt,
                "request_json": request.model_dump_json(),
                "count": 1,
                "application_id": 3,
                "interaction_id": n,
                "interaction_token": "token",
                "token_expires_at": time.time() + 900,
                "upload_limit": 10485760,
                "message_id": n,
            },
            [
                {
                    "filename": "r.png",
                    "mime": "image/png",
                    "width": 64,
                    "height": 64,
                    "data": b"\x89PNG" + bytes(2000),
                }
            ]
            if n % 5 == 0
            else (),
        )
        if state is JobState.RUNNING:
            await job_rows.update(db, job_id, provider="evolink", task_id=f"task-{n}")
        if state is JobState.DELIVERING:
            await job_rows.update(
                db, job_id, provider="evolink", result_json=result.model_dump_json()
            )
    await db.close()


async def measure(path: Path, settings: Settings) -> tuple[float, float, float, dict[str, int]]:
    started = time.perf_counter()
    db = Database(path)
    await db.open()
    async with aiohttp.ClientSession() as session:
        ledger = Ledger(db, settings)
        runner = JobRunner(db, Router([]), session, ledger, Limits(8, 4, 2))
        report = await recover(runner, lambda job: Recorder())
        queued_at = time.perf_counter()
        await asyncio.gather(*report.notices)
        finished = time.perf_counter()
        counts = {
            "requeued": report.requeued,
            "resumed": report.resumed,
            "failed": report.failed,
            "refunded orphans": report.refunded,
        }
    bare_start = time.perf_counter()
    await db.fetchall("SELECT * FROM jobs WHERE state NOT IN ('done', 'failed', 'cancelled')")
    bare = time.perf_counter() - bare_start
    await db.close()
    return queued_at - started, finished - started, bare, counts


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--jobs", type=int, default=1000)
    args = parser.parse_args()
    settings = Settings(_env_file=None, seedream_default_quota=-1)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.db"
        python = platform.python_version()
        print(f"machine: {os.cpu_count()} CPUs, {platform.platform()}, Python {python}")
        print(
            f"populating {args.jobs} unfinished jobs (queued 40%, running 30%, delivering 20%,"
            " submitted 10%; 1 in 5 with a reference image) ..."
        )
        await populate(path, args.jobs, settings)
        queued, total, bare, counts = await measure(path, settings)
    print(f"recovered: {counts}")
    print(f"baseline, one bare SELECT of the same rows: {bare * 1000:.1f} ms")
    print(f"open + migrate + recover (every job queued or resumed): {queued * 1000:.1f} ms")
    print(f"... plus refunds and notices of the jobs that cannot resume: {total * 1000:.1f} ms")
    verdict = "PASS" if total < TARGET_SECONDS else "MISS"
    print(f"target: {args.jobs} jobs recovered in under {TARGET_SECONDS:.0f} s: {verdict}")


if __name__ == "__main__":
    asyncio.run(main())
