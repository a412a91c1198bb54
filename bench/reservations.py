"""Quota ledger benchmark: reservations per second on a fresh SQLite file, and zero overspend.

Run it with ``cd /work/main && .venv/bin/python -m bench.reservations`` (``--quick`` for a
smaller run, ``--help`` for the knobs). Like every script in ``bench/`` it prints figures and
compares them with a baseline measured in the same run: the same number of bare ``INSERT``
transactions (``BEGIN IMMEDIATE``, one row with a unique key, ``COMMIT``) through the same
:class:`~bot.storage.db.Database`, with the same concurrency. Rounds alternate baseline and
ledger so that drift falls on both alike. The target (>= 2,000 reservations/s) is reported as
PASS/MISS for information; the exit status is 1 only if the run failed or the ledger overspent.

a) Many members: every member reserves concurrently, with a server cap and a global cap set
   (high enough not to bite) so that all three usage sums run on every reservation. Afterwards
   every member must have used exactly their allowance, and one more image must be refused.
b) One member under contention: many concurrent reserves on one member with a large allowance
   (throughput), then with a small allowance through TWO connections to the same file (two
   processes' worth): exactly the allowance must be granted, never more.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path
from typing import Any

from bench.common import machine, run_benchmark, sized, verdict
from bot.config import Period, Settings
from bot.quota import Ledger, QuotaExceeded
from bot.storage.db import Database

#: the issue's target (informational: a benchmark never fails a build on it)
TARGET_PER_SECOND = 2000.0
GUILD = 1
ROLE = 7

_BASELINE_TABLE = (
    "CREATE TABLE bench_baseline (job_id TEXT NOT NULL UNIQUE, guild_id INTEGER NOT NULL,"
    " user_id INTEGER NOT NULL, count INTEGER NOT NULL, created_at REAL NOT NULL)"
)
_BASELINE_INSERT = (
    "INSERT INTO bench_baseline (job_id, guild_id, user_id, count, created_at)"
    " VALUES (?, ?, ?, ?, ?)"
)


@dataclass(frozen=True)
class Params:
    members: int
    per_member: int
    rounds: int
    concurrency: int
    contended: int
    small_allowance: int
    quick: bool


_SIZES = {  # (default, --quick)
    "members": (200, 100),
    "per_member": (20, 10),
    "rounds": (5, 2),
    "concurrency": (32, 32),
    "contended": (2000, 500),
    "small_allowance": (50, 20),
}


def parse_args(argv: list[str] | None = None) -> Params:
    parser = argparse.ArgumentParser(
        prog="python -m bench.reservations",
        description="Quota reservations per second and zero overspend (figures, not tests).",
    )
    parser.add_argument("--members", type=int, help="members in phase a (default 200)")
    parser.add_argument("--per-member", type=int, help="reservations per member per round (20)")
    parser.add_argument("--rounds", type=int, help="interleaved rounds per arm (default 5)")
    parser.add_argument("--concurrency", type=int, help="reservations in flight (default 32)")
    parser.add_argument("--contended", type=int, help="reserves on one member in b (2000)")
    parser.add_argument("--small-allowance", type=int, help="allowance in b's overspend run (50)")
    parser.add_argument("--quick", action="store_true", help="a smaller run (a few seconds)")
    args = parser.parse_args(argv)
    sizes = sized(args, _SIZES)
    for name, value in sizes.items():
        if value < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    return Params(quick=args.quick, **sizes)


def load_average() -> str:
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    return f"load average {load} (figures move with it: every statement is a thread round trip)"


async def timed(ops: Iterable[Callable[[], Awaitable[object]]], concurrency: int) -> float:
    """Run the operations with ``concurrency`` workers; return the operations per second."""
    queue = list(ops)
    source = iter(queue)

    async def worker() -> None:
        for op in source:  # workers share one iterator: each op runs once
            await op()

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return len(queue) / (time.perf_counter() - started)


class Bench:
    """A fresh database file with a ledger on it, and the baseline's table beside it."""

    def __init__(self, folder: Path, name: str, **settings: Any) -> None:
        self.path = folder / f"{name}.db"
        self.db = Database(self.path)
        self.settings = Settings(_env_file=None, **settings)
        self.ledger = Ledger(self.db, self.settings)
        self.jobs = itertools.count()
        self.refused = 0

    async def open(self) -> None:
        await self.db.open()
        await self.db.execute(_BASELINE_TABLE)

    async def close(self) -> None:
        await self.db.close()

    def baseline(self, user_id: int) -> Callable[[], Awaitable[object]]:
        job = f"base-{next(self.jobs)}"

        async def op() -> None:
            async with self.db.transaction():
                await self.db.insert(_BASELINE_INSERT, (job, GUILD, user_id, 1, time.time()))

        return op

    def reserve(
        self, user_id: int, ledger: Ledger | None = None
    ) -> Callable[[], Awaitable[object]]:
        job = f"job-{next(self.jobs)}"
        chosen = ledger or self.ledger

        async def op() -> None:
            try:
                await chosen.reserve(
                    job_id=job, guild_id=GUILD, user_id=user_id, role_ids=(ROLE,), count=1
                )
            except QuotaExceeded:
                self.refused += 1

        return op


async def interleaved(
    bench: Bench,
    rounds: int,
    concurrency: int,
    users: list[int],
) -> tuple[list[float], list[float]]:
    """Baseline and ledger rates per round, alternating which goes first."""
    base_rates: list[float] = []
    ledger_rates: list[float] = []
    for round_ in range(rounds):
        arms = [
            (base_rates, [bench.baseline(user) for user in users]),
            (ledger_rates, [bench.reserve(user) for user in users]),
        ]
        if round_ % 2:
            arms.reverse()
        for rates, ops in arms:
            rates.append(await timed(ops, concurrency))
    return base_rates, ledger_rates


def report(label: str, base: list[float], ledger: list[float]) -> bool:
    """Medians per arm; the ratio is the median of each round's pair, which shares its noise."""
    b, led = statistics.median(base), statistics.median(ledger)
    ratio = statistics.median(x / y for x, y in zip(base, ledger, strict=True))
    ok = led >= TARGET_PER_SECOND
    print(
        f"   {label}\n"
        f"      baseline (bare INSERT transactions): median {b:5.0f}/s   rounds "
        + ", ".join(f"{x:.0f}" for x in base)
        + f"\n      ledger reservations:                 median {led:5.0f}/s   rounds "
        + ", ".join(f"{x:.0f}" for x in ledger)
        + f"\n      ledger time / baseline time: {ratio:.2f} (median of rounds)   "
        f"target >= {TARGET_PER_SECOND:.0f}/s: {verdict(ok)}"
    )
    return ok


def check(label: str, ok: bool) -> bool:
    print(f"      {label}: {'ok' if ok else 'FAILED'}")
    return ok


async def many_members(params: Params, folder: Path) -> tuple[bool, bool]:
    """Phase a; returns (target met, no overspend)."""
    allowance = params.per_member * params.rounds
    total = params.members * allowance
    bench = Bench(
        folder,
        "members",
        seedream_default_quota=allowance,
        seedream_global_cap=total * 10,
    )
    await bench.open()
    try:
        await bench.ledger.set_server_cap(GUILD, total * 10, Period.MONTH)
        users = [user for _ in range(params.per_member) for user in range(1, params.members + 1)]
        print(
            f"\n== a) {params.members} members x {params.per_member} reservations of 1 image per "
            f"round, concurrency {params.concurrency}, {params.rounds} rounds\n"
            f"   allowance {allowance}/day each; server cap and global cap set (not binding)"
        )
        base, ledger = await interleaved(bench, params.rounds, params.concurrency, users)
        met = report(f"{len(users)} reservations per round", base, ledger)
        statuses = [
            await bench.ledger.status(GUILD, user, (ROLE,)) for user in range(1, params.members + 1)
        ]
        before = bench.refused
        await timed([bench.reserve(user) for user in range(1, params.members + 1)], 8)
        sound = all(
            [
                check("no reservation refused below the allowance", before == 0),
                check(
                    f"every member used exactly {allowance}",
                    all(s.used == allowance and s.remaining == 0 for s in statuses),
                ),
                check(
                    "one more image refused for every member",
                    bench.refused - before == params.members,
                ),
            ]
        )
        return met, sound
    finally:
        await bench.close()


async def one_member(params: Params, folder: Path) -> tuple[bool, bool]:
    """Phase b; returns (target met, no overspend)."""
    bench = Bench(folder, "one", seedream_default_quota=-1)
    await bench.open()
    try:
        await bench.ledger.set_default(GUILD, params.contended * params.rounds * 2, Period.DAY)
        print(
            f"\n== b) one member under contention: {params.contended} concurrent reserves of 1 "
            f"image per round, concurrency {params.concurrency}, {params.rounds} rounds"
        )
        users = [1] * params.contended
        base, ledger = await interleaved(bench, params.rounds, params.concurrency, users)
        met = report("large allowance (never binding)", base, ledger)
        granted_before = bench.refused == 0
    finally:
        await bench.close()

    # Overspend: a small allowance, two connections to one file, everything at once.
    small = Bench(folder, "small", seedream_default_quota=params.small_allowance)
    await small.open()
    other = Database(small.path)
    await other.open()
    try:
        second = Ledger(other, small.settings)
        tries = params.contended
        ops = [small.reserve(1, small.ledger if i % 2 else second) for i in range(tries)]
        started = time.perf_counter()
        await asyncio.gather(*(op() for op in ops))
        took = time.perf_counter() - started
        status = await small.ledger.status(GUILD, 1, (ROLE,))
        granted = tries - small.refused
        print(
            f"   small allowance {params.small_allowance}, two connections, {tries} reserves "
            f"at once: {granted} granted, {small.refused} refused in {took:.2f} s "
            f"({tries / took:.0f} decisions/s)"
        )
        sound = all(
            [
                check("no refusal while the allowance was large", granted_before),
                check(
                    f"exactly {params.small_allowance} granted, ledger agrees",
                    granted == params.small_allowance == status.used,
                ),
            ]
        )
        return met, sound
    finally:
        await other.close()
        await small.close()


async def run(params: Params) -> bool:
    """Return whether the ledger never overspent."""
    started = time.perf_counter()
    print(
        "Quota ledger benchmark (bench/reservations.py)" + ("  [--quick]" if params.quick else "")
    )
    versions = (f"SQLite {sqlite3.sqlite_version}", f"aiosqlite {version('aiosqlite')}")
    print("machine: " + machine(*versions, load_average()))
    print(
        f"params: members={params.members} per_member={params.per_member} "
        f"rounds={params.rounds} concurrency={params.concurrency} "
        f"contended={params.contended} small_allowance={params.small_allowance}"
    )
    with tempfile.TemporaryDirectory(prefix="bench-quota-") as tmp:
        a_met, a_sound = await many_members(params, Path(tmp))
        b_met, b_sound = await one_member(params, Path(tmp))
    sound = a_sound and b_sound
    print(
        f"\n== Target (informational): >= {TARGET_PER_SECOND:.0f} reservations/s: "
        f"a) {verdict(a_met)}, b) {verdict(b_met)}; zero overspend: "
        f"{'PASS' if sound else 'FAIL'}; run took {time.perf_counter() - started:.1f} s"
    )
    return sound


def main(argv: list[str] | None = None) -> int:
    params = parse_args(argv)
    return run_benchmark(run(params))


if __name__ == "__main__":
    sys.exit(main())
