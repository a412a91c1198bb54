"""Crash safety: the bot, as a real process, is SIGKILLed mid-job and started again.

Afterwards the result is posted exactly once, the provider task was created once, and the
member was charged once. The provider is the asynchronous EvoLink fake, whose tasks can be
held pending (``stall``) and whose result downloads can be slowed (``file_latency``).
"""

from __future__ import annotations

from collections.abc import Callable

from tests.bot.jobs.processes import (
    CREATE,
    BotProcess,
    assert_charged_once,
    charged,
    deliveries,
)
from tests.fakes.fake_discord import FakeDiscord
from tests.fakes.providers.evolink import FakeEvoLink
from tests.helpers import has_image


async def test_kill_while_the_provider_task_is_pending(
    discord_fake: FakeDiscord, evolink: FakeEvoLink, bot_process: Callable[..., BotProcess]
) -> None:
    evolink.stall = True
    bot = bot_process()
    await bot.start()
    inter = await discord_fake.slash("imagine", {"prompt": "a castle at dusk"})
    await bot.wait_for(
        "SELECT state, task_id FROM jobs",
        lambda r: len(r) == 1 and r[0][0] == "running" and r[0][1],
    )
    await bot.kill()
    evolink.stall = False
    await bot.start()
    await inter.original(predicate=has_image, timeout=60)
    await bot.wait_for("SELECT state FROM jobs", lambda r: r == [("done",)])
    assert len(evolink.calls_to(CREATE)) == 1, "the provider task must be created once"
    assert len(deliveries(discord_fake)) == 1, "the result must be posted once"
    assert await charged(bot) == [("done", 1, 1)]
    await assert_charged_once(bot, images=1)


async def test_kill_while_queued(
    discord_fake: FakeDiscord, evolink: FakeEvoLink, bot_process: Callable[..., BotProcess]
) -> None:
    evolink.stall = True
    bot = bot_process(SEEDREAM_MAX_CONCURRENT="1")
    await bot.start()
    first = await discord_fake.slash("imagine", {"prompt": "first"}, user="alice")
    await bot.wait_for("SELECT state FROM jobs ORDER BY created_at", lambda r: r == [("running",)])
    second = await discord_fake.slash("imagine", {"prompt": "second"}, user="bob")
    await second.original(predicate=lambda m: "Queued" in m["content"], timeout=10)
    await bot.kill()
    evolink.stall = False
    await bot.start()
    await first.original(predicate=has_image, timeout=60)
    await second.original(predicate=has_image, timeout=60)
    await bot.wait_for("SELECT state FROM jobs", lambda r: r == [("done",), ("done",)])
    assert len(evolink.calls_to(CREATE)) == 2
    assert len(deliveries(discord_fake)) == 2
    assert await charged(bot) == [("done", 1, 1), ("done", 1, 1)]
    await assert_charged_once(bot, images=2)


async def test_kill_while_delivering(
    discord_fake: FakeDiscord, evolink: FakeEvoLink, bot_process: Callable[..., BotProcess]
) -> None:
    evolink.file_latency = 30.0  # the first process is caught mid-download
    bot = bot_process()
    await bot.start()
    inter = await discord_fake.slash("imagine", {"prompt": "a slow download"})
    await bot.wait_for("SELECT state FROM jobs", lambda r: r == [("delivering",)])
    await bot.kill()
    evolink.file_latency = 0.0
    await bot.start()
    await inter.original(predicate=has_image, timeout=60)
    await bot.wait_for("SELECT state FROM jobs", lambda r: r == [("done",)])
    assert len(evolink.calls_to(CREATE)) == 1
    assert len(deliveries(discord_fake)) == 1
    await assert_charged_once(bot, images=1)
