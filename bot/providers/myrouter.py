"""MyRouter: synchronous ``POST /v3/seedream-4.0`` and ``/v3/seedream-4.5`` (seeds 000, 001).

The two endpoints name things differently, and the adapter maps per model:
4.0 takes ``images`` and a top-level ``max_images``; 4.5 takes ``image`` and a nested
``sequential_image_generation_options.max_images``. 4.5 result items may be strings or objects.
"""

from __future__ import annotations

from typing import Any

from bot.errors import ErrorKind, ProviderError
from bot.providers.base import ProgressCallback, Provider, Stopwatch, TaskCallback
from bot.providers.capabilities import ModelCaps
from bot.providers.models import GenerationRequest, GenerationResult, Resolution, ResultImage
from bot.providers.prompts import sequence_prompt

_ALL = frozenset(Resolution)

CAPS: dict[str, ModelCaps] = {
    "seedream-4.0": ModelCaps(
        model="seedream-4.0",
        presets=_ALL,
        min_pixels=1024 * 1024,
        max_pixels=4096 * 4096,
        max_references=10,
    ),
    "seedream-4.5": ModelCaps(
        model="seedream-4.5",
        presets=frozenset({Resolution.R2K, Resolution.R4K}),
        min_pixels=3_686_400,
        max_pixels=16_777_216,
        max_references=14,
        reference_formats=frozenset({"jpeg", "png", "webp", "bmp", "tiff", "gif"}),
        reference_min_aspect=1 / 16,
        reference_max_aspect=16.0,
    ),
}

_PATHS = {"seedream-4.0": "/v3/seedream-4.0", "seedream-4.5": "/v3/seedream-4.5"}


class MyRouter(Provider):
    """Adapter for api.myrouter.ai."""

    name = "myrouter"
    caps = CAPS

    def build_payload(self, request: GenerationRequest, size: tuple[int, int]) -> dict[str, Any]:
        """The documented request body for the request's model."""
        sequence = request.count > 1
        payload: dict[str, Any] = {
            "prompt": sequence_prompt(request.prompt, request.count),
            "size": f"{size[0]}x{size[1]}",
            "watermark": request.watermark,
            "sequential_image_generation": "auto" if sequence else "disabled",
        }
        refs = [ref.wire_value() for ref in request.references]
        if request.model == "seedream-4.0":
            if refs:
                payload["images"] = refs
            if sequence:
                payload["max_images"] = request.count
        else:
            if refs:
                payload["image"] = refs
            if sequence:
                payload["sequential_image_generation_options"] = {"max_images": request.count}
        return payload

    async def generate(
        self,
        request: GenerationRequest,
        *,
        on_task: TaskCallback | None = None,
        on_progress: ProgressCallback | None = None,
        idempotency_key: str | None = None,
    ) -> GenerationResult:
        size = self.check(request)
        clock = Stopwatch()
        data = await self.request_json(
            "POST",
            self.base_url + _PATHS[request.model],
            headers={"Authorization": f"Bearer {self._api_key}"},
            payload=self.build_payload(request, size),
        )
        images = parse_images(data)
        if not images:
            raise ProviderError(
                "answered without any image", kind=ErrorKind.TRANSIENT, provider=self.name
            )
        return GenerationResult(
            images=images[: request.count],
            provider=self.name,
            model=request.model,
            size=size,
            elapsed=clock.elapsed,
        )


def parse_images(data: Any) -> list[ResultImage]:
    """``{"images": [...]}`` where items are URL strings or objects with a URL (4.5)."""
    items = data.get("images") if isinstance(data, dict) else None
    if not isinstance(items, list):
        raise ProviderError(
            "answered without an images list", kind=ErrorKind.TRANSIENT, provider="myrouter"
        )
    images = []
    for item in items:
        if isinstance(item, str) and item:
            images.append(ResultImage(url=item))
        elif isinstance(item, dict):
            url = item.get("url") or item.get("image_url")
            if isinstance(url, str) and url:
                images.append(ResultImage(url=url))
    return images
