"""The quota ledger against a real SQLite file: windows, precedence, bonus, caps, resets,
idempotency, messages, and concurrent reservations that must never overspend."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from bot.config import Period, Settings
from bot.errors import ErrorKind, InvalidInput
from bot.quota import Allowance, Ledger, Limit, QuotaExceeded, Window, window_for
from bot.storage.db import Database

GUILD, OTHER_GUILD = 100, 200
ALICE, BOB = 1, 2
ROLE_A, ROLE_B, ROLE_C = 11, 12, 13


def ts(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> float:
    """A UTC moment as Unix seconds."""
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC).timestamp()


#: Friday 2025-11-21 10:30 UTC
START = ts(2025, 11, 21, 10, 30)
MIDNIGHT = ts(2025, 11, 22)  # 1763769600, the end of START's day


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, now: float = START) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest_asyncio.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    database = Database(tmp_path / "q.db")
    await database.open()
    yield database
    await database.close()


@pytest.fixture
def make_ledger(
    db: Database, clock: Clock, make_settings: Callable[..., Settings]
) -> Callable[..., Ledger]:
    def make(**settings: Any) -> Ledger:
        return Ledger(db, make_settings(**settings), clock)

    return make


@pytest.fixture
def ledger(make_ledger: Callable[..., Ledger]) -> Ledger:
    """Env default 3 images a day, no global cap."""
    return make_ledger(seedream_default_quota=3, seedream_default_period="day")


async def reserve(
    ledger: Ledger,
    job: str,
    count: int = 1,
    *,
    user: int = ALICE,
    guild: int | None = GUILD,
    roles: tuple[int, ...] = (),
) -> Any:
    return await ledger.reserve(
        job_id=job, guild_id=guild, user_id=user, role_ids=roles, count=count
    )


async def used(ledger: Ledger, user: int = ALICE, roles: tuple[int, ...] = ()) -> int:
    return (await ledger.status(GUILD, user, roles)).used


# -- windows -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("period", "now", "start", "end"),
    [
        (Period.HOUR, ts(2025, 11, 21, 10, 30), ts(2025, 11, 21, 10), ts(2025, 11, 21, 11)),
        (Period.HOUR, ts(2025, 12, 31, 23, 59, 59), ts(2025, 12, 31, 23), ts(2026, 1, 1)),
        (Period.DAY, ts(2025, 11, 21, 10, 30), ts(2025, 11, 21), ts(2025, 11, 22)),
        (Period.DAY, ts(2024, 2, 28, 23, 0), ts(2024, 2, 28), ts(2024, 2, 29)),
        # Friday -> Monday 00:00 UTC; a week across a month end and across a year end
        (Period.WEEK, ts(2025, 11, 21, 10, 30), ts(2025, 11, 17), ts(2025, 11, 24)),
        (Period.WEEK, ts(2025, 11, 30, 23, 59), ts(2025, 11, 24), ts(2025, 12, 1)),
        (Period.WEEK, ts(2026, 1, 1, 12), ts(2025, 12, 29), ts(2026, 1, 5)),
        (Period.WEEK, ts(2025, 11, 24), ts(2025, 11, 24), ts(2025, 12, 1)),  # Monday 00:00
        (Period.MONTH, ts(2025, 11, 21, 10, 30), ts(2025, 11, 1), ts(2025, 12, 1)),
        (Period.MONTH, ts(2025, 12, 31, 23, 59), ts(2025, 12, 1), ts(2026, 1, 1)),
        (Period.MONTH, ts(2024, 2, 15), ts(2024, 2, 1), ts(2024, 3, 1)),  # leap February
        (Period.MONTH, ts(2025, 1, 31, 12), ts(2025, 1, 1), ts(2025, 2, 1)),
    ],
)
def test_windows_are_aligned_to_utc(period: Period, now: float, start: float, end: float) -> None:
    assert window_for(period, now) == Window(period, start, end)


@pytest.mark.parametrize("period", list(Period))
def test_window_boundaries_belong_to_the_next_window(period: Period) -> None:
    window = window_for(period, START)
    assert window_for(period, window.end).start == window.end
    assert window_for(period, window.end - 0.001) == window
    assert window_for(period, window.start) == window


@pytest.mark.parametrize(
    ("period", "reset"),
    [
        (Period.HOUR, ts(2025, 11, 21, 11)),
        (Period.DAY, MIDNIGHT),
        (Period.WEEK, ts(2025, 11, 24)),
        (Period.MONTH, ts(2025, 12, 1)),
    ],
)
async def test_status_shows_the_reset_of_the_servers_period(
    ledger: Ledger, period: Period, reset: float
) -> None:
    await ledger.set_default(GUILD, 2, period)
    status = await ledger.status(GUILD, ALICE, ())
    assert status.window == window_for(period, START)
    assert status.window.end == reset
    assert (status.allowance, status.used, status.remaining) == (
        Allowance(2, period, "server default"),
        0,
        2,
    )


async def test_usage_frees_up_when_the_window_ends(ledger: Ledger, clock: Clock) -> None:
    await reserve(ledger, "a", 3)
    with pytest.raises(QuotaExceeded):
        await reserve(ledger, "b")
    clock.now = MIDNIGHT - 0.001
    with pytest.raises(QuotaExceeded):
        await reserve(ledger, "b")
    clock.now = MIDNIGHT
    await reserve(ledger, "b", 3)
    assert await used(ledger) == 3


async def test_changing_the_period_counts_the_new_window(ledger: Ledger, clock: Clock) -> None:
    """Usage is summed over the window in force, so a longer period sees earlier days."""
    await reserve(ledger, "monday", 2)
    clock.now += 86400  # Saturday, same week
    await ledger.set_default(GUILD, 3, Period.WEEK)
    assert await used(ledger) == 2
    await ledger.set_default(GUILD, 3, Period.DAY)
    assert await used(ledger) == 0


# -- allowance precedence ----------------------------------------------------------------------


async def test_allowance_precedence(ledger: Ledger) -> None:
    async def allowance(roles: tuple[int, ...] = (ROLE_A, ROLE_B)) -> tuple[int, str]:
        found = await ledger.allowance(GUILD, ALICE, roles)
        return found.images, found.source

    assert await allowance() == (3, "bot default")
    await ledger.set_default(GUILD, 5, Period.WEEK)
    assert await allowance() == (5, "server default")
    await ledger.set_role(GUILD, ROLE_A, 2)  # lower than the default: a role still wins
    assert await allowance() == (2, f"role {ROLE_A}")
    await ledger.set_role(GUILD, ROLE_B, 8)
    await ledger.set_role(GUILD, ROLE_C, 50)  # a role Alice does not hold
    assert await allowance() == (8, f"role {ROLE_B}")
    await ledger.set_role(GUILD, ROLE_A, -1)
    assert await allowance() == (-1, f"role {ROLE_A}")
    await ledger.set_member(GUILD, ALICE, 1)  # the override beats even an unlimited role
    assert await allowance() == (1, "member override")
    await ledger.set_member(GUILD, ALICE, -1)
    assert await allowance() == (-1, "member override")
    await ledger.set_member(GUILD, ALICE, None)
    await ledger.set_role(GUILD, ROLE_A, None)
    assert await allowance() == (8, f"role {ROLE_B}")
    assert await allowance(()) == (5, "server default")
    # every member's window is the server's default period, whatever set the allowance
    assert (await ledger.allowance(GUILD, ALICE, (ROLE_B,))).period is Period.WEEK
    # another server sees none of it
    assert await ledger.allowance(OTHER_GUILD, ALICE, (ROLE_A, ROLE_B)) == Allowance(
        3, Period.DAY, "bot default"
    )


async def test_the_allowance_in_force_is_enforced(ledger: Ledger) -> None:
    await ledger.set_role(GUILD, ROLE_A, 1)
    await ledger.set_role(GUILD, ROLE_B, 2)
    await reserve(ledger, "a", 2, roles=(ROLE_A, ROLE_B))
    with pytest.raises(QuotaExceeded):
        await reserve(ledger, "b", 1, roles=(ROLE_A, ROLE_B))
    await ledger.set_member(GUILD, ALICE, -1)
    await reserve(ledger, "c", 15, roles=(ROLE_A,))
    status = await ledger.status(GUILD, ALICE, ())
    assert (status.remaining, status.used) == (None, 17)
    await ledger.set_member(GUILD, ALICE, 0)
    with pytest.raises(QuotaExceeded, match="Your allowance in this server is 0 images"):
        await reserve(ledger, "d", 1)


async def test_admin_values_are_validated(ledger: Ledger) -> None:
    for call in (
        ledger.set_default(GUILD, -2, Period.DAY),
        ledger.set_role(GUILD, ROLE_A, -2),
        ledger.set_member(GUILD, ALICE, -5),
        ledger.set_server_cap(GUILD, -1, Period.DAY),
    ):
        with pytest.raises(InvalidInput):
            await call
    with pytest.raises(ValueError):
        await reserve(ledger, "zero", 0)


# -- bonus credits -----------------------------------------------------------------------------


async def test_bonus_is_spent_after_the_allowance_and_refunded_first(ledger: Ledger) -> None:
    assert await ledger.grant(GUILD, ALICE, 3) == 3
    await reserve(ledger, "a", 2)  # all from the allowance (3)
    entry = await ledger.entry("a")
    assert entry is not None and (entry.from_allowance, entry.from_bonus) == (2, 0)
    assert (await ledger.status(GUILD, ALICE, ())).bonus == 3

    await reserve(ledger, "b", 3)  # 1 from the allowance, 2 from bonus
    entry = await ledger.entry("b")
    assert entry is not None and (entry.from_allowance, entry.from_bonus) == (1, 2)
    status = await ledger.status(GUILD, ALICE, ())
    assert (status.used, status.remaining, status.bonus) == (3, 0, 1)

    assert await ledger.settle("b", 2) == 1  # the refunded image is a bonus one
    entry = await ledger.entry("b")
    assert entry is not None
    assert (entry.state, entry.charged_allowance, entry.charged_bonus) == ("settled", 1, 1)
    assert (await ledger.status(GUILD, ALICE, ())).bonus == 2

    assert await ledger.refund("a") == 2  # allowance comes back too
    status = await ledger.status(GUILD, ALICE, ())
    assert (status.used, status.bonus) == (1, 2)


async def test_a_refund_returns_bonus_before_allowance(ledger: Ledger) -> None:
    await ledger.grant(GUILD, ALICE, 5)
    await reserve(ledger, "a", 6)  # 3 allowance + 3 bonus
    assert await ledger.settle("a", 4) == 2  # keeps 3 allowance + 1 bonus
    status = await ledger.status(GUILD, ALICE, ())
    assert (status.used, status.bonus) == (3, 4)
    await reserve(ledger, "b", 1)  # the allowance is spent: bonus again
    assert (await ledger.status(GUILD, ALICE, ())).bonus == 3


async def test_grants_can_be_taken_back_but_never_below_zero(ledger: Ledger) -> None:
    assert await ledger.grant(GUILD, ALICE, 4) == 4
    assert await ledger.grant(GUILD, ALICE, -1) == 3
    assert await ledger.grant(GUILD, ALICE, -10) == 0
    assert await ledger.grant(GUILD, BOB, -2) == 0
    assert await ledger.grant(GUILD, BOB, 2) == 2
    assert await ledger.grant(OTHER_GUILD, ALICE, 0) == 0  # bonus is per server


async def test_bonus_alone_can_pay_when_the_allowance_is_zero(ledger: Ledger) -> None:
    await ledger.set_member(GUILD, ALICE, 0)
    await ledger.grant(GUILD, ALICE, 2)
    await reserve(ledger, "a", 2)
    with pytest.raises(QuotaExceeded) as refused:
        await reserve(ledger, "b", 1)
    assert refused.value.limit is Limit.ALLOWANCE
    assert (await ledger.status(GUILD, ALICE, ())).bonus == 0


# -- caps --------------------------------------------------------------------------------------


async def test_server_cap_counts_every_member(ledger: Ledger) -> None:
    await ledger.set_member(GUILD, BOB, -1)  # unlimited members are capped too
    await ledger.set_server_cap(GUILD, 4, Period.WEEK)
    await reserve(ledger, "a", 3, user=ALICE)
    with pytest.raises(QuotaExceeded) as refused:
        await reserve(ledger, "b", 2, user=BOB)
    assert refused.value.limit is Limit.SERVER
    assert refused.value.reset_at == ts(2025, 11, 24)
    assert str(refused.value) == (
        "This server's cap has 1 image left of 4 this week; this needs 2. "
        "The cap resets <t:1763942400:R>."
    )
    await reserve(ledger, "b", 1, user=BOB)
    status = await ledger.status(GUILD, BOB, ())
    assert (status.server_cap, status.server_used) == ((4, Period.WEEK), 4)
    await reserve(ledger, "other", 1, guild=OTHER_GUILD)  # another server's cap is its own
    await ledger.set_server_cap(GUILD, 0, Period.WEEK)  # 0 removes the cap
    await reserve(ledger, "c", 5, user=BOB)
    assert (await ledger.status(GUILD, BOB, ())).server_cap is None


async def test_global_cap_counts_every_server_per_utc_day(
    make_ledger: Callable[..., Ledger], clock: Clock
) -> None:
    ledger = make_ledger(seedream_default_quota=-1, seedream_global_cap=3)
    await reserve(ledger, "a", 2, guild=GUILD)
    await reserve(ledger, "dm", 5, guild=None)  # unmetered: not counted
    with pytest.raises(QuotaExceeded) as refused:
        await reserve(ledger, "b", 2, guild=OTHER_GUILD, user=BOB)
    assert refused.value.limit is Limit.GLOBAL
    assert str(refused.value) == (
        "The bot's daily cap has 1 image left of 3 today; this needs 2. "
        f"It resets <t:{int(MIDNIGHT)}:R>."
    )
    clock.now += 3 * 3600  # later the same UTC day: still counted
    with pytest.raises(QuotaExceeded):
        await reserve(ledger, "b", 2, guild=OTHER_GUILD, user=BOB)
    assert await ledger.refund("a") == 2  # a refund frees the cap as well
    await reserve(ledger, "b", 3, guild=OTHER_GUILD, user=BOB)
    clock.now = MIDNIGHT
    await reserve(ledger, "c", 3, guild=GUILD)


# -- messages ----------------------------------------------------------------------------------


async def test_refusal_names_the_allowance_and_its_reset(ledger: Ledger) -> None:
    await reserve(ledger, "a", 2)
    with pytest.raises(QuotaExceeded) as refused:
        await reserve(ledger, "b", 2)
    error = refused.value
    assert str(error) == (
        "You have 1 image left of 3 today; this needs 2. Your allowance resets <t:1763769600:R>."
    )
    assert error.public_message == str(error)  # shown to members as is
    assert error.kind is ErrorKind.REFUSED
    assert (error.limit, error.left, error.asked, error.reset_at) == (
        Limit.ALLOWANCE,
        1,
        2,
        MIDNIGHT,
    )


@pytest.mark.parametrize(
    ("period", "words", "reset"),
    [
        (Period.HOUR, "this hour", ts(2025, 11, 21, 11)),
        (Period.WEEK, "this week", ts(2025, 11, 24)),
        (Period.MONTH, "this month", ts(2025, 12, 1)),
    ],
)
async def test_refusal_words_follow_the_period(
    ledger: Ledger, period: Period, words: str, reset: float
) -> None:
    await ledger.set_default(GUILD, 1, period)
    await ledger.grant(GUILD, ALICE, 1)
    await reserve(ledger, "a", 1)
    with pytest.raises(QuotaExceeded) as refused:
        await reserve(ledger, "b", 3)
    assert str(refused.value) == (
        f"You have 1 image left (0 of your 1 {words} and 1 bonus); this needs 3. "
        f"Your allowance resets <t:{int(reset)}:R>."
    )
    assert refused.value.reset_at == reset


async def test_refusal_names_the_limit_that_frees_up_last(ledger: Ledger) -> None:
    await ledger.set_server_cap(GUILD, 3, Period.MONTH)
    await reserve(ledger, "a", 3)  # allowance (day) and server cap (month) both spent
    with pytest.raises(QuotaExceeded) as refused:
        await reserve(ledger, "b", 1)
    assert refused.value.limit is Limit.SERVER
    assert refused.value.reset_at == ts(2025, 12, 1)
    assert "This server's cap has 0 images left of 3 this month" in str(refused.value)


# -- reset -------------------------------------------------------------------------------------


async def test_reset_forgives_the_window_but_not_the_caps(ledger: Ledger, clock: Clock) -> None:
    await ledger.set_server_cap(GUILD, 10, Period.DAY)
    await reserve(ledger, "yesterday", 3)
    await ledger.settle("yesterday", 3)
    clock.now += 86400
    await reserve(ledger, "done", 2)
    await ledger.settle("done", 2)
    await reserve(ledger, "flying", 1)
    assert await ledger.reset(GUILD, ALICE) == 3
    status = await ledger.status(GUILD, ALICE, ())
    assert (status.used, status.remaining, status.server_used) == (0, 3, 3)
    assert await ledger.reserved_count(GUILD, ALICE) == 1  # in flight, still reserved
    flying = await ledger.entry("flying")
    yesterday = await ledger.entry("yesterday")
    assert flying is not None and flying.forgiven and flying.state == "reserved"
    assert yesterday is not None and not yesterday.forgiven  # an earlier window is untouched

    # settling a forgiven reservation does not give the member anything twice
    assert await ledger.settle("flying", 0) == 1
    assert await used(ledger) == 0
    await reserve(ledger, "again", 3)
    with pytest.raises(QuotaExceeded):
        await reserve(ledger, "more", 1)
    assert await ledger.reset(GUILD, BOB) == 0


async def test_reset_follows_the_servers_period(ledger: Ledger, clock: Clock) -> None:
    await ledger.set_default(GUILD, 5, Period.WEEK)
    await reserve(ledger, "a", 2)
    clock.now += 86400
    await reserve(ledger, "b", 2)
    assert await ledger.reset(GUILD, ALICE) == 4


# -- idempotency and clamping ------------------------------------------------------------------


async def test_reserve_is_idempotent_per_job(ledger: Ledger, clock: Clock) -> None:
    first = await reserve(ledger, "a", 2)
    clock.now += 60
    again = await reserve(ledger, "a", 1)  # the first call's terms stand
    assert again == first
    assert await used(ledger) == 2
    await reserve(ledger, "b", 1)
    # the allowance is spent, yet the same job is still answered, not refused
    assert await reserve(ledger, "a", 2) == first
    await ledger.settle("a", 2)
    assert (await reserve(ledger, "a", 2)).count == 2
    assert await used(ledger) == 3


async def test_settle_and_refund_are_final(ledger: Ledger) -> None:
    await reserve(ledger, "a", 3)
    assert await ledger.settle("a", 1) == 2
    before = await ledger.entry("a")
    assert await ledger.settle("a", 0) == 0
    assert await ledger.refund("a") == 0
    assert await ledger.settle("a", 3) == 0
    assert await ledger.entry("a") == before
    assert await used(ledger) == 1

    await reserve(ledger, "b", 2)
    assert await ledger.refund("b") == 2
    refunded = await ledger.entry("b")
    assert refunded is not None and (refunded.state, refunded.delivered) == ("refunded", 0)
    assert await ledger.settle("b", 2) == 0
    assert await ledger.entry("b") == refunded
    assert await ledger.settle("never-reserved", 1) == 0
    assert await ledger.refund("never-reserved") == 0


@pytest.mark.parametrize(("delivered", "refunded", "kept"), [(5, 0, 3), (-2, 3, 0), (3, 0, 3)])
async def test_settle_clamps_delivered(
    ledger: Ledger, delivered: int, refunded: int, kept: int
) -> None:
    await reserve(ledger, "a", 3)
    assert await ledger.settle("a", delivered) == refunded
    entry = await ledger.entry("a")
    assert entry is not None and (entry.state, entry.delivered) == ("settled", kept)
    assert await used(ledger) == kept


# -- unmetered ---------------------------------------------------------------------------------


async def test_jobs_without_a_guild_are_not_metered(ledger: Ledger, db: Database) -> None:
    await ledger.set_member(GUILD, ALICE, 0)
    reservation = await reserve(ledger, "dm", 15, guild=None)
    assert not reservation.metered and reservation.count == 15
    assert await reserve(ledger, "dm", 15, guild=None) == reservation
    assert await ledger.settle("dm", 15) == 0
    assert await ledger.refund("dm") == 0
    assert await ledger.entry("dm") is None
    assert await db.scalar("SELECT COUNT(*) FROM quota_reservations") == 0


# -- in flight, settings -----------------------------------------------------------------------


async def test_in_flight_and_open_jobs(ledger: Ledger) -> None:
    await ledger.set_default(GUILD, 10, Period.DAY)
    await reserve(ledger, "a", 2)
    await reserve(ledger, "b", 3)
    await reserve(ledger, "c", 1, user=BOB)
    assert await ledger.reserved_count(GUILD, ALICE) == 5
    assert (await ledger.status(GUILD, ALICE, ())).in_flight == 5
    await ledger.settle("a", 2)
    assert await ledger.reserved_count(GUILD, ALICE) == 3
    assert await ledger.open_jobs() == ["b", "c"]


async def test_guild_settings_lists_everything_set(ledger: Ledger) -> None:
    empty = await ledger.guild_settings(GUILD)
    assert empty.default == Allowance(3, Period.DAY, "bot default")
    assert (empty.server_cap, empty.roles, empty.members, empty.bonuses) == (None, (), (), ())
    await ledger.set_default(GUILD, 4, Period.WEEK)
    await ledger.set_server_cap(GUILD, 100, Period.MONTH)
    await ledger.set_role(GUILD, ROLE_B, -1)
    await ledger.set_role(GUILD, ROLE_A, 7)
    await ledger.set_member(GUILD, BOB, 0)
    await ledger.grant(GUILD, ALICE, 2)
    await ledger.grant(GUILD, BOB, 1)
    await ledger.grant(GUILD, BOB, -1)  # no credits left: not listed
    settings = await ledger.guild_settings(GUILD)
    assert settings.default == Allowance(4, Period.WEEK, "server default")
    assert settings.server_cap == (100, Period.MONTH)
    assert settings.global_cap == 0
    assert settings.roles == ((ROLE_A, 7), (ROLE_B, -1))
    assert settings.members == ((BOB, 0),)
    assert settings.bonuses == ((ALICE, 2),)


# -- concurrency -------------------------------------------------------------------------------


async def outcomes(calls: list[Any]) -> tuple[int, int]:
    """(granted, refused) of concurrent reserve calls; anything else fails the test."""
    results = await asyncio.gather(*calls, return_exceptions=True)
    for result in results:
        if isinstance(result, BaseException) and not isinstance(result, QuotaExceeded):
            raise result
    refused = sum(isinstance(result, QuotaExceeded) for result in results)
    return len(results) - refused, refused


async def test_concurrent_reserves_never_overspend(ledger: Ledger) -> None:
    granted, refused = await outcomes([reserve(ledger, f"j{i}") for i in range(50)])
    assert (granted, refused) == (3, 47)
    assert await used(ledger) == 3


async def test_concurrent_reserves_with_bonus_and_cap(ledger: Ledger) -> None:
    """Alice can take 3 + 4 bonus in pairs (6), Bob 3: exactly the server cap of 9."""
    await ledger.grant(GUILD, ALICE, 4)
    await ledger.set_server_cap(GUILD, 9, Period.DAY)
    calls = [reserve(ledger, f"a{i}", 2) for i in range(20)]
    calls += [reserve(ledger, f"b{i}", 1, user=BOB) for i in range(20)]
    assert await outcomes(calls) == (3 + 3, 40 - 6)
    alice, bob = await ledger.status(GUILD, ALICE, ()), await ledger.status(GUILD, BOB, ())
    assert (alice.used, alice.bonus, bob.used, bob.server_used) == (3, 1, 3, 9)


async def test_racing_settlements_refund_once(ledger: Ledger) -> None:
    await ledger.set_member(GUILD, ALICE, 6)
    for job in ("a", "b"):
        await reserve(ledger, job, 3)
    results = await asyncio.gather(
        ledger.settle("a", 1), ledger.refund("a"), ledger.settle("a", 2), ledger.refund("b")
    )
    entry = await ledger.entry("a")
    assert entry is not None and entry.delivered is not None
    assert sum(results[:3]) == 3 - entry.delivered
    assert results[:3].count(0) == 2 and results[3] == 3
    assert await used(ledger) == entry.delivered


async def test_a_refusal_is_explained_by_the_state_that_refused_it(ledger: Ledger) -> None:
    """Refunds race with reserves: the reason is read in the transaction that refused."""
    await reserve(ledger, "held-0", 3)
    for i in range(10):
        calls = [reserve(ledger, f"try-{i}", 3), ledger.refund(f"held-{i}")]
        if i % 2:
            calls.reverse()
        results = await asyncio.gather(*calls, return_exceptions=True)
        for result in results:
            if isinstance(result, BaseException) and not isinstance(result, QuotaExceeded):
                raise result
        if isinstance(results[i % 2], QuotaExceeded):
            await reserve(ledger, f"try-{i}", 3)
        await ledger.settle(f"try-{i}", 3)
        await ledger.reset(GUILD, ALICE)
        await reserve(ledger, f"held-{i + 1}", 3)


async def test_two_connections_never_overspend(
    db: Database, tmp_path: Path, clock: Clock, make_settings: Callable[..., Settings]
) -> None:
    """Two connections to one file stand for two bot processes."""
    settings = make_settings(seedream_default_quota=3)
    other = Database(tmp_path / "q.db")
    await other.open()
    try:
        ledgers = [Ledger(db, settings, clock), Ledger(other, settings, clock)]
        calls = [reserve(ledgers[i % 2], f"j{i}") for i in range(50)]
        granted, _ = await outcomes(calls)
        assert granted == 3
        assert await used(ledgers[1]) == 3
        # the same job through both connections at once is charged once
        await ledgers[0].set_member(GUILD, BOB, 10)
        same = [reserve(ledgers[i % 2], "shared", 2, user=BOB) for i in range(10)]
        assert await outcomes(same) == (10, 0)
        assert await used(ledgers[0], BOB) == 2
    finally:
        await other.close()
