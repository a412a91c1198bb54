"""Fixtures for the crash-safety tests."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest_asyncio

from tests.bot.jobs.processes import BotProcess
from tests.fakes.fake_discord import FakeDiscord
from tests.fakes.providers.evolink import FakeEvoLink


@pytest_asyncio.fixture
async def bot_process(
    discord_fake: FakeDiscord, evolink: FakeEvoLink, tmp_path: Path
) -> AsyncIterator[Callable[..., BotProcess]]:
    made: list[BotProcess] = []

    def make(**env: str) -> BotProcess:
        made.append(BotProcess(discord_fake, evolink, tmp_path, **env))
        return made[-1]

    yield make
    for process in made:
        await process.stop()
        assert "Traceback" not in process.logs(), process.logs()
