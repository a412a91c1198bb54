"""MyRouter adapter against the fake that enforces seeds 000/001."""

from __future__ import annotations

import io

import aiohttp
import pytest
from PIL import Image

from bot.errors import ErrorKind, InvalidInput, ProviderError
from bot.providers.models import GenerationRequest, Reference, Resolution
from bot.providers.myrouter import MyRouter
from tests.fakes.providers.common import Scripted
from tests.fakes.providers.myrouter import FakeMyRouter


def png(width: int, height: int) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), (200, 30, 30)).save(out, "PNG")
    return out.getvalue()


async def run(
    fake: FakeMyRouter, request: GenerationRequest
) -> tuple[list[bytes], tuple[int, int]]:
    async with aiohttp.ClientSession() as session:
        provider = MyRouter(session, fake.api_key, fake.base_url)
        result = await provider.generate(request)
        blobs = []
        for image in result.images:
            assert image.url is not None
            async with session.get(image.url) as response:
                blobs.append(await response.read())
        return blobs, result.size


async def test_text_to_image_40_uses_recommended_size(myrouter: FakeMyRouter) -> None:
    blobs, size = await run(
        myrouter, GenerationRequest(prompt="a fox", model="seedream-4.0", aspect="16:9")
    )
    assert size == (2560, 1440)
    assert Image.open(io.BytesIO(blobs[0])).size == (2560, 1440)
    body = myrouter.calls_to("/v3/seedream-4.0")[0].json
    assert body == {
        "prompt": "a fox",
        "size": "2560x1440",
        "watermark": False,
        "sequential_image_generation": "disabled",
    }


async def test_45_items_as_objects_or_strings(myrouter: FakeMyRouter) -> None:
    for items in ("object", "string"):
        myrouter.items = items
        blobs, size = await run(myrouter, GenerationRequest(prompt="x", model="seedream-4.5"))
        assert len(blobs) == 1 and size == (2048, 2048)


async def test_1k_on_45_refused_before_any_call(myrouter: FakeMyRouter) -> None:
    request = GenerationRequest(prompt="x", model="seedream-4.5", resolution=Resolution.R1K)
    with pytest.raises(InvalidInput, match="1K"):
        await run(myrouter, request)
    assert myrouter.calls == []


async def test_1k_on_40_meets_minimum_pixels(myrouter: FakeMyRouter) -> None:
    for aspect in ("4:3", "21:9", "9:16"):
        request = GenerationRequest(
            prompt="x", model="seedream-4.0", resolution=Resolution.R1K, aspect=aspect
        )
        _, (w, h) = await run(myrouter, request)
        assert 1024 * 1024 <= w * h <= 1.1 * 1024 * 1024


async def test_4k_sizes_stay_within_range(myrouter: FakeMyRouter) -> None:
    for model in ("seedream-4.0", "seedream-4.5"):
        request = GenerationRequest(
            prompt="x", model=model, resolution=Resolution.R4K, aspect="21:9"
        )
        _, (w, h) = await run(myrouter, request)
        assert w * h <= 4096 * 4096 and abs(w / h - 21 / 9) < 0.02


async def test_sequence_fields_differ_per_model(myrouter: FakeMyRouter) -> None:
    blobs, _ = await run(
        myrouter, GenerationRequest(prompt="seasons", model="seedream-4.0", count=3)
    )
    assert len(blobs) == 3
    body40 = myrouter.calls[-1].json
    assert body40["max_images"] == 3 and body40["sequential_image_generation"] == "auto"
    assert "3" in body40["prompt"]
    blobs, _ = await run(
        myrouter, GenerationRequest(prompt="seasons", model="seedream-4.5", count=4)
    )
    assert len(blobs) == 4
    body45 = myrouter.calls[-1].json
    assert body45["sequential_image_generation_options"] == {"max_images": 4}
    assert "max_images" not in body45


async def test_references_inline_as_data_urls(myrouter: FakeMyRouter) -> None:
    ref = Reference(filename="r.png", data=png(64, 48), mime="image/png", width=64, height=48)
    await run(myrouter, GenerationRequest(prompt="edit", model="seedream-4.0", references=(ref,)))
    assert myrouter.calls[-1].json["images"][0].startswith("data:image/png;base64,")
    await run(myrouter, GenerationRequest(prompt="edit", model="seedream-4.5", references=(ref,)))
    assert myrouter.calls[-1].json["image"][0].startswith("data:image/png;base64,")


async def test_too_many_references_refused(myrouter: FakeMyRouter) -> None:
    ref = Reference(filename="r.png", data=png(32, 32), mime="image/png", width=32, height=32)
    with pytest.raises(InvalidInput, match="at most 10"):
        await run(
            myrouter, GenerationRequest(prompt="x", model="seedream-4.0", references=(ref,) * 11)
        )
    with pytest.raises(InvalidInput, match="at most 15"):
        await run(
            myrouter,
            GenerationRequest(prompt="x", model="seedream-4.5", references=(ref,) * 5, count=11),
        )
    assert myrouter.calls == []


@pytest.mark.parametrize(
    ("status", "body", "kind"),
    [
        (
            400,
            {
                "code": 400,
                "reason": "SENSITIVE_CONTENT",
                "message": "may contain sensitive information",
            },
            ErrorKind.MODERATION,
        ),
        (
            400,
            {"code": 400, "reason": "INVALID_REQUEST_BODY", "message": "bad size"},
            ErrorKind.INVALID_INPUT,
        ),
        (401, {"code": 401, "message": "bad key"}, ErrorKind.AUTH),
        (403, {"code": 403, "message": "verify identity"}, ErrorKind.AUTH),
        (429, {"code": 429, "message": "RPM exceeded"}, ErrorKind.RATE_LIMITED),
        (503, {"code": 503, "message": "overloaded"}, ErrorKind.TRANSIENT),
        (504, {"code": 504, "message": "gateway timeout"}, ErrorKind.TIMEOUT),
    ],
)
async def test_errors_map_to_taxonomy(
    myrouter: FakeMyRouter, status: int, body: dict[str, object], kind: ErrorKind
) -> None:
    myrouter.fail_next("/v3/", Scripted(status, body, {"Retry-After": "2"}))
    with pytest.raises(ProviderError) as caught:
        await run(myrouter, GenerationRequest(prompt="x", model="seedream-4.0"))
    assert caught.value.kind is kind
    assert caught.value.provider == "myrouter"
    if kind is ErrorKind.RATE_LIMITED:
        assert caught.value.retry_after == 2.0


async def test_real_moderation_from_fake(myrouter: FakeMyRouter) -> None:
    with pytest.raises(ProviderError) as caught:
        await run(myrouter, GenerationRequest(prompt="something forbidden", model="seedream-4.0"))
    assert caught.value.kind is ErrorKind.MODERATION


async def test_html_error_page_is_transient(myrouter: FakeMyRouter) -> None:
    myrouter.fail_next("/v3/", Scripted(502, raw=b"<html>Bad gateway</html>"))
    with pytest.raises(ProviderError) as caught:
        await run(myrouter, GenerationRequest(prompt="x", model="seedream-4.0"))
    assert caught.value.kind is ErrorKind.TRANSIENT


async def test_wrong_key_is_auth_error(myrouter: FakeMyRouter) -> None:
    async with aiohttp.ClientSession() as session:
        provider = MyRouter(session, "sk-wrong", myrouter.base_url)
        with pytest.raises(ProviderError) as caught:
            await provider.generate(GenerationRequest(prompt="x", model="seedream-4.0"))
    assert caught.value.kind is ErrorKind.AUTH
    assert "sk-wrong" not in str(caught.value)
