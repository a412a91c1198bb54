"""GMI Cloud adapter against the fake request queue that enforces seed 004."""

from __future__ import annotations

import asyncio
import io

import aiohttp
import pytest
from PIL import Image

from bot.errors import ErrorKind, InvalidInput, ProviderError
from bot.providers.base import AsyncProvider, PollPolicy
from bot.providers.gmi import CAPS, GMI
from bot.providers.models import GenerationRequest, GenerationResult, Reference, Resolution
from tests.fakes.providers.common import Recorded, Scripted
from tests.fakes.providers.gmi import MODERATION_ERROR, PATH, FakeGMI

FAST = PollPolicy(first_delay=0.01, factor=1.5, max_interval=0.05, deadline=5.0)
STATUS = PATH + "/"


def provider(
    fake: FakeGMI, session: aiohttp.ClientSession, poll: PollPolicy = FAST, key: str = ""
) -> GMI:
    return GMI(session, key or fake.api_key, fake.base_url, poll=poll)


def request(prompt: str = "a fox", **fields: object) -> GenerationRequest:
    return GenerationRequest(prompt=prompt, model="seedream-4.0", **fields)  # type: ignore[arg-type]


async def sizes_of(
    session: aiohttp.ClientSession, result: GenerationResult
) -> list[tuple[int, int]]:
    sizes = []
    for image in result.images:
        assert image.url is not None
        async with session.get(image.url) as response:
            sizes.append(Image.open(io.BytesIO(await response.read())).size)
    return sizes


def submits(fake: FakeGMI) -> list[Recorded]:
    return [c for c in fake.calls if c.method == "POST"]


def polls(fake: FakeGMI) -> list[Recorded]:
    return [c for c in fake.calls if c.method == "GET"]


def png(width: int, height: int) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), (30, 120, 200)).save(out, "PNG")
    return out.getvalue()


async def url_reference(fake: FakeGMI, width: int = 64, height: int = 48) -> Reference:
    url = await fake.publish(png(width, height), "png")
    return Reference(filename="r.png", url=url, width=width, height=height)


async def failure(fake: FakeGMI, session: aiohttp.ClientSession, **fields: object) -> ProviderError:
    with pytest.raises(ProviderError) as caught:
        await provider(fake, session).generate(request(**fields))  # type: ignore[arg-type]
    return caught.value


# --- requests and results ---------------------------------------------------------------------


async def test_constructible_like_every_adapter(session: aiohttp.ClientSession) -> None:
    gmi_provider = GMI(session, "key", "https://console.gmicloud.ai/")  # ADAPTERS[name](...)
    assert isinstance(gmi_provider, AsyncProvider) and gmi_provider.name == "gmi"
    assert gmi_provider.base_url == "https://console.gmicloud.ai"
    assert gmi_provider.models == ["seedream-4.0"] and CAPS["seedream-4.0"].seed


async def test_text_to_image_sends_the_documented_envelope(
    gmi: FakeGMI, session: aiohttp.ClientSession
) -> None:
    result = await provider(gmi, session).generate(request(aspect="16:9"))
    assert result.size == (2560, 1440) and result.provider == "gmi"
    assert await sizes_of(session, result) == [(2560, 1440)]
    assert submits(gmi)[0].json == {
        "model": "seedream-4-0-250828",
        "payload": {
            "prompt": "a fox",
            "size": "2560x1440",
            "sequential_image_generation": "disabled",
            "watermark": False,
        },
    }
    assert result.task_id in gmi.tasks
    assert len(polls(gmi)) == len(gmi.walk) + 1  # queued, processing, success


@pytest.mark.parametrize(
    ("aspect", "size"),
    [
        ("1:1", (2048, 2048)),
        ("4:3", (2304, 1728)),
        ("3:4", (1728, 2304)),
        ("16:9", (2560, 1440)),
        ("9:16", (1440, 2560)),
        ("3:2", (2496, 1664)),
        ("2:3", (1664, 2496)),
        ("21:9", (3024, 1296)),
    ],
)
async def test_2k_every_aspect_is_a_listed_size(
    gmi: FakeGMI, session: aiohttp.ClientSession, aspect: str, size: tuple[int, int]
) -> None:
    result = await provider(gmi, session).generate(request(aspect=aspect))
    assert result.size == size
    assert submits(gmi)[0].json["payload"]["size"] == f"{size[0]}x{size[1]}"


async def test_1k_and_4k_exist_only_as_squares(
    gmi: FakeGMI, session: aiohttp.ClientSession
) -> None:
    one_k = await provider(gmi, session).generate(request(resolution=Resolution.R1K))
    assert await sizes_of(session, one_k) == [(1024, 1024)]
    gmi_provider = provider(gmi, session)
    assert gmi_provider.check(request(resolution=Resolution.R4K, aspect="1:1")) == (4096, 4096)
    for resolution in (Resolution.R1K, Resolution.R4K):
        with pytest.raises(InvalidInput, match=r"only as \d+x\d+ \(1:1\); choose 2K for 16:9"):
            await gmi_provider.generate(request(resolution=resolution, aspect="16:9"))
    assert len(submits(gmi)) == 1


async def test_exact_sizes_only_from_the_documented_list(
    gmi: FakeGMI, session: aiohttp.ClientSession
) -> None:
    gmi_provider = provider(gmi, session)
    result = await gmi_provider.generate(request(size=(1728, 2304)))
    assert result.size == (1728, 2304)
    with pytest.raises(InvalidInput, match="2000x2000 is not offered"):
        await gmi_provider.generate(request(size=(2000, 2000)))
    assert len(submits(gmi)) == 1


async def test_match_snaps_to_the_nearest_listed_aspect(
    gmi: FakeGMI, session: aiohttp.ClientSession
) -> None:
    gmi_provider = provider(gmi, session)
    ref = await url_reference(gmi, 1000, 800)  # 5:4 -> 4:3
    result = await gmi_provider.generate(request(aspect="match", references=(ref,)))
    assert result.size == (2304, 1728)
    square = await url_reference(gmi, 100, 100)
    assert gmi_provider.check(
        request(aspect="match", references=(square,), resolution=Resolution.R4K)
    ) == (4096, 4096)
    narrow = await url_reference(gmi, 300, 100)  # 3:1 is 28 % away from 21:9
    with pytest.raises(InvalidInput, match="no 2K size close"):
        gmi_provider.check(request(aspect="match", references=(narrow,)))
    with pytest.raises(InvalidInput, match="or 2K"):
        gmi_provider.check(request(aspect="match", references=(ref,), resolution=Resolution.R1K))


async def test_seedream_45_is_not_offered(gmi: FakeGMI, session: aiohttp.ClientSession) -> None:
    with pytest.raises(InvalidInput, match=r"gmi does not offer seedream-4\.5"):
        await provider(gmi, session).generate(GenerationRequest(prompt="x", model="seedream-4.5"))
    assert gmi.calls == []


async def test_references_are_sent_as_urls_and_fetched(
    gmi: FakeGMI, session: aiohttp.ClientSession
) -> None:
    refs = (await url_reference(gmi), await url_reference(gmi, 40, 60))
    await provider(gmi, session).generate(request("blend", references=refs))
    assert submits(gmi)[0].json["payload"]["image"] == [ref.url for ref in refs]


async def test_unreachable_reference_is_invalid_input(
    gmi: FakeGMI, session: aiohttp.ClientSession
) -> None:
    gone = Reference(filename="gone.png", url=f"{gmi.base_url}/files/gone.png", width=64, height=48)
    error = await failure(gmi, session, references=(gone,))
    assert error.kind is ErrorKind.INVALID_INPUT and "HTTP 404" in error.message
    assert gmi.rejections == [error.detail]  # the fake really downloads references
    gmi.rejections.clear()


async def test_inline_references_refused_before_any_call(
    gmi: FakeGMI, session: aiohttp.ClientSession
) -> None:
    inline = Reference(filename="r.png", data=png(32, 32), mime="image/png", width=32, height=32)
    with pytest.raises(InvalidInput, match="only as http"):
        await provider(gmi, session).generate(request(references=(inline,)))
    assert gmi.calls == []


async def test_reference_limits_refused_before_any_call(
    gmi: FakeGMI, session: aiohttp.ClientSession
) -> None:
    ref = await url_reference(gmi)
    gmi_provider = provider(gmi, session)
    with pytest.raises(InvalidInput, match="at most 10"):
        await gmi_provider.generate(request(references=(ref,) * 11))
    with pytest.raises(InvalidInput, match="at most 15"):
        await gmi_provider.generate(request(references=(ref,) * 5, count=11))
    assert gmi.calls == []


async def test_sequence_uses_auto_and_max_images(
    gmi: FakeGMI, session: aiohttp.ClientSession
) -> None:
    ref = await url_reference(gmi)
    result = await provider(gmi, session).generate(request("seasons", count=3, references=(ref,)))
    assert len(result.images) == 3
    payload = submits(gmi)[0].json["payload"]
    assert payload["sequential_image_generation"] == "auto" and payload["max_images"] == 3
    assert "3" in payload["prompt"]


async def test_fewer_images_than_asked_is_still_a_result(
    gmi: FakeGMI, session: aiohttp.ClientSession
) -> None:
    gmi.sequence_returns = 2
    result = await provider(gmi, session).generate(request(count=4))
    assert len(result.images) == 2


async def test_seed_and_watermark_are_forwarded(
    gmi: FakeGMI, session: aiohttp.ClientSession
) -> None:
    await provider(gmi, session).generate(request(seed=1234, watermark=True))
    payload = submits(gmi)[0].json["payload"]
    assert payload["seed"] == 1234 and payload["watermark"] is True


async def test_documented_and_sdk_states_are_pending_with_progress(
    gmi: FakeGMI, session: aiohttp.ClientSession
) -> None:
    gmi.walk = ["created", "queued", "dispatched", "processing", "processing"]
    seen: list[int] = []

    async def on_progress(value: int) -> None:
        seen.append(value)

    await provider(gmi, session).generate(request(), on_progress=on_progress)
    assert seen == [0, 50]  # stage-derived; repeated values are not re-announced


async def test_task_id_is_reported_before_the_first_poll(
    gmi: FakeGMI, session: aiohttp.ClientSession
) -> None:
    seen: list[tuple[str, int]] = []

    async def on_task(task_id: str) -> None:
        seen.append((task_id, len(polls(gmi))))

    result = await provider(gmi, session).generate(request(), on_task=on_task)
    assert seen == [(result.task_id, 0)]
    assert seen[0][0] in gmi.tasks


async def test_a_request_that_never_finishes_hits_the_deadline(
    gmi: FakeGMI, session: aiohttp.ClientSession
) -> None:
    gmi.never_finish = True
    short = PollPolicy(first_delay=0.01, factor=1.5, max_interval=0.05, deadline=0.3)
    loop = asyncio.get_running_loop()
    started = loop.time()
    with pytest.raises(ProviderError) as caught:
        await provider(gmi, session, poll=short).generate(request())
    assert caught.value.kind is ErrorKind.TIMEOUT
    assert next(iter(gmi.tasks)) in caught.value.message
    assert loop.time() - started < 1.0
    assert len(polls(gmi)) >= 3


async def test_resume_polls_the_existing_request_without_a_new_one(
    gmi: FakeGMI, session: aiohttp.ClientSession
) -> None:
    gmi.never_finish = True
    short = PollPolicy(first_delay=0.01, factor=1.5, max_interval=0.05, deadline=0.2)
    ids: list[str] = []

    async def on_task(task_id: str) -> None:
        ids.append(task_id)

    with pytest.raises(ProviderError):  # the bot "restarts" while GMI is still working
        await provider(gmi, session, poll=short).generate(request(aspect="3:4"), on_task=on_task)
    gmi.never_finish = False
    result = await provider(gmi, session).resume(ids[0], request(aspect="3:4"))
    assert result.task_id == ids[0] and result.size == (1728, 2304)
    assert await sizes_of(session, result) == [(1728, 2304)]
    assert len(submits(gmi)) == 1
    assert gmi.calls[-1].path == f"{PATH}/{ids[0]}" and gmi.calls[-1].method == "GET"


async def test_resume_of_an_unknown_request_is_not_retried_forever(
    gmi: FakeGMI, session: aiohttp.ClientSession
) -> None:
    with pytest.raises(ProviderError) as caught:
        await provider(gmi, session).resume("no-such-request", request())
    assert caught.value.kind is ErrorKind.INVALID_INPUT
    assert len(gmi.calls) == 1


# --- result shapes ----------------------------------------------------------------------------


@pytest.mark.parametrize("shape", ["objects", "strings", "medias"])
async def test_result_shapes(gmi: FakeGMI, session: aiohttp.ClientSession, shape: str) -> None:
    url = await gmi.publish(await gmi.images.make(64, 64))
    outcome = {
        "objects": {"media_urls": [{"id": "0", "url": url}]},  # documented
        "strings": {"media_urls": [url]},
        "medias": {"medias": [{"id": "0", "url": url}]},  # read by a third-party client
    }[shape]
    gmi.fail_next(
        STATUS, Scripted(200, {"request_id": "x", "status": "success", "outcome": outcome})
    )
    result = await provider(gmi, session).generate(request())
    assert [image.url for image in result.images] == [url]


async def test_success_without_images_is_transient(
    gmi: FakeGMI, session: aiohttp.ClientSession
) -> None:
    gmi.fail_next(STATUS, Scripted(200, {"request_id": "x", "status": "success", "outcome": {}}))
    error = await failure(gmi, session)
    assert error.kind is ErrorKind.TRANSIENT and "without images" in error.message


async def test_submit_without_request_id_is_transient(
    gmi: FakeGMI, session: aiohttp.ClientSession
) -> None:
    gmi.fail_next(PATH, Scripted(200, {"status": "queued"}))
    error = await failure(gmi, session)
    assert error.kind is ErrorKind.TRANSIENT and "request_id" in error.message


async def test_failed_at_submit_raises_without_polling(
    gmi: FakeGMI, session: aiohttp.ClientSession
) -> None:
    body = {"request_id": "r1", "status": "failed", "error": MODERATION_ERROR}
    gmi.fail_next(PATH, Scripted(200, body))
    error = await failure(gmi, session)
    assert error.kind is ErrorKind.MODERATION
    assert [c.method for c in gmi.calls] == ["POST"]


# --- errors -----------------------------------------------------------------------------------


async def test_blocked_prompt_fails_the_request_as_moderation(
    gmi: FakeGMI, session: aiohttp.ClientSession
) -> None:
    error = await failure(gmi, session, prompt="something forbidden")
    assert error.kind is ErrorKind.MODERATION and not error.kind.fails_over
    assert "sensitive" in error.message


@pytest.mark.parametrize("shape", ["string", "object", "outcome"])
@pytest.mark.parametrize(
    ("reason", "kind"),
    [
        ("InputTextSensitiveContentDetected: input text may be sensitive", ErrorKind.MODERATION),
        ("InputImageSensitiveContentDetected.PrivacyInformation: person", ErrorKind.MODERATION),
        ("OutputImageSensitiveContentDetected: output may be sensitive", ErrorKind.MODERATION),
        ("InputImageRiskDetection: risk", ErrorKind.MODERATION),
        ("content policy violation", ErrorKind.MODERATION),
        ("InvalidParameter: Timeout while downloading url=https://x/y", ErrorKind.INVALID_INPUT),
        ("could not download the reference image: timeout", ErrorKind.INVALID_INPUT),
        ("AccountOverdueError: account in arrears", ErrorKind.QUOTA),
        ("insufficient balance", ErrorKind.QUOTA),
        ("ModelNotOpen: activate the model first", ErrorKind.AUTH),
        ("RateLimitExceeded.EndpointRPMExceeded: slow down", ErrorKind.RATE_LIMITED),
        ("ServerOverloaded: busy", ErrorKind.RATE_LIMITED),
        ("inference timed out", ErrorKind.TIMEOUT),
        ("InternalServiceError: boom", ErrorKind.TRANSIENT),
        ("something unexpected", ErrorKind.TRANSIENT),
    ],
)
async def test_request_failures_map_individually(
    gmi: FakeGMI, session: aiohttp.ClientSession, shape: str, reason: str, kind: ErrorKind
) -> None:
    gmi.error_shape = shape
    gmi.end_next("failed", reason)
    error = await failure(gmi, session)
    assert error.kind is kind, (reason, shape, error.message)
    assert error.provider == "gmi" and next(iter(gmi.tasks)) in error.message


async def test_failure_without_reason_and_cancellation(
    gmi: FakeGMI, session: aiohttp.ClientSession
) -> None:
    gmi.end_next("failed")
    error = await failure(gmi, session)
    assert error.kind is ErrorKind.TRANSIENT and "no reason given" in error.message
    gmi.end_next("cancelled")
    error = await failure(gmi, session)
    assert error.kind is ErrorKind.TRANSIENT and "cancelled" in error.message


@pytest.mark.parametrize(
    ("status", "body", "kind"),
    [
        (400, {"error": "size is not supported"}, ErrorKind.INVALID_INPUT),
        (400, {"error": "The prompt may contain sensitive content"}, ErrorKind.MODERATION),
        (400, {"message": "insufficient credits"}, ErrorKind.QUOTA),
        (401, {"error": "Unauthorized"}, ErrorKind.AUTH),
        (403, {"error": "forbidden"}, ErrorKind.AUTH),
        (403, {"error": {"code": "AccountOverdueError", "message": "overdue"}}, ErrorKind.QUOTA),
        (402, {"detail": "payment required"}, ErrorKind.QUOTA),
        (404, {"error": "ModelNotOpen"}, ErrorKind.AUTH),
        (429, {"error": "rate limit exceeded"}, ErrorKind.RATE_LIMITED),
        (500, {"error": "internal error"}, ErrorKind.TRANSIENT),
        (500, {"error": "OutputImageSensitiveContentDetected"}, ErrorKind.MODERATION),
        (502, None, ErrorKind.TRANSIENT),
        (503, {"error": "service unavailable"}, ErrorKind.TRANSIENT),
        (504, {"error": "gateway timeout"}, ErrorKind.TIMEOUT),
    ],
)
async def test_http_errors_map_to_taxonomy(
    gmi: FakeGMI,
    session: aiohttp.ClientSession,
    status: int,
    body: dict[str, object] | None,
    kind: ErrorKind,
) -> None:
    raw = b"<html>Bad gateway</html>" if body is None else None
    gmi.fail_next(PATH, Scripted(status, body, {"Retry-After": "4"}, raw=raw))
    error = await failure(gmi, session)
    assert error.kind is kind and error.provider == "gmi"
    assert error.message.startswith(f"HTTP {status}")
    assert error.retry_after == 4.0


async def test_throttled_submit_carries_retry_after(
    gmi: FakeGMI, session: aiohttp.ClientSession
) -> None:
    gmi.throttle(retry_after=7)
    error = await failure(gmi, session)
    assert error.kind is ErrorKind.RATE_LIMITED and error.retry_after == 7.0
    assert error.kind.retryable and error.kind.fails_over
    assert len(gmi.tasks) == 0
    result = await provider(gmi, session).generate(request())  # the throttle has passed
    assert len(result.images) == 1


async def test_polls_survive_throttling_and_outages(
    gmi: FakeGMI, session: aiohttp.ClientSession
) -> None:
    gmi.fail_next(STATUS, Scripted(429, {"error": "slow down"}, {"Retry-After": "1"}))
    gmi.fail_next(STATUS, Scripted(503, raw=b"unavailable"))
    result = await provider(gmi, session).generate(request())
    assert len(result.images) == 1
    assert len(gmi.tasks) == 1  # polling retried; nothing was submitted twice


async def test_wrong_key_is_auth_and_never_shown(
    gmi: FakeGMI, session: aiohttp.ClientSession
) -> None:
    wrong = "gmi-wrong-key-9876543210"
    with pytest.raises(ProviderError) as caught:
        await provider(gmi, session, key=wrong).generate(request())
    assert caught.value.kind is ErrorKind.AUTH
    assert wrong not in str(caught.value) and wrong not in repr(provider(gmi, session, key=wrong))


async def test_key_echoed_by_an_error_body_is_scrubbed(
    gmi: FakeGMI, session: aiohttp.ClientSession
) -> None:
    echoed = {"error": f"invalid token Bearer {gmi.api_key}"}
    gmi.fail_next(PATH, Scripted(401, echoed))
    error = await failure(gmi, session)
    assert gmi.api_key not in str(error) and gmi.api_key not in (error.detail or "")
    gmi.end_next("failed", f"upstream rejected key {gmi.api_key}")
    error = await failure(gmi, session)
    assert gmi.api_key not in str(error) and gmi.api_key not in (error.detail or "")
    assert "[redacted]" in str(error)


# --- the fake itself: its rules must bite, or "no rejections" above proves nothing ------------


@pytest.mark.parametrize(
    ("change", "complaint"),
    [
        ({"style": "anime"}, "unknown payload field"),
        ({"size": "1536x1536"}, "size must be one of"),
        ({"size": "2k"}, "size must be one of"),
        ({"image": "data:image/png;base64,AAAA"}, "must be an http"),
        ({"image": []}, "1 to 10"),
        ({"max_images": 0}, "positive integer"),
        ({"max_images": 16}, "at most 15"),
        ({"seed": 2**31}, "seed must be"),
        ({"seed": True}, "seed must be"),
        ({"watermark": "no"}, "watermark must be"),
        ({"sequential_image_generation": "on"}, "disabled or auto"),
        ({"prompt": "x" * 2001}, "2000 characters"),
        ({"prompt": " "}, "prompt is required"),
    ],
)
async def test_fake_enforces_documented_payload_rules(
    gmi: FakeGMI, session: aiohttp.ClientSession, change: dict[str, object], complaint: str
) -> None:
    payload = {"prompt": "x", "size": "2K", **change}
    body = {"model": "seedream-4-0-250828", "payload": payload}
    headers = {"Authorization": f"Bearer {gmi.api_key}"}
    async with session.post(gmi.base_url + PATH, json=body, headers=headers) as response:
        assert response.status == 400
        assert complaint in (await response.json())["error"]
    assert len(gmi.rejections) == 1 and not gmi.tasks
    gmi.rejections.clear()


async def test_fake_enforces_envelope_and_reference_limits(
    gmi: FakeGMI, session: aiohttp.ClientSession
) -> None:
    headers = {"Authorization": f"Bearer {gmi.api_key}"}
    url = (await url_reference(gmi)).url
    wide = (await url_reference(gmi, 400, 100)).url
    bodies = [
        {"model": "seedream-4.0", "payload": {"prompt": "x"}},
        {"model": "seedream-4-0-250828", "payload": {"prompt": "x"}, "extra": 1},
        {"model": "seedream-4-0-250828", "payload": {"prompt": "x", "image": [url] * 11}},
        {
            "model": "seedream-4-0-250828",
            "payload": {"prompt": "x", "image": [url] * 6, "max_images": 10},
        },
        {"model": "seedream-4-0-250828", "payload": {"prompt": "x", "image": wide}},
    ]
    for body in bodies:
        async with session.post(gmi.base_url + PATH, json=body, headers=headers) as response:
            assert response.status == 400, body
    assert len(gmi.rejections) == len(bodies) and not gmi.tasks
    gmi.rejections.clear()
    single = {"model": "seedream-4-0-250828", "payload": {"prompt": "x", "image": url}}
    async with session.post(gmi.base_url + PATH, json=single, headers=headers) as response:
        assert response.status == 200 and (await response.json())["status"] == "queued"
