"""Property tests of the quota ledger.

Random sequences of operations (reserves, settlements, refunds, grants, resets, admin changes,
clock jumps across window boundaries), some run concurrently through two connections to one
file, are checked after every step against an independent model of the rules computed from
the raw ledger rows: the ledger must grant exactly what the model says fits (and take the
allowance before bonus), never exceed an allowance or a cap, keep bonus balances and hourly
totals equal to what the rows say, refund exactly what was not delivered, and never change a
final reservation.
"""

from __future__ import annotations

import asyncio
import tempfile
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from bot.config import Period, Settings
from bot.quota import Ledger, LedgerEntry, Limit, QuotaExceeded, Reservation, Window, window_for
from bot.storage.db import Database

GUILDS = (1, 2)
USERS = (1, 2)
ROLES = (10, 11, 12)
JOBS = tuple(f"j{i}" for i in range(40))  # reserves pick one; repeats test idempotency
#: Wednesday 2025-12-31 21:30 UTC: jumps cross an hour, a day, a month and a year soon
START = datetime(2025, 12, 31, 21, 30, tzinfo=UTC).timestamp()
STATUS_ROLES = (10, 11)

Member = tuple[int, int]


# -- operations --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Reserve:
    job: str
    guild: int
    user: int
    roles: tuple[int, ...]
    count: int
    second: bool = False  # through the second connection


@dataclass(frozen=True)
class Settle:
    pick: int  # which ledger row (see target); 0 = a job the ledger never saw
    delivered: int
    second: bool = False


@dataclass(frozen=True)
class Refund:
    pick: int
    second: bool = False


def target(op: Settle | Refund, snap: Snapshot) -> str:
    """The job a settle or refund is about: odd picks one in flight, even ones any job."""
    in_flight = sorted(job for job, row in snap.rows.items() if row.state == "reserved")
    known = in_flight if op.pick % 2 and in_flight else sorted(snap.rows)
    return known[op.pick // 2 % len(known)] if known and op.pick else "never-reserved"


@dataclass(frozen=True)
class Grant:
    guild: int
    user: int
    images: int
    second: bool = False


@dataclass(frozen=True)
class Reset:
    guild: int
    user: int
    second: bool = False


@dataclass(frozen=True)
class SetDefault:
    guild: int
    images: int
    period: Period


@dataclass(frozen=True)
class SetRole:
    guild: int
    role: int
    images: int | None


@dataclass(frozen=True)
class SetMember:
    guild: int
    user: int
    images: int | None


@dataclass(frozen=True)
class SetCap:
    guild: int
    images: int
    period: Period


@dataclass(frozen=True)
class Advance:
    seconds: float


@dataclass(frozen=True)
class Together:
    """Operations started at once (asyncio.gather)."""

    ops: tuple[Reserve | Settle | Refund | Grant | Reset, ...]


Op = Reserve | Settle | Refund | Grant | Reset
Step = Op | SetDefault | SetRole | SetMember | SetCap | Advance | Together

guilds = st.sampled_from(GUILDS)
users = st.sampled_from(USERS)
jobs = st.sampled_from(JOBS)
periods = st.sampled_from(list(Period))
allowances = st.sampled_from([-1, 0, 1, 2, 3, 5])
second = st.booleans()
reserves = st.builds(
    Reserve,
    jobs,
    guilds,
    users,
    st.lists(st.sampled_from(ROLES), unique=True, max_size=3).map(tuple),
    st.integers(1, 5),
    second,
)
picks = st.integers(0, 50)
settles = st.builds(Settle, picks, st.integers(-1, 5), second)
refunds = st.builds(Refund, picks, second)
grants = st.builds(Grant, guilds, users, st.integers(-3, 8), second)
resets = st.builds(Reset, guilds, users, second)
concurrent = st.one_of(
    reserves, reserves, settles, refunds, resets, st.builds(Grant, guilds, users, st.integers(0, 4))
)
advances = st.builds(Advance, st.sampled_from([1.0, 599.5, 1800.0, 3600.0, 86400.0, 7 * 86400.0]))
steps: st.SearchStrategy[Step] = st.one_of(
    reserves,
    reserves,
    reserves,
    settles,
    settles,
    refunds,
    grants,
    grants,
    grants,
    resets,
    advances,
    st.builds(SetDefault, guilds, allowances, periods),
    st.builds(SetRole, guilds, st.sampled_from(ROLES), st.none() | allowances),
    st.builds(SetMember, guilds, users, st.none() | allowances),
    st.builds(SetCap, guilds, st.integers(0, 8), periods),
    st.builds(Together, st.lists(concurrent, min_size=2, max_size=6).map(tuple)),
    st.builds(Together, st.lists(reserves, min_size=4, max_size=10).map(tuple)),
)


# -- the model ---------------------------------------------------------------------------------


@dataclass
class Snapshot:
    """The raw state, read straight from the tables."""

    rows: dict[str, LedgerEntry]
    balances: dict[Member, int]
    member_hours: dict[tuple[int, int, int], int]
    server_hours: dict[tuple[int, int], int]
    global_hours: dict[int, int]


@dataclass
class Model:
    """The rules, computed independently of the ledger's SQL."""

    env_images: int
    env_period: Period
    global_cap: int
    now: float = START
    defaults: dict[int, tuple[int, Period]] = field(default_factory=dict)
    roles: dict[tuple[int, int], int] = field(default_factory=dict)
    members: dict[Member, int] = field(default_factory=dict)
    caps: dict[int, tuple[int, Period]] = field(default_factory=dict)
    granted: dict[Member, int] = field(default_factory=lambda: defaultdict(int))
    refunded: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    finals: dict[str, LedgerEntry] = field(default_factory=dict)

    def period(self, guild: int) -> Period:
        return self.defaults[guild][1] if guild in self.defaults else self.env_period

    def allowed(self, guild: int, user: int, roles: Sequence[int]) -> int:
        if (guild, user) in self.members:
            return self.members[(guild, user)]
        held = [self.roles[(guild, role)] for role in roles if (guild, role) in self.roles]
        if held:
            return -1 if -1 in held else max(held)
        if guild in self.defaults:
            return self.defaults[guild][0]
        return self.env_images

    def window(self, guild: int) -> Window:
        return window_for(self.period(guild), self.now)

    def member_used(self, snap: Snapshot, guild: int, user: int) -> int:
        window = self.window(guild)
        return sum(
            row.charged_allowance
            for row in snap.rows.values()
            if (row.guild_id, row.user_id) == (guild, user)
            and not row.forgiven
            and window.start <= row.created_at < window.end
        )

    def images_in(self, snap: Snapshot, window: Window, guild: int | None) -> int:
        return sum(
            row.charged_allowance + row.charged_bonus
            for row in snap.rows.values()
            if (guild is None or row.guild_id == guild)
            and window.start <= row.created_at < window.end
        )

    def server_used(self, snap: Snapshot, guild: int) -> int:
        if guild not in self.caps:
            return 0
        return self.images_in(snap, window_for(self.caps[guild][1], self.now), guild)

    def global_used(self, snap: Snapshot) -> int:
        return self.images_in(snap, window_for(Period.DAY, self.now), None)

    def refusals(self, snap: Snapshot, op: Reserve) -> dict[Limit, float]:
        """The limits ``op`` does not fit, with when each resets; empty = it fits."""
        out: dict[Limit, float] = {}
        allowed = self.allowed(op.guild, op.user, op.roles)
        if allowed != -1:
            left = max(allowed - self.member_used(snap, op.guild, op.user), 0)
            if op.count > left + snap.balances.get((op.guild, op.user), 0):
                out[Limit.ALLOWANCE] = self.window(op.guild).end
        if op.guild in self.caps:
            cap, period = self.caps[op.guild]
            if op.count > cap - self.server_used(snap, op.guild):
                out[Limit.SERVER] = window_for(period, self.now).end
        if self.global_cap and op.count > self.global_cap - self.global_used(snap):
            out[Limit.GLOBAL] = window_for(Period.DAY, self.now).end
        return out

    def from_allowance(self, snap: Snapshot, op: Reserve) -> int:
        allowed = self.allowed(op.guild, op.user, op.roles)
        if allowed == -1:
            return op.count
        return min(op.count, max(allowed - self.member_used(snap, op.guild, op.user), 0))


async def snapshot(db: Database) -> Snapshot:
    rows = {
        row["job_id"]: LedgerEntry.from_row(row)
        for row in await db.fetchall("SELECT * FROM quota_reservations")
    }
    balances = {
        (row[0], row[1]): row[2]
        for row in await db.fetchall("SELECT guild_id, user_id, balance FROM quota_bonus")
    }
    member = await db.fetchall("SELECT guild_id, user_id, hour, images FROM quota_member_hours")
    server = await db.fetchall("SELECT guild_id, hour, images FROM quota_server_hours")
    everyone = await db.fetchall("SELECT hour, images FROM quota_global_hours")
    return Snapshot(
        rows,
        balances,
        {(r[0], r[1], r[2]): r[3] for r in member if r[3]},
        {(r[0], r[1]): r[2] for r in server if r[2]},
        {r[0]: r[1] for r in everyone if r[1]},
    )


# -- running and checking ----------------------------------------------------------------------


class Clock:
    def __init__(self, model: Model) -> None:
        self.model = model

    def __call__(self) -> float:
        return self.model.now


async def run_op(ledgers: tuple[Ledger, Ledger], op: Op, before: Snapshot) -> object:
    ledger = ledgers[1] if op.second else ledgers[0]
    if isinstance(op, Reserve):
        return await ledger.reserve(
            job_id=op.job, guild_id=op.guild, user_id=op.user, role_ids=op.roles, count=op.count
        )
    if isinstance(op, Settle):
        return await ledger.settle(target(op, before), op.delivered)
    if isinstance(op, Refund):
        return await ledger.refund(target(op, before))
    if isinstance(op, Grant):
        return await ledger.grant(op.guild, op.user, op.images)
    return await ledger.reset(op.guild, op.user)


def check_alone(model: Model, before: Snapshot, after: Snapshot, op: Op, result: object) -> None:
    """What one operation, run on its own, must have done (the model predicts it exactly)."""
    if isinstance(op, Reserve):
        if op.job in before.rows:
            assert after.rows[op.job] == before.rows[op.job], "a repeated reserve changed"
            assert isinstance(result, Reservation), f"repeated reserve raised {result!r}"
            assert result.count == before.rows[op.job].count
            return
        refused = model.refusals(before, op)
        if refused:
            assert isinstance(result, QuotaExceeded), f"{op} should not fit {refused}"
            assert result.limit in refused and result.reset_at == max(refused.values())
            assert f"<t:{int(result.reset_at)}:R>" in result.message or (
                "allowance in this server is 0" in result.message
            )
            assert op.job not in after.rows
            return
        assert not isinstance(result, BaseException), f"{op} fits but raised {result!r}"
        entry = after.rows[op.job]
        taken = model.from_allowance(before, op)
        assert (entry.state, entry.count, entry.created_at) == ("reserved", op.count, model.now)
        assert (entry.from_allowance, entry.from_bonus) == (taken, op.count - taken)
    elif isinstance(op, Settle | Refund):
        assert not isinstance(result, BaseException), result
        job = target(op, before)
        old = before.rows.get(job)
        if old is None or old.state != "reserved":
            assert result == 0
            assert after.rows.get(job) == old
            return
        kept = 0 if isinstance(op, Refund) else max(0, min(op.delivered, old.count))
        new = after.rows[job]
        assert result == old.count - kept
        assert new.state == ("refunded" if isinstance(op, Refund) else "settled")
        assert new.delivered == kept
        assert new.charged_allowance == min(kept, old.from_allowance)  # bonus refunded first
    elif isinstance(op, Grant):
        old_balance = before.balances.get((op.guild, op.user), 0)
        assert result == max(old_balance + op.images, 0) == after.balances[(op.guild, op.user)]
    else:
        assert result == model.member_used(before, op.guild, op.user)
        assert model.member_used(after, op.guild, op.user) == 0


def account(model: Model, before: Snapshot, op: Op, result: object) -> None:
    """Fold an operation's result into the model's running totals."""
    if isinstance(result, BaseException) and not isinstance(result, QuotaExceeded):
        raise result
    if isinstance(result, QuotaExceeded):
        event(f"refused by the {result.limit} limit")
    if isinstance(op, Settle | Refund):
        assert isinstance(result, int)
        model.refunded[target(op, before)] += result
    elif isinstance(op, Grant):
        # alone, the change is exact; run together, only non-negative grants (never clamped)
        assert isinstance(result, int)
        old = before.balances.get((op.guild, op.user), 0)
        model.granted[(op.guild, op.user)] += op.images if op.images >= 0 else result - old


def check_invariants(model: Model, before: Snapshot, after: Snapshot) -> None:
    for guild in GUILDS:
        # never more of an allowance than allowed (an admin may lower it below past usage)
        for user in USERS:
            allowed = model.allowed(guild, user, ())
            limits = [model.allowed(guild, user, (role,)) for role in ROLES] + [allowed]
            if -1 not in limits:
                used = model.member_used(after, guild, user)
                assert used <= max(*limits, model.member_used(before, guild, user))
        if guild in model.caps:
            used = model.server_used(after, guild)
            assert used <= max(model.caps[guild][0], model.server_used(before, guild))
    if model.global_cap:
        assert model.global_used(after) <= model.global_cap

    assert all(balance >= 0 for balance in after.balances.values())
    for member in {*model.granted, *after.balances}:
        spent = sum(
            row.charged_bonus
            for row in after.rows.values()
            if (row.guild_id, row.user_id) == member
        )
        assert model.granted.get(member, 0) == after.balances.get(member, 0) + spent, member

    for job in {*after.rows, *model.refunded}:
        row = after.rows.get(job)
        expected = 0 if row is None or row.delivered is None else row.count - row.delivered
        assert model.refunded.get(job, 0) == expected, f"refunds of {job}"
        if row is not None and row.state != "reserved":
            final = replace(row, forgiven=False)
            assert model.finals.setdefault(job, final) == final, f"final {job} changed"

    # the hourly totals the ledger reads are exactly what the rows say
    member_hours: dict[tuple[int, int, int], int] = defaultdict(int)
    server_hours: dict[tuple[int, int], int] = defaultdict(int)
    global_hours: dict[int, int] = defaultdict(int)
    for row in after.rows.values():
        hour = int(row.created_at // 3600)
        images = row.charged_allowance + row.charged_bonus
        if not row.forgiven:
            member_hours[(row.guild_id, row.user_id, hour)] += row.charged_allowance
        server_hours[(row.guild_id, hour)] += images
        global_hours[hour] += images
    assert after.member_hours == {k: v for k, v in member_hours.items() if v}
    assert after.server_hours == {k: v for k, v in server_hours.items() if v}
    assert after.global_hours == {k: v for k, v in global_hours.items() if v}


async def check_status(model: Model, ledger: Ledger, snap: Snapshot) -> None:
    """What members are shown agrees with the model."""
    for guild in GUILDS:
        for user in USERS:
            status = await ledger.status(guild, user, STATUS_ROLES)
            allowed = model.allowed(guild, user, STATUS_ROLES)
            used = model.member_used(snap, guild, user)
            assert status.allowance.images == allowed
            assert status.window == model.window(guild)
            assert status.used == used
            assert status.remaining == (None if allowed == -1 else max(allowed - used, 0))
            assert status.bonus == snap.balances.get((guild, user), 0)
            assert status.server_used == model.server_used(snap, guild)


async def play(model: Model, script: list[Step]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "q.db"
        first, second = Database(path), Database(path)
        await first.open()
        await second.open()
        try:
            config = Settings(
                _env_file=None,
                seedream_default_quota=model.env_images,
                seedream_default_period=model.env_period,
                seedream_global_cap=model.global_cap,
            )
            clock = Clock(model)
            ledgers = (Ledger(first, config, clock), Ledger(second, config, clock))
            for step in script:
                before = await snapshot(first)
                await perform(model, ledgers, first, step, before)
                after = await snapshot(first)
                check_invariants(model, before, after)
            await check_status(model, ledgers[0], after)
        finally:
            await second.close()
            await first.close()


async def perform(
    model: Model, ledgers: tuple[Ledger, Ledger], db: Database, step: Step, before: Snapshot
) -> None:
    ledger = ledgers[0]
    if isinstance(step, Together):
        results = await asyncio.gather(
            *(run_op(ledgers, op, before) for op in step.ops), return_exceptions=True
        )
        for op, outcome in zip(step.ops, results, strict=True):
            account(model, before, op, outcome)
    elif isinstance(step, Reserve | Settle | Refund | Grant | Reset):
        try:
            result: object = await run_op(ledgers, step, before)
        except QuotaExceeded as refused:
            result = refused
        check_alone(model, before, await snapshot(db), step, result)
        account(model, before, step, result)
    elif isinstance(step, SetDefault):
        await ledger.set_default(step.guild, step.images, step.period)
        model.defaults[step.guild] = (step.images, step.period)
    elif isinstance(step, SetRole):
        await ledger.set_role(step.guild, step.role, step.images)
        if step.images is None:
            model.roles.pop((step.guild, step.role), None)
        else:
            model.roles[(step.guild, step.role)] = step.images
    elif isinstance(step, SetMember):
        await ledger.set_member(step.guild, step.user, step.images)
        if step.images is None:
            model.members.pop((step.guild, step.user), None)
        else:
            model.members[(step.guild, step.user)] = step.images
    elif isinstance(step, SetCap):
        await ledger.set_server_cap(step.guild, step.images, step.period)
        if step.images:
            model.caps[step.guild] = (step.images, step.period)
        else:
            model.caps.pop(step.guild, None)
    else:
        model.now += step.seconds


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(
    env_images=st.sampled_from([-1, 0, 1, 2, 3, 6]),
    env_period=periods,
    global_cap=st.sampled_from([0, 0, 4, 12]),
    script=st.lists(steps, min_size=10, max_size=50),
)
def test_random_operations_keep_the_ledger_sound(
    env_images: int, env_period: Period, global_cap: int, script: list[Step]
) -> None:
    asyncio.run(play(Model(env_images, env_period, global_cap), script))
