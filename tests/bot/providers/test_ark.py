"""ModelArk adapter against the fake that enforces providers.md §5."""

from __future__ import annotations

import io
import time
from typing import Any

import aiohttp
import pytest
from PIL import Image

from bot.errors import ErrorKind, InvalidInput, ProviderError
from bot.providers.ark import Ark
from bot.providers.base import AsyncProvider
from bot.providers.models import GenerationRequest, GenerationResult, Reference, Resolution
from bot.providers.router import Router
from tests.fakes.providers.ark import MESSAGES, SEEDREAM_40, FakeArk, error_body
from tests.fakes.providers.common import Scripted


def encoded(width: int, height: int, fmt: str = "PNG") -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), (30, 120, 200)).save(out, fmt)
    return out.getvalue()


def ref(width: int = 64, height: int = 48, fmt: str = "PNG") -> Reference:
    return Reference(
        filename=f"r.{fmt.lower()}",
        data=encoded(width, height, fmt),
        mime=f"image/{fmt.lower()}",
        width=width,
        height=height,
    )


async def run(
    fake: FakeArk, request: GenerationRequest, **options: Any
) -> tuple[GenerationResult, list[bytes]]:
    """Generate, then fetch every result exactly as the bot would (URLs used verbatim)."""
    async with aiohttp.ClientSession() as session:
        provider = Ark(session, fake.api_key, fake.base_url, **options)
        result = await provider.generate(request)
        blobs = []
        for image in result.images:
            if image.data is not None:
                blobs.append(image.data)
                continue
            assert image.url is not None
            async with session.get(image.url) as response:
                assert response.status == 200, await response.text()
                blobs.append(await response.read())
        return result, blobs


async def failure(fake: FakeArk, request: GenerationRequest, **options: Any) -> ProviderError:
    with pytest.raises(ProviderError) as caught:
        await run(fake, request, **options)
    assert caught.value.provider == "ark"
    return caught.value


def pixels(blob: bytes) -> tuple[int, int]:
    with Image.open(io.BytesIO(blob)) as img:
        assert img.format == "JPEG"
        return img.size


def last_body(fake: FakeArk) -> dict[str, Any]:
    body = fake.calls_to("/api/v3/images/generations")[-1].json
    assert isinstance(body, dict)
    return body


# --- text to image, sizes ----------------------------------------------------------------------


async def test_text_to_image_40_sends_the_documented_body(ark: FakeArk) -> None:
    request = GenerationRequest(prompt="a fox", model="seedream-4.0", aspect="16:9")
    result, blobs = await run(ark, request)
    assert last_body(ark) == {
        "model": "seedream-4-0-250828",
        "prompt": "a fox",
        "size": "2560x1440",
        "sequential_image_generation": "disabled",
        "response_format": "url",
        "stream": False,
        "watermark": False,
    }
    assert result.size == (2560, 1440) and [pixels(b) for b in blobs] == [(2560, 1440)]
    assert result.task_id is None and result.model == "seedream-4.0"
    call = ark.calls[-1]
    assert call.headers["Content-Type"] == "application/json"


async def test_text_to_image_45_default_and_watermark(ark: FakeArk) -> None:
    request = GenerationRequest(prompt="a fox", model="seedream-4.5", watermark=True)
    result, blobs = await run(ark, request)
    body = last_body(ark)
    assert body["model"] == "seedream-4-5-251128" and body["watermark"] is True
    assert body["size"] == "2048x2048"
    assert result.size == (2048, 2048) and pixels(blobs[0]) == (2048, 2048)


async def test_1k_on_45_refused_before_any_call(ark: FakeArk) -> None:
    request = GenerationRequest(prompt="x", model="seedream-4.5", resolution=Resolution.R1K)
    with pytest.raises(InvalidInput, match="1K"):
        await run(ark, request)
    assert ark.calls == []


async def test_1k_on_40_reaches_arks_1280x720_floor(ark: FakeArk) -> None:
    for aspect, expected in (("16:9", (1280, 720)), ("1:1", (1024, 1024))):
        request = GenerationRequest(
            prompt="x", model="seedream-4.0", resolution=Resolution.R1K, aspect=aspect
        )
        result, _ = await run(ark, request)
        assert result.size == expected and last_body(ark)["size"] == "{}x{}".format(*expected)


async def test_4k_wide_may_exceed_4096_per_side_within_total_pixels(ark: FakeArk) -> None:
    for model in ("seedream-4.0", "seedream-4.5"):
        request = GenerationRequest(
            prompt="x", model=model, resolution=Resolution.R4K, aspect="21:9"
        )
        result, _ = await run(ark, request)
        w, h = result.size
        assert w > 4096 and w * h <= 4096 * 4096 and abs(w / h - 21 / 9) < 0.02


async def test_explicit_size_below_45_minimum_refused(ark: FakeArk) -> None:
    request = GenerationRequest(prompt="x", model="seedream-4.5", size=(2048, 1536))
    with pytest.raises(InvalidInput, match="3,686,400"):
        await run(ark, request)
    assert ark.calls == []


async def test_seed_is_not_offered(ark: FakeArk) -> None:
    with pytest.raises(InvalidInput, match="seed"):
        await run(ark, GenerationRequest(prompt="x", model="seedream-4.0", seed=7))
    assert ark.calls == []


# --- response formats ---------------------------------------------------------------------------


async def test_b64_json_results_become_bytes(ark: FakeArk) -> None:
    request = GenerationRequest(prompt="x", model="seedream-4.5", count=2)
    result, blobs = await run(ark, request, response_format="b64_json")
    assert last_body(ark)["response_format"] == "b64_json"
    assert all(image.url is None and image.data for image in result.images)
    assert [pixels(b) for b in blobs] == [(2048, 2048)] * 2


async def test_signed_result_url_is_used_verbatim(ark: FakeArk) -> None:
    result, _ = await run(ark, GenerationRequest(prompt="x", model="seedream-4.0"))
    url = result.images[0].url
    assert url is not None and "&X-Tos-Expires=86400&" in url
    async with aiohttp.ClientSession() as session, session.get(url.split("&")[0]) as cut:
        assert cut.status == 403  # the fake checks the whole signed query string


async def test_actual_size_reported_by_ark_wins(ark: FakeArk) -> None:
    body = {
        "model": "seedream-4-0-250828",
        "created": 1757323224,
        "data": [{"url": "https://example.invalid/a.jpeg?X=1&Y=2", "size": "1760x2368"}],
        "usage": {"generated_images": 1, "output_tokens": 16280, "total_tokens": 16280},
    }
    ark.fail_next("/images/generations", Scripted(200, body))
    async with aiohttp.ClientSession() as session:
        provider = Ark(session, ark.api_key, ark.base_url)
        result = await provider.generate(GenerationRequest(prompt="x", model="seedream-4.0"))
    assert result.size == (1760, 2368)
    assert result.images[0].url == "https://example.invalid/a.jpeg?X=1&Y=2"


@pytest.mark.parametrize(
    ("body", "kind"),
    [
        ({"model": "m", "data": []}, ErrorKind.TRANSIENT),
        ({"model": "m", "data": [{"b64_json": "not base64!", "size": "1x1"}]}, ErrorKind.TRANSIENT),
        (["not", "an", "object"], ErrorKind.TRANSIENT),
        (error_body("OutputImageSensitiveContentDetected")[1], ErrorKind.MODERATION),
        (error_body("InternalServiceError")[1], ErrorKind.TRANSIENT),
        ({"error": {"code": "SomethingNew", "message": "odd"}}, ErrorKind.TRANSIENT),
    ],
)
async def test_unusable_200_bodies(ark: FakeArk, body: Any, kind: ErrorKind) -> None:
    ark.fail_next("/images/generations", Scripted(200, body))
    assert (await failure(ark, GenerationRequest(prompt="x", model="seedream-4.0"))).kind is kind


# --- references ---------------------------------------------------------------------------------


async def test_one_reference_is_a_string_several_an_array(ark: FakeArk) -> None:
    one = GenerationRequest(prompt="edit", model="seedream-4.0", references=(ref(),))
    await run(ark, one)
    assert last_body(ark)["image"].startswith("data:image/png;base64,")
    many = GenerationRequest(
        prompt="edit", model="seedream-4.5", references=(ref(), ref(40, 40, "JPEG"))
    )
    await run(ark, many)
    image = last_body(ark)["image"]
    assert isinstance(image, list) and len(image) == 2
    assert image[1].startswith("data:image/jpeg;base64,")


async def test_url_reference_is_passed_through_and_fetched(ark: FakeArk) -> None:
    url = await ark.publish(encoded(80, 60, "JPEG"))
    remote = Reference(filename="r.jpeg", url=url, mime="image/jpeg", width=80, height=60)
    await run(ark, GenerationRequest(prompt="edit", model="seedream-4.0", references=(remote,)))
    assert last_body(ark)["image"] == url


async def test_reference_limits_per_model(ark: FakeArk) -> None:
    cases = [
        (
            GenerationRequest(prompt="x", model="seedream-4.0", references=(ref(),) * 11),
            "at most 10",
        ),
        (
            GenerationRequest(prompt="x", model="seedream-4.0", references=(ref(64, 64, "WEBP"),)),
            "webp",
        ),
        (GenerationRequest(prompt="x", model="seedream-4.0", references=(ref(200, 50),)), "1:3"),
        (
            GenerationRequest(prompt="x", model="seedream-4.5", references=(ref(),) * 15),
            "at most 14",
        ),
        (GenerationRequest(prompt="x", model="seedream-4.5", references=(ref(10, 40),)), "14 px"),
    ]
    for request, message in cases:
        with pytest.raises(InvalidInput, match=message):
            await run(ark, request)
    assert ark.calls == []


async def test_45_takes_webp_wide_references_and_fourteen_of_them(ark: FakeArk) -> None:
    wide = GenerationRequest(
        prompt="x", model="seedream-4.5", references=(ref(64, 64, "WEBP"), ref(200, 50))
    )
    await run(ark, wide)
    full = GenerationRequest(prompt="x", model="seedream-4.5", references=(ref(32, 32),) * 14)
    await run(ark, full)
    assert len(last_body(ark)["image"]) == 14


# --- sequences ----------------------------------------------------------------------------------


async def test_sequences_on_both_models(ark: FakeArk) -> None:
    _, blobs = await run(ark, GenerationRequest(prompt="seasons", model="seedream-4.0", count=3))
    body = last_body(ark)
    assert len(blobs) == 3 and "3" in body["prompt"]
    assert body["sequential_image_generation"] == "auto"
    assert body["sequential_image_generation_options"] == {"max_images": 3}
    request = GenerationRequest(
        prompt="story", model="seedream-4.5", count=4, references=(ref(), ref())
    )
    result, blobs = await run(ark, request)
    assert len(blobs) == 4 and len(result.images) == 4


async def test_model_may_return_fewer_images(ark: FakeArk) -> None:
    ark.sequence_returns = 2
    result, _ = await run(ark, GenerationRequest(prompt="x", model="seedream-4.0", count=5))
    assert len(result.images) == 2


async def test_references_plus_images_over_15_refused(ark: FakeArk) -> None:
    request = GenerationRequest(prompt="x", model="seedream-4.5", references=(ref(),) * 5, count=11)
    with pytest.raises(InvalidInput, match="at most 15"):
        await run(ark, request)
    assert ark.calls == []


async def test_group_returns_the_images_that_succeeded(ark: FakeArk) -> None:
    ark.output_errors = {1: "OutputImageSensitiveContentDetected"}
    result, blobs = await run(ark, GenerationRequest(prompt="x", model="seedream-4.0", count=3))
    assert len(result.images) == 2 and len(blobs) == 2


async def test_group_all_blocked_is_moderation(ark: FakeArk) -> None:
    ark.output_errors = {
        0: "OutputImageSensitiveContentDetected",
        1: "OutputImageRiskDetection",
    }
    err = await failure(ark, GenerationRequest(prompt="x", model="seedream-4.5", count=2))
    assert err.kind is ErrorKind.MODERATION and "OutputImageSensitiveContentDetected" in err.message


async def test_group_all_failed_otherwise_is_transient(ark: FakeArk) -> None:
    ark.output_errors = {0: "OutputImageSensitiveContentDetected", 1: "InternalServiceError"}
    err = await failure(ark, GenerationRequest(prompt="x", model="seedream-4.5", count=2))
    assert err.kind is ErrorKind.TRANSIENT and "InternalServiceError" in err.message


async def test_single_image_output_blocked_is_moderation(ark: FakeArk) -> None:
    ark.output_errors = {0: "OutputImageSensitiveContentDetected"}
    err = await failure(ark, GenerationRequest(prompt="x", model="seedream-4.0"))
    assert err.kind is ErrorKind.MODERATION


# --- errors -------------------------------------------------------------------------------------


async def test_prompt_moderation_from_the_fake(ark: FakeArk) -> None:
    err = await failure(ark, GenerationRequest(prompt="something forbidden", model="seedream-4.0"))
    assert err.kind is ErrorKind.MODERATION and "InputTextSensitiveContentDetected" in err.message


_EXPECTED: dict[str, ErrorKind] = {
    "MissingParameter": ErrorKind.INVALID_INPUT,
    "InvalidParameter": ErrorKind.INVALID_INPUT,
    "SensitiveContentDetected": ErrorKind.MODERATION,
    "SensitiveContentDetected.SevereViolation": ErrorKind.MODERATION,
    "SensitiveContentDetected.Violence": ErrorKind.MODERATION,
    "InputTextSensitiveContentDetected": ErrorKind.MODERATION,
    "InputImageSensitiveContentDetected": ErrorKind.MODERATION,
    "InputImageSensitiveContentDetected.PrivacyInformation": ErrorKind.MODERATION,
    "OutputImageSensitiveContentDetected": ErrorKind.MODERATION,
    "InputTextRiskDetection": ErrorKind.MODERATION,
    "InputImageRiskDetection": ErrorKind.MODERATION,
    "OutputImageRiskDetection": ErrorKind.MODERATION,
    "InvalidEndpoint.ClosedEndpoint": ErrorKind.AUTH,
    "AuthenticationError": ErrorKind.AUTH,
    "AccountOverdueError": ErrorKind.QUOTA,
    "AccessDenied": ErrorKind.AUTH,
    "InvalidEndpoint.NotFound": ErrorKind.AUTH,
    "InvalidEndpointOrModel.NotFound": ErrorKind.AUTH,
    "ModelNotOpen": ErrorKind.AUTH,
    "RateLimitExceeded.EndpointRPMExceeded": ErrorKind.RATE_LIMITED,
    "RateLimitExceeded.EndpointTPMExceeded": ErrorKind.RATE_LIMITED,
    "ServerOverloaded": ErrorKind.RATE_LIMITED,
    "RequestBurstTooFast": ErrorKind.RATE_LIMITED,
    "AccountRateLimitExceeded": ErrorKind.RATE_LIMITED,
    "QuotaExceeded": ErrorKind.QUOTA,
    "SetLimitExceeded": ErrorKind.QUOTA,
    "InternalServiceError": ErrorKind.TRANSIENT,
}


def test_every_documented_code_has_an_expectation() -> None:
    assert set(_EXPECTED) == set(MESSAGES)


@pytest.mark.parametrize("code", sorted(_EXPECTED))
async def test_documented_error_codes(ark: FakeArk, code: str) -> None:
    status, body = error_body(code)
    ark.fail_next("/images/generations", Scripted(status, body, {"Retry-After": "7"}))
    err = await failure(ark, GenerationRequest(prompt="x", model="seedream-4.0"))
    assert err.kind is _EXPECTED[code]
    assert code in err.message and f"HTTP {status}" in err.message
    assert err.detail is not None and "Request id" in err.detail
    if err.kind is ErrorKind.RATE_LIMITED:
        assert err.retry_after == 7.0
    if err.kind in (ErrorKind.AUTH, ErrorKind.QUOTA):
        assert "ModelArk console" in err.message  # the admin learns where to fix it


@pytest.mark.parametrize(
    ("status", "body", "kind"),
    [
        (502, None, ErrorKind.TRANSIENT),
        (503, {"error": {"code": "Unknown", "message": "busy"}}, ErrorKind.TRANSIENT),
        (504, None, ErrorKind.TIMEOUT),
        (400, {"error": {"code": "New", "message": "image is sensitive"}}, ErrorKind.MODERATION),
        (400, {"message": "bad size"}, ErrorKind.INVALID_INPUT),
    ],
)
async def test_undocumented_errors_fall_back_to_the_status(
    ark: FakeArk, status: int, body: Any, kind: ErrorKind
) -> None:
    raw = b"<html>gateway</html>" if body is None else None
    ark.fail_next("/images/generations", Scripted(status, body, raw=raw))
    assert (await failure(ark, GenerationRequest(prompt="x", model="seedream-4.0"))).kind is kind


async def test_model_not_activated_on_the_account(ark: FakeArk) -> None:
    ark.not_activated.add("seedream-4-5-251128")
    err = await failure(ark, GenerationRequest(prompt="x", model="seedream-4.5"))
    assert err.kind is ErrorKind.AUTH and "ModelNotOpen" in err.message
    assert err.kind.fails_over  # another provider can still serve the member
    await run(ark, GenerationRequest(prompt="x", model="seedream-4.0"))


async def test_rpm_limit_gives_429_with_retry_after(ark: FakeArk) -> None:
    ark.rpm = 1
    await run(ark, GenerationRequest(prompt="x", model="seedream-4.0"))
    err = await failure(ark, GenerationRequest(prompt="x", model="seedream-4.0"))
    assert err.kind is ErrorKind.RATE_LIMITED and "EndpointRPMExceeded" in err.message
    assert err.retry_after is not None and 1 <= err.retry_after <= 61


async def test_router_waits_retry_after_then_succeeds(ark: FakeArk) -> None:
    status, body = error_body("ServerOverloaded")
    ark.fail_next("/images/generations", Scripted(status, body, {"Retry-After": "0.3"}))
    async with aiohttp.ClientSession() as session:
        router = Router([Ark(session, ark.api_key, ark.base_url)], backoff=0.0)
        start = time.monotonic()
        result = await router.generate(GenerationRequest(prompt="x", model="seedream-4.0"))
    assert time.monotonic() - start >= 0.3
    assert len(result.images) == 1 and len(ark.calls_to("/images/generations")) == 2


async def test_synchronous_call_times_out(ark: FakeArk) -> None:
    ark.latency = 0.6
    err = await failure(
        ark, GenerationRequest(prompt="x", model="seedream-4.0"), request_timeout=0.2
    )
    assert err.kind is ErrorKind.TIMEOUT and "no answer within" in err.message


async def test_sequences_get_a_longer_budget(ark: FakeArk) -> None:
    ark.latency = 0.6  # longer than the one-image budget below
    request = GenerationRequest(prompt="x", model="seedream-4.0", count=3)
    result, _ = await run(ark, request, request_timeout=0.2, per_extra_image=1.5)
    assert len(result.images) == 3


async def test_default_timeouts_are_long_enough_for_a_synchronous_call() -> None:
    async with aiohttp.ClientSession() as session:
        provider = Ark(session, "k", "https://ark.example")
    assert provider.timeout_for(1) >= 180
    assert provider.timeout_for(15) >= provider.timeout_for(1) + 14 * 40


async def test_wrong_key_is_auth_and_never_shown(ark: FakeArk) -> None:
    async with aiohttp.ClientSession() as session:
        provider = Ark(session, "ark-wrong-secret-key", ark.base_url)
        with pytest.raises(ProviderError) as caught:
            await provider.generate(GenerationRequest(prompt="x", model="seedream-4.0"))
        assert "ark-wrong-secret-key" not in repr(provider)
    err = caught.value
    assert err.kind is ErrorKind.AUTH and "AuthenticationError" in err.message
    for text in (str(err), err.message, err.detail or "", err.public_message, repr(err)):
        assert "ark-wrong-secret-key" not in text


async def test_key_echoed_by_a_body_is_scrubbed(ark: FakeArk) -> None:
    message = f"The API key {ark.api_key} is invalid."
    status, body = error_body("InvalidParameter", message)
    ark.fail_next("/images/generations", Scripted(status, body))
    err = await failure(ark, GenerationRequest(prompt="x", model="seedream-4.0"))
    assert err.kind is ErrorKind.INVALID_INPUT and "[redacted]" in err.message
    for text in (str(err), err.message, err.detail or "", err.public_message):
        assert ark.api_key not in text


# --- synchronous: no task, nothing to resume ----------------------------------------------------


async def test_no_task_id_or_progress_is_reported(ark: FakeArk) -> None:
    seen: list[object] = []

    async def on_task(task_id: str) -> None:
        seen.append(task_id)

    async def on_progress(percent: int) -> None:
        seen.append(percent)

    async with aiohttp.ClientSession() as session:
        provider = Ark(session, ark.api_key, ark.base_url)
        assert not isinstance(provider, AsyncProvider)
        result = await provider.generate(
            GenerationRequest(prompt="x", model="seedream-4.0"),
            on_task=on_task,
            on_progress=on_progress,
            idempotency_key="job-1-ark-0",
        )
    assert seen == [] and result.task_id is None
    assert "job-1-ark-0" not in str(ark.calls[-1].headers)  # Ark documents no idempotency key


async def test_router_refuses_to_resume_an_ark_job(ark: FakeArk) -> None:
    async with aiohttp.ClientSession() as session:
        router = Router([Ark(session, ark.api_key, ark.base_url)])
        with pytest.raises(ProviderError) as caught:
            await router.resume("ark", "any", GenerationRequest(prompt="x", model="seedream-4.0"))
    assert caught.value.kind is ErrorKind.CONFIG and ark.calls == []


# --- model ids per region -----------------------------------------------------------------------


async def test_volcengine_host_uses_doubao_ids() -> None:
    async with aiohttp.ClientSession() as session:
        provider = Ark(session, "k", "https://ark.cn-beijing.volces.com")
        payload = provider.build_payload(
            GenerationRequest(prompt="x", model="seedream-4.5"), (2048, 2048)
        )
    assert payload["model"] == "doubao-seedream-4-5-251128"


async def test_endpoint_ids_can_replace_model_ids(ark: FakeArk) -> None:
    ark.models["ep-20250101-abcde"] = SEEDREAM_40
    ids = {"seedream-4.0": "ep-20250101-abcde", "seedream-4.5": "seedream-4-5-251128"}
    await run(ark, GenerationRequest(prompt="x", model="seedream-4.0"), model_ids=ids)
    assert last_body(ark)["model"] == "ep-20250101-abcde"


# --- the fake itself is strict (otherwise the teardown check proves nothing) ---------------------


@pytest.mark.parametrize(
    ("change", "needle"),
    [
        ({"n": 2}, "unknown field"),
        ({"guidance_scale": 2.5}, "unknown field"),
        ({"size": "1K", "model": "seedream-4-5-251128"}, "size"),
        ({"size": "900x900"}, "total pixels"),
        ({"size": "4096x240"}, "aspect ratio"),
        ({"watermark": "no"}, "boolean"),
        ({"stream": True}, "stream"),
        ({"response_format": "png"}, "response_format"),
        ({"optimize_prompt_options": {"mode": "fast"}, "model": "seedream-4-5-251128"}, "mode"),
        ({"sequential_image_generation": "on"}, "auto or disabled"),
        ({"sequential_image_generation_options": {"max_images": 16}}, "[1, 15]"),
        ({"seed": 2**31}, "seed"),
        ({"image": ["data:image/PNG;base64,AAAA"]}, "lower case"),
        ({"image": ["ftp://x/y.png"]}, "URL"),
        ({"prompt": ""}, "prompt"),
    ],
)
async def test_fake_rejects_what_ark_documents_as_invalid(
    ark: FakeArk, change: dict[str, Any], needle: str
) -> None:
    body = {"model": "seedream-4-0-250828", "prompt": "x", **change}
    status = await post_raw(ark, body)
    assert status == 400
    assert any(needle in rejection for rejection in ark.rejections), ark.rejections
    ark.rejections.clear()


async def test_fake_checks_reference_counts_and_images(ark: FakeArk) -> None:
    small = ref(32, 32).data_url()
    too_many = {"model": "seedream-4-0-250828", "prompt": "x", "image": [small] * 11}
    wide = {"model": "seedream-4-0-250828", "prompt": "x", "image": ref(200, 50).data_url()}
    webp = {"model": "seedream-4-0-250828", "prompt": "x", "image": ref(32, 32, "WEBP").data_url()}
    crowded = {
        "model": "seedream-4-5-251128",
        "prompt": "x",
        "image": [small] * 5,
        "sequential_image_generation": "auto",
        "sequential_image_generation_options": {"max_images": 11},
    }
    for body in (too_many, wide, webp, crowded):
        assert await post_raw(ark, body) == 400
    assert len(ark.rejections) == 4
    ark.rejections.clear()


async def post_raw(fake: FakeArk, body: Any) -> int:
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            fake.base_url + "/api/v3/images/generations",
            json=body,
            headers={"Authorization": f"Bearer {fake.api_key}"},
        ) as response,
    ):
        payload = await response.json()
        assert set(payload["error"]) == {"code", "message", "param", "type"}
        return response.status
