"""EvoLink adapter against the fake that enforces seed 002 / providers.md §2."""

from __future__ import annotations

import io
import time

import aiohttp
import pytest
from PIL import Image

from bot.errors import ErrorKind, InvalidInput, ProviderError
from bot.providers.base import PollPolicy
from bot.providers.evolink import DEFAULT_POLL, EvoLink
from bot.providers.models import GenerationRequest, GenerationResult, Reference, Resolution
from tests.fakes.providers.common import Scripted
from tests.fakes.providers.evolink import TASK_ERRORS, FakeEvoLink, error_body

FAST = PollPolicy(first_delay=0.01, factor=1.5, max_interval=0.05, deadline=10.0)


def adapter(
    session: aiohttp.ClientSession, fake: FakeEvoLink, *, poll: PollPolicy = FAST, key: str = ""
) -> EvoLink:
    return EvoLink(session, key or fake.api_key, fake.base_url, poll=poll)


async def sizes(session: aiohttp.ClientSession, result: GenerationResult) -> list[tuple[int, int]]:
    """Download every result and decode its real pixel size."""
    found = []
    for image in result.images:
        assert image.url is not None
        async with session.get(image.url) as response:
            assert response.status == 200
            found.append(Image.open(io.BytesIO(await response.read())).size)
    return found


async def hosted(fake: FakeEvoLink, width: int, height: int, fmt: str = "PNG") -> Reference:
    """A verified reference with its bytes AND a URL EvoLink can fetch (served from loopback,
    as a re-hosted one would be): only the URL may be sent."""
    out = io.BytesIO()
    Image.new("RGB", (width, height), (30, 120, 200)).save(out, fmt)
    data, ext = out.getvalue(), fmt.lower()
    url = await fake.publish(data, ext)
    return Reference(
        filename=f"r.{ext}", data=data, mime=f"image/{ext}", url=url, width=width, height=height
    )


def creates(fake: FakeEvoLink) -> int:
    return len(fake.calls_to("/v1/images/generations"))


# --- text to image --------------------------------------------------------------------------


async def test_40_aspect_preset_uses_ratio_form_and_check_reports_its_pixels(
    evolink: FakeEvoLink, session: aiohttp.ClientSession
) -> None:
    provider = adapter(session, evolink)
    request = GenerationRequest(prompt="a fox", model="seedream-4.0", aspect="16:9")
    assert provider.check(request) == (2848, 1600)
    result = await provider.generate(request)
    assert evolink.calls_to("/v1/images/generations")[0].json == {
        "model": "doubao-seedream-4.0",
        "prompt": "a fox",
        "n": 1,
        "size": "16:9",
        "quality": "2K",
    }
    assert result.size == (2848, 1600)
    assert await sizes(session, result) == [(2848, 1600)]
    assert result.provider == "evolink" and result.task_id is not None


@pytest.mark.parametrize(
    ("resolution", "aspect", "expected"),
    [(Resolution.R1K, "21:9", (1512, 648)), (Resolution.R1K, None, (1024, 1024))],
)
async def test_40_other_tiers(
    evolink: FakeEvoLink,
    session: aiohttp.ClientSession,
    resolution: Resolution,
    aspect: str | None,
    expected: tuple[int, int],
) -> None:
    request = GenerationRequest(
        prompt="x", model="seedream-4.0", resolution=resolution, aspect=aspect
    )
    result = await adapter(session, evolink).generate(request)
    body = evolink.calls[0].json
    assert (body["size"], body["quality"]) == (aspect or "1:1", resolution.value)
    assert result.size == expected
    assert await sizes(session, result) == [expected]


async def test_40_4k_ratio_form(evolink: FakeEvoLink, session: aiohttp.ClientSession) -> None:
    request = GenerationRequest(
        prompt="x", model="seedream-4.0", resolution=Resolution.R4K, aspect="9:16"
    )
    result = await adapter(session, evolink).generate(request)
    assert evolink.calls[0].json["quality"] == "4K"
    assert await sizes(session, result) == [result.size] == [(3040, 5504)]


async def test_40_exact_size_uses_pixel_form(
    evolink: FakeEvoLink, session: aiohttp.ClientSession
) -> None:
    request = GenerationRequest(prompt="x", model="seedream-4.0", size=(1600, 900))
    result = await adapter(session, evolink).generate(request)
    body = evolink.calls[0].json
    assert body["size"] == "1600x900" and "quality" not in body
    assert await sizes(session, result) == [(1600, 900)]


async def test_45_uses_pixel_form_within_its_range(
    evolink: FakeEvoLink, session: aiohttp.ClientSession
) -> None:
    provider = adapter(session, evolink)
    request = GenerationRequest(prompt="a fox", model="seedream-4.5", aspect="16:9")
    result = await provider.generate(request)
    assert evolink.calls[0].json == {
        "model": "doubao-seedream-4.5",
        "prompt": "a fox",
        "n": 1,
        "size": "2560x1440",
    }
    assert await sizes(session, result) == [result.size] == [(2560, 1440)]


async def test_45_4k(evolink: FakeEvoLink, session: aiohttp.ClientSession) -> None:
    request = GenerationRequest(prompt="x", model="seedream-4.5", resolution=Resolution.R4K)
    result = await adapter(session, evolink).generate(request)
    assert evolink.calls[0].json["size"] == "4096x4096"
    assert await sizes(session, result) == [(4096, 4096)]


@pytest.mark.parametrize(
    ("request_", "limit"),
    [
        (GenerationRequest(prompt="x", model="seedream-4.5", resolution=Resolution.R1K), "1K"),
        (GenerationRequest(prompt="x", model="seedream-4.5", size=(2048, 1024)), "3,686,400"),
        (GenerationRequest(prompt="x", model="seedream-4.0", size=(1000, 700)), "921,600"),
        (GenerationRequest(prompt="x", model="seedream-4.0", size=(4096, 4200)), "16,777,216"),
        (GenerationRequest(prompt="x", model="seedream-4.0", seed=7), "seed"),
        (GenerationRequest(prompt="y" * 1990, model="seedream-4.0", count=3), "2000"),
    ],
)
async def test_refused_before_any_call(
    evolink: FakeEvoLink, session: aiohttp.ClientSession, request_: GenerationRequest, limit: str
) -> None:
    with pytest.raises(InvalidInput, match=limit):
        await adapter(session, evolink).generate(request_)
    assert evolink.calls == []


# --- references -----------------------------------------------------------------------------


async def test_references_travel_as_urls_the_provider_fetches(
    evolink: FakeEvoLink, session: aiohttp.ClientSession
) -> None:
    refs = (await hosted(evolink, 64, 48), await hosted(evolink, 40, 120, "JPEG"))
    request = GenerationRequest(prompt="edit", model="seedream-4.5", references=refs)
    await adapter(session, evolink).generate(request)
    urls = [ref.url for ref in refs]
    assert evolink.calls[0].json["image_urls"] == urls
    assert evolink.fetched == urls


async def test_match_aspect_follows_first_reference_in_pixel_form(
    evolink: FakeEvoLink, session: aiohttp.ClientSession
) -> None:
    ref = await hosted(evolink, 300, 200)
    request = GenerationRequest(prompt="x", model="seedream-4.0", aspect="match", references=(ref,))
    result = await adapter(session, evolink).generate(request)
    body = evolink.calls[0].json
    width, height = result.size
    assert body["size"] == f"{width}x{height}" and "quality" not in body
    assert abs(width / height - 1.5) < 0.02
    assert await sizes(session, result) == [result.size]


async def test_inline_only_reference_refused_before_any_call(
    evolink: FakeEvoLink, session: aiohttp.ClientSession
) -> None:
    out = io.BytesIO()
    Image.new("RGB", (32, 32)).save(out, "PNG")
    ref = Reference(data=out.getvalue(), mime="image/png", width=32, height=32)
    request = GenerationRequest(prompt="x", model="seedream-4.0", references=(ref,))
    with pytest.raises(InvalidInput, match="URLs"):
        await adapter(session, evolink).generate(request)
    assert evolink.calls == []


async def test_reference_and_count_limits_refused_before_any_call(
    evolink: FakeEvoLink, session: aiohttp.ClientSession
) -> None:
    ref = await hosted(evolink, 32, 32)
    provider = adapter(session, evolink)
    with pytest.raises(InvalidInput, match="at most 14"):
        await provider.generate(
            GenerationRequest(prompt="x", model="seedream-4.0", references=(ref,) * 15)
        )
    with pytest.raises(InvalidInput, match="at most 15"):
        await provider.generate(
            GenerationRequest(prompt="x", model="seedream-4.5", references=(ref,) * 5, count=11)
        )
    assert evolink.calls == []


async def test_fourteen_references_accepted(
    evolink: FakeEvoLink, session: aiohttp.ClientSession
) -> None:
    ref = await hosted(evolink, 32, 32)
    request = GenerationRequest(prompt="x", model="seedream-4.0", references=(ref,) * 14)
    result = await adapter(session, evolink).generate(request)
    assert len(evolink.calls[0].json["image_urls"]) == 14 and len(result.images) == 1


async def test_out_of_range_reference_is_refused_before_any_call(
    evolink: FakeEvoLink, session: aiohttp.ClientSession
) -> None:
    ref = await hosted(evolink, 400, 20)  # aspect 20 > 16
    request = GenerationRequest(prompt="x", model="seedream-4.0", references=(ref,))
    with pytest.raises(InvalidInput, match="aspect ratios from 1:16 to 16:1"):
        await adapter(session, evolink).generate(request)
    assert evolink.calls == []


async def test_unfetchable_reference_fails_the_task_as_invalid_input(
    evolink: FakeEvoLink, session: aiohttp.ClientSession
) -> None:
    ref = Reference(url=f"{evolink.base_url}/files/gone.png", width=64, height=64)
    request = GenerationRequest(prompt="x", model="seedream-4.0", references=(ref,))
    with pytest.raises(ProviderError) as caught:
        await adapter(session, evolink).generate(request)
    assert caught.value.kind is ErrorKind.INVALID_INPUT
    assert "image_processing_error" in caught.value.message
    assert evolink.rejections and "gone.png" in evolink.rejections[0]
    evolink.rejections.clear()  # expected: the provider could not download the reference


# --- sequences ------------------------------------------------------------------------------


@pytest.mark.parametrize(("model", "count"), [("seedream-4.0", 3), ("seedream-4.5", 4)])
async def test_sequence_sends_n_and_says_the_count_in_the_prompt(
    evolink: FakeEvoLink, session: aiohttp.ClientSession, model: str, count: int
) -> None:
    request = GenerationRequest(prompt="four seasons", model=model, count=count)
    result = await adapter(session, evolink).generate(request)
    body = evolink.calls[0].json
    assert body["n"] == count and str(count) in body["prompt"]
    assert not {"sequential_image_generation", "max_images", "watermark", "seed"} & set(body)
    assert len(await sizes(session, result)) == count


async def test_fewer_images_than_asked_is_not_an_error(
    evolink: FakeEvoLink, session: aiohttp.ClientSession
) -> None:
    evolink.sequence_returns = 2
    request = GenerationRequest(prompt="x", model="seedream-4.0", count=5)
    result = await adapter(session, evolink).generate(request)
    assert len(result.images) == 2


async def test_result_data_shape_and_duplicates(
    evolink: FakeEvoLink, session: aiohttp.ClientSession
) -> None:
    evolink.sequence_returns = 2  # fewer than asked, so a repeated URL would show as a 3rd image
    request = GenerationRequest(prompt="x", model="seedream-4.0", count=3)
    for shape in ("result_data", "both"):
        evolink.results_shape = shape
        result = await adapter(session, evolink).generate(request)
        urls = [image.url for image in result.images]
        assert len(urls) == len(set(urls)) == 2
        assert await sizes(session, result) == [(2048, 2048)] * 2


# --- polling: callbacks, progress, deadline, resume -----------------------------------------


async def test_task_id_callback_fires_before_polling_and_progress_is_reported(
    evolink: FakeEvoLink, session: aiohttp.ClientSession
) -> None:
    seen: list[str] = []
    progress: list[int] = []

    async def on_task(task_id: str) -> None:
        assert evolink.calls_to("/v1/tasks/") == []
        seen.append(task_id)

    async def on_progress(value: int) -> None:
        progress.append(value)

    evolink.steps = (0, 10, 40, 80)
    request = GenerationRequest(prompt="x", model="seedream-4.0")
    result = await adapter(session, evolink).generate(
        request, on_task=on_task, on_progress=on_progress
    )
    assert seen == [result.task_id] and seen[0] in evolink.tasks
    assert seen[0].startswith("task-unified-")
    assert progress == [0, 10, 40, 80]
    assert all(call.path == f"/v1/tasks/{seen[0]}" for call in evolink.calls_to("/v1/tasks/"))


async def test_task_that_never_completes_hits_the_deadline(
    evolink: FakeEvoLink, session: aiohttp.ClientSession
) -> None:
    evolink.stall = True
    provider = adapter(session, evolink, poll=PollPolicy(0.01, 1.5, 0.05, deadline=0.4))
    started = time.monotonic()
    with pytest.raises(ProviderError) as caught:
        await provider.generate(GenerationRequest(prompt="x", model="seedream-4.0"))
    assert caught.value.kind is ErrorKind.TIMEOUT
    assert time.monotonic() - started < 2.0
    assert len(evolink.calls_to("/v1/tasks/")) >= 3


async def test_resume_polls_the_existing_task_without_creating_one(
    evolink: FakeEvoLink, session: aiohttp.ClientSession
) -> None:
    evolink.stall = True
    ids: list[str] = []

    async def on_task(task_id: str) -> None:
        ids.append(task_id)

    request = GenerationRequest(prompt="x", model="seedream-4.0", aspect="3:2")
    short = adapter(session, evolink, poll=PollPolicy(0.01, 1.5, 0.05, deadline=0.2))
    with pytest.raises(ProviderError):
        await short.generate(request, on_task=on_task)
    evolink.stall = False  # the task finishes while the bot is "down"
    after_restart = adapter(session, evolink)
    result = await after_restart.resume(ids[0], request)
    assert creates(evolink) == 1
    assert result.task_id == ids[0] and result.size == (2496, 1664)
    assert await sizes(session, result) == [(2496, 1664)]


async def test_resume_of_an_expired_task_stops_at_once(
    evolink: FakeEvoLink, session: aiohttp.ClientSession
) -> None:
    started = time.monotonic()
    with pytest.raises(ProviderError) as caught:
        await adapter(session, evolink).resume(
            "task-unified-1757165031-gone", GenerationRequest(prompt="x", model="seedream-4.0")
        )
    assert caught.value.kind is ErrorKind.INVALID_INPUT
    assert "not found" in caught.value.message.lower()
    assert time.monotonic() - started < 1.0 and creates(evolink) == 0


async def test_poll_errors_that_are_retryable_keep_polling(
    evolink: FakeEvoLink, session: aiohttp.ClientSession
) -> None:
    evolink.fail_next("/v1/tasks/", Scripted(429, error_body(429), {"Retry-After": "0.01"}))
    evolink.fail_next("/v1/tasks/", Scripted(503, error_body(503)))
    evolink.fail_next("/v1/tasks/", Scripted(502, raw=b"<html>Bad gateway</html>"))
    result = await adapter(session, evolink).generate(
        GenerationRequest(prompt="x", model="seedream-4.0")
    )
    assert len(result.images) == 1 and creates(evolink) == 1


async def test_default_poll_follows_evolink_guidance(session: aiohttp.ClientSession) -> None:
    poll = EvoLink(session, "sk-x", "https://api.evolink.ai").poll
    assert poll is DEFAULT_POLL
    assert (poll.first_delay, poll.max_interval, poll.deadline) == (3.0, 5.0, 300.0)


# --- errors ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "message", "kind"),
    [
        (400, None, ErrorKind.INVALID_INPUT),
        (400, "The prompt was flagged as sensitive content", ErrorKind.MODERATION),
        (401, None, ErrorKind.AUTH),
        (402, None, ErrorKind.QUOTA),
        (403, None, ErrorKind.AUTH),
        (404, None, ErrorKind.INVALID_INPUT),
        (413, None, ErrorKind.INVALID_INPUT),
        (429, None, ErrorKind.RATE_LIMITED),
        (500, None, ErrorKind.TRANSIENT),
        (502, None, ErrorKind.TRANSIENT),
        (503, None, ErrorKind.TRANSIENT),
    ],
)
async def test_http_errors_map_to_taxonomy(
    evolink: FakeEvoLink,
    session: aiohttp.ClientSession,
    status: int,
    message: str | None,
    kind: ErrorKind,
) -> None:
    evolink.fail_next("/v1/images/", Scripted(status, error_body(status, message)))
    with pytest.raises(ProviderError) as caught:
        await adapter(session, evolink).generate(
            GenerationRequest(prompt="x", model="seedream-4.0")
        )
    assert caught.value.kind is kind
    assert caught.value.provider == "evolink"
    assert f"HTTP {status}" in caught.value.message


async def test_http_error_type_wins_over_status(
    evolink: FakeEvoLink, session: aiohttp.ClientSession
) -> None:
    body = {
        "error": {
            "code": 400,
            "message": "Insufficient credits",
            "type": "insufficient_quota_error",
        }
    }
    evolink.fail_next("/v1/images/", Scripted(400, body))
    with pytest.raises(ProviderError) as caught:
        await adapter(session, evolink).generate(
            GenerationRequest(prompt="x", model="seedream-4.0")
        )
    assert caught.value.kind is ErrorKind.QUOTA


async def test_429_honours_retry_after_header(
    evolink: FakeEvoLink, session: aiohttp.ClientSession
) -> None:
    evolink.fail_next("/v1/images/", Scripted(429, error_body(429), {"Retry-After": "7"}))
    with pytest.raises(ProviderError) as caught:
        await adapter(session, evolink).generate(
            GenerationRequest(prompt="x", model="seedream-4.0")
        )
    assert caught.value.kind is ErrorKind.RATE_LIMITED
    assert caught.value.retry_after == 7.0


@pytest.mark.parametrize(("status", "wait"), [(429, 60.0), (503, 30.0)])
async def test_without_header_the_documented_fallback_suggestion_gives_the_wait(
    evolink: FakeEvoLink, session: aiohttp.ClientSession, status: int, wait: float
) -> None:
    evolink.fail_next("/v1/images/", Scripted(status, error_body(status)))
    with pytest.raises(ProviderError) as caught:
        await adapter(session, evolink).generate(
            GenerationRequest(prompt="x", model="seedream-4.0")
        )
    assert caught.value.retry_after == wait
    assert "retry after" in (caught.value.detail or "")


async def test_413_names_the_parameter(
    evolink: FakeEvoLink, session: aiohttp.ClientSession
) -> None:
    evolink.fail_next("/v1/images/", Scripted(413, error_body(413, param="image_urls")))
    with pytest.raises(ProviderError) as caught:
        await adapter(session, evolink).generate(
            GenerationRequest(prompt="x", model="seedream-4.0")
        )
    assert "param=image_urls" in (caught.value.detail or "")


@pytest.mark.parametrize(
    ("code", "kind"),
    [
        ("content_policy_violation", ErrorKind.MODERATION),
        ("invalid_parameters", ErrorKind.INVALID_INPUT),
        ("image_processing_error", ErrorKind.INVALID_INPUT),
        ("image_dimension_mismatch", ErrorKind.INVALID_INPUT),
        ("generation_failed_no_content", ErrorKind.INVALID_INPUT),
        ("request_cancelled", ErrorKind.TRANSIENT),
        ("service_error", ErrorKind.TRANSIENT),
        ("generation_timeout", ErrorKind.TIMEOUT),
        ("resource_exhausted", ErrorKind.TRANSIENT),
        ("quota_exceeded", ErrorKind.RATE_LIMITED),
        ("service_unavailable", ErrorKind.TRANSIENT),
        ("resource_not_found", ErrorKind.INVALID_INPUT),
        ("unknown_error", ErrorKind.TRANSIENT),
    ],
)
async def test_task_failure_codes_map_individually(
    evolink: FakeEvoLink, session: aiohttp.ClientSession, code: str, kind: ErrorKind
) -> None:
    assert code in TASK_ERRORS
    evolink.fail_next_task(code)
    with pytest.raises(ProviderError) as caught:
        await adapter(session, evolink).generate(
            GenerationRequest(prompt="x", model="seedream-4.0")
        )
    assert caught.value.kind is kind
    assert code in caught.value.message
    assert creates(evolink) == 1


async def test_unknown_task_code_with_safety_text_is_moderation(
    evolink: FakeEvoLink, session: aiohttp.ClientSession
) -> None:
    evolink.fail_next_task("output_blocked", "Output image flagged by the safety system")
    with pytest.raises(ProviderError) as caught:
        await adapter(session, evolink).generate(
            GenerationRequest(prompt="x", model="seedream-4.0")
        )
    assert caught.value.kind is ErrorKind.MODERATION


async def test_real_moderation_from_the_fake(
    evolink: FakeEvoLink, session: aiohttp.ClientSession
) -> None:
    with pytest.raises(ProviderError) as caught:
        await adapter(session, evolink).generate(
            GenerationRequest(prompt="something forbidden", model="seedream-4.5")
        )
    assert caught.value.kind is ErrorKind.MODERATION
    assert "content_policy_violation" in caught.value.message


async def test_create_answer_without_task_id_is_transient(
    evolink: FakeEvoLink, session: aiohttp.ClientSession
) -> None:
    evolink.fail_next("/v1/images/", Scripted(200, {"object": "image.generation.task"}))
    with pytest.raises(ProviderError) as caught:
        await adapter(session, evolink).generate(
            GenerationRequest(prompt="x", model="seedream-4.0")
        )
    assert caught.value.kind is ErrorKind.TRANSIENT


async def test_completed_without_images_is_transient(
    evolink: FakeEvoLink, session: aiohttp.ClientSession
) -> None:
    done = {"id": "t", "status": "completed", "progress": 100, "results": []}
    evolink.fail_next("/v1/tasks/", Scripted(200, done))
    with pytest.raises(ProviderError) as caught:
        await adapter(session, evolink).generate(
            GenerationRequest(prompt="x", model="seedream-4.0")
        )
    assert caught.value.kind is ErrorKind.TRANSIENT
    assert "without images" in caught.value.message


# --- secrets --------------------------------------------------------------------------------


async def test_wrong_key_is_auth_error_without_the_key(
    evolink: FakeEvoLink, session: aiohttp.ClientSession
) -> None:
    provider = adapter(session, evolink, key="sk-evo-wrong-key-42")
    with pytest.raises(ProviderError) as caught:
        await provider.generate(GenerationRequest(prompt="x", model="seedream-4.0"))
    assert caught.value.kind is ErrorKind.AUTH
    assert "sk-evo-wrong-key-42" not in str(caught.value) + repr(provider)


async def test_a_key_echoed_by_the_provider_is_scrubbed(
    evolink: FakeEvoLink, session: aiohttp.ClientSession
) -> None:
    key = evolink.api_key
    evolink.fail_next("/v1/images/", Scripted(401, error_body(401, f"Invalid API key {key}")))
    with pytest.raises(ProviderError) as caught:
        await adapter(session, evolink).generate(
            GenerationRequest(prompt="x", model="seedream-4.0")
        )
    texts = [str(caught.value), repr(caught.value), caught.value.message, caught.value.detail or ""]
    assert all(key not in text for text in texts)
    assert "[redacted]" in caught.value.message
    evolink.fail_next_task("invalid_parameters", f"bad request from key {key}")
    with pytest.raises(ProviderError) as caught:
        await adapter(session, evolink).generate(
            GenerationRequest(prompt="x", model="seedream-4.0")
        )
    texts = [str(caught.value), repr(caught.value), caught.value.detail or ""]
    assert all(key not in text for text in texts)


# --- the fake itself refuses what the docs forbid (otherwise the tests above prove little) -----


@pytest.mark.parametrize(
    ("body", "status", "needle"),
    [
        ({"model": "doubao-seedream-4.0", "prompt": "x", "watermark": False}, 400, "unknown"),
        ({"model": "doubao-seedream-4.0", "prompt": "x", "seed": 1}, 400, "unknown"),
        ({"model": "seedream-4.0", "prompt": "x"}, 400, "model"),
        ({"model": "doubao-seedream-4.0", "prompt": "x" * 2001}, 400, "2000"),
        ({"model": "doubao-seedream-4.0", "prompt": "x", "n": 16}, 400, "n must"),
        ({"model": "doubao-seedream-4.0", "prompt": "x", "n": True}, 400, "n must"),
        ({"model": "doubao-seedream-4.0", "prompt": "x", "size": "1000x700"}, 400, "total"),
        ({"model": "doubao-seedream-4.0", "prompt": "x", "size": "2K"}, 400, "size must"),
        (
            {"model": "doubao-seedream-4.0", "prompt": "x", "size": "16:9", "quality": "8K"},
            400,
            "quality",
        ),
        (
            {"model": "doubao-seedream-4.0", "prompt": "x", "size": "2048x2048", "quality": "2K"},
            400,
            "ratio",
        ),
        ({"model": "doubao-seedream-4.5", "prompt": "x", "size": "16:9"}, 400, "size must"),
        (
            {"model": "doubao-seedream-4.5", "prompt": "x", "size": "2K", "quality": "2K"},
            400,
            "quality",
        ),
        ({"model": "doubao-seedream-4.5", "prompt": "x", "size": "2048x1024"}, 400, "total"),
        (
            {"model": "doubao-seedream-4.5", "prompt": "x", "prompt_priority": "fast"},
            400,
            "priority",
        ),
        ({"model": "doubao-seedream-4.0", "prompt": "x", "callback_url": "http://a"}, 400, "https"),
        (
            {
                "model": "doubao-seedream-4.0",
                "prompt": "x",
                "image_urls": ["data:image/png;base64,AA"],
            },
            400,
            "http",
        ),
        (
            {"model": "doubao-seedream-4.0", "prompt": "x", "image_urls": ["https://a/b.png"] * 15},
            400,
            "14",
        ),
    ],
)
async def test_fake_refuses_undocumented_requests(
    evolink: FakeEvoLink,
    session: aiohttp.ClientSession,
    body: dict[str, object],
    status: int,
    needle: str,
) -> None:
    headers = {"Authorization": f"Bearer {evolink.api_key}"}
    url = evolink.base_url + "/v1/images/generations"
    async with session.post(url, json=body, headers=headers) as response:
        answer = await response.json()
    assert response.status == status
    assert answer["error"]["type"] == "invalid_request_error"
    assert needle in answer["error"]["message"]
    assert evolink.rejections and evolink.tasks == {}
    evolink.rejections.clear()


async def test_fake_answers_413_for_a_reference_over_10_mb(
    evolink: FakeEvoLink, session: aiohttp.ClientSession
) -> None:
    url = await evolink.publish(b"\xff" * (10 * 1024 * 1024 + 1))
    body = {"model": "doubao-seedream-4.0", "prompt": "x", "image_urls": [url]}
    headers = {"Authorization": f"Bearer {evolink.api_key}"}
    async with session.post(
        evolink.base_url + "/v1/images/generations", json=body, headers=headers
    ) as response:
        answer = await response.json()
    assert response.status == 413
    assert answer["error"]["type"] == "request_too_large_error"
    assert answer["error"]["param"] == "image_urls"
    evolink.rejections.clear()


async def test_fake_gives_one_image_unless_the_prompt_asks_for_more(
    evolink: FakeEvoLink, session: aiohttp.ClientSession
) -> None:
    headers = {"Authorization": f"Bearer {evolink.api_key}"}
    body = {"model": "doubao-seedream-4.0", "prompt": "a fox", "n": 3, "size": "1024x1024"}
    async with session.post(
        evolink.base_url + "/v1/images/generations", json=body, headers=headers
    ) as response:
        created = await response.json()
    assert created["status"] == "pending" and created["usage"]["credits_reserved"] == 5.4
    assert evolink.tasks[created["id"]].count == 1
