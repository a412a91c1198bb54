"""EvoLink: asynchronous task API for Seedream 4.0 / 4.5 (seed 002, providers.md §2).

``POST /v1/images/generations`` creates a task (pre-charged by ``n``), ``GET /v1/tasks/{id}`` is
polled until ``completed`` or ``failed``; result links live 24 h (§2.4). References are sent as
``image_urls`` only: EvoLink fetches them itself, so the job layer must hand over URLs that stay
reachable (re-hosted, not expiring Discord links, §8 #2a).

Sizes. 4.0 documents a ratio form (``size="16:9"`` + ``quality="2K"``, the provider picks the
pixels) and a pixel form (``WxH``, total [1280x720, 4096x4096]); 4.5 documents ``2K``/``4K`` or
``WxH`` in [2560x1440, 4096x4096] (§2.2). Aspect presets on 4.0 use the ratio form and
:meth:`EvoLink.check` reports the pixels Seedream 4.0 maps that tier and ratio to (ByteDance's
"method 1" table, GUESS that EvoLink forwards it unchanged); exact sizes, ``match`` and
everything on 4.5 use the pixel form, whose result is exact.

Parsed defensively (UNCONFIRMED shapes): images from ``results[]`` (documented) and
``result_data[].image_url`` (EvoLink's own MCP client), strings or objects, de-duplicated;
``error`` as an object with a string code, a bare string, or missing; ``progress`` as int,
float or digit string; a ``cancelled`` status although only four states are documented.
Not sent on purpose: ``prompt_priority`` (field name is a GUESS, §2.2/§11.3), ``callback_url``
(a bot polls, §9.7), and ``watermark``/``seed``/sequential fields (not documented, §2.2).
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote

import aiohttp

from bot.errors import ErrorKind, InvalidInput, ProviderError
from bot.providers.base import (
    AsyncProvider,
    PollPolicy,
    TaskStatus,
    looks_like_moderation,
    percent,
)
from bot.providers.capabilities import ModelCaps
from bot.providers.models import (
    MAX_PROMPT,
    GenerationRequest,
    Resolution,
    ResultImage,
)
from bot.providers.prompts import sequence_prompt

_REFERENCE_FORMATS = frozenset({"jpeg", "png", "webp", "bmp", "tiff", "gif"})

# Shared by both models (seed 002 and the 4.5 OpenAPI, §2.2): 14 URL references of at most
# 10 MB, aspect 1/16..16, sides > 14 px, at most 6000x6000 px. 14 for 4.0 follows the current
# EvoLink page; ByteDance's older docs say 10 (§0, §11.6).
_REFERENCE_LIMITS: dict[str, Any] = {
    "max_references": 14,
    "reference_formats": _REFERENCE_FORMATS,
    "reference_min_aspect": 1 / 16,
    "reference_max_aspect": 16.0,
    "reference_transport": "url",
    "seed": False,
    "watermark": False,
}

CAPS: dict[str, ModelCaps] = {
    "seedream-4.0": ModelCaps(
        model="seedream-4.0",
        presets=frozenset(Resolution),
        min_pixels=1280 * 720,
        max_pixels=4096 * 4096,
        **_REFERENCE_LIMITS,
    ),
    "seedream-4.5": ModelCaps(
        model="seedream-4.5",
        presets=frozenset({Resolution.R2K, Resolution.R4K}),
        min_pixels=2560 * 1440,
        max_pixels=4096 * 4096,
        **_REFERENCE_LIMITS,
    ),
}

_MODEL_IDS = {"seedream-4.0": "doubao-seedream-4.0", "seedream-4.5": "doubao-seedream-4.5"}

# What Seedream 4.0 produces for a resolution tier + aspect ratio (Volcengine image API doc,
# "方式 1" table, via a public transcription; providers.md §0 cites the same source). These are
# the pixels check() promises for the ratio form, so the UI shows the size members will get.
_RATIO_PIXELS_40: dict[Resolution, dict[str, tuple[int, int]]] = {
    Resolution.R1K: {
        "1:1": (1024, 1024),
        "4:3": (1152, 864),
        "3:4": (864, 1152),
        "16:9": (1280, 720),
        "9:16": (720, 1280),
        "3:2": (1248, 832),
        "2:3": (832, 1248),
        "21:9": (1512, 648),
    },
    Resolution.R2K: {
        "1:1": (2048, 2048),
        "4:3": (2304, 1728),
        "3:4": (1728, 2304),
        "16:9": (2848, 1600),
        "9:16": (1600, 2848),
        "3:2": (2496, 1664),
        "2:3": (1664, 2496),
        "21:9": (3136, 1344),
    },
    Resolution.R4K: {
        "1:1": (4096, 4096),
        "4:3": (4704, 3520),
        "3:4": (3520, 4704),
        "16:9": (5504, 3040),
        "9:16": (3040, 5504),
        "3:2": (4992, 3328),
        "2:3": (3328, 4992),
        "21:9": (6240, 2656),
    },
}

#: EvoLink's image guidance: first poll after ~3 s, then every 3-5 s, give up after 5 min (§2.5)
DEFAULT_POLL = PollPolicy(first_delay=3.0, factor=1.25, max_interval=5.0, deadline=300.0)

# HTTP ``error.type`` values of the create and query endpoints (§2.5).
_HTTP_TYPES: dict[str, ErrorKind] = {
    "invalid_request_error": ErrorKind.INVALID_INPUT,
    "authentication_error": ErrorKind.AUTH,
    "insufficient_quota_error": ErrorKind.QUOTA,
    "permission_error": ErrorKind.AUTH,
    "not_found_error": ErrorKind.INVALID_INPUT,  # the task is gone: polling again cannot help
    "request_too_large_error": ErrorKind.INVALID_INPUT,  # a reference image is too big
    "rate_limit_error": ErrorKind.RATE_LIMITED,
    "internal_server_error": ErrorKind.TRANSIENT,
    "upstream_error": ErrorKind.TRANSIENT,
    "service_unavailable_error": ErrorKind.TRANSIENT,
}

# Task-level ``error.code`` strings of a failed task (§2.5, EvoLink error-codes page).
_TASK_CODES: dict[str, ErrorKind] = {
    "content_policy_violation": ErrorKind.MODERATION,
    "invalid_parameters": ErrorKind.INVALID_INPUT,
    "image_processing_error": ErrorKind.INVALID_INPUT,
    "image_dimension_mismatch": ErrorKind.INVALID_INPUT,
    # "model produced nothing, try another prompt": the documented remedy is a different
    # prompt, and empty Seedream outputs are usually output-filter hits (§8 #1a), so a blind
    # retry or failover would most likely fail again after minutes of waiting.
    "generation_failed_no_content": ErrorKind.INVALID_INPUT,
    "request_cancelled": ErrorKind.TRANSIENT,  # documented remedy: resubmit
    "service_error": ErrorKind.TRANSIENT,
    "generation_timeout": ErrorKind.TIMEOUT,
    "resource_exhausted": ErrorKind.TRANSIENT,
    # "rate limit / quota, slow down": a task was accepted, so its credits were already
    # reserved at submit (402 insufficient_quota_error covers an empty account); what is left
    # is a throughput limit, which back-off and failover handle.
    "quota_exceeded": ErrorKind.RATE_LIMITED,
    "service_unavailable": ErrorKind.TRANSIENT,
    "resource_not_found": ErrorKind.INVALID_INPUT,  # task id invalid or expired
    "unknown_error": ErrorKind.TRANSIENT,  # failed tasks are refunded, so one retry is cheap
}
# Codes whose text may still reveal a safety block (the words are checked only for these).
_REFINABLE = frozenset({"invalid_parameters", "generation_failed_no_content", "unknown_error"})

_WAIT_HINT = re.compile(r"retry after (\d+(?:\.\d+)?)\s*s", re.IGNORECASE)


class EvoLink(AsyncProvider):
    """Adapter for api.evolink.ai."""

    name = "evolink"
    caps = CAPS

    def __init__(
        self,
        session: aiohttp.ClientSession,
        api_key: str,
        base_url: str,
        *,
        request_timeout: float = 60.0,
        poll: PollPolicy | None = None,
    ) -> None:
        super().__init__(
            session,
            api_key,
            base_url,
            request_timeout=request_timeout,
            poll=poll or DEFAULT_POLL,
        )

    def check(self, request: GenerationRequest) -> tuple[int, int]:
        """Shared checks, the 2000-character prompt after the count is added, ratio-form size."""
        size = super().check(request)
        prompt = sequence_prompt(request.prompt, request.count)
        if len(prompt) > MAX_PROMPT:
            raise InvalidInput(
                f"the prompt is too long for {request.count} images: EvoLink takes "
                f"{MAX_PROMPT} characters including the count ({len(prompt)})."
            )
        ratio = ratio_form(request)
        return _RATIO_PIXELS_40[ratio[1]][ratio[0]] if ratio else size

    def build_payload(self, request: GenerationRequest, size: tuple[int, int]) -> dict[str, Any]:
        """The documented create-task body; ``n`` is the count because EvoLink pre-charges it."""
        payload: dict[str, Any] = {
            "model": _MODEL_IDS[request.model],
            "prompt": sequence_prompt(request.prompt, request.count),
            "n": request.count,
        }
        ratio = ratio_form(request)
        if ratio is not None:
            payload["size"], payload["quality"] = ratio[0], ratio[1].value
        else:
            payload["size"] = f"{size[0]}x{size[1]}"
        if request.references:
            urls = [ref.url for ref in request.references if ref.url is not None]
            if len(urls) != len(request.references):
                raise InvalidInput("EvoLink takes reference images only as http(s) URLs.")
            payload["image_urls"] = urls
        return payload

    async def submit(
        self, request: GenerationRequest, size: tuple[int, int], idempotency_key: str | None
    ) -> str:
        """Create the task. EvoLink documents no idempotency header, so the key is unused."""
        data = await self.request_json(
            "POST",
            f"{self.base_url}/v1/images/generations",
            headers=self._headers(),
            payload=self.build_payload(request, size),
        )
        task_id = data.get("id") if isinstance(data, dict) else None
        if not isinstance(task_id, str) or not task_id:
            raise self.malformed("answered the create call without a task id", data)
        if isinstance(data, dict) and data.get("status") == "failed":
            raise self.task_error(task_id, data.get("error"))
        return task_id

    async def status(self, task_id: str) -> TaskStatus:
        data = await self.request_json(
            "GET", f"{self.base_url}/v1/tasks/{quote(task_id, safe='')}", headers=self._headers()
        )
        return self.parse_task(task_id, data)

    def parse_task(self, task_id: str, data: Any) -> TaskStatus:
        """One task object -> pending (with progress), done (with images) or failed."""
        if not isinstance(data, dict):
            raise self.malformed(f"task {task_id}: the answer is not a task object")
        state = str(data.get("status") or "").lower()
        progress = percent(data.get("progress"))
        if state == "completed":
            return TaskStatus("done", progress=100, images=parse_images(data))
        if state == "failed":
            return TaskStatus("failed", progress, error=self.task_error(task_id, data.get("error")))
        if state in ("cancelled", "canceled"):
            error = data.get("error") or {"code": "request_cancelled", "message": "cancelled"}
            return TaskStatus("failed", progress, error=self.task_error(task_id, error))
        return TaskStatus("pending", progress)  # pending, processing, or a state added later

    def task_error(self, task_id: str, error: Any) -> ProviderError:
        """A failed task's ``error`` -> the taxonomy, one documented code at a time."""
        code, message = _error_fields(error)
        kind = _TASK_CODES.get(code, ErrorKind.TRANSIENT)
        if (code in _REFINABLE or code not in _TASK_CODES) and looks_like_moderation(message):
            kind = ErrorKind.MODERATION
        first_line = message.strip().splitlines()[0] if message.strip() else "no message"
        return ProviderError(
            self.scrub(f"task failed ({code or 'no code'}): {first_line}")[:300],
            kind=kind,
            provider=self.name,
            detail=self.scrub(f"task {task_id}: {message}")[:1000],
        )

    def map_http_error(
        self, status: int, data: Any, raw: bytes, retry_after: float | None
    ) -> ProviderError:
        """Refine the default mapping with EvoLink's ``error.type`` and ``fallback_suggestion``."""
        base = super().map_http_error(status, data, raw, retry_after)
        err = data.get("error") if isinstance(data, dict) else None
        err = err if isinstance(err, dict) else {}
        kind = _HTTP_TYPES.get(str(err.get("type")), base.kind)
        if kind is ErrorKind.INVALID_INPUT and (
            err.get("code") == "content_policy_violation" or looks_like_moderation(base.message)
        ):
            kind = ErrorKind.MODERATION
        hint = err.get("fallback_suggestion")
        hint = hint if isinstance(hint, str) else ""
        if retry_after is None and kind in (ErrorKind.RATE_LIMITED, ErrorKind.TRANSIENT):
            found = _WAIT_HINT.search(hint)
            retry_after = float(found.group(1)) if found else None
        extras = [f"param={err['param']}" if err.get("param") else "", hint]
        detail = "; ".join(part for part in [base.detail or "", *extras] if part)
        return ProviderError(
            self.scrub(base.message),
            kind=kind,
            provider=self.name,
            retry_after=retry_after,
            detail=self.scrub(detail),
        )

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self._api_key}"}


def ratio_form(request: GenerationRequest) -> tuple[str, Resolution] | None:
    """``(ratio, quality)`` when a 4.0 request is an aspect preset (the ratio form), else None."""
    if request.model != "seedream-4.0" or request.size is not None:
        return None
    aspect = request.aspect or "1:1"
    resolution = request.resolution or Resolution.R2K
    if aspect not in _RATIO_PIXELS_40[resolution]:
        return None  # "match": pixels computed from the first reference's ratio
    return aspect, resolution


def parse_images(data: dict[str, Any]) -> list[ResultImage]:
    """``results[]`` URL strings, or ``result_data[].image_url``; objects with a URL; no repeats."""
    urls: list[str] = []
    for key in ("results", "result_data"):
        items = data.get(key)
        for item in items if isinstance(items, list) else []:
            url = item
            if isinstance(item, dict):
                url = item.get("image_url") or item.get("url")
            if isinstance(url, str) and url and url not in urls:
                urls.append(url)
    return [ResultImage(url=url) for url in urls]


def _error_fields(error: Any) -> tuple[str, str]:
    if isinstance(error, dict):
        code, message = error.get("code"), error.get("message")
        return (str(code) if code is not None else "", str(message) if message else "")
    if isinstance(error, str):
        return ("", error)
    return ("", "")
