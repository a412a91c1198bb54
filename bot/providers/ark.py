"""BytePlus ModelArk (Volcengine Ark), the model owner's API: ``POST /api/v3/images/generations``.

Synchronous (providers.md §5.1): one long request returns the images, so there is no task id to
store and nothing to resume; a lost connection is simply a failed attempt. ``stream`` is always
``false``, because the SSE mode adds nothing a Discord bot can show before the first image.

Documented behaviour this adapter relies on (§5.2–§5.4):

* one body for both models (``image`` is a string or a string array; nested
  ``sequential_image_generation_options.max_images``); the model id differs per region, so ids
  are chosen from the base URL (BytePlus ``seedream-…``, Volcengine ``doubao-seedream-…``);
* ``data[]`` items are ``{url, size}`` or ``{b64_json, size}``; in group mode a failed image is an
  item ``{error: {code, message}}`` while the others succeed, so the good ones are returned;
* error bodies ``{"error": {"code", "message", "param", "type"}}``, mapped per code.

UNCONFIRMED and parsed defensively: the first-party BytePlus page itself was not read (field
ranges rest on transcriptions, §5); the SDK model also allows a top-level ``error`` in a 200 body;
Vercel's parser also accepts a top-level ``message``; ``Retry-After`` on 429 is honoured when
present but Ark does not document it. Ark documents no idempotency key, so none is sent.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from typing import Any, Literal
from urllib.parse import urlparse

import aiohttp

from bot.errors import ErrorKind, ProviderError
from bot.providers.base import (
    ProgressCallback,
    Provider,
    Stopwatch,
    TaskCallback,
    kind_for_status,
    looks_like_moderation,
)
from bot.providers.capabilities import ModelCaps
from bot.providers.models import (
    GenerationRequest,
    GenerationResult,
    Resolution,
    ResultImage,
)
from bot.providers.prompts import sequence_prompt

CAPS: dict[str, ModelCaps] = {
    # 4.0: total pixels [1280x720, 4096x4096] on Ark (Novita's 1024x1024 floor is theirs, §0);
    # at most 10 references (the "14" in newer 3P pages is unverified, §11.6), jpeg/png, 1/3–3.
    "seedream-4.0": ModelCaps(
        model="seedream-4.0",
        presets=frozenset(Resolution),
        min_pixels=1280 * 720,
        max_pixels=4096 * 4096,
        max_references=10,
    ),
    # 4.5: no 1K, total pixels [2560x1440, 4096x4096]; one side may exceed 4096 (§5.2, §8.3).
    "seedream-4.5": ModelCaps(
        model="seedream-4.5",
        presets=frozenset({Resolution.R2K, Resolution.R4K}),
        min_pixels=2560 * 1440,
        max_pixels=4096 * 4096,
        max_references=14,
        reference_formats=frozenset({"jpeg", "png", "webp", "bmp", "tiff", "gif"}),
        reference_min_aspect=1 / 16,
        reference_max_aspect=16.0,
    ),
}

BYTEPLUS_MODELS = {"seedream-4.0": "seedream-4-0-250828", "seedream-4.5": "seedream-4-5-251128"}
VOLCENGINE_MODELS = {
    "seedream-4.0": "doubao-seedream-4-0-250828",
    "seedream-4.5": "doubao-seedream-4-5-251128",
}
PATH = "/api/v3/images/generations"

# Error codes (§5.4). Sub-codes ("SensitiveContentDetected.Violence") share their root's kind.
_MODERATION_CODES = frozenset(
    {
        "SensitiveContentDetected",
        "InputTextSensitiveContentDetected",
        "InputImageSensitiveContentDetected",
        "OutputImageSensitiveContentDetected",
        "InputTextRiskDetection",
        "InputImageRiskDetection",
        "OutputImageRiskDetection",
    }
)
_KIND_BY_CODE: dict[str, ErrorKind] = {
    "MissingParameter": ErrorKind.INVALID_INPUT,
    "InvalidParameter": ErrorKind.INVALID_INPUT,
    **dict.fromkeys(_MODERATION_CODES, ErrorKind.MODERATION),
    "AuthenticationError": ErrorKind.AUTH,
    "AccessDenied": ErrorKind.AUTH,
    # Arrears: the account must be topped up; waiting does not help.
    "AccountOverdueError": ErrorKind.QUOTA,
    # Wrong, closed or not-activated model/endpoint: an account setting only the admin can fix.
    # AUTH rather than CONFIG because CONFIG does not fail over (ErrorKind.fails_over), and
    # another enabled provider can still serve the member; both tell members to tell an admin.
    "InvalidEndpoint": ErrorKind.AUTH,
    "InvalidEndpointOrModel": ErrorKind.AUTH,
    "ModelNotOpen": ErrorKind.AUTH,
    "RateLimitExceeded": ErrorKind.RATE_LIMITED,
    "ServerOverloaded": ErrorKind.RATE_LIMITED,
    "RequestBurstTooFast": ErrorKind.RATE_LIMITED,
    "AccountRateLimitExceeded": ErrorKind.RATE_LIMITED,
    # 429s that do not pass with time: the free-trial quota is used up (QuotaExceeded) or the
    # account's own "safe experience" spending cap paused the model (SetLimitExceeded). Retrying
    # on Ark is futile, so QUOTA (fails over, no same-provider retry) rather than RATE_LIMITED.
    "QuotaExceeded": ErrorKind.QUOTA,
    "SetLimitExceeded": ErrorKind.QUOTA,
    "InternalServiceError": ErrorKind.TRANSIENT,
}
_ADMIN_HINTS = {
    ErrorKind.AUTH: "check ARK_API_KEY and that the model is activated in the ModelArk console",
    ErrorKind.QUOTA: "top up or raise the limit in the ModelArk console",
}


class Ark(Provider):
    """Adapter for ark.<region>.bytepluses.com (or Volcengine's ark.cn-beijing.volces.com)."""

    name = "ark"
    caps = CAPS

    def __init__(
        self,
        session: aiohttp.ClientSession,
        api_key: str,
        base_url: str,
        *,
        request_timeout: float = 180.0,
        per_extra_image: float = 60.0,
        response_format: Literal["url", "b64_json"] = "url",
        model_ids: Mapping[str, str] | None = None,
    ) -> None:
        """Budgets grow with the count: the call only returns once the whole sequence is made.

        ``request_timeout`` is the budget for one image (§9.1: ≥ 180 s; §8.5: 4K takes 40–55 s),
        ``per_extra_image`` is added per further image of a sequence, so a long sequence is not
        cut off, failed over, and paid for twice. ``model_ids`` overrides the region's ids,
        e.g. with ``ep-…`` endpoint ids (§5.1).
        """
        super().__init__(session, api_key, base_url, request_timeout=request_timeout)
        self.per_extra_image = per_extra_image
        self.response_format = response_format
        host = urlparse(self.base_url).hostname or ""
        default = VOLCENGINE_MODELS if host.endswith("volces.com") else BYTEPLUS_MODELS
        self.model_ids = {**default, **(model_ids or {})}

    def timeout_for(self, count: int) -> float:
        """Seconds to wait for a request that asks for ``count`` images."""
        return self.request_timeout + self.per_extra_image * (count - 1)

    def build_payload(self, request: GenerationRequest, size: tuple[int, int]) -> dict[str, Any]:
        """The documented body (§5.2); Ark's ``watermark`` defaults to true, so always sent."""
        sequence = request.count > 1
        payload: dict[str, Any] = {
            "model": self.model_ids[request.model],
            "prompt": sequence_prompt(request.prompt, request.count),
            "size": f"{size[0]}x{size[1]}",
            "sequential_image_generation": "auto" if sequence else "disabled",
            "response_format": self.response_format,
            "stream": False,
            "watermark": request.watermark,
        }
        refs = [ref.wire_value() for ref in request.references]
        if refs:
            payload["image"] = refs[0] if len(refs) == 1 else refs
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
        """One blocking call; no task id exists, so ``on_task``/``on_progress`` never fire."""
        size = self.check(request)
        clock = Stopwatch()
        data = await self.request_json(
            "POST",
            self.base_url + PATH,
            headers={"Authorization": f"Bearer {self._api_key}"},
            payload=self.build_payload(request, size),
            timeout=self.timeout_for(request.count),
        )
        images, actual = self.parse_images(data)
        return GenerationResult(
            images=images[: request.count],
            provider=self.name,
            model=request.model,
            size=actual or size,
            elapsed=clock.elapsed,
        )

    def parse_images(self, data: Any) -> tuple[list[ResultImage], tuple[int, int] | None]:
        """The good ``data[]`` items and the size Ark reports for the first one.

        Raises when nothing usable came back: a top-level ``error`` in a 200 body (SDK model),
        or every item failing, which is moderation when every failure is a moderation code.
        """
        if not isinstance(data, dict):
            raise self._error("answered with a body that is not an object", ErrorKind.TRANSIENT)
        items = data.get("data")
        if not isinstance(items, list) or not items:
            code, message = error_fields(data)
            if code or message:
                raise self._coded_error(None, code, message, None)
            raise self._error("answered without any image", ErrorKind.TRANSIENT)
        images: list[ResultImage] = []
        failures: list[tuple[str, str]] = []
        actual: tuple[int, int] | None = None
        for item in items:
            if not isinstance(item, dict):
                continue
            image = self._image(item)
            if image is not None:
                images.append(image)
                actual = actual or _wxh(item.get("size"))
            elif isinstance(item.get("error"), dict):
                failures.append(error_fields(item))
        if images:
            return images, actual
        if failures and all(_root(code) in _MODERATION_CODES for code, _ in failures):
            code, message = failures[0]
            raise self._error(
                f"every image was blocked ({code}): {message}", ErrorKind.MODERATION, message
            )
        if failures:
            code, message = next(f for f in failures if _root(f[0]) not in _MODERATION_CODES)
            kind = _KIND_BY_CODE.get(_root(code), ErrorKind.TRANSIENT)
            raise self._error(f"every image failed ({code}): {message}", kind, message)
        raise self._error("answered without any image", ErrorKind.TRANSIENT)

    def _image(self, item: Mapping[str, Any]) -> ResultImage | None:
        url = item.get("url")
        if isinstance(url, str) and url:
            return ResultImage(url=url)  # a signed TOS URL: its query string is kept verbatim
        encoded = item.get("b64_json")
        if isinstance(encoded, str) and encoded:
            try:
                return ResultImage(data=base64.b64decode(encoded, validate=True))
            except (binascii.Error, ValueError):
                raise self._error(
                    "returned b64_json that is not base64", ErrorKind.TRANSIENT
                ) from None
        return None

    def map_http_error(
        self, status: int, data: Any, raw: bytes, retry_after: float | None
    ) -> ProviderError:
        """Map Ark's documented codes (§5.4); unknown codes fall back to the HTTP status."""
        code, message = error_fields(data)
        if not code and not message:
            return super().map_http_error(status, data, raw, retry_after)
        return self._coded_error(status, code, message, retry_after)

    def _coded_error(
        self, status: int | None, code: str, message: str, retry_after: float | None
    ) -> ProviderError:
        kind = _KIND_BY_CODE.get(_root(code))
        if kind is None:
            # An unknown code in a 200 body is not the member's fault until shown otherwise.
            kind = kind_for_status(status) if status else ErrorKind.TRANSIENT
            if (status is None or kind is ErrorKind.INVALID_INPUT) and looks_like_moderation(
                message
            ):
                kind = ErrorKind.MODERATION
        prefix = f"HTTP {status} " if status else ""
        text = f"{prefix}{code or 'error'}: {message}"
        if kind in _ADMIN_HINTS:
            text = f"{text} ({_ADMIN_HINTS[kind]})"
        return self._error(text, kind, message, retry_after)

    def _error(
        self,
        message: str,
        kind: ErrorKind,
        detail: str | None = None,
        retry_after: float | None = None,
    ) -> ProviderError:
        """A ProviderError whose texts cannot leak the key, even if a body echoes it."""
        return ProviderError(
            self.scrub(message)[:300],
            kind=kind,
            provider=self.name,
            retry_after=retry_after,
            detail=None if detail is None else self.scrub(detail),
        )


def error_fields(data: Any) -> tuple[str, str]:
    """``(code, message)`` from ``{"error": {...}}``, or a top-level ``code``/``message``."""
    if not isinstance(data, dict):
        return "", ""
    err = data.get("error")
    source = err if isinstance(err, dict) else data
    code, message = source.get("code"), source.get("message")
    if isinstance(err, str) and not message:
        message = err
    return (
        code if isinstance(code, str) else "",
        message if isinstance(message, str) else "",
    )


def _root(code: str) -> str:
    """``InvalidEndpointOrModel.NotFound`` -> ``InvalidEndpointOrModel``."""
    return code.split(".", 1)[0]


def _wxh(value: Any) -> tuple[int, int] | None:
    if not isinstance(value, str):
        return None
    left, sep, right = value.partition("x")
    if sep and left.isdigit() and right.isdigit() and int(left) and int(right):
        return int(left), int(right)
    return None
