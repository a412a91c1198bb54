"""Apiframe adapter against the fake that enforces seed 003 / providers.md §3."""

from __future__ import annotations

import io
import time
from typing import Any

import aiohttp
import pytest
from PIL import Image

from bot.errors import ErrorKind, InvalidInput, ProviderError
from bot.providers.apiframe import SDK_POLL, Apiframe
from bot.providers.base import PollPolicy
from bot.providers.models import GenerationRequest, GenerationResult, Reference, Resolution
from tests.fakes.providers.apiframe import FakeApiframe
from tests.fakes.providers.common import Scripted

FAST = PollPolicy(first_delay=0.01, factor=1.5, max_interval=0.05, deadline=5.0)


def provider(
    session: aiohttp.ClientSession,
    fake: FakeApiframe,
    *,
    key: str | None = None,
    poll: PollPolicy = FAST,
) -> Apiframe:
    return Apiframe(session, key or fake.api_key, fake.base_url, poll=poll)


async def download(session: aiohttp.ClientSession, result: GenerationResult) -> list[Image.Image]:
    images: list[Image.Image] = []
    for image in result.images:
        assert image.url is not None
        async with session.get(image.url) as response:
            assert response.status == 200
            images.append(Image.open(io.BytesIO(await response.read())))
    return images


def png(width: int, height: int) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), (30, 120, 200)).save(out, "PNG")
    return out.getvalue()


async def url_reference(fake: FakeApiframe, width: int = 300, height: int = 200) -> Reference:
    """A reference the way URL-only providers get it: an http(s) URL the provider fetches."""
    url = await fake.publish(png(width, height), "png")
    return Reference(filename="r.png", url=url, width=width, height=height)


def submitted(fake: FakeApiframe) -> dict[str, Any]:
    body = fake.calls_to("/v2/images/generate")[-1].json
    assert isinstance(body, dict)
    return body


async def expect_error(
    session: aiohttp.ClientSession, fake: FakeApiframe, request: GenerationRequest
) -> ProviderError:
    with pytest.raises(ProviderError) as caught:
        await provider(session, fake).generate(request)
    assert caught.value.provider == "apiframe"
    return caught.value


# --- text to image, sizes ---------------------------------------------------------------------


async def test_text_to_image_40_default_body(
    apiframe: FakeApiframe, session: aiohttp.ClientSession
) -> None:
    result = await provider(session, apiframe).generate(
        GenerationRequest(prompt="a fox", model="seedream-4.0")
    )
    assert submitted(apiframe) == {
        "prompt": "a fox",
        "model": "seedream-4",
        "seedreamParams": {"size": "2K", "aspect_ratio": "1:1"},
    }
    (image,) = await download(session, result)
    assert image.size == (2048, 2048) == result.size
    assert result.provider == "apiframe" and result.model == "seedream-4.0"
    assert result.task_id in apiframe.jobs
    assert apiframe.credits == 1000 - 3


async def test_text_to_image_45(apiframe: FakeApiframe, session: aiohttp.ClientSession) -> None:
    request = GenerationRequest(prompt="a fox", model="seedream-4.5", aspect="16:9")
    result = await provider(session, apiframe).generate(request)
    body = submitted(apiframe)
    assert body["model"] == "seedream-4.5"
    assert body["seedreamParams"] == {"size": "2K", "aspect_ratio": "16:9"}
    (image,) = await download(session, result)
    assert abs(image.width / image.height - 16 / 9) < 0.02
    assert image.width * image.height >= 2560 * 1440
    assert apiframe.credits == 1000 - 4


async def test_both_documented_result_shapes(
    apiframe: FakeApiframe, session: aiohttp.ClientSession
) -> None:
    for shape in ("images", "string"):
        apiframe.result_shape = shape
        result = await provider(session, apiframe).generate(
            GenerationRequest(prompt="x", model="seedream-4.0", resolution=Resolution.R1K)
        )
        job = apiframe.jobs[result.task_id or ""]
        assert isinstance(job.result, dict if shape == "images" else str)
        (image,) = await download(session, result)
        assert image.format == "JPEG"


async def test_1k_preset_on_40_is_not_held_to_custom_side_limits(
    apiframe: FakeApiframe, session: aiohttp.ClientSession
) -> None:
    """1K 16:9 is about 1365x768: legal as a preset although 768 < 1024 (custom only)."""
    request = GenerationRequest(
        prompt="x", model="seedream-4.0", resolution=Resolution.R1K, aspect="16:9"
    )
    result = await provider(session, apiframe).generate(request)
    assert submitted(apiframe)["seedreamParams"] == {"size": "1K", "aspect_ratio": "16:9"}
    (image,) = await download(session, result)
    assert min(image.size) < 1024 and abs(image.width / image.height - 16 / 9) < 0.02


async def test_exact_size_is_custom_width_height(
    apiframe: FakeApiframe, session: aiohttp.ClientSession
) -> None:
    request = GenerationRequest(prompt="x", model="seedream-4.0", size=(1536, 1024))
    result = await provider(session, apiframe).generate(request)
    assert submitted(apiframe)["seedreamParams"] == {
        "size": "custom",
        "width": 1536,
        "height": 1024,
    }
    (image,) = await download(session, result)
    assert image.size == (1536, 1024) == result.size


@pytest.mark.parametrize(
    ("model", "size", "match"),
    [
        ("seedream-4.0", (800, 1200), "1024–4096"),
        ("seedream-4.0", (4096, 4352), "1024–4096"),
        ("seedream-4.5", (1024, 1024), "3,686,400"),
    ],
)
async def test_exact_sizes_out_of_range_refused_before_any_call(
    apiframe: FakeApiframe,
    session: aiohttp.ClientSession,
    model: str,
    size: tuple[int, int],
    match: str,
) -> None:
    with pytest.raises(InvalidInput, match=match):
        await provider(session, apiframe).generate(
            GenerationRequest(prompt="x", model=model, size=size)
        )
    assert apiframe.calls == []


@pytest.mark.parametrize(
    ("fields", "match"),
    [
        ({"model": "seedream-4.5", "resolution": Resolution.R1K}, "1K"),
        ({"model": "seedream-4.0", "count": 2}, "sequences"),
        ({"model": "seedream-4.5", "count": 4}, "sequences"),
        ({"model": "seedream-4.0", "seed": 42}, "seed"),
        ({"model": "seedream-5.0"}, "does not offer"),
    ],
)
async def test_unsupported_requests_refused_before_any_call(
    apiframe: FakeApiframe, session: aiohttp.ClientSession, fields: dict[str, Any], match: str
) -> None:
    with pytest.raises(InvalidInput, match=match):
        await provider(session, apiframe).generate(GenerationRequest(prompt="x", **fields))
    assert apiframe.calls == []


# --- references -------------------------------------------------------------------------------


async def test_references_sent_as_urls_and_match_aspect(
    apiframe: FakeApiframe, session: aiohttp.ClientSession
) -> None:
    ref = await url_reference(apiframe, 300, 200)
    request = GenerationRequest(
        prompt="make it night",
        model="seedream-4.0",
        references=(ref,),
        aspect="match",
        resolution=Resolution.R1K,
    )
    result = await provider(session, apiframe).generate(request)
    params = submitted(apiframe)["seedreamParams"]
    assert params == {"size": "1K", "aspect_ratio": "match_input_image", "image_input": [ref.url]}
    assert apiframe.fetched == [ref.url]
    (image,) = await download(session, result)
    assert abs(image.width / image.height - 1.5) < 0.02


async def test_match_without_reference_asks_for_square(
    apiframe: FakeApiframe, session: aiohttp.ClientSession
) -> None:
    await provider(session, apiframe).generate(
        GenerationRequest(prompt="x", model="seedream-4.0", aspect="match")
    )
    assert submitted(apiframe)["seedreamParams"]["aspect_ratio"] == "1:1"


async def test_45_takes_more_references_than_40(
    apiframe: FakeApiframe, session: aiohttp.ClientSession
) -> None:
    refs = tuple([await url_reference(apiframe, 64 + i, 64) for i in range(12)])
    with pytest.raises(InvalidInput, match="at most 10"):
        await provider(session, apiframe).generate(
            GenerationRequest(prompt="x", model="seedream-4.0", references=refs)
        )
    assert apiframe.calls == []
    await provider(session, apiframe).generate(
        GenerationRequest(prompt="x", model="seedream-4.5", references=refs)
    )
    assert submitted(apiframe)["seedreamParams"]["image_input"] == [r.url for r in refs]
    assert apiframe.fetched == [r.url for r in refs]


async def test_inline_only_reference_refused_before_any_call(
    apiframe: FakeApiframe, session: aiohttp.ClientSession
) -> None:
    ref = Reference(filename="r.png", data=png(64, 64), mime="image/png", width=64, height=64)
    with pytest.raises(InvalidInput, match="only as http"):
        await provider(session, apiframe).generate(
            GenerationRequest(prompt="x", model="seedream-4.0", references=(ref,))
        )
    assert apiframe.calls == []


async def test_unreachable_reference_fails_the_job_as_invalid_input(
    apiframe: FakeApiframe, session: aiohttp.ClientSession
) -> None:
    ref = Reference(url=f"{apiframe.base_url}/files/gone.png", width=64, height=64)
    error = await expect_error(
        session, apiframe, GenerationRequest(prompt="x", model="seedream-4.0", references=(ref,))
    )
    assert error.kind is ErrorKind.INVALID_INPUT and "downloading" in error.message
    assert apiframe.credits == 1000  # refunded
    apiframe.rejections.clear()  # expected: the fake recorded the unfetchable reference


# --- async mechanics --------------------------------------------------------------------------


async def test_default_poll_policy_is_the_sdks() -> None:
    async with aiohttp.ClientSession() as client:
        assert Apiframe(client, "k", "https://api.apiframe.ai").poll == SDK_POLL
    assert (SDK_POLL.first_delay, SDK_POLL.factor, SDK_POLL.max_interval) == (2.0, 1.5, 5.0)
    assert SDK_POLL.deadline == 600.0


async def test_progress_reported_and_task_id_before_polling(
    apiframe: FakeApiframe, session: aiohttp.ClientSession
) -> None:
    apiframe.progress_steps = [0, 10, 45, 90]
    events: list[str] = []

    async def on_task(task_id: str) -> None:
        events.append(f"task {task_id} after {len(apiframe.calls_to('/v2/jobs/'))} polls")

    async def on_progress(value: int) -> None:
        events.append(f"progress {value}")

    result = await provider(session, apiframe).generate(
        GenerationRequest(prompt="x", model="seedream-4.0", resolution=Resolution.R1K),
        on_task=on_task,
        on_progress=on_progress,
    )
    assert events == [
        f"task {result.task_id} after 0 polls",
        "progress 0",
        "progress 10",
        "progress 45",
        "progress 90",
    ]


async def test_job_that_never_finishes_hits_the_deadline(
    apiframe: FakeApiframe, session: aiohttp.ClientSession
) -> None:
    apiframe.hang = True
    poll = PollPolicy(first_delay=0.01, factor=1.5, max_interval=0.05, deadline=0.4)
    started = time.monotonic()
    with pytest.raises(ProviderError) as caught:
        await provider(session, apiframe, poll=poll).generate(
            GenerationRequest(prompt="x", model="seedream-4.0")
        )
    assert caught.value.kind is ErrorKind.TIMEOUT
    assert time.monotonic() - started < 2.0
    assert len(apiframe.calls_to("/v2/jobs/")) > len(apiframe.progress_steps)
    job = next(iter(apiframe.jobs.values()))
    assert job.status == "PROCESSING"


async def test_resume_polls_the_existing_job_without_a_new_one(
    apiframe: FakeApiframe, session: aiohttp.ClientSession
) -> None:
    request = GenerationRequest(prompt="x", model="seedream-4.0", resolution=Resolution.R1K)
    first = provider(session, apiframe)
    task_id = await first.submit(request, first.check(request), "job-7-apiframe-0")
    # ... the bot restarts; a new adapter instance picks the job up by its id
    seen: list[int] = []

    async def on_progress(value: int) -> None:
        seen.append(value)

    result = await provider(session, apiframe).resume(task_id, request, on_progress=on_progress)
    assert result.task_id == task_id and len(result.images) == 1
    assert len(apiframe.calls_to("/v2/images/generate")) == 1
    assert len(apiframe.jobs) == 1 and apiframe.credits == 1000 - 3
    assert seen == [0, 35, 80]


async def test_resume_of_unknown_job_stops_at_once(
    apiframe: FakeApiframe, session: aiohttp.ClientSession
) -> None:
    request = GenerationRequest(prompt="x", model="seedream-4.0")
    with pytest.raises(ProviderError) as caught:
        await provider(session, apiframe).resume("0b7e-not-a-job", request)
    assert caught.value.kind is ErrorKind.INVALID_INPUT
    assert "Job not found" in caught.value.message
    assert len(apiframe.calls_to("/v2/jobs/")) == 1


async def test_transient_poll_failures_are_ridden_out(
    apiframe: FakeApiframe, session: aiohttp.ClientSession
) -> None:
    apiframe.fail_next("/v2/jobs/", Scripted(503, {"error": "Service unavailable"}), times=2)
    apiframe.fail_next("/v2/jobs/", Scripted(502, raw=b"<html>bad gateway</html>"))
    result = await provider(session, apiframe).generate(
        GenerationRequest(prompt="x", model="seedream-4.0", resolution=Resolution.R1K)
    )
    assert len(result.images) == 1
    assert len(apiframe.calls_to("/v2/images/generate")) == 1


async def test_poll_429_waits_for_retry_after(
    apiframe: FakeApiframe, session: aiohttp.ClientSession
) -> None:
    apiframe.fail_next(
        "/v2/jobs/", Scripted(429, {"error": "Too many requests"}, {"Retry-After": "1"})
    )
    poll = PollPolicy(first_delay=0.01, factor=1.5, max_interval=0.3, deadline=5.0)
    started = time.monotonic()
    await provider(session, apiframe, poll=poll).generate(
        GenerationRequest(prompt="x", model="seedream-4.0", resolution=Resolution.R1K)
    )
    # without Retry-After the whole job takes ~0.1 s; with it the next poll waits max_interval
    assert time.monotonic() - started >= 0.3


# --- idempotency ------------------------------------------------------------------------------


async def test_idempotency_key_replay_returns_the_original_job(
    apiframe: FakeApiframe, session: aiohttp.ClientSession
) -> None:
    request = GenerationRequest(prompt="x", model="seedream-4.0", resolution=Resolution.R1K)
    adapter = provider(session, apiframe)
    first = await adapter.submit(request, adapter.check(request), "job-1-apiframe-0")
    again = await adapter.submit(request, adapter.check(request), "job-1-apiframe-0")
    assert first == again  # the replay answers with the job object ("id", not "jobId")
    calls = apiframe.calls_to("/v2/images/generate")
    assert [c.headers.get("Idempotency-Key") for c in calls] == ["job-1-apiframe-0"] * 2
    assert len(apiframe.jobs) == 1 and apiframe.credits == 1000 - 3


async def test_long_idempotency_key_is_hashed_to_fit(
    apiframe: FakeApiframe, session: aiohttp.ClientSession
) -> None:
    request = GenerationRequest(prompt="x", model="seedream-4.0", resolution=Resolution.R1K)
    await provider(session, apiframe).generate(request, idempotency_key="k" * 300)
    sent = submitted_header(apiframe)
    assert sent is not None and len(sent) <= 255


def submitted_header(fake: FakeApiframe) -> str | None:
    return fake.calls_to("/v2/images/generate")[-1].headers.get("Idempotency-Key")


async def test_idempotency_conflict_is_the_bots_bug(
    apiframe: FakeApiframe, session: aiohttp.ClientSession
) -> None:
    adapter = provider(session, apiframe)
    one = GenerationRequest(prompt="one", model="seedream-4.0")
    two = GenerationRequest(prompt="two", model="seedream-4.0")
    await adapter.submit(one, adapter.check(one), "job-2-apiframe-0")
    with pytest.raises(ProviderError) as caught:
        await adapter.submit(two, adapter.check(two), "job-2-apiframe-0")
    assert caught.value.kind is ErrorKind.INTERNAL and "409" in caught.value.message
    assert not caught.value.kind.fails_over
    apiframe.rejections.clear()  # expected: the fake recorded the conflicting replay


# --- errors -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "body", "kind", "says"),
    [
        (
            400,
            {
                "error": "Validation failed",
                "details": {"seedreamParams.size": ["Invalid enum value"]},
            },
            ErrorKind.INVALID_INPUT,
            "seedreamParams.size: Invalid enum value",
        ),
        (401, {"error": "Invalid or missing API key"}, ErrorKind.AUTH, "API key"),
        (
            402,
            {"error": "Insufficient credits", "creditsRequired": 3, "creditsAvailable": 1},
            ErrorKind.QUOTA,
            "needs 3, has 1",
        ),
        (403, {"error": "API key is inactive"}, ErrorKind.AUTH, "inactive"),
        (429, {"error": "Too many requests"}, ErrorKind.RATE_LIMITED, "Too many"),
        (500, {"error": "Internal server error"}, ErrorKind.TRANSIENT, "Internal"),
        (503, {"error": "Service unavailable"}, ErrorKind.TRANSIENT, "unavailable"),
    ],
)
async def test_submit_errors_map_to_taxonomy(
    apiframe: FakeApiframe,
    session: aiohttp.ClientSession,
    status: int,
    body: dict[str, Any],
    kind: ErrorKind,
    says: str,
) -> None:
    apiframe.fail_next("/v2/images/generate", Scripted(status, body, {"Retry-After": "7"}))
    error = await expect_error(
        session, apiframe, GenerationRequest(prompt="x", model="seedream-4.0")
    )
    assert error.kind is kind
    assert says in error.message
    if kind is ErrorKind.RATE_LIMITED:
        assert error.retry_after == 7.0
    assert apiframe.calls_to("/v2/jobs/") == []


async def test_html_error_page_is_transient(
    apiframe: FakeApiframe, session: aiohttp.ClientSession
) -> None:
    apiframe.fail_next("/v2/images/generate", Scripted(502, raw=b"<html>Bad gateway</html>"))
    error = await expect_error(
        session, apiframe, GenerationRequest(prompt="x", model="seedream-4.0")
    )
    assert error.kind is ErrorKind.TRANSIENT


async def test_real_402_when_out_of_credits(
    apiframe: FakeApiframe, session: aiohttp.ClientSession
) -> None:
    apiframe.credits = 3
    error = await expect_error(
        session, apiframe, GenerationRequest(prompt="x", model="seedream-4.5")
    )
    assert error.kind is ErrorKind.QUOTA
    assert "Insufficient credits (needs 4, has 3)" in error.message


async def test_real_403_for_inactive_key(
    apiframe: FakeApiframe, session: aiohttp.ClientSession
) -> None:
    apiframe.inactive = True
    error = await expect_error(
        session, apiframe, GenerationRequest(prompt="x", model="seedream-4.0")
    )
    assert error.kind is ErrorKind.AUTH


async def test_moderation_is_a_failed_job(
    apiframe: FakeApiframe, session: aiohttp.ClientSession
) -> None:
    error = await expect_error(
        session, apiframe, GenerationRequest(prompt="something forbidden", model="seedream-4.0")
    )
    assert error.kind is ErrorKind.MODERATION
    assert "content policy violation" in error.message
    assert apiframe.credits == 1000  # refunded


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("Provider returned an error: content policy violation", ErrorKind.MODERATION),
        ("Provider returned an error: E005 flagged as sensitive", ErrorKind.MODERATION),
        ("Provider returned an error: OutputImageRiskDetection", ErrorKind.MODERATION),
        (
            "Provider returned an error: Timeout while downloading url=https://x/y.png",
            ErrorKind.INVALID_INPUT,
        ),
        (
            "Provider returned an error: InvalidParameter: the specified size is not supported",
            ErrorKind.INVALID_INPUT,
        ),
        ("Provider returned an error: rate limit exceeded", ErrorKind.RATE_LIMITED),
        ("Provider returned an error: prediction timed out", ErrorKind.TIMEOUT),
        ("Insufficient credits", ErrorKind.QUOTA),
        ("Provider returned an error: internal error", ErrorKind.TRANSIENT),
    ],
)
async def test_job_failures_mapped_individually(
    apiframe: FakeApiframe, session: aiohttp.ClientSession, text: str, kind: ErrorKind
) -> None:
    apiframe.fail_jobs_with = text
    error = await expect_error(
        session, apiframe, GenerationRequest(prompt="x", model="seedream-4.0")
    )
    assert error.kind is kind
    assert text in error.message
    assert error.message.startswith("job ")


async def test_cancelled_job_is_transient(
    apiframe: FakeApiframe, session: aiohttp.ClientSession
) -> None:
    apiframe.cancel_jobs = True
    error = await expect_error(
        session, apiframe, GenerationRequest(prompt="x", model="seedream-4.0")
    )
    assert error.kind is ErrorKind.TRANSIENT and "cancelled" in error.message


async def test_expired_results_are_not_returned(
    apiframe: FakeApiframe, session: aiohttp.ClientSession
) -> None:
    request = GenerationRequest(prompt="x", model="seedream-4.0", resolution=Resolution.R1K)
    done = await provider(session, apiframe).generate(request)
    assert done.task_id is not None
    apiframe.expire(done.task_id)
    with pytest.raises(ProviderError) as caught:
        await provider(session, apiframe).resume(done.task_id, request)
    assert caught.value.kind is ErrorKind.TRANSIENT and "expired" in caught.value.message


async def test_completed_job_without_images_is_transient(
    apiframe: FakeApiframe, session: aiohttp.ClientSession
) -> None:
    job = {"id": "j1", "status": "COMPLETED", "progress": 100, "result": {"images": []}}
    apiframe.progress_steps = []
    apiframe.fail_next("/v2/jobs/", Scripted(200, job))
    error = await expect_error(
        session, apiframe, GenerationRequest(prompt="x", model="seedream-4.0")
    )
    assert error.kind is ErrorKind.TRANSIENT and "without images" in error.message


# --- secrets ----------------------------------------------------------------------------------


async def test_wrong_key_is_auth_and_never_shown(
    apiframe: FakeApiframe, session: aiohttp.ClientSession
) -> None:
    wrong = "afk_wrong-key-9876543210"
    with pytest.raises(ProviderError) as caught:
        await provider(session, apiframe, key=wrong).generate(
            GenerationRequest(prompt="x", model="seedream-4.0")
        )
    assert caught.value.kind is ErrorKind.AUTH
    assert_secret_absent(caught.value, wrong)


async def test_echoed_key_is_redacted(
    apiframe: FakeApiframe, session: aiohttp.ClientSession
) -> None:
    key = apiframe.api_key
    apiframe.fail_next("/v2/images/generate", Scripted(400, {"error": f"bad header {key}"}))
    error = await expect_error(
        session, apiframe, GenerationRequest(prompt="x", model="seedream-4.0")
    )
    assert error.kind is ErrorKind.INVALID_INPUT and "[redacted]" in error.message
    assert_secret_absent(error, key)
    apiframe.fail_jobs_with = f"Provider returned an error: key {key} rejected upstream"
    error = await expect_error(
        session, apiframe, GenerationRequest(prompt="x", model="seedream-4.0")
    )
    assert_secret_absent(error, key)


def assert_secret_absent(error: ProviderError, secret: str) -> None:
    for text in (str(error), repr(error), error.message, error.detail or "", error.public_message):
        assert secret not in text


# --- the fake itself: it must refuse what Apiframe documents as invalid -----------------------


@pytest.mark.parametrize(
    ("body", "path"),
    [
        ({"prompt": "x", "model": "seedream-4", "watermark": False}, "watermark"),
        ({"prompt": "", "model": "seedream-4"}, "prompt"),
        ({"prompt": "x" * 2001, "model": "seedream-4"}, "prompt"),
        ({"prompt": "x", "model": "seedream-4.0"}, "model"),
        (
            {"prompt": "x", "model": "seedream-4", "seedreamParams": {"max_images": 2}},
            "seedreamParams.max_images",
        ),
        (
            {"prompt": "x", "model": "seedream-4.5", "seedreamParams": {"size": "1K"}},
            "seedreamParams.size",
        ),
        (
            {"prompt": "x", "model": "seedream-4", "seedreamParams": {"width": 2048}},
            "seedreamParams.width",
        ),
        (
            {
                "prompt": "x",
                "model": "seedream-4",
                "seedreamParams": {"size": "custom", "width": 512, "height": 1024},
            },
            "seedreamParams.width",
        ),
        (
            {"prompt": "x", "model": "seedream-4", "seedreamParams": {"aspect_ratio": "wide"}},
            "seedreamParams.aspect_ratio",
        ),
        (
            {
                "prompt": "x",
                "model": "seedream-4",
                "seedreamParams": {"image_input": ["data:image/png;base64,AAAA"]},
            },
            "seedreamParams.image_input.0",
        ),
        (
            {
                "prompt": "x",
                "model": "seedream-4",
                "seedreamParams": {"image_input": ["https://example.com/a.png"] * 11},
            },
            "seedreamParams.image_input",
        ),
        (
            {"prompt": "x", "model": "seedream-4", "seedreamParams": {"enhance_prompt": "yes"}},
            "seedreamParams.enhance_prompt",
        ),
    ],
)
async def test_fake_refuses_undocumented_requests(
    apiframe: FakeApiframe, session: aiohttp.ClientSession, body: dict[str, Any], path: str
) -> None:
    async with session.post(
        f"{apiframe.base_url}/v2/images/generate",
        json=body,
        headers={"X-API-Key": apiframe.api_key},
    ) as response:
        assert response.status == 400
        answer = await response.json()
    assert answer["error"] == "Validation failed" and path in answer["details"]
    assert apiframe.rejections and apiframe.jobs == {}
    apiframe.rejections.clear()


async def test_fake_wants_x_api_key_not_bearer(
    apiframe: FakeApiframe, session: aiohttp.ClientSession
) -> None:
    body = {"prompt": "x", "model": "seedream-4"}
    headers = {"Authorization": f"Bearer {apiframe.api_key}"}
    async with session.post(
        f"{apiframe.base_url}/v2/images/generate", json=body, headers=headers
    ) as response:
        assert response.status == 401
        assert "error" in await response.json()
