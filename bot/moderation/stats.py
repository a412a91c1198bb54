"""Usage statistics for moderators (``/seedream stats``): a window's numbers, a message, a chart.

:func:`usage` reads the database and returns plain frozen data (:class:`UsageStats`, tuples
of small dataclasses), so :func:`render_chart`, which is CPU work, can run in a worker
process through :func:`bot.images.run_in_process` (or a thread through
:func:`bot.images.run_off_loop`). Days are UTC days, like the storage queries' ``date()``.
"""

from __future__ import annotations

import io
import math
import time
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from PIL import Image, ImageDraw, ImageFont

from bot.storage import moderation
from bot.storage.db import Database

MIN_DAYS = 1
MAX_DAYS = 90
#: Discord's limit on a message's content
MESSAGE_LIMIT = 2000
CHART_SIZE = (900, 400)
#: longer windows are tabled by week (a daily table of 90 days would not fit in a message)
DAILY_TABLE_DAYS = 31

_DAY = 86400
_WEEK = 7


@dataclass(frozen=True)
class DayUsage:
    """One UTC day of the window (zeros when nothing happened)."""

    date: str  # YYYY-MM-DD
    images: int
    jobs: int
    failures: int
    refusals: int
    members: int  # distinct members who ran a job or were refused that day


@dataclass(frozen=True)
class WeekUsage:
    """Up to seven days, ending on ``end``; the oldest week of a window may be shorter."""

    start: str
    end: str
    images: int
    jobs: int
    failures: int
    refusals: int
    members: int  # distinct over the week, not a sum of the days


@dataclass(frozen=True)
class ModelUsage:
    model: str  # '' for refusals that came before a model was chosen
    images: int
    jobs: int
    failures: int
    refusals: int


@dataclass(frozen=True)
class UsageStats:
    days: int
    start: str  # first day of the window, YYYY-MM-DD
    end: str  # today (UTC)
    daily: tuple[DayUsage, ...]  # every day of the window, oldest first
    weekly: tuple[WeekUsage, ...]  # the same days in weeks ending today, oldest first
    models: tuple[ModelUsage, ...]  # most images first
    images: int
    jobs: int
    failures: int
    refusals: int
    members: int  # distinct over the whole window

    @property
    def empty(self) -> bool:
        return self.jobs == 0 and self.refusals == 0


# -- reading -----------------------------------------------------------------------------------


async def usage(db: Database, guild_id: int, days: int, *, now: float | None = None) -> UsageStats:
    """The server's usage over the last ``days`` UTC days, today included."""
    if not MIN_DAYS <= days <= MAX_DAYS:
        raise ValueError(f"days must be between {MIN_DAYS} and {MAX_DAYS}, not {days}")
    today = datetime.fromtimestamp(time.time() if now is None else now, UTC).date()
    first = today - timedelta(days=days - 1)
    since = datetime(first.year, first.month, first.day, tzinfo=UTC).timestamp()
    until = since + days * _DAY
    dates = [(first + timedelta(days=i)).isoformat() for i in range(days)]
    window = set(dates)

    per_day = {day: [0, 0, 0, 0] for day in dates}  # images, jobs, failures, refusals
    per_model: dict[str, list[int]] = {}
    # The storage queries have no upper bound: rows dated after today (a clock that jumped)
    # are left out here, as they are from the member counts below.
    for row in await moderation.daily_stats(db, guild_id, since):
        if row["day"] not in window:
            continue
        counts = (int(row["images"] or 0), int(row["jobs"]), int(row["failures"] or 0))
        for totals in (per_day[row["day"]], per_model.setdefault(row["model"], [0, 0, 0, 0])):
            for i, value in enumerate(counts):
                totals[i] += value
    for row in await moderation.daily_refusals(db, guild_id, since):
        if row["day"] not in window:
            continue
        per_day[row["day"]][3] += int(row["refusals"])
        per_model.setdefault(row["model"], [0, 0, 0, 0])[3] += int(row["refusals"])
    members = {day: count for day, count in await moderation.active_members(db, guild_id, since)}

    daily = tuple(
        DayUsage(
            date=day,
            images=per_day[day][0],
            jobs=per_day[day][1],
            failures=per_day[day][2],
            refusals=per_day[day][3],
            members=members.get(day, 0),
        )
        for day in dates
    )
    weekly_members = await _distinct_members(db, guild_id, since, until, today, _WEEK)
    weekly = []
    for bucket in range(math.ceil(days / _WEEK) - 1, -1, -1):
        end = days - 1 - bucket * _WEEK
        part = daily[max(0, end - _WEEK + 1) : end + 1]
        weekly.append(
            WeekUsage(
                part[0].date,
                part[-1].date,
                sum(d.images for d in part),
                sum(d.jobs for d in part),
                sum(d.failures for d in part),
                sum(d.refusals for d in part),
                weekly_members.get(bucket, 0),
            )
        )
    models = tuple(
        ModelUsage(name, images, jobs, failures, refusals)
        for name, (images, jobs, failures, refusals) in sorted(
            per_model.items(), key=lambda item: (-item[1][0], -item[1][1], -item[1][3], item[0])
        )
    )
    whole = await _distinct_members(db, guild_id, since, until, today, days)
    return UsageStats(
        days=days,
        start=dates[0],
        end=dates[-1],
        daily=daily,
        weekly=tuple(weekly),
        models=models,
        images=sum(d.images for d in daily),
        jobs=sum(d.jobs for d in daily),
        failures=sum(d.failures for d in daily),
        refusals=sum(d.refusals for d in daily),
        members=whole.get(0, 0),
    )


async def _distinct_members(
    db: Database, guild_id: int, since: float, until: float, today: date, period: int
) -> dict[int, int]:
    """Distinct members (jobs and refused attempts together) per run of ``period`` UTC days,
    bucket 0 ending today, 1 the ``period`` days before, and so on."""
    bucket = "CAST(julianday(?) - julianday(date(created_at, 'unixepoch')) AS INTEGER) / ?"
    where = "guild_id = ? AND created_at >= ? AND created_at < ?"
    args = (today.isoformat(), period, guild_id, since, until)
    rows = await db.fetchall(
        f"SELECT bucket, COUNT(DISTINCT user_id) FROM ("
        f" SELECT {bucket} AS bucket, user_id FROM jobs WHERE {where}"
        f" UNION ALL SELECT {bucket}, user_id FROM refusals WHERE {where}"
        ") GROUP BY bucket",
        (*args, *args),
    )
    return {int(row[0]): int(row[1]) for row in rows}


# -- the message -------------------------------------------------------------------------------

_WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def stats_text(stats: UsageStats) -> str:
    """A message of at most 2000 characters: totals, a table by day (by week beyond
    :data:`DAILY_TABLE_DAYS` days, or if the days do not fit) and a line per model. It names
    no member and model names cannot ping; send it with no allowed mentions all the same."""
    head = [
        f"**Seedream usage, last {_plural(stats.days, 'day')}**"
        f" ({stats.start} to {stats.end}, UTC)",
        f"**{stats.images}** images delivered · {_plural(stats.jobs, 'job')}"
        f" · {stats.failures} failed · {stats.refusals} refused"
        f" · {_plural(stats.members, 'active member')}",
    ]
    if stats.empty:
        head.append("No activity in this period.")
    models = [_model_line(m) for m in stats.models]
    daily = _table(
        "Day",
        [(_day_label(d.date), d.images, d.members, d.failures, d.refusals) for d in stats.daily],
    )
    weekly = _table(
        "Week",
        [
            (_span_label(w.start, w.end), w.images, w.members, w.failures, w.refusals)
            for w in stats.weekly
        ],
    )
    if stats.days <= DAILY_TABLE_DAYS:
        text = _assemble(head, daily, None, models)
        if len(text) <= MESSAGE_LIMIT:
            return text
    text = _assemble(head, weekly, "By week; members are distinct per week.", models)
    if len(text) <= MESSAGE_LIMIT:
        return text
    # Only with unusually many models: list the busiest, then cut the oldest weeks.
    for keep in range(len(models) - 1, -1, -1):
        more = [f"… and {len(models) - keep} more models"]
        text = _assemble(head, weekly, "By week.", models[:keep] + more)
        if len(text) <= MESSAGE_LIMIT:
            return text
    header, rows = weekly[0], weekly[1:]
    while rows:
        rows = rows[1:]
        text = _assemble(head, [header, *rows], "Latest weeks only.", [])
        if len(text) <= MESSAGE_LIMIT:
            return text
    return "\n".join(head)[:MESSAGE_LIMIT]


def _assemble(head: list[str], table: list[str], note: str | None, models: list[str]) -> str:
    lines = [*head, "```", *table, "```"]
    if note:
        lines.append(f"-# {note}")
    if models:
        lines += ["**By model**", *models]
    return "\n".join(lines)


def _table(first: str, rows: list[tuple[str, int, int, int, int]]) -> list[str]:
    names = (first, "Images", "Members", "Failed", "Refused")
    cells = [tuple(str(v) for v in row) for row in rows]
    widths = [max(len(names[i]), *(len(c[i]) for c in cells)) for i in range(len(names))]

    def line(values: tuple[str, ...]) -> str:
        return " ".join(
            v.ljust(widths[i]) if i == 0 else v.rjust(widths[i]) for i, v in enumerate(values)
        ).rstrip()

    return [line(names), *(line(c) for c in cells)]


def _model_line(m: ModelUsage) -> str:
    name = f"`{_harmless(m.model)}`" if m.model else "no model chosen"
    parts = [f"{m.images} images", _plural(m.jobs, "job"), f"{m.failures} failed"] if m.jobs else []
    if m.refusals or not parts:
        parts.append(f"{m.refusals} refused")
    return f"- {name}: {', '.join(parts)}"


def _harmless(text: str) -> str:
    """A model name fit for inline code: no backticks, no mention, one short line."""
    text = " ".join(text.split()).replace("`", "'").replace("@", "@\u200b")
    return text if len(text) <= 60 else text[:59] + "…"


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def _day_label(day: str) -> str:
    parsed = date.fromisoformat(day)
    return f"{_WEEKDAYS[parsed.weekday()]} {day[5:]}"


def _span_label(start: str, end: str) -> str:
    return start[5:] if start == end else f"{start[5:]}–{end[5:]}"


def _short_date(day: str) -> str:
    parsed = date.fromisoformat(day)
    return f"{_MONTHS[parsed.month - 1]} {parsed.day}"


# -- the chart ---------------------------------------------------------------------------------

_Colour = tuple[int, int, int]
_BACKGROUND = (255, 255, 255)
_INK = (33, 37, 41)
_MUTED = (108, 117, 125)
_GRID = (226, 230, 234)
_IMAGES = (66, 110, 220)
_FAILURES = (220, 53, 69)
_REFUSALS = (245, 166, 35)
_MEMBERS = (40, 167, 69)

_Font = ImageFont.FreeTypeFont | ImageFont.ImageFont


def render_chart(stats: UsageStats) -> bytes:
    """A PNG bar chart of the window: images delivered per day, beside them failed jobs and
    refused attempts stacked, and a line of active members. Deterministic for the same data
    (Pillow's bundled font, no timestamps in the file); a top-level function of plain data,
    so it runs in :func:`bot.images.run_in_process`."""
    width, height = CHART_SIZE
    image = Image.new("RGB", CHART_SIZE, _BACKGROUND)
    draw = ImageDraw.Draw(image)
    title_font, font, small = _font(18), _font(12), _font(11)

    draw.text((20, 12), f"Seedream usage, last {_plural(stats.days, 'day')}", _INK, title_font)
    legend = (
        ("Images delivered", _IMAGES),
        ("Failed jobs", _FAILURES),
        ("Refused attempts", _REFUSALS),
        ("Active members", _MEMBERS),
    )
    x = 20
    for label, colour in legend:
        if colour == _MEMBERS:
            draw.line((x, 46, x + 14, 46), colour, 2)
            draw.ellipse((x + 4, 43, x + 10, 49), colour)
        else:
            draw.rectangle((x, 40, x + 12, 52), colour)
        draw.text((x + 18, 39), label, _INK, font)
        x += 18 + int(draw.textlength(label, font=font)) + 22

    left, right, top, bottom = 56, width - 20, 70, height - 52
    plot_w, plot_h = right - left, bottom - top
    peak = max((max(d.images, d.failures + d.refusals, d.members) for d in stats.daily), default=0)
    ceiling, step = _scale(peak)

    def y_of(value: int) -> int:
        return bottom - round(value * plot_h / ceiling)

    for tick in range(0, ceiling + 1, step):
        y = y_of(tick)
        draw.line((left, y, right, y), _GRID if tick else _MUTED, 1)
        label = str(tick)
        draw.text((left - 8 - draw.textlength(label, font=small), y - 7), label, _MUTED, small)

    n = len(stats.daily)
    slot = plot_w / n
    group = min(slot * 0.8, 64.0)
    images_w = max(1, round(group * 0.6))
    side_w = max(1, round(group * 0.3))
    gap = max(0, round(group - images_w - side_w))
    centres = []
    for i, day in enumerate(stats.daily):
        centre = left + slot * (i + 0.5)
        centres.append(round(centre))
        x0 = round(centre - (images_w + gap + side_w) / 2)
        _bar(draw, x0, images_w, bottom, day.images, y_of(day.images), _IMAGES)
        x1 = x0 + images_w + gap
        failed = _bar(draw, x1, side_w, bottom, day.failures, y_of(day.failures), _FAILURES)
        stacked = y_of(day.failures + day.refusals)
        _bar(draw, x1, side_w, failed, day.refusals, stacked, _REFUSALS)

    points = [(c, y_of(d.members)) for c, d in zip(centres, stats.daily, strict=True)]
    if len(points) > 1 and not stats.empty:
        draw.line(points, _MEMBERS, 2, joint="curve")
    if slot >= 6 and not stats.empty:
        for px, py in points:
            draw.ellipse((px - 2, py - 2, px + 2, py + 2), _MEMBERS)

    # Date labels about every 70 px, counted back from today so that today is labelled.
    every = max(1, math.ceil(70 / slot))
    for i in range(n - 1, -1, -every):
        label = _short_date(stats.daily[i].date)
        text_w = draw.textlength(label, font=small)
        tx = min(max(centres[i] - text_w / 2, 2), width - 2 - text_w)
        draw.line((centres[i], bottom, centres[i], bottom + 4), _MUTED, 1)
        draw.text((tx, bottom + 7), label, _MUTED, small)
    caption = "Day (UTC)"
    draw.text(
        (left + (plot_w - draw.textlength(caption, font=font)) / 2, height - 22),
        caption,
        _INK,
        font,
    )
    if stats.empty:
        notice = "No activity in this period"
        draw.text(
            (left + (plot_w - draw.textlength(notice, font=font)) / 2, top + plot_h / 2 - 8),
            notice,
            _MUTED,
            font,
        )

    out = io.BytesIO()
    image.save(out, "PNG", optimize=True)
    return out.getvalue()


def _bar(
    draw: ImageDraw.ImageDraw, x: int, w: int, base: int, value: int, top: int, colour: _Colour
) -> int:
    """A bar standing on ``base`` up to ``top``, at least a pixel tall unless ``value`` is 0;
    returns where it ends, for the next bar of a stack."""
    if value <= 0:
        return base
    top = min(top, base - 1)
    draw.rectangle((x, top, x + w - 1, base - 1), colour)
    return top


def _scale(peak: int) -> tuple[int, int]:
    """The y axis's top and tick step: 1, 2 or 5 times a power of ten, at most 5 steps."""
    peak = max(peak, 4)
    step = 1
    while True:
        for factor in (1, 2, 5):
            if peak <= step * factor * 5:
                size = step * factor
                return math.ceil(peak / size) * size, size
        step *= 10


def _font(size: int) -> _Font:
    """Pillow's bundled font: the same glyphs on every host, whatever fonts it has."""
    return ImageFont.load_default(size)
