"""Crash safety in a loop: the bot process is SIGKILLed with jobs held at each state in turn
(queued, submitted, running, delivering), twice round, on one database; then it is left to
finish. Every job must end final, no image posted twice, no charge lost or doubled.

Holding a job at a state:
- queued: two job slots for three members (``SEEDREAM_MAX_CONCURRENT=2``), tasks stalled;
- submitted: the provider's create call answers only after a minute;
- running: the provider's task stays pending (``stall``);
- delivering: the result download takes a minute.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tests.bot.jobs.processes import CREATE, BotProcess, deliveries
from tests.fakes.fake_discord import FakeDiscord
from tests.fakes.providers.common import Scripted
from tests.fakes.providers.evolink import FakeEvoLink

STATES = ("queued", "submitted", "running", "delivering") * 2
USERS = ("alice", "bob", "mod")


def hold(evolink: FakeEvoLink, state: str) -> None:
    evolink.stall = state in ("queued", "running")
    evolink.file_latency = 60.0 if state == "delivering" else 0.0
    if state == "submitted":
        evolink.fail_next(CREATE, Scripted(500, delay=60.0))


def release(evolink: FakeEvoLink) -> None:
    evolink.stall = False
    evolink.file_latency = 0.0


async def test_sigkill_at_every_state_in_a_loop(
    discord_fake: FakeDiscord, evolink: FakeEvoLink, bot_process: Callable[..., BotProcess]
) -> None:
    bot = bot_process(
        SEEDREAM_MAX_CONCURRENT="2", SEEDREAM_MAX_PER_USER="1", SEEDREAM_DEFAULT_QUOTA="100"
    )
    evolink.steps = ()  # a task completes at its first poll unless stalled
    started: list[Any] = []
    for round_number, state in enumerate(STATES, start=1):
        hold(evolink, state)
        await bot.start()
        for user in USERS:
            started.append(
                await discord_fake.slash(
                    "imagine", {"prompt": f"round {round_number} by {user}"}, user=user
                )
            )
        # this round's jobs exist (so their interactions were answered), one held at ``state``
        await bot.wait_for(
            "SELECT prompt, state FROM jobs",
            lambda rows, n=round_number, s=state: (  # type: ignore[misc]
                sum(prompt.startswith(f"round {n} ") for prompt, _ in rows) == len(USERS)
                and any(held == s for _, held in rows)
            ),
        )
        await bot.kill()
        release(evolink)
    await bot.start()
    final = ("done", "failed", "cancelled")
    total = len(STATES) * len(USERS)
    await bot.wait_for(
        "SELECT state FROM jobs",
        lambda rows: len(rows) == total and all(r[0] in final for r in rows),
        timeout=180,
    )
    jobs = await bot.query("SELECT id, state, delivered, error_kind FROM jobs")
    done = [job for job in jobs if job[1] == "done"]
    failed = [job for job in jobs if job[1] == "failed"]
    # A provider call in flight without a task id cannot be resumed: only those fail.
    assert {job[3] for job in failed} <= {"transient"}, failed
    assert len(failed) <= STATES.count("submitted"), failed
    assert len(done) + len(failed) == total
    # Posted once: one upload per delivered job, and each interaction shows one image.
    assert len(deliveries(discord_fake)) == len(done) == sum(job[2] for job in done)
    for inter in started:
        message = discord_fake.messages.get(inter.original_id or "")
        assert message is None or len(message.get("attachments", [])) <= 1
    # Charged once: one settled reservation per job, totalling the delivered images.
    ledger = await bot.query("SELECT job_id, state, delivered FROM quota_reservations")
    assert sorted(row[0] for row in ledger) == sorted(job[0] for job in jobs)
    assert all(row[1] == "settled" for row in ledger), ledger
    assert {row[0]: row[2] for row in ledger} == {job[0]: job[2] for job in jobs}
    # Resumed provider tasks were not created twice: one create per job that got a task.
    tasks = await bot.query("SELECT COUNT(*) FROM jobs WHERE task_id IS NOT NULL")
    assert len(evolink.calls_to(CREATE)) <= tasks[0][0] + STATES.count("submitted")
