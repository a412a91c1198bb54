"""Routing across real provider fakes: order, failover, retries, limits, resume, secrets."""

from __future__ import annotations

import asyncio
import logging
import time

import aiohttp
import pytest

from bot.errors import ErrorKind, InvalidInput, ProviderError
from bot.providers.base import PollPolicy
from bot.providers.evolink import EvoLink
from bot.providers.models import GenerationRequest, Reference
from bot.providers.myrouter import MyRouter
from bot.providers.router import Router
from tests.fakes.providers.common import Scripted
from tests.fakes.providers.evolink import FakeEvoLink
from tests.fakes.providers.myrouter import FakeMyRouter
from tests.helpers import png_bytes

FAST = PollPolicy(first_delay=0.01, factor=1.5, max_interval=0.05, deadline=5.0)


def router(
    session: aiohttp.ClientSession, myrouter: FakeMyRouter, evolink: FakeEvoLink, **kw: object
) -> Router:
    providers = [
        MyRouter(session, myrouter.api_key, myrouter.base_url),
        EvoLink(session, evolink.api_key, evolink.base_url, poll=FAST),
    ]
    chosen = Router(providers, backoff=0.01, **kw)  # type: ignore[arg-type]
    return chosen


REQUEST = GenerationRequest(prompt="a quiet harbour", model="seedream-4.0")


async def test_first_enabled_provider_serves(
    session: aiohttp.ClientSession, myrouter: FakeMyRouter, evolink: FakeEvoLink
) -> None:
    result = await router(session, myrouter, evolink).generate(REQUEST)
    assert result.provider == "myrouter"
    assert evolink.calls == []


async def test_fails_over_on_transient_errors_after_retries(
    session: aiohttp.ClientSession, myrouter: FakeMyRouter, evolink: FakeEvoLink
) -> None:
    myrouter.fail_next("/v3/", Scripted(503, {"code": 503, "message": "overloaded"}), times=3)
    tasks: list[str] = []

    async def on_task(provider: str, task_id: str) -> None:
        assert provider == "evolink"
        tasks.append(task_id)

    result = await router(session, myrouter, evolink).generate(REQUEST, on_task=on_task)
    assert result.provider == "evolink"
    assert len(myrouter.calls) == 3  # one try and two retries, then failover
    assert result.task_id == tasks[0]


async def test_fails_over_on_timeout_without_retrying(
    session: aiohttp.ClientSession, myrouter: FakeMyRouter, evolink: FakeEvoLink
) -> None:
    myrouter.fail_next("/v3/", Scripted(504, {"code": 504, "message": "gateway timeout"}))
    result = await router(session, myrouter, evolink).generate(REQUEST)
    assert result.provider == "evolink"
    assert len(myrouter.calls) == 1  # a timeout may have been billed: never retried blindly


@pytest.mark.parametrize(
    ("status", "body", "kind"),
    [
        (
            400,
            {"code": 400, "message": "input text may contain sensitive information"},
            ErrorKind.MODERATION,
        ),
        (400, {"code": 400, "message": "size is invalid"}, ErrorKind.INVALID_INPUT),
    ],
)
async def test_never_fails_over_on_moderation_or_invalid_input(
    session: aiohttp.ClientSession,
    myrouter: FakeMyRouter,
    evolink: FakeEvoLink,
    status: int,
    body: dict[str, object],
    kind: ErrorKind,
) -> None:
    myrouter.fail_next("/v3/", Scripted(status, body))
    with pytest.raises(ProviderError) as caught:
        await router(session, myrouter, evolink).generate(REQUEST)
    assert caught.value.kind is kind
    assert len(myrouter.calls) == 1 and evolink.calls == []


async def test_honours_retry_after_on_429(
    session: aiohttp.ClientSession, myrouter: FakeMyRouter, evolink: FakeEvoLink
) -> None:
    myrouter.fail_next(
        "/v3/", Scripted(429, {"code": 429, "message": "RPM"}, {"Retry-After": "0.3"})
    )
    started = time.monotonic()
    result = await router(session, myrouter, evolink).generate(REQUEST)
    assert result.provider == "myrouter"
    assert time.monotonic() - started >= 0.3
    assert len(myrouter.calls) == 2


async def test_routes_past_a_provider_that_cannot_serve(
    session: aiohttp.ClientSession, myrouter: FakeMyRouter, evolink: FakeEvoLink
) -> None:
    # EvoLink takes references only as URLs: an inline-only reference must go to MyRouter,
    # even when EvoLink comes first in the order.
    inline = Reference(
        filename="r.png", data=png_bytes(64, 64), mime="image/png", width=64, height=64
    )
    request = GenerationRequest(prompt="edit", model="seedream-4.0", references=(inline,))
    providers = [
        EvoLink(session, evolink.api_key, evolink.base_url, poll=FAST),
        MyRouter(session, myrouter.api_key, myrouter.base_url),
    ]
    result = await Router(providers).generate(request)
    assert result.provider == "myrouter" and evolink.calls == []


async def test_refuses_what_no_provider_can_serve(
    session: aiohttp.ClientSession, myrouter: FakeMyRouter, evolink: FakeEvoLink
) -> None:
    request = GenerationRequest(prompt="x", model="seedream-4.0", count=5, references=())
    with pytest.raises(InvalidInput, match="myrouter"):
        await router(session, myrouter, evolink).generate(request, only="myrouter-typo")
    too_many = GenerationRequest(
        prompt="x",
        model="seedream-4.0",
        references=(Reference(url="http://127.0.0.1:9/r.png", width=64, height=64),) * 15,
    )
    with pytest.raises(InvalidInput, match="at most"):
        await router(session, myrouter, evolink).generate(too_many)
    assert myrouter.calls == [] and evolink.calls == []


async def test_concurrency_limit_per_provider(
    session: aiohttp.ClientSession, myrouter: FakeMyRouter, evolink: FakeEvoLink
) -> None:
    myrouter.latency = 0.1
    chosen = router(session, myrouter, evolink, max_concurrency=2)
    await asyncio.gather(*(chosen.generate(REQUEST) for _ in range(6)))
    assert myrouter.max_in_flight == 2
    assert len(myrouter.calls) == 6


async def test_resume_polls_an_existing_task_without_creating_one(
    session: aiohttp.ClientSession, myrouter: FakeMyRouter, evolink: FakeEvoLink
) -> None:
    first = router(session, myrouter, evolink)
    created: list[str] = []

    async def on_task(provider: str, task_id: str) -> None:
        assert provider == "evolink"
        created.append(task_id)
        raise asyncio.CancelledError  # the bot "crashes" right after storing the task id

    with pytest.raises(asyncio.CancelledError):
        await first.generate(REQUEST, only="evolink", on_task=on_task)
    posts = len(evolink.calls_to("/v1/images/generations"))
    result = await router(session, myrouter, evolink).resume("evolink", created[0], REQUEST)
    assert result.task_id == created[0] and result.images
    assert len(evolink.calls_to("/v1/images/generations")) == posts == 1
    with pytest.raises(ProviderError, match="cannot resume"):
        await first.resume("myrouter", "x", REQUEST)


async def test_keys_never_reach_logs(
    session: aiohttp.ClientSession,
    myrouter: FakeMyRouter,
    evolink: FakeEvoLink,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    myrouter.fail_next("/v3/", Scripted(503, {"code": 503, "message": "overloaded"}), times=3)
    evolink.fail_next("/v1/images", Scripted(401, {"error": {"code": 401, "message": "bad key"}}))
    with pytest.raises(ProviderError):
        await router(session, myrouter, evolink).generate(REQUEST)
    assert caplog.records, "the failover path logs what happened"
    for key in (myrouter.api_key, evolink.api_key):
        assert key not in caplog.text
