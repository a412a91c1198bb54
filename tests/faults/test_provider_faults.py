"""Provider faults end to end: ``/imagine`` through the real bot, one provider at a time.

Every case runs the same story (providers × faults, see ``CASES``):

1. the member runs ``/imagine`` while the provider misbehaves: a 429 with ``Retry-After``, a 5xx,
   a connection reset, a timeout, an HTML page or broken JSON instead of the answer, a result URL
   that 404s or serves something that is not an image, or (asynchronous providers) a task that
   never completes or polls that glitch. A fault is repeated until the bot's retries are spent,
   or given once to show that a retry succeeds;
2. the member is told in plain words (the public texts of ``bot/errors.py``, nothing else), or
   gets the image after the retry;
3. ``/quota`` shows 0 images used after a failure and 1 after a success (no double charge);
4. the job row (``bot.db`` via ``bot/storage/jobs.py``) is final: ``failed`` with the right
   ``error_kind``, or ``done`` with the image delivered;
5. the next ``/imagine`` is served normally, and the provider saw exactly the calls it should.

Timings are shortened so the suite stays fast: ``SEEDREAM_TASK_DEADLINE`` (asynchronous
providers give up on a task after 1 s), and on the running bot the router's back-off, the poll
interval and, for the timeout case only, the request timeout.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, replace

import pytest

from bot.client import SeedreamBot
from bot.config import Settings
from bot.errors import ErrorKind
from bot.providers.base import AsyncProvider, Provider
from tests.fakes.fake_discord import FakeDiscord
from tests.fakes.providers import ark as fake_ark
from tests.fakes.providers import evolink as fake_evolink
from tests.fakes.providers import gmi as fake_gmi
from tests.fakes.providers.apiframe import FakeApiframe
from tests.fakes.providers.common import FakeProvider, Scripted
from tests.faults.common import (
    assert_quota,
    delivered,
    final_job,
    imagine,
    private_notice,
    told,
)

TASK_DEADLINE = 1.0  # seconds an asynchronous task may take before the bot gives up
TIMEOUT = 0.25  # the provider request timeout in the timeout case

HTML_PAGE = (
    b"<!DOCTYPE html><html><head><title>502 Bad Gateway</title></head>"
    b"<body><center><h1>502 Bad Gateway</h1></center><hr><center>nginx</center></body></html>"
)
BROKEN_JSON = b'{"id": "task-1", "status": "pend'
NOT_AN_IMAGE = b"<html><body>Access denied: this link has expired</body></html>"


# --- the providers --------------------------------------------------------------------------


def _ark_error(code: str, headers: dict[str, str] | None = None) -> Scripted:
    status, body = fake_ark.error_body(code)
    return Scripted(status, body, headers or {})


@dataclass(frozen=True)
class ProviderCase:
    """How to hurt one provider: where it is called, and its own error bodies."""

    name: str
    submit: str  # needle of the submit path (every submit is a POST)
    poll: str | None  # needle of the poll path (asynchronous providers)
    rate_limited: Callable[[str], Scripted]  # Retry-After value -> a documented 429
    server_error: Callable[[], Scripted]  # a documented 5xx

    @property
    def asynchronous(self) -> bool:
        return self.poll is not None


PROVIDERS = {
    "myrouter": ProviderCase(
        "myrouter",
        submit="/v3/seedream-",
        poll=None,
        rate_limited=lambda wait: Scripted(
            429,
            {"code": 429, "reason": "RATE_LIMIT_EXCEEDED", "message": "rate limit exceeded"},
            {"Retry-After": wait},
        ),
        server_error=lambda: Scripted(
            503,
            {"code": 503, "reason": "SERVICE_UNAVAILABLE", "message": "service unavailable"},
        ),
    ),
    "evolink": ProviderCase(
        "evolink",
        submit="/v1/images/generations",
        poll="/v1/tasks/",
        rate_limited=lambda wait: Scripted(
            429, fake_evolink.error_body(429), {"Retry-After": wait}
        ),
        server_error=lambda: Scripted(503, fake_evolink.error_body(503)),
    ),
    "apiframe": ProviderCase(
        "apiframe",
        submit="/v2/images/generate",
        poll="/v2/jobs/",
        rate_limited=lambda wait: Scripted(
            429, {"error": "Too many requests"}, {"Retry-After": wait}
        ),
        server_error=lambda: Scripted(500, {"error": "Internal server error"}),
    ),
    "gmi": ProviderCase(
        "gmi",
        submit=fake_gmi.PATH,
        poll=fake_gmi.PATH + "/",
        rate_limited=lambda wait: Scripted(
            429, {"error": "rate limit exceeded"}, {"Retry-After": wait}
        ),
        server_error=lambda: Scripted(502, {"error": "upstream unavailable"}),
    ),
    "ark": ProviderCase(
        "ark",
        submit="/api/v3/images/generations",
        poll=None,
        rate_limited=lambda wait: _ark_error(
            "RateLimitExceeded.EndpointRPMExceeded", {"Retry-After": wait}
        ),
        server_error=lambda: _ark_error("InternalServiceError"),
    ),
}


# --- the faults -----------------------------------------------------------------------------

Inject = Callable[[FakeProvider, ProviderCase, Provider], None]


@dataclass(frozen=True)
class Fault:
    """One way a provider misbehaves, and how the bot must come out of it."""

    name: str
    inject: Inject
    #: what the member is told; None: the retry succeeds and the image is delivered
    outcome: ErrorKind | None
    #: submits (POSTs) the provider sees for the faulty job
    submits: int
    asynchronous_only: bool = False
    #: a success must take at least this long (the Retry-After it honoured)
    min_seconds: float = 0.0
    #: undo what ``inject`` changed on the fake or the adapter, before the next request
    heal: Callable[[FakeProvider, Provider], None] | None = None


def on_submit(times: int, make: Callable[[ProviderCase], Scripted]) -> Inject:
    def inject(fake: FakeProvider, case: ProviderCase, adapter: Provider) -> None:
        fake.fail_next(case.submit, make(case), times=times)

    return inject


def on_result_file(response: Scripted) -> Inject:
    def inject(fake: FakeProvider, case: ProviderCase, adapter: Provider) -> None:
        fake.fail_next_file(response)

    return inject


def slow_submit(fake: FakeProvider, case: ProviderCase, adapter: Provider) -> None:
    adapter.request_timeout = TIMEOUT
    # The answer would come, but only long after the bot's timeout.
    fake.fail_next(case.submit, Scripted(200, {}, delay=TIMEOUT + 0.25))


def normal_timeout(fake: FakeProvider, adapter: Provider) -> None:
    adapter.request_timeout = 60.0


def never_finish(fake: FakeProvider, case: ProviderCase, adapter: Provider) -> None:
    _set_never_finish(fake, True)


def finish_again(fake: FakeProvider, adapter: Provider) -> None:
    _set_never_finish(fake, False)


def _set_never_finish(fake: FakeProvider, value: bool) -> None:
    # Each asynchronous fake names its knob differently.
    knob = {"FakeEvoLink": "stall", "FakeApiframe": "hang", "FakeGMI": "never_finish"}
    setattr(fake, knob[type(fake).__name__], value)


def glitching_polls(fake: FakeProvider, case: ProviderCase, adapter: Provider) -> None:
    assert case.poll is not None
    fake.fail_next(case.poll, case.server_error())
    fake.fail_next(case.poll, Scripted(0, reset=True))
    fake.fail_next(case.poll, Scripted(200, raw=BROKEN_JSON, headers=_JSON))
    fake.fail_next(case.poll, case.rate_limited("0"))


_JSON = {"Content-Type": "application/json"}
_HTML = {"Content-Type": "text/html; charset=utf-8"}

FAULTS = [
    Fault(
        "rate-limited-once",
        on_submit(1, lambda case: case.rate_limited("1")),
        outcome=None,
        submits=2,
        min_seconds=1.0,
    ),
    Fault(
        "rate-limited-past-retries",
        on_submit(3, lambda case: case.rate_limited("0")),
        outcome=ErrorKind.RATE_LIMITED,
        submits=3,
    ),
    Fault(
        "server-error-once",
        on_submit(1, lambda case: case.server_error()),
        outcome=None,
        submits=2,
    ),
    Fault(
        "server-error-past-retries",
        on_submit(3, lambda case: case.server_error()),
        outcome=ErrorKind.TRANSIENT,
        submits=3,
    ),
    Fault(
        "connection-reset-past-retries",
        on_submit(3, lambda case: Scripted(0, reset=True)),
        outcome=ErrorKind.TRANSIENT,
        submits=3,
    ),
    # A timed-out request may still be running (and billed): it is not sent again.
    Fault("timeout", slow_submit, outcome=ErrorKind.TIMEOUT, submits=1, heal=normal_timeout),
    Fault(
        "html-page",
        on_submit(3, lambda case: Scripted(200, raw=HTML_PAGE, headers=_HTML)),
        outcome=ErrorKind.TRANSIENT,
        submits=3,
    ),
    Fault(
        "malformed-json",
        on_submit(3, lambda case: Scripted(200, raw=BROKEN_JSON, headers=_JSON)),
        outcome=ErrorKind.TRANSIENT,
        submits=3,
    ),
    Fault(
        "result-url-404",
        on_result_file(Scripted(404, raw=b"Not Found", headers={"Content-Type": "text/plain"})),
        outcome=ErrorKind.TRANSIENT,
        submits=1,
    ),
    Fault(
        "result-not-an-image",
        on_result_file(Scripted(200, raw=NOT_AN_IMAGE, headers=_HTML)),
        outcome=ErrorKind.TRANSIENT,
        submits=1,
    ),
    Fault(
        "task-never-completes",
        never_finish,
        outcome=ErrorKind.TIMEOUT,
        submits=1,
        asynchronous_only=True,
        heal=finish_again,
    ),
    # Polls are idempotent reads: a 5xx, a reset, broken JSON and a 429 are all ridden out.
    Fault(
        "poll-glitches",
        glitching_polls,
        outcome=None,
        submits=1,
        asynchronous_only=True,
    ),
]

CASES = [
    pytest.param(name, fault, id=f"{name}-{fault.name}")
    for name, case in PROVIDERS.items()
    for fault in FAULTS
    if case.asynchronous or not fault.asynchronous_only
]


# --- fixtures -------------------------------------------------------------------------------


@pytest.fixture
def bot_settings(
    request: pytest.FixtureRequest,
    make_settings: Callable[..., Settings],
    discord_fake: FakeDiscord,
    provider_name: str,
) -> Settings:
    """Overrides conftest's: the bot talks to ``provider_name``'s fake and to no other."""
    fake: FakeProvider = request.getfixturevalue(provider_name)
    return make_settings(
        discord_token=discord_fake.token,
        discord_api_base=discord_fake.api_base,
        discord_gateway_url=discord_fake.gateway_url,
        seedream_providers=provider_name,
        seedream_task_deadline=TASK_DEADLINE,
        **{f"{provider_name}_api_key": fake.api_key, f"{provider_name}_base_url": fake.base_url},
    )


def quick(bot: SeedreamBot) -> Provider:
    """The bot's only provider, with test-speed back-off and polling; returns it."""
    bot.router.backoff = 0.01
    assert len(bot.router.providers) == 1
    adapter = bot.router.providers[0]
    if isinstance(adapter, AsyncProvider):
        assert adapter.poll.deadline == TASK_DEADLINE  # SEEDREAM_TASK_DEADLINE was applied
        adapter.poll = replace(adapter.poll, first_delay=0.01, factor=1.0, max_interval=0.02)
    return adapter


def submits(fake: FakeProvider, case: ProviderCase) -> int:
    return sum(1 for call in fake.calls_to(case.submit) if call.method == "POST")


# --- the tests ------------------------------------------------------------------------------


@pytest.mark.parametrize(("provider_name", "fault"), CASES)
async def test_provider_fault(
    request: pytest.FixtureRequest,
    provider_name: str,
    fault: Fault,
    discord_fake: FakeDiscord,
    bot: SeedreamBot,
) -> None:
    case = PROVIDERS[provider_name]
    fake: FakeProvider = request.getfixturevalue(provider_name)
    adapter = quick(bot)
    fault.inject(fake, case, adapter)

    started = time.monotonic()
    inter = await imagine(discord_fake, "a lighthouse in a storm")
    assert (await inter.callback()).json == {"type": 5}, "the request was not accepted"

    if fault.outcome is None:
        message = await delivered(inter)
        assert time.monotonic() - started >= fault.min_seconds, "Retry-After was not honoured"
        assert discord_fake.attachment_bytes(message["attachments"][0])
        row = await final_job(bot, inter)
        assert (row["state"], row["delivered"], row["error_kind"]) == ("done", 1, None)
        used = 1
    else:
        notice = await private_notice(inter)
        assert notice == told(fault.outcome)
        assert inter.original_id not in discord_fake.messages, "the public status was left"
        row = await final_job(bot, inter)
        assert (row["state"], row["delivered"]) == ("failed", 0)
        assert row["error_kind"] == fault.outcome.value
        used = 0
    assert submits(fake, case) == fault.submits
    await assert_quota(discord_fake, used)

    # The bot still serves the next request, and charges it once.
    if fault.heal is not None:
        fault.heal(fake, adapter)
    assert not fake.script and not fake.file_script, "the fault was not played out"
    again = await imagine(discord_fake, "the same lighthouse, calm sea")
    await delivered(again)
    row = await final_job(bot, again)
    assert (row["state"], row["delivered"]) == ("done", 1)
    assert submits(fake, case) == fault.submits + 1
    await assert_quota(discord_fake, used + 1)


@pytest.mark.parametrize("provider_name", ["apiframe"])
async def test_lost_submit_answer_is_not_paid_twice(
    provider_name: str,
    apiframe: FakeApiframe,
    discord_fake: FakeDiscord,
    bot: SeedreamBot,
) -> None:
    """Apiframe created (and charged) the job, but its answer never arrived: the connection
    was reset. The retried submit must replay the same ``Idempotency-Key`` so that Apiframe
    answers with the original job (documented, and what the adapter's docstring promises),
    instead of creating and charging a second one."""
    quick(bot)
    credits = apiframe.credits
    apiframe.lose_next_answer("/v2/images/generate")
    inter = await imagine(discord_fake, "a lighthouse in a storm")
    await delivered(inter)
    row = await final_job(bot, inter)
    assert (row["state"], row["delivered"]) == ("done", 1)
    await assert_quota(discord_fake, 1)
    keys = [c.headers.get("Idempotency-Key") for c in apiframe.calls_to("/v2/images/generate")]
    assert len(keys) == 2, keys
    assert keys[0] == keys[1], f"the retry sent a new Idempotency-Key: {keys}"
    assert len(apiframe.jobs) == 1, "Apiframe ran (and charged) the job twice"
    assert apiframe.credits == credits - 3
