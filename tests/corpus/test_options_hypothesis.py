"""Hypothesis over ``/imagine``'s option values against the real bot.

One bot and one fake Discord serve every example of a test: Hypothesis runs in a worker thread
and hands each example to the test's event loop (where the bot and the fakes live) with
``run_coroutine_threadsafe``, so nothing is re-created per example and shrinking still works.
The member's quota is unlimited, so examples do not interfere through it.

Every example must end in exactly one of: the fake's ``InvalidAction`` (Discord's client would
not send an option outside its declared range or choices), a private refusal that names the
problem, or a result message with the image; never "Something went wrong", an ERROR record,
a traceback, or a message Discord would reject.
"""

from __future__ import annotations

import asyncio
import logging
import re
import unicodedata
from collections import Counter
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Any, TypeVar

import pytest
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st
from pydantic import SecretStr

from bot.client import SeedreamBot
from bot.config import Settings
from bot.providers.base import PollPolicy
from bot.providers.models import ASPECTS, MATCH
from tests.corpus.checks import (
    MAX_CONTENT,
    UNEXPECTED,
    log_problems,
    outcome,
    refusal_text,
)
from tests.corpus.inputs import PROMPTS, Accepted, Ids
from tests.fakes.fake_discord import FakeDiscord, InvalidAction
from tests.fakes.providers.gmi import PATH as GMI_PATH
from tests.fakes.providers.gmi import FakeGMI
from tests.fakes.providers.myrouter import FakeMyRouter

T = TypeVar("T")

MODELS = ("seedream-4.0", "seedream-4.5")
INT32_MAX = 2_147_483_647
#: nominal pixels of each resolution preset (2K by default)
PIXELS = {"1K": 1024 * 1024, "2K": 2048 * 2048, "4K": 4096 * 4096}
FINAL = ("done", "failed", "cancelled")
FAST = PollPolicy(first_delay=0.02, factor=1.0, max_interval=0.02, deadline=60)

ODD_MODELS = (
    "",
    "   ",
    " SEEDREAM-4.5 ",
    "Seedream-4.0",
    "seedream-4.0\u200b",  # zero-width space
    "seedream\u20104.0",  # Unicode hyphen
    "ѕeedream-4.0",  # Cyrillic dze
    "seedream-4.０",  # fullwidth zero
    "seedream-5.0",
    "dall-e",
    "@everyone",
    "<@&123456789012345678>",
    "**bold** `code` ||x||",
    "\u202eseedream-4.0",
    "🦊",
    "\x00",
    "'; DROP TABLE jobs; --",
)
#: model strings up to the 6,000 characters Discord allows in a string option without max_length
LONG_MODELS = ("x" * 2000, "seedream-4.0" * 500, "🦊" * 6000)


@dataclass(frozen=True)
class Case:
    """One example: the options as sent and what they should lead to."""

    options: dict[str, Any]

    @property
    def client_refuses(self) -> bool:
        """Outside what Discord's client lets a member send for this command."""
        o = self.options
        count, seed = o.get("count"), o.get("seed")
        return (
            not 1 <= len(o["prompt"]) <= 2000
            or (count is not None and not 1 <= count <= 15)
            or (seed is not None and not -1 <= seed <= INT32_MAX)
        )

    @property
    def model(self) -> str:
        return (self.options.get("model") or MODELS[0]).strip().lower()

    @property
    def invisible_prompt(self) -> bool:
        """Only control and format characters besides spaces: refusing it is right, generating
        from it is a bug pinned by tests/corpus/test_prompts.py (zero-width-only), not here."""
        prompt = self.options["prompt"]
        return bool(prompt.strip()) and all(
            ch.isspace() or unicodedata.category(ch) in ("Cc", "Cf") for ch in prompt
        )

    def reasons(self) -> dict[str, tuple[str, ...]]:
        """Why the bot must refuse (each with words one of which the message must contain)."""
        o = self.options
        found: dict[str, tuple[str, ...]] = {}
        if self.model not in MODELS:
            found["unknown model"] = ("unknown model",)
        if not o["prompt"].strip() or self.invisible_prompt:
            found["blank prompt"] = ("empty",)
        if o.get("seed") is not None:
            found["seed (MyRouter takes none)"] = ("seed",)
        if self.model == "seedream-4.5" and o.get("resolution") == "1K":
            found["4.5 has no 1K"] = ("1K",)
        return found


@pytest.fixture
def bot_settings(bot_settings: Settings, gmi: FakeGMI) -> Settings:
    """The shared settings plus GMI's key (GMI is only used where a test's marker enables it)."""
    return bot_settings.model_copy(
        update={"gmi_api_key": SecretStr(gmi.api_key), "gmi_base_url": gmi.base_url}
    )


def weighted(*choices: tuple[int, st.SearchStrategy[T]]) -> st.SearchStrategy[T]:
    """One of the strategies, picked with roughly these relative weights."""
    return st.sampled_from([s for weight, s in choices for _ in range(weight)]).flatmap(
        lambda chosen: chosen
    )


def prompts(ids: Ids) -> st.SearchStrategy[str]:
    """Prompts Discord's client sends (1 to 2,000 characters)."""
    corpus = [c.build(ids) for c in PROMPTS if isinstance(c.expect, Accepted)]
    return weighted(
        (3, st.sampled_from(corpus)),
        (3, st.text(min_size=1, max_size=120)),
        (1, st.text(min_size=1900, max_size=2000)),
        (1, st.text(alphabet=" \t\n\r\u3000", min_size=1, max_size=5)),  # blank
    )


def model_strings() -> st.SearchStrategy[str]:
    """Anything a member can type into the free-text ``model`` option (autocomplete only
    suggests; Discord sends whatever was typed, up to 6,000 characters)."""
    return st.one_of(
        st.sampled_from(MODELS),
        st.sampled_from(ODD_MODELS),
        st.text(max_size=40),
        st.sampled_from(LONG_MODELS),
        st.text(min_size=100, max_size=6000),
    )


def seeds() -> st.SearchStrategy[int]:
    return st.one_of(st.sampled_from([-1, 0, 1, INT32_MAX]), st.integers(-1, INT32_MAX))


@st.composite
def in_range_options(draw: st.DrawFn, ids: Ids) -> dict[str, Any]:
    """Options as Discord's client would send them: every value within its declared range."""
    short_models = st.one_of(
        st.sampled_from(MODELS), st.sampled_from(ODD_MODELS), st.text(max_size=40)
    )
    drawn = {
        "prompt": draw(prompts(ids)),
        "aspect": draw(st.one_of(st.none(), st.sampled_from([*ASPECTS, MATCH]))),
        "resolution": draw(st.one_of(st.none(), st.sampled_from(["1K", "2K", "4K"]))),
        "model": draw(weighted((3, st.none()), (1, short_models))),
        "count": draw(st.one_of(st.none(), st.integers(1, 15))),
        # MyRouter takes no seed: a seed always ends in a refusal, so keep it the exception
        "seed": draw(weighted((5, st.none()), (1, seeds()))),
    }
    return {name: value for name, value in drawn.items() if value is not None}


@st.composite
def out_of_range_options(draw: st.DrawFn, ids: Ids) -> dict[str, Any]:
    """In-range options but one value outside its declared range (the client refuses it)."""
    options = draw(in_range_options(ids))
    name, value = draw(
        st.one_of(
            st.tuples(st.just("prompt"), st.text(min_size=2001, max_size=2100)),
            st.tuples(st.just("count"), st.sampled_from([-(2**53), -1, 0, 16, 2**31, 2**53])),
            st.tuples(st.just("seed"), st.sampled_from([-2, INT32_MAX + 1, -(2**53), 2**53])),
        )
    )
    return {**options, name: value}


def imagine_options(ids: Ids) -> st.SearchStrategy[dict[str, Any]]:
    """Mostly what the client sends; now and then a value it would not send."""
    return weighted((6, in_range_options(ids)), (1, out_of_range_options(ids)))


def sync(loop: asyncio.AbstractEventLoop, coro: Coroutine[Any, Any, T], timeout: float) -> T:
    """Run ``coro`` on the test's loop from Hypothesis's worker thread."""
    return asyncio.run_coroutine_threadsafe(coro, loop).result(timeout)


async def settle(bot: SeedreamBot, timeout: float = 60) -> None:
    """Wait until every job is final (a sequence keeps posting to its thread after the result)."""
    deadline = asyncio.get_running_loop().time() + timeout
    placeholders = ", ".join("?" for _ in FINAL)
    while True:
        row = await bot.db.fetchone(
            f"SELECT count(*) FROM jobs WHERE state NOT IN ({placeholders})", FINAL
        )
        if row is None or row[0] == 0:
            return
        assert asyncio.get_running_loop().time() < deadline, "a job never finished"
        await asyncio.sleep(0.02)


def check_result(case: Case, message: dict[str, Any], fake: FakeDiscord) -> None:
    caption = message["content"]
    assert len(caption) <= MAX_CONTENT
    assert fake.pings(message) == set()
    assert message["attachments"], "a result without an image"
    stats = caption.split("\n")[1]
    assert stats.startswith(case.model + " · "), stats
    match = re.search(r" · (\d+)×(\d+)", stats)
    assert match, stats
    width, height = int(match.group(1)), int(match.group(2))
    aspect = case.options.get("aspect")
    w, h = ASPECTS.get(aspect, (1, 1))  # match with no reference image: square
    assert abs(width / height - w / h) / (w / h) < 0.03, (stats, aspect)
    nominal = PIXELS[case.options.get("resolution", "2K")]
    assert 0.8 <= width * height / nominal <= 1.25, (stats, nominal)
    count = case.options.get("count", 1)
    if count > 1:
        assert f"{count} images" in caption, caption


async def run_case(
    case: Case,
    fake: FakeDiscord,
    myrouter: FakeMyRouter,
    bot: SeedreamBot,
    caplog: pytest.LogCaptureFixture,
) -> str:
    """Run one example; returns how it ended (the tests count and print the endings)."""
    records, calls, problems = len(caplog.records), len(myrouter.calls), len(fake.problems)
    try:
        inter = await fake.slash("imagine", case.options)
    except InvalidAction as exc:
        assert case.client_refuses, f"the fake refused options Discord's client sends: {exc}"
        return "not sent by Discord's client"
    assert not case.client_refuses, "the fake let through options Discord's client refuses"
    kind, message = await outcome(fake, inter, timeout=90)
    await settle(bot)
    reasons = case.reasons()
    if kind == "refused":
        text = refusal_text(message)
        assert reasons, f"refused without a reason the test knows of: {text!r}"
        words = [w for ws in reasons.values() for w in ws]
        assert any(w in text for w in words), f"{text!r} names none of {sorted(reasons)}"
        assert len(myrouter.calls) == calls, "refused after calling the provider"
    else:
        assert kind == "result", f"{kind}: no usable answer ({message['content'][:120]!r}…)"
        unexpected = set(reasons) - ({"blank prompt"} if case.invisible_prompt else set())
        assert not unexpected, f"not refused ({sorted(reasons)}): {message['content'][:200]!r}"
        check_result(case, message, fake)
        assert len(myrouter.calls) == calls + 1
    assert fake.problems[problems:] == [], [str(p) for p in fake.problems[problems:]]
    assert not [m for m in fake.messages.values() if UNEXPECTED in (m.get("content") or "")]
    found = log_problems(caplog, records)
    assert not found, found
    return f"refused: {', '.join(sorted(reasons))}" if kind == "refused" else "result"


@pytest.mark.settings(seedream_default_quota=-1)
async def test_imagine_option_values(
    discord_fake: FakeDiscord,
    myrouter: FakeMyRouter,
    bot: SeedreamBot,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    loop = asyncio.get_running_loop()
    ids = Ids(
        user=discord_fake.user("bob")["id"],
        role=discord_fake.role("Moderator")["id"],
        channel=discord_fake.channel("general")["id"],
    )
    ends: Counter[str] = Counter()

    @settings(
        max_examples=35,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    # the heaviest request a member can make, and each edge of seed and count, at least once
    @example({"prompt": "a red fox", "resolution": "4K", "count": 15, "aspect": "21:9"})
    @example({"prompt": "x", "seed": INT32_MAX, "model": "seedream-4.5", "resolution": "1K"})
    @example({"prompt": "x", "seed": INT32_MAX + 1})
    @example({"prompt": "x", "count": 16})
    @given(options=imagine_options(ids))
    def check(options: dict[str, Any]) -> None:
        end = sync(loop, run_case(Case(options), discord_fake, myrouter, bot, caplog), 180)
        event(end)
        ends[end] += 1

    await asyncio.to_thread(check)
    print(f"\nhow the examples ended: {dict(ends)}")
    assert sum(ends.values()) >= 35
    # the strategy reaches every kind of ending
    assert ends["result"] and ends["not sent by Discord's client"]
    assert any(end.startswith("refused") for end in ends)
    assert "Traceback" not in caplog.text


@pytest.mark.settings(seedream_default_quota=-1)
async def test_imagine_model_strings(
    discord_fake: FakeDiscord,
    myrouter: FakeMyRouter,
    bot: SeedreamBot,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Whatever is typed as the model: a result, or a refusal the member actually receives."""
    caplog.set_level(logging.INFO)
    loop = asyncio.get_running_loop()
    ends: Counter[str] = Counter()

    @settings(
        max_examples=30,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @example("x" * 2000)
    @given(model=model_strings())
    def check(model: str) -> None:
        case = Case({"prompt": "a cat", "model": model})
        end = sync(loop, run_case(case, discord_fake, myrouter, bot, caplog), 60)
        event(end)
        ends[end] += 1

    await asyncio.to_thread(check)
    print(f"\nhow the examples ended: {dict(ends)}")
    assert sum(ends.values()) >= 30
    assert "Traceback" not in caplog.text


def gmi_submits(gmi: FakeGMI) -> list[Any]:
    return [c for c in gmi.calls_to(GMI_PATH) if c.method == "POST"]


async def run_seed(
    seed: int,
    fake: FakeDiscord,
    myrouter: FakeMyRouter,
    gmi: FakeGMI,
    bot: SeedreamBot,
    caplog: pytest.LogCaptureFixture,
) -> None:
    records, problems = len(caplog.records), len(fake.problems)
    before = len(myrouter.calls), len(gmi_submits(gmi))
    inter = await fake.slash("imagine", {"prompt": "a lighthouse at dusk", "seed": seed})
    kind, message = await outcome(fake, inter, timeout=60)
    await settle(bot)
    assert kind == "result", f"{kind}: {message['content'][:200]!r}"
    assert fake.pings(message) == set() and len(message["content"]) <= MAX_CONTENT
    # MyRouter takes no seed: the router sends a seeded request to GMI, with the seed as typed
    submits = gmi_submits(gmi)
    assert (len(myrouter.calls), len(submits)) == (before[0], before[1] + 1)
    assert submits[-1].json["payload"]["seed"] == seed
    assert fake.problems[problems:] == [], [str(p) for p in fake.problems[problems:]]
    found = log_problems(caplog, records)
    assert not found, found


@pytest.mark.settings(seedream_default_quota=-1, seedream_providers="myrouter,gmi")
async def test_seeds_reach_a_provider_that_takes_them(
    discord_fake: FakeDiscord,
    myrouter: FakeMyRouter,
    gmi: FakeGMI,
    bot: SeedreamBot,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Every seed Discord's client sends (-1 to 2**31 - 1) is generated with, unchanged."""
    caplog.set_level(logging.INFO)
    for provider in bot.router.providers:
        if hasattr(provider, "poll"):
            provider.poll = FAST  # type: ignore[attr-defined]
    loop = asyncio.get_running_loop()
    seen: list[int] = []

    @settings(
        max_examples=25,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=[HealthCheck.too_slow],
    )
    @example(-1)
    @example(0)
    @example(INT32_MAX)
    @given(seed=seeds())
    def check(seed: int) -> None:
        sync(loop, run_seed(seed, discord_fake, myrouter, gmi, bot, caplog), 90)
        seen.append(seed)

    await asyncio.to_thread(check)
    assert len(seen) >= 25 and {-1, 0, INT32_MAX} <= set(seen)
    assert "Traceback" not in caplog.text
