"""Shared fixtures: a clean environment, provider fakes, settings pointing at them."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import discord
import pytest
import pytest_asyncio

from bot.client import SeedreamBot, apply_discord_endpoints
from bot.config import Settings
from tests.fakes.fake_discord import FakeDiscord
from tests.fakes.providers.apiframe import FakeApiframe
from tests.fakes.providers.ark import FakeArk
from tests.fakes.providers.common import serving
from tests.fakes.providers.evolink import FakeEvoLink
from tests.fakes.providers.gmi import FakeGMI
from tests.fakes.providers.myrouter import FakeMyRouter

_OUR_VARIABLES = (
    "DISCORD_",
    "DATABASE_URL",
    "SEEDREAM_",
    "MYROUTER_",
    "EVOLINK_",
    "APIFRAME_",
    "GMI_",
    "ARK_",
    "LOG_LEVEL",
)


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """Tests never see the developer's own keys or .env file."""
    for name in list(os.environ):
        if name.upper().startswith(_OUR_VARIABLES):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    yield


@pytest_asyncio.fixture
async def myrouter() -> AsyncIterator[FakeMyRouter]:
    async with serving(FakeMyRouter()) as fake:
        yield fake


@pytest_asyncio.fixture
async def evolink() -> AsyncIterator[FakeEvoLink]:
    async with serving(FakeEvoLink()) as fake:
        yield fake


@pytest_asyncio.fixture
async def apiframe() -> AsyncIterator[FakeApiframe]:
    async with serving(FakeApiframe()) as fake:
        yield fake


@pytest_asyncio.fixture
async def gmi() -> AsyncIterator[FakeGMI]:
    async with serving(FakeGMI()) as fake:
        yield fake


@pytest_asyncio.fixture
async def ark() -> AsyncIterator[FakeArk]:
    async with serving(FakeArk()) as fake:
        yield fake


@pytest_asyncio.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    """An HTTP session for tests that call adapters directly."""
    async with aiohttp.ClientSession() as client:
        yield client


@pytest.fixture
def make_settings(tmp_path: Path) -> Callable[..., Settings]:
    """Settings with no .env file, a private database, and whatever the test passes."""

    def make(**values: Any) -> Settings:
        values.setdefault("database_url", f"sqlite:///{tmp_path}/seedream.db")
        return Settings(_env_file=None, **values)  # type: ignore[call-arg]

    return make


@pytest.fixture
def settings(make_settings: Callable[..., Settings], myrouter: FakeMyRouter) -> Settings:
    return make_settings(
        myrouter_api_key=myrouter.api_key,
        myrouter_base_url=myrouter.base_url,
        seedream_providers="myrouter",
    )


@pytest_asyncio.fixture
async def discord_fake() -> AsyncIterator[FakeDiscord]:
    """The fake Discord; at teardown, any spec violation or unimplemented route fails the test."""
    fake = FakeDiscord()
    await fake.start()
    yield fake
    await fake.stop()
    fake.assert_clean()


@pytest.fixture
def bot_settings(
    request: pytest.FixtureRequest,
    make_settings: Callable[..., Settings],
    myrouter: FakeMyRouter,
    evolink: FakeEvoLink,
    discord_fake: FakeDiscord,
) -> Settings:
    """Settings for a bot wired to the fake Discord and the MyRouter and EvoLink fakes
    (only MyRouter is in the provider order unless a test says otherwise).

    ``@pytest.mark.settings(name=value, ...)`` on a test overrides individual settings.
    """
    marker = request.node.get_closest_marker("settings")
    overrides = marker.kwargs if marker else {}
    return make_settings(
        **{
            "discord_token": discord_fake.token,
            "discord_api_base": discord_fake.api_base,
            "discord_gateway_url": discord_fake.gateway_url,
            "myrouter_api_key": myrouter.api_key,
            "myrouter_base_url": myrouter.base_url,
            "evolink_api_key": evolink.api_key,
            "evolink_base_url": evolink.base_url,
            "seedream_providers": "myrouter",
            **overrides,
        }
    )


@pytest.fixture
def start_bot(monkeypatch: pytest.MonkeyPatch, bot_settings: Settings) -> Callable[..., Any]:
    """Start the real bot in this event loop; returns an async factory (for restarts too)."""
    # Route.BASE and DEFAULT_GATEWAY are process-wide: restore them after the test.
    monkeypatch.setattr(discord.http.Route, "BASE", discord.http.Route.BASE)
    monkeypatch.setattr(
        discord.gateway.DiscordWebSocket,
        "DEFAULT_GATEWAY",
        discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY,
    )
    running: list[tuple[SeedreamBot, asyncio.Task[None]]] = []

    async def start(settings: Settings | None = None) -> SeedreamBot:
        chosen = settings or bot_settings
        apply_discord_endpoints(chosen)
        bot = SeedreamBot(chosen, guild_ready_timeout=0.05)
        assert chosen.discord_token is not None
        task = asyncio.create_task(bot.start(chosen.discord_token.get_secret_value()))
        ready = asyncio.create_task(bot.wait_until_ready())
        done, _ = await asyncio.wait({task, ready}, timeout=10, return_when=asyncio.FIRST_COMPLETED)
        if task in done:
            ready.cancel()
            task.result()  # raises what ended start()
        assert ready in done, "the bot did not become ready within 10 s"
        running.append((bot, task))
        return bot

    start.running = running  # type: ignore[attr-defined]
    return start


@pytest_asyncio.fixture
async def bot(start_bot: Callable[..., Any]) -> AsyncIterator[SeedreamBot]:
    """A running bot; at teardown it must still be alive (no parser crash ended it)."""
    instance: SeedreamBot = await start_bot()
    yield instance
    for running_bot, task in start_bot.running:  # type: ignore[attr-defined]
        assert not task.done() or running_bot.is_closed(), "the bot's gateway task died"
        await running_bot.close()
        await asyncio.wait_for(task, 10)
