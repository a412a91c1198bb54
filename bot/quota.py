"""The quota ledger (PRODUCT §4): images are reserved before a provider call, then settled.

Rules, all per server (Discord guild):

- The unit is one generated image. A job reserves ``count`` images before any provider call;
  when it ends it settles to the images delivered; failure or cancellation refunds them all.
- A member's allowance is, in order: their override; else the highest allowance among their
  roles (-1 = unlimited wins); else the server default; else ``SEEDREAM_DEFAULT_QUOTA``. Its
  window is the server's default period (else ``SEEDREAM_DEFAULT_PERIOD``), aligned to UTC.
- Bonus credits are spent only once the window's allowance is used up; a reservation may take
  part from each. Images are charged to the allowance first, so a refund gives bonus back first.
- The server cap (its own period) counts every member's images; ``SEEDREAM_GLOBAL_CAP`` counts
  every server's images per UTC day.
- A reset forgives a member's rows of the current window: they stop counting against the
  allowance (in-flight ones stay reserved) but still count against both caps.
- Jobs without a guild (DMs, the CLI) are **not metered**: :meth:`Ledger.reserve` returns an
  unmetered :class:`Reservation` without touching the database, and settling or refunding a job
  the ledger does not know changes nothing and returns 0.

Every reserve/settle/refund/grant/reset runs in one ``BEGIN IMMEDIATE`` transaction, so
concurrent coroutines and processes cannot overspend. Usage is summed from the ledger rows of
a window (:mod:`bot.storage.quota` holds the SQL).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from aiosqlite import Row

from bot.config import Period, Settings
from bot.errors import InvalidInput, Refused
from bot.storage import quota as store
from bot.storage.db import Database

UNLIMITED = -1

_THIS = {
    Period.HOUR: "this hour",
    Period.DAY: "today",
    Period.WEEK: "this week",
    Period.MONTH: "this month",
}


@dataclass(frozen=True)
class Window:
    """A quota window ``[start, end)`` in Unix seconds; ``end`` is when usage resets."""

    period: Period
    start: float
    end: float


def window_for(period: Period, now: float) -> Window:
    """The UTC-aligned window holding ``now``: hour start, 00:00, Monday 00:00, the 1st 00:00."""
    moment = datetime.fromtimestamp(now, UTC)
    day = moment.replace(hour=0, minute=0, second=0, microsecond=0)
    if period is Period.HOUR:
        start = moment.replace(minute=0, second=0, microsecond=0)
        end = start + timedelta(hours=1)
    elif period is Period.DAY:
        start, end = day, day + timedelta(days=1)
    elif period is Period.WEEK:
        start = day - timedelta(days=day.weekday())
        end = start + timedelta(days=7)
    else:
        start = day.replace(day=1)
        end = (start + timedelta(days=32)).replace(day=1)
    return Window(period, start.timestamp(), end.timestamp())


@dataclass(frozen=True)
class Allowance:
    """A member's images per window (-1 = unlimited) and where that number comes from."""

    images: int
    period: Period
    source: str  # "member override", "role <id>", "server default", "bot default"

    @property
    def unlimited(self) -> bool:
        return self.images == UNLIMITED


@dataclass(frozen=True)
class QuotaStatus:
    """What ``/quota`` shows a member."""

    allowance: Allowance
    used: int  # charged to the allowance in this window (in-flight reservations included)
    remaining: int | None  # allowance left in this window; None = unlimited
    bonus: int
    window: Window
    server_cap: tuple[int, Period] | None
    server_used: int  # every member's images in the cap's window (0 without a cap)
    in_flight: int = 0  # images reserved by jobs that have not ended


@dataclass(frozen=True)
class GuildQuota:
    """Everything admins set for a server, for ``/seedream settings``."""

    guild_id: int
    default: Allowance  # source "server default", or "bot default" when the server set none
    server_cap: tuple[int, Period] | None
    global_cap: int  # SEEDREAM_GLOBAL_CAP, images per UTC day across servers (0 = none)
    roles: tuple[tuple[int, int], ...]  # (role id, images), by role id
    members: tuple[tuple[int, int], ...]  # (user id, images) overrides, by user id
    bonuses: tuple[tuple[int, int], ...]  # (user id, balance) of members with credits left


@dataclass(frozen=True)
class Reservation:
    """Images held for a job until it settles. ``guild_id`` None = unmetered (no row)."""

    job_id: str
    guild_id: int | None
    user_id: int
    count: int
    created_at: float

    @property
    def metered(self) -> bool:
        return self.guild_id is not None


@dataclass(frozen=True)
class LedgerEntry:
    """One ledger row as stored (for admin views, recovery and tests)."""

    job_id: str
    guild_id: int
    user_id: int
    state: str  # reserved, settled, refunded
    count: int
    from_allowance: int  # split when reserved
    from_bonus: int
    charged_allowance: int  # what the row costs now
    charged_bonus: int
    delivered: int | None  # None while reserved
    forgiven: bool
    created_at: float
    final_at: float | None

    @classmethod
    def from_row(cls, row: Row) -> LedgerEntry:
        values = dict(row)
        values["forgiven"] = bool(values["forgiven"])
        values["created_at"] = float(values["created_at"])
        return cls(**values)

    def reservation(self) -> Reservation:
        return Reservation(self.job_id, self.guild_id, self.user_id, self.count, self.created_at)


class Limit(StrEnum):
    """Which limit refused a reservation."""

    ALLOWANCE = "allowance"
    SERVER = "server"
    GLOBAL = "global"


class QuotaExceeded(Refused):
    """A reservation does not fit; the message names the limit and when it resets."""

    def __init__(
        self, message: str, *, limit: Limit, left: int, asked: int, reset_at: float
    ) -> None:
        super().__init__(message)
        self.limit = limit
        self.left = left  # images that limit still allows (for the allowance: bonus included)
        self.asked = asked
        self.reset_at = reset_at  # when every limit that refused has reset


def _images(n: int) -> str:
    return f"{n} image" if n == 1 else f"{n} images"


class Ledger:
    """Reservations, settlements and the admin settings behind them, for every server."""

    def __init__(
        self, db: Database, settings: Settings, clock: Callable[[], float] = time.time
    ) -> None:
        self._db = db
        self._settings = settings
        self._clock = clock
        # All four windows change only on the hour, so they are computed once an hour.
        self._windows: tuple[float, float, dict[str, tuple[float, float]]] = (0.0, 0.0, {})

    # -- reservations ------------------------------------------------------------------------

    async def reserve(
        self,
        *,
        job_id: str,
        guild_id: int | None,
        user_id: int,
        role_ids: Sequence[int],
        count: int,
    ) -> Reservation:
        """Hold ``count`` images for a job, or raise :class:`QuotaExceeded`.

        Idempotent per ``job_id``: a second call returns the first reservation unchanged (the
        first call's terms stand) and charges nothing.
        """
        now = self._clock()
        if guild_id is None:
            return Reservation(job_id, None, user_id, count, now)
        if count < 1:
            raise ValueError(f"a reservation needs at least one image, not {count}")
        scope = self._scope(guild_id, user_id, role_ids, now)
        async with self._db.transaction():
            if await store.reserve(self._db, scope, job_id, count, now):
                return Reservation(job_id, guild_id, user_id, count, now)
            existing = await store.get_reservation(self._db, job_id)
            if existing is not None:
                return LedgerEntry.from_row(existing).reservation()
            limits = await store.read_limits(self._db, scope)
        raise _refusal(limits, count, self._settings.seedream_global_cap, now)

    async def settle(self, job_id: str, delivered: int) -> int:
        """Charge what was delivered (clamped to [0, reserved]); return the images refunded.

        Final: settling or refunding a reservation that is already final changes nothing.
        """
        return await self._finish(job_id, delivered, "settled")

    async def refund(self, job_id: str) -> int:
        """Give every reserved image back (failure, cancellation); return how many."""
        return await self._finish(job_id, 0, "refunded")

    async def _finish(self, job_id: str, delivered: int, state: str) -> int:
        async with self._db.transaction():
            row = await store.get_reservation(self._db, job_id)
            if row is None or row["state"] != "reserved":
                return 0
            entry = LedgerEntry.from_row(row)
            kept = max(0, min(delivered, entry.count))
            allowance = min(kept, entry.from_allowance)  # allowance is charged before bonus
            await store.finish(
                self._db,
                job_id,
                state=state,
                charged_allowance=allowance,
                charged_bonus=kept - allowance,
                now=self._clock(),
            )
            return entry.count - kept

    async def entry(self, job_id: str) -> LedgerEntry | None:
        row = await store.get_reservation(self._db, job_id)
        return None if row is None else LedgerEntry.from_row(row)

    async def open_jobs(self) -> list[str]:
        """Jobs still holding a reservation: after a crash, the ones with no job to resume
        must be refunded."""
        return await store.open_jobs(self._db)

    async def reserved_count(self, guild_id: int, user_id: int) -> int:
        """Images the member has reserved in jobs that have not ended."""
        return await store.in_flight(self._db, guild_id, user_id)

    # -- what members see --------------------------------------------------------------------

    async def status(self, guild_id: int, user_id: int, role_ids: Sequence[int]) -> QuotaStatus:
        now = self._clock()
        limits = await store.read_limits(self._db, self._scope(guild_id, user_id, role_ids, now))
        allowance = _allowance(limits)
        cap = None
        if limits.cap_images is not None and limits.cap_period is not None:
            cap = (limits.cap_images, Period(limits.cap_period))
        return QuotaStatus(
            allowance=allowance,
            used=limits.used,
            remaining=limits.allowance_left,
            bonus=limits.bonus,
            window=window_for(allowance.period, now),
            server_cap=cap,
            server_used=limits.server_used,
            in_flight=limits.in_flight,
        )

    async def allowance(self, guild_id: int, user_id: int, role_ids: Sequence[int]) -> Allowance:
        scope = self._scope(guild_id, user_id, role_ids, self._clock())
        return _allowance(await store.read_limits(self._db, scope))

    # -- admin -------------------------------------------------------------------------------

    async def set_default(self, guild_id: int, images: int, period: Period) -> None:
        """The server's default allowance and the window of every member's allowance."""
        await store.set_default(self._db, guild_id, _allowance_images(images), period.value)

    async def set_role(self, guild_id: int, role_id: int, images: int | None) -> None:
        """Allowance of members with the role; None removes it."""
        value = None if images is None else _allowance_images(images)
        await store.set_role(self._db, guild_id, role_id, value)

    async def set_member(self, guild_id: int, user_id: int, images: int | None) -> None:
        """A member's own allowance, above their roles; None removes it."""
        value = None if images is None else _allowance_images(images)
        await store.set_member(self._db, guild_id, user_id, value)

    async def set_server_cap(self, guild_id: int, images: int, period: Period) -> None:
        """Images per period for the whole server; 0 removes the cap."""
        if images < 0:
            raise InvalidInput("The server cap must be 0 (no cap) or more images.")
        if images == 0:
            await store.set_cap(self._db, guild_id, None, None)
        else:
            await store.set_cap(self._db, guild_id, images, period.value)

    async def grant(self, guild_id: int, user_id: int, images: int) -> int:
        """Add bonus credits (negative takes back, never below 0); return the new balance."""
        async with self._db.transaction():
            return await store.add_bonus(self._db, guild_id, user_id, images)

    async def reset(self, guild_id: int, user_id: int) -> int:
        """Forgive the member's usage in the current window; return the images forgiven."""
        async with self._db.transaction():
            row = await store.guild_row(self._db, guild_id)
            period = self._settings.seedream_default_period
            if row is not None and row["default_period"] is not None:
                period = Period(row["default_period"])
            window = window_for(period, self._clock())
            return await store.forgive(self._db, guild_id, user_id, window.start, window.end)

    async def guild_settings(self, guild_id: int) -> GuildQuota:
        row = await store.guild_row(self._db, guild_id)
        if row is not None and row["default_images"] is not None:
            default = Allowance(
                row["default_images"], Period(row["default_period"]), "server default"
            )
        else:
            default = self._bot_default()
        cap = None
        if row is not None and row["cap_images"] is not None:
            cap = (int(row["cap_images"]), Period(row["cap_period"]))
        return GuildQuota(
            guild_id=guild_id,
            default=default,
            server_cap=cap,
            global_cap=self._settings.seedream_global_cap,
            roles=tuple(await store.roles(self._db, guild_id)),
            members=tuple(await store.members(self._db, guild_id)),
            bonuses=tuple(await store.bonuses(self._db, guild_id)),
        )

    # -- helpers -----------------------------------------------------------------------------

    def _bot_default(self) -> Allowance:
        return Allowance(
            self._settings.seedream_default_quota,
            self._settings.seedream_default_period,
            "bot default",
        )

    def _scope(
        self, guild_id: int, user_id: int, role_ids: Sequence[int], now: float
    ) -> store.Scope:
        hour_start, hour_end, windows = self._windows
        if not hour_start <= now < hour_end:
            windows = {}
            for period in Period:
                window = window_for(period, now)
                windows[period.value] = (window.start, window.end)
            hour_start, hour_end = windows[Period.HOUR.value]
            self._windows = (hour_start, hour_end, windows)
        return store.Scope(
            guild_id=guild_id,
            user_id=user_id,
            role_ids=role_ids,
            env_images=self._settings.seedream_default_quota,
            env_period=self._settings.seedream_default_period.value,
            global_cap=self._settings.seedream_global_cap,
            windows=windows,
        )


def _allowance_images(images: int) -> int:
    if images < UNLIMITED:
        raise InvalidInput("An allowance must be -1 (unlimited), 0 or more images.")
    return images


def _allowance(limits: store.Limits) -> Allowance:
    if limits.member_images is not None:
        source = "member override"
    elif limits.role_images is not None:
        source = f"role {limits.role_id}"
    elif limits.server_images is not None:
        source = "server default"
    else:
        source = "bot default"
    return Allowance(limits.allowed, Period(limits.period), source)


def _refusal(limits: store.Limits, count: int, global_cap: int, now: float) -> QuotaExceeded:
    """Explain why ``count`` images do not fit (read in the transaction that refused them)."""
    refused: list[tuple[float, Limit, int]] = []  # (reset_at, limit, images left)
    if limits.allowance_left is not None and count > limits.allowance_left + limits.bonus:
        end = window_for(Period(limits.period), now).end
        refused.append((end, Limit.ALLOWANCE, limits.allowance_left + limits.bonus))
    if limits.server_left is not None and limits.cap_period and count > limits.server_left:
        end = window_for(Period(limits.cap_period), now).end
        refused.append((end, Limit.SERVER, limits.server_left))
    if limits.global_left is not None and count > limits.global_left:
        refused.append((window_for(Period.DAY, now).end, Limit.GLOBAL, limits.global_left))
    if not refused:
        raise RuntimeError("the ledger refused a reservation that fits every limit")
    reset_at = max(end for end, _, _ in refused)
    # Name the limit that frees up last: until then the request cannot pass anyway.
    _, limit, left = next(item for item in refused if item[0] == reset_at)
    when = f"<t:{int(reset_at)}:R>"
    if limit is Limit.ALLOWANCE:
        period = Period(limits.period)
        if limits.allowed == 0 and limits.bonus == 0:
            message = (
                f"Your allowance in this server is 0 images; this needs {count}. "
                "Ask a server admin for an allowance or bonus credits."
            )
        elif limits.bonus:
            message = (
                f"You have {_images(left)} left ({limits.allowance_left} of your "
                f"{limits.allowed} {_THIS[period]} and {limits.bonus} bonus); this needs "
                f"{count}. Your allowance resets {when}."
            )
        else:
            message = (
                f"You have {_images(left)} left of {limits.allowed} {_THIS[period]}; this needs "
                f"{count}. Your allowance resets {when}."
            )
    elif limit is Limit.SERVER:
        assert limits.cap_period is not None and limits.cap_images is not None
        message = (
            f"This server's cap has {_images(left)} left of {limits.cap_images} "
            f"{_THIS[Period(limits.cap_period)]}; this needs {count}. The cap resets {when}."
        )
    else:
        message = (
            f"The bot's daily cap has {_images(left)} left of {global_cap} today; this needs "
            f"{count}. It resets {when}."
        )
    return QuotaExceeded(message, limit=limit, left=left, asked=count, reset_at=reset_at)
