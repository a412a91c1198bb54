"""Fake MyRouter (seeds 000 and 001): synchronous ``POST /v3/seedream-4.0`` / ``-4.5``.

Enforces exactly the documented request fields of each endpoint (4.0: ``images`` + top-level
``max_images``; 4.5: ``image`` + nested ``sequential_image_generation_options``), their size and
reference limits, Bearer auth, and answers ``{"images": [...]}`` with real JPEGs served from
loopback (4.5 items as objects by default, as seed 001 shows; strings with ``items="string"``),
or full-entropy noise with ``result_noise`` set.

MyRouter's error body is undocumented; this fake uses Novita's (``{code, reason, message}``),
which is what the seed pages appear to be a white-label of (providers.md §1.5).
"""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web

from tests.fakes.providers.common import (
    FakeProvider,
    RefRules,
    RuleViolation,
    json_response,
    parse_wxh,
)

_FIELDS_40 = {"prompt", "images", "size", "sequential_image_generation", "max_images", "watermark"}
_FIELDS_45 = {
    "prompt",
    "image",
    "size",
    "watermark",
    "optimize_prompt_options",
    "sequential_image_generation",
    "sequential_image_generation_options",
}
_REFS_40 = RefRules(frozenset({"jpeg", "png"}), 1 / 3, 3.0)
_REFS_45 = RefRules(frozenset({"jpeg", "png", "webp", "bmp", "tiff", "gif"}), 1 / 16, 16.0)
_PRESET_PIXELS = {"1K": 1024 * 1024, "2K": 2048 * 2048, "4K": 4096 * 4096}


class FakeMyRouter(FakeProvider):
    """The fake server; start it, point ``MYROUTER_BASE_URL`` at ``base_url``."""

    def __init__(self, api_key: str = "sk-myrouter-test-0123456789", items: str = "object") -> None:
        super().__init__(api_key)
        self.items = items
        #: when set, sequences return this many images instead of all that were asked for
        self.sequence_returns: int | None = None
        #: when set ("PNG" or "JPEG"), results are full-entropy noise in that format (a 4K PNG
        #: is ~48 MiB) instead of the photo-like JPEGs
        self.result_noise: str | None = None
        self.app.router.add_post("/v3/seedream-4.0", self._generate_40)
        self.app.router.add_post("/v3/seedream-4.5", self._generate_45)

    async def _generate_40(self, request: web.Request) -> web.Response:
        return await self._handle(request, "4.0")

    async def _generate_45(self, request: web.Request) -> web.Response:
        return await self._handle(request, "4.5")

    async def _handle(self, request: web.Request, version: str) -> web.Response:
        call = await self.record(request)
        if request.headers.get("Authorization") != f"Bearer {self.api_key}":
            return error(401, "INVALID_API_KEY", "missing or incorrect API key")
        scripted = self.scripted(request.path)
        if scripted is not None:
            return await self.respond_scripted(scripted)
        if request.content_type != "application/json" or not isinstance(call.json, dict):
            return self._invalid("body must be a JSON object (Content-Type: application/json)")
        try:
            if version == "4.0":
                size, count = await self._validate_40(call.json)
            else:
                size, count = await self._validate_45(call.json)
        except RuleViolation as exc:
            return self._invalid(str(exc))
        if self.is_blocked(call.json["prompt"]):
            return error(
                400,
                "SENSITIVE_CONTENT",
                "The request failed because the input text may contain sensitive information.",
            )
        if self.latency:
            await asyncio.sleep(self.latency)
        urls = []
        for index in range(count):
            if self.result_noise is None:
                urls.append(await self.publish(await self.images.make(*size, variant=index)))
            else:
                data = await self.images.noise(*size, self.result_noise)
                urls.append(await self.publish(data, self.result_noise.lower()))
        items: list[Any] = urls
        if version == "4.5" and self.items == "object":
            items = [{"url": url} for url in urls]
        return json_response({"images": items})

    def _invalid(self, message: str) -> web.Response:
        self.reject(message)
        return error(400, "INVALID_REQUEST_BODY", message)

    async def _validate_40(self, body: dict[str, Any]) -> tuple[tuple[int, int], int]:
        _only(body, _FIELDS_40)
        _prompt(body)
        refs = body.get("images", [])
        if not isinstance(refs, list) or len(refs) > 10:
            raise RuleViolation("images must be an array of at most 10 images")
        for i, ref in enumerate(refs):
            await self.check_reference(ref, _REFS_40, f"images[{i}]")
        size = _size(body, {"1K", "2K", "4K"}, 1024 * 1024, 4096 * 4096)
        sequential = _sequential(body)
        if "max_images" in body:
            max_images = body["max_images"]
            if type(max_images) is not int or not 1 <= max_images <= 15:
                raise RuleViolation("max_images must be an integer in [1, 15]")
        else:
            max_images = 15
        _watermark(body)
        return size, self._count(sequential, max_images, len(refs))

    async def _validate_45(self, body: dict[str, Any]) -> tuple[tuple[int, int], int]:
        _only(body, _FIELDS_45)
        _prompt(body)
        refs = body.get("image", [])
        if not isinstance(refs, list) or ("image" in body and not 1 <= len(refs) <= 14):
            raise RuleViolation("image must be an array of 1 to 14 images")
        for i, ref in enumerate(refs):
            await self.check_reference(ref, _REFS_45, f"image[{i}]")
        size = _size(body, {"2K", "4K"}, 3_686_400, 16_777_216)
        sequential = _sequential(body)
        options = body.get("sequential_image_generation_options", {})
        if not isinstance(options, dict) or set(options) - {"max_images"}:
            raise RuleViolation("sequential_image_generation_options takes only max_images")
        max_images = options.get("max_images", 15)
        if type(max_images) is not int or not 1 <= max_images <= 15:
            raise RuleViolation("max_images must be an integer in [1, 15]")
        prompt_options = body.get("optimize_prompt_options", {"mode": "standard"})
        if not isinstance(prompt_options, dict) or prompt_options.get("mode") != "standard":
            raise RuleViolation("optimize_prompt_options.mode: only standard is supported")
        _watermark(body)
        return size, self._count(sequential, max_images, len(refs))

    def _count(self, sequential: bool, max_images: int, refs: int) -> int:
        if refs + (max_images if sequential else 1) > 15:
            raise RuleViolation("number of input images + generated images must be <= 15")
        if not sequential:
            return 1
        wanted = max_images if self.sequence_returns is None else self.sequence_returns
        return max(1, min(wanted, max_images, 15 - refs))


def error(status: int, reason: str, message: str) -> web.Response:
    return json_response(
        {"code": status, "reason": reason, "message": message, "metadata": {}}, status
    )


def _only(body: dict[str, Any], allowed: set[str]) -> None:
    unknown = set(body) - allowed
    if unknown:
        raise RuleViolation(f"unknown field(s): {', '.join(sorted(unknown))}")


def _prompt(body: dict[str, Any]) -> None:
    prompt = body.get("prompt")
    if not isinstance(prompt, str) or not prompt.strip():
        raise RuleViolation("prompt is required")


def _size(body: dict[str, Any], presets: set[str], low: int, high: int) -> tuple[int, int]:
    size = body.get("size", "2048x2048")
    if not isinstance(size, str):
        raise RuleViolation("size must be a string")
    if size in presets:
        side = int(_PRESET_PIXELS[size] ** 0.5)
        return side, side
    dims = parse_wxh(size)
    if dims is None:
        raise RuleViolation(f"size must be one of {sorted(presets)} or WIDTHxHEIGHT")
    width, height = dims
    if not low <= width * height <= high:
        raise RuleViolation(f"size {size}: total pixels must be within [{low}, {high}]")
    if not 1 / 16 <= width / height <= 16:
        raise RuleViolation(f"size {size}: aspect ratio must be within [1/16, 16]")
    return width, height


def _sequential(body: dict[str, Any]) -> bool:
    mode = body.get("sequential_image_generation", "disabled")
    if mode not in ("auto", "disabled"):
        raise RuleViolation("sequential_image_generation must be auto or disabled")
    return mode == "auto"


def _watermark(body: dict[str, Any]) -> None:
    if "watermark" in body and not isinstance(body["watermark"], bool):
        raise RuleViolation("watermark must be a boolean")
