"""Usage statistics: the window's numbers from a real SQLite file, the message, the chart."""

from __future__ import annotations

import io
import itertools
import pickle
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import pytest_asyncio
from PIL import Image

from bot import images
from bot.moderation.stats import (
    CHART_SIZE,
    MESSAGE_LIMIT,
    DayUsage,
    ModelUsage,
    UsageStats,
    WeekUsage,
    render_chart,
    stats_text,
    usage,
)
from bot.storage.db import Database

GUILD = 111
OTHER_GUILD = 222
DAY = 86400.0
#: Sunday 2025-06-15, 15:00 UTC
NOW = datetime(2025, 6, 15, 15, 0, tzinfo=UTC).timestamp()
#: midnight UTC at the start of NOW's day
TODAY = datetime(2025, 6, 15, tzinfo=UTC).timestamp()

_ids = itertools.count()


@pytest_asyncio.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    database = Database(tmp_path / "stats.db")
    await database.open()
    yield database
    await database.close()


async def add_job(
    db: Database,
    at: float,
    *,
    user: int | None = 1,
    state: str = "done",
    model: str = "seedream-4.0",
    delivered: int | None = None,
    guild: int | None = GUILD,
) -> None:
    count = 2
    if delivered is None:
        delivered = count if state == "done" else 0
    await db.execute(
        "INSERT INTO jobs (id, source, guild_id, channel_id, user_id, state, model, prompt,"
        " request_json, count, delivered, created_at, updated_at)"
        " VALUES (?, 'imagine', ?, 5, ?, ?, ?, 'a cat', '{}', ?, ?, ?, ?)",
        (f"job-{next(_ids)}", guild, user, state, model, count, delivered, at, at),
    )


async def add_refusal(
    db: Database, at: float, *, user: int = 1, model: str | None = None, guild: int = GUILD
) -> None:
    await db.execute(
        "INSERT INTO refusals (guild_id, channel_id, user_id, source, reason, model, created_at)"
        " VALUES (?, 5, ?, 'imagine', 'blocklist', ?, ?)",
        (guild, user, model, at),
    )


# -- usage() -----------------------------------------------------------------------------------


async def test_every_day_is_present_zero_filled_oldest_first(db: Database) -> None:
    await add_job(db, TODAY - 2 * DAY + 3600)

    stats = await usage(db, GUILD, 5, now=NOW)

    assert stats.days == 5
    assert (stats.start, stats.end) == ("2025-06-11", "2025-06-15")
    assert [d.date for d in stats.daily] == [
        "2025-06-11",
        "2025-06-12",
        "2025-06-13",
        "2025-06-14",
        "2025-06-15",
    ]
    assert stats.daily[2] == DayUsage("2025-06-13", 2, 1, 0, 0, 1)
    for day in (*stats.daily[:2], *stats.daily[3:]):
        assert (day.images, day.jobs, day.failures, day.refusals, day.members) == (0, 0, 0, 0, 0)
    assert (stats.images, stats.jobs, stats.members) == (2, 1, 1)


async def test_an_empty_server_gives_zeros(db: Database) -> None:
    stats = await usage(db, GUILD, 1, now=NOW)

    assert stats.daily == (DayUsage("2025-06-15", 0, 0, 0, 0, 0),)
    assert stats.weekly == (WeekUsage("2025-06-15", "2025-06-15", 0, 0, 0, 0, 0),)
    assert stats.models == ()
    assert stats.empty
    assert (stats.images, stats.jobs, stats.failures, stats.refusals, stats.members) == (
        0,
        0,
        0,
        0,
        0,
    )


async def test_images_failures_and_refusals_per_day_and_model(db: Database) -> None:
    yesterday = TODAY - DAY + 100
    await add_job(db, yesterday, model="seedream-4.5", delivered=4)
    await add_job(db, yesterday, model="seedream-4.5", state="failed")
    await add_job(db, yesterday, model="seedream-4.0", state="cancelled")
    await add_job(db, TODAY + 60, model="seedream-4.0", delivered=1)
    await add_job(db, TODAY + 120, model="seedream-4.0", state="failed", delivered=1)
    await add_refusal(db, yesterday, model="seedream-4.0")
    await add_refusal(db, TODAY + 30)
    await add_refusal(db, TODAY + 40)

    stats = await usage(db, GUILD, 2, now=NOW)

    assert [(d.date, d.images, d.jobs, d.failures, d.refusals) for d in stats.daily] == [
        ("2025-06-14", 4, 3, 1, 1),
        ("2025-06-15", 1, 2, 1, 2),  # a failed job's partial delivery is not counted
    ]
    assert stats.models == (
        ModelUsage("seedream-4.5", images=4, jobs=2, failures=1, refusals=0),
        ModelUsage("seedream-4.0", images=1, jobs=3, failures=1, refusals=1),
        ModelUsage("", images=0, jobs=0, failures=0, refusals=2),
    )
    assert (stats.images, stats.jobs, stats.failures, stats.refusals) == (5, 5, 2, 3)


async def test_members_are_distinct_per_day_week_and_window(db: Database) -> None:
    # Day 0 (today): member 1 twice and refused, member 2 once, a CLI job with no member.
    await add_job(db, TODAY + 10, user=1)
    await add_job(db, TODAY + 20, user=1, state="failed")
    await add_refusal(db, TODAY + 30, user=1)
    await add_job(db, TODAY + 40, user=2)
    await add_job(db, TODAY + 50, user=None)
    # Yesterday: member 1 again and member 3, who was only refused.
    await add_job(db, TODAY - DAY + 10, user=1)
    await add_refusal(db, TODAY - DAY + 20, user=3)
    # Eight days ago (the previous week of the window): member 1 and member 4.
    await add_job(db, TODAY - 8 * DAY + 10, user=1)
    await add_job(db, TODAY - 8 * DAY + 20, user=4)

    stats = await usage(db, GUILD, 10, now=NOW)

    by_day = {d.date: d.members for d in stats.daily}
    assert by_day["2025-06-15"] == 2
    assert by_day["2025-06-14"] == 2
    assert by_day["2025-06-07"] == 2
    assert sum(by_day.values()) == 6
    assert stats.members == 4  # members 1-4, each once
    assert [(w.start, w.end, w.members) for w in stats.weekly] == [
        ("2025-06-06", "2025-06-08", 2),
        ("2025-06-09", "2025-06-15", 3),
    ]
    assert [w.images for w in stats.weekly] == [4, 8]


async def test_window_boundaries(db: Database) -> None:
    start = TODAY - 6 * DAY  # first second of a 7-day window
    await add_job(db, TODAY - 8 * DAY, user=10)
    await add_job(db, start - 1, user=11)
    await add_refusal(db, start - 1, user=12)
    await add_job(db, start, user=13)
    await add_job(db, TODAY + DAY - 1, user=14)  # the last second of today
    await add_job(db, TODAY + DAY + 5, user=15)  # tomorrow: a clock that jumped
    await add_refusal(db, TODAY + DAY + 5, user=16)
    await add_job(db, TODAY, user=17, guild=OTHER_GUILD)
    await add_refusal(db, TODAY, user=18, guild=OTHER_GUILD)
    await add_job(db, TODAY, user=19, guild=None)

    stats = await usage(db, GUILD, 7, now=NOW)

    assert len(stats.daily) == 7
    assert stats.daily[0] == DayUsage("2025-06-09", 2, 1, 0, 0, 1)
    assert stats.daily[-1] == DayUsage("2025-06-15", 2, 1, 0, 0, 1)
    assert (stats.images, stats.jobs, stats.refusals, stats.members) == (4, 2, 0, 2)
    assert stats.models == (ModelUsage("seedream-4.0", 4, 2, 0, 0),)
    assert sum(w.members for w in stats.weekly) == 2

    wider = await usage(db, GUILD, 9, now=NOW)
    assert (wider.jobs, wider.refusals, wider.members) == (4, 1, 5)


async def test_now_defaults_to_the_clock(db: Database) -> None:
    stats = await usage(db, GUILD, 3)
    assert stats.end == datetime.now(UTC).date().isoformat()


@pytest.mark.parametrize("days", [0, -1, 91])
async def test_days_outside_1_to_90_are_refused(db: Database, days: int) -> None:
    with pytest.raises(ValueError, match="between 1 and 90"):
        await usage(db, GUILD, days, now=NOW)


# -- stats_text() ------------------------------------------------------------------------------


def busy_stats(days: int, *, models: int = 3, name: str = "seedream-4-5-251128") -> UsageStats:
    """Large numbers every day, as wide as the table's columns get."""
    daily = tuple(
        DayUsage(f"2025-{1 + i // 28:02d}-{1 + i % 28:02d}", 99999, 9999, 9999, 9999, 9999)
        for i in range(days)
    )
    weekly = tuple(
        WeekUsage(daily[i].date, daily[min(i + 6, days - 1)].date, 99999, 9999, 999, 999, 9999)
        for i in range(0, days, 7)
    )
    return UsageStats(
        days=days,
        start=daily[0].date,
        end=daily[-1].date,
        daily=daily,
        weekly=weekly,
        models=tuple(
            ModelUsage(f"{name}-{i}", 9999999, 999999, 99999, 99999) for i in range(models)
        ),
        images=9999999,
        jobs=999999,
        failures=99999,
        refusals=99999,
        members=99999,
    )


async def test_text_has_totals_a_daily_table_and_models(db: Database) -> None:
    await add_job(db, TODAY - DAY + 100, user=1, model="seedream-4.5", delivered=4)
    await add_job(db, TODAY + 100, user=2, state="failed")
    await add_refusal(db, TODAY + 200, user=3)

    text = stats_text(await usage(db, GUILD, 7, now=NOW))

    lines = text.splitlines()
    assert lines[0] == "**Seedream usage, last 7 days** (2025-06-09 to 2025-06-15, UTC)"
    assert "**4** images delivered · 2 jobs · 1 failed · 1 refused · 3 active members" in text
    table = text.split("```")[1].strip().splitlines()
    assert table[0].split() == ["Day", "Images", "Members", "Failed", "Refused"]
    assert len(table) == 8
    assert table[1].split() == ["Mon", "06-09", "0", "0", "0", "0"]
    assert table[6].split() == ["Sat", "06-14", "4", "1", "0", "0"]
    assert table[7].split() == ["Sun", "06-15", "0", "2", "1", "1"]
    assert "- `seedream-4.5`: 4 images, 1 job, 0 failed" in lines
    assert "- `seedream-4.0`: 0 images, 1 job, 1 failed" in lines
    assert "- no model chosen: 1 refused" in lines
    assert len(text) <= MESSAGE_LIMIT


async def test_text_of_an_empty_window_says_so(db: Database) -> None:
    text = stats_text(await usage(db, GUILD, 1, now=NOW))
    assert "No activity in this period." in text
    assert "last 1 day**" in text
    assert "By model" not in text


@pytest.mark.parametrize("days", range(1, 91))
def test_text_fits_a_message_for_every_window(days: int) -> None:
    stats = busy_stats(days)
    text = stats_text(stats)
    assert len(text) <= MESSAGE_LIMIT
    assert text.count("```") == 2
    assert "seedream-4-5-251128-2" in text
    rows = text.split("```")[1].strip().splitlines()[1:]
    if days <= 31:  # a month still gets a row per day
        assert len(rows) == days
    else:
        assert len(rows) == len(stats.weekly)
        assert "By week" in text


def test_text_fits_with_absurdly_many_models() -> None:
    text = stats_text(busy_stats(90, models=80, name="m" * 80))
    assert len(text) <= MESSAGE_LIMIT
    assert "more models" in text


def test_text_cannot_mention_or_break_out_of_code() -> None:
    stats = busy_stats(3, models=0)
    stats = UsageStats(
        **{
            **stats.__dict__,
            "models": (ModelUsage("@everyone `<@123>`", 1, 1, 0, 0),),
        }
    )
    text = stats_text(stats)
    assert "@everyone" not in text
    assert "<@123>" not in text
    assert text.count("`") == 2 + 6  # the model's inline code and the table's block


# -- render_chart() ----------------------------------------------------------------------------


def open_png(data: bytes) -> Image.Image:
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    image = Image.open(io.BytesIO(data))
    image.load()
    assert image.format == "PNG"
    return image


async def test_chart_is_a_png_that_shows_the_data(db: Database) -> None:
    empty = await usage(db, GUILD, 14, now=NOW)
    for i in range(14):
        await add_job(db, TODAY - i * DAY + 100, user=i % 4, delivered=1 + i)
        if i % 3 == 0:
            await add_job(db, TODAY - i * DAY + 200, state="failed")
            await add_refusal(db, TODAY - i * DAY + 300, user=9)
    busy = await usage(db, GUILD, 14, now=NOW)

    quiet, loud = render_chart(empty), render_chart(busy)

    assert open_png(quiet).size == CHART_SIZE
    assert open_png(loud).size == CHART_SIZE
    assert quiet != loud
    assert render_chart(busy) == loud  # deterministic
    # The busy chart has far more of the images colour (bars) than the empty one (legend).
    blue = (66, 110, 220)

    def count(data: bytes) -> int:
        colours = open_png(data).convert("RGB").getcolors(CHART_SIZE[0] * CHART_SIZE[1]) or []
        return next((n for n, colour in colours if colour == blue), 0)

    assert count(loud) > 20 * count(quiet) > 0


@pytest.mark.parametrize("days", [1, 2, 7, 31, 90])
def test_chart_renders_any_window(days: int) -> None:
    for stats in (busy_stats(days), busy_stats(days, models=0)):
        assert open_png(render_chart(stats)).size == CHART_SIZE
    zero = UsageStats(
        days=days,
        start="2025-01-01",
        end="2025-01-01",
        daily=tuple(DayUsage(f"2025-01-{1 + i % 28:02d}", 0, 0, 0, 0, 0) for i in range(days)),
        weekly=(),
        models=(),
        images=0,
        jobs=0,
        failures=0,
        refusals=0,
        members=0,
    )
    assert open_png(render_chart(zero)).size == CHART_SIZE


async def test_chart_runs_in_a_worker_process() -> None:
    stats = busy_stats(30)
    assert pickle.loads(pickle.dumps(stats)) == stats
    try:
        assert await images.run_in_process(render_chart, stats) == render_chart(stats)
    finally:
        images.shutdown_process_pool()
