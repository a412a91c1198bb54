"""Shared fixtures: a clean environment, provider fakes, settings pointing at them."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from bot.config import Settings
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
    fake = FakeMyRouter()
    await fake.start()
    yield fake
    await fake.stop()
    assert not fake.rejections, f"the bot sent requests MyRouter would reject: {fake.rejections}"


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
