"""A real bot process against the fakes, to be SIGKILLed mid-job and started again."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiosqlite

from tests.fakes.fake_discord import FakeDiscord
from tests.fakes.providers.evolink import FakeEvoLink
from tests.helpers import start_cli

CREATE = "/v1/images/generations"


class BotProcess:
    """Starts, kills and restarts ``python -m bot run`` against the fakes."""

    def __init__(self, fake: FakeDiscord, evolink: FakeEvoLink, tmp: Path, **env: str) -> None:
        evolink.steps = (50,)  # a task completes at its second poll unless stalled: short tests
        self.fake = fake
        self.tmp = tmp
        self.db_path = tmp / "bot.db"
        self.env = {
            "DISCORD_TOKEN": fake.token,
            "EVOLINK_API_KEY": evolink.api_key,
            "EVOLINK_BASE_URL": evolink.base_url,
            "SEEDREAM_PROVIDERS": "evolink",
            "DATABASE_URL": f"sqlite:///{self.db_path}",
            **fake.env,
            **env,
        }
        self.runs = 0
        self.proc: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        self.runs += 1
        identified = self.fake.identify_count
        self.proc = await start_cli(
            "run", env=self.env, cwd=self.tmp, log=self.tmp / f"bot{self.runs}.log"
        )
        await self.fake.wait_until(
            lambda: self.fake.identify_count > identified, timeout=20, what="the bot to connect"
        )
        await self.fake.wait_until_connected(timeout=20)

    async def kill(self) -> None:
        assert self.proc is not None
        self.proc.kill()
        await self.proc.wait()

    async def stop(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.send_signal(signal.SIGTERM)
            await asyncio.wait_for(self.proc.wait(), 30)

    def logs(self) -> str:
        return "\n".join((self.tmp / f"bot{n}.log").read_text() for n in range(1, self.runs + 1))

    async def query(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        async with aiosqlite.connect(self.db_path) as db, db.execute(sql, params) as cursor:
            return [tuple(row) for row in await cursor.fetchall()]

    async def wait_for(
        self, sql: str, check: Callable[[list[tuple[Any, ...]]], bool], timeout: float = 60.0
    ) -> None:
        for _ in range(int(timeout * 10)):
            if self.db_path.exists():
                try:
                    if check(await self.query(sql)):
                        return
                except aiosqlite.OperationalError:
                    pass  # schema not there yet
            await asyncio.sleep(0.1)
        raise AssertionError(f"timed out waiting on {sql}: {await self.query(sql)}")


def deliveries(fake: FakeDiscord) -> list[Any]:
    """Every request that carried image files to Discord."""
    return [call for call in fake.calls if call.files]


async def charged(bot: BotProcess) -> list[tuple[Any, ...]]:
    return await bot.query(
        "SELECT j.state, j.delivered, j.recovered FROM jobs j ORDER BY j.created_at"
    )


async def assert_charged_once(bot: BotProcess, *, images: int) -> None:
    """The ledger holds one settled reservation per job, together charging ``images``."""
    rows = await bot.query("SELECT job_id, state, delivered FROM quota_reservations")
    assert len(rows) == len({row[0] for row in rows})
    assert all(state == "settled" for _, state, _ in rows), rows
    assert sum(charge for _, _, charge in rows) == images
