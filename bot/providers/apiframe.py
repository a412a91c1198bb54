"""Apiframe: asynchronous ``POST /v2/images/generate`` + ``GET /v2/jobs/{id}`` (seed 003, §3).

Why it is shaped this way (providers.md §3):

- Auth is ``X-API-Key`` (Apiframe's Bearer JWT is for its dashboard only). Submits carry the
  job's ``Idempotency-Key`` so that a retried submit whose answer was lost returns the original
  job instead of paying twice (§3.1); keys longer than the documented 255 characters are hashed.
- Sizes are a preset (``1K``/``2K``/``4K``; 4.5 has no ``1K``) plus ``aspect_ratio``, or
  ``size: "custom"`` with ``width``/``height`` of 1024–4096 each. The per-side rule binds only
  ``custom``, so :meth:`Apiframe.check` relaxes it for presets. Apiframe does not document the
  pixels a preset yields: for presets the reported size is the bot's estimate.
- ``aspect_ratio`` is always sent: the upstream model's default is ``match_input_image``
  (§7.2, which Apiframe's field names mirror), which would silently follow a reference.
- References travel only as URLs (``image_input`` items are ``format: uri``; §9.4).
- No sequences, seed or watermark are exposed (§3.2): ``count > 1`` and seeds are refused
  before any call. ``seed`` exists only in the SDK schema, with no confirmed effect.

UNCONFIRMED, therefore parsed defensively:

- ``result`` is a URL string (docs-v2) or ``{"images": [...]}`` (newer page); the OpenAPI leaves
  it untyped. Strings, ``{"images": [...]}``, ``{"url": ...}`` and bare lists are accepted; items
  may be strings or ``{"url": ...}`` objects (§3.3, §11.4).
- The submit answer is ``{"jobId", "status"}``, but an idempotent replay "returns the original
  job", whose id field is ``id``: both are read.
- A ``FAILED`` job's ``error`` is free text; only "content policy violation" is documented.
  Other phrases are classified by the upstream wording they forward (Ark error codes, Replicate's
  ``E005``; §5.4, §7.4, §8): a GUESS, with TRANSIENT as the fallback.
- An unknown ``status`` value is treated as still pending; the polling deadline bounds it.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import replace
from typing import Any
from urllib.parse import quote

import aiohttp

from bot.errors import ErrorKind, ProviderError
from bot.providers.base import (
    AsyncProvider,
    PollPolicy,
    TaskStatus,
    error_text,
    kind_for_status,
    looks_like_moderation,
    percent,
)
from bot.providers.capabilities import ModelCaps, validate
from bot.providers.models import MATCH, GenerationRequest, Resolution, ResultImage

CAPS: dict[str, ModelCaps] = {
    "seedream-4.0": ModelCaps(
        model="seedream-4.0",
        presets=frozenset(Resolution),
        min_pixels=1024 * 1024,
        max_pixels=4096 * 4096,
        min_side=1024,
        max_side=4096,
        max_references=10,
        reference_transport="url",
        sequences=False,
        max_count=1,
        watermark=False,
    ),
    "seedream-4.5": ModelCaps(
        model="seedream-4.5",
        presets=frozenset({Resolution.R2K, Resolution.R4K}),
        # the model's own floor (2560x1440 total, §0); Apiframe documents only the per-side rule
        min_pixels=3_686_400,
        max_pixels=4096 * 4096,
        min_side=1024,
        max_side=4096,
        max_references=14,
        reference_formats=frozenset({"jpeg", "png", "webp", "bmp", "tiff", "gif"}),
        reference_min_aspect=1 / 16,
        reference_max_aspect=16.0,
        reference_transport="url",
        sequences=False,
        max_count=1,
        watermark=False,
    ),
}

#: the bot's model name -> Apiframe's ``model`` value
MODEL_IDS = {"seedream-4.0": "seedream-4", "seedream-4.5": "seedream-4.5"}

#: the first-party SDK's ``waitFor``: 2 s, x1.5, at most 5 s apart, give up after 10 min (§3.3)
SDK_POLL = PollPolicy(first_delay=2.0, factor=1.5, max_interval=5.0, deadline=600.0)

MAX_IDEMPOTENCY_KEY = 255

# Upstream moderation wording that base.looks_like_moderation() does not know.
_MODERATION = re.compile(r"policy violation|risk ?detection|\bE005\b", re.IGNORECASE)
#: FAILED ``error`` text -> kind, first match wins (GUESS beyond "content policy violation")
_FAILURES: tuple[tuple[re.Pattern[str], ErrorKind], ...] = (
    (re.compile(r"insufficient credits?", re.I), ErrorKind.QUOTA),
    (
        re.compile(
            r"invalid ?parameter|invalid (input|image|size|url)|not supported|unsupported"
            r"|download|could not (fetch|load)|image_input|must be",
            re.I,
        ),
        ErrorKind.INVALID_INPUT,
    ),
    (re.compile(r"rate.?limit|too many requests|throttl", re.I), ErrorKind.RATE_LIMITED),
    (re.compile(r"time[ d]?out|timed out|deadline", re.I), ErrorKind.TIMEOUT),
)


class Apiframe(AsyncProvider):
    """Adapter for api.apiframe.ai (async jobs, polled)."""

    name = "apiframe"
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
            session, api_key, base_url, request_timeout=request_timeout, poll=poll or SDK_POLL
        )

    def check(self, request: GenerationRequest) -> tuple[int, int]:
        """Per-side limits apply to ``custom`` sizes only; Apiframe resolves presets itself."""
        caps = self.caps.get(request.model)
        if caps is None or request.size is not None:
            return super().check(request)
        return validate(request, replace(caps, min_side=1, max_side=1_000_000))

    def build_payload(self, request: GenerationRequest, size: tuple[int, int]) -> dict[str, Any]:
        """The documented body: ``prompt``, ``model`` and a ``seedreamParams`` block."""
        params: dict[str, Any] = {}
        if request.size is not None:
            params.update(size="custom", width=size[0], height=size[1])
        else:
            params["size"] = (request.resolution or Resolution.R2K).value
            params["aspect_ratio"] = _aspect_ratio(request)
        if request.references:
            # check() has refused references without a URL (reference_transport "url")
            params["image_input"] = [ref.url for ref in request.references if ref.url]
        return {
            "prompt": request.prompt,
            "model": MODEL_IDS[request.model],
            "seedreamParams": params,
        }

    async def submit(
        self, request: GenerationRequest, size: tuple[int, int], idempotency_key: str | None
    ) -> str:
        headers = self._headers()
        if idempotency_key:
            headers["Idempotency-Key"] = idempotency_header(idempotency_key)
        data = await self.request_json(
            "POST",
            f"{self.base_url}/v2/images/generate",
            headers=headers,
            payload=self.build_payload(request, size),
        )
        job_id = (data.get("jobId") or data.get("id")) if isinstance(data, dict) else None
        if not isinstance(job_id, str) or not job_id:
            raise ProviderError(
                "accepted the job without a job id", kind=ErrorKind.TRANSIENT, provider=self.name
            )
        return job_id

    async def status(self, task_id: str) -> TaskStatus:
        data = await self.request_json(
            "GET", f"{self.base_url}/v2/jobs/{quote(task_id, safe='')}", headers=self._headers()
        )
        return self.parse_job(task_id, data)

    def parse_job(self, task_id: str, data: Any) -> TaskStatus:
        """One job object -> pending (with progress), done (with images) or failed (mapped)."""
        if not isinstance(data, dict):
            raise self.malformed(f"job {task_id}: answer is not a job object")
        state = str(data.get("status") or "").upper()
        progress = percent(data.get("progress"))
        if state == "COMPLETED":
            if data.get("expired") is True:
                return self._failed(
                    task_id,
                    "results expired (Apiframe purges them after 24 h)",
                    ErrorKind.TRANSIENT,
                )
            return TaskStatus("done", progress=100, images=parse_result(data.get("result")))
        if state == "FAILED":
            text = _job_error_text(data.get("error")) or "no reason given"
            return self._failed(task_id, text, failure_kind(text))
        if state == "CANCELLED":
            return self._failed(task_id, "the job was cancelled", ErrorKind.TRANSIENT)
        return TaskStatus("pending", progress=progress)  # QUEUED, PROCESSING, or a new state

    def map_http_error(
        self, status: int, data: Any, raw: bytes, retry_after: float | None
    ) -> ProviderError:
        """Apiframe's ``{"error": "<text>"}`` bodies, with the 400 and 402 extras spelled out."""
        message = error_text(data) or raw[:200].decode("utf-8", "replace").strip()
        if isinstance(data, dict):
            if status == 400 and isinstance(data.get("details"), dict):
                message = f"{message} ({_zod_details(data['details'])})"
            if status == 402 and "creditsRequired" in data:
                message = (
                    f"{message} (needs {data.get('creditsRequired')}, "
                    f"has {data.get('creditsAvailable')})"
                )
        kind = kind_for_status(status)
        if status == 409:
            # the same Idempotency-Key with a different body: the bot's bug, not the member's
            kind = ErrorKind.INTERNAL
        elif kind is ErrorKind.INVALID_INPUT and _is_moderation(message):
            kind = ErrorKind.MODERATION
        message = self.scrub(message)
        return ProviderError(
            f"HTTP {status}: {message}"[:300],
            kind=kind,
            provider=self.name,
            retry_after=retry_after,
            detail=message,
        )

    def _headers(self) -> dict[str, str]:
        return {"X-API-Key": self._api_key, "Accept": "application/json"}

    def _failed(self, task_id: str, text: str, kind: ErrorKind) -> TaskStatus:
        text = self.scrub(text)
        error = ProviderError(
            f"job {task_id} failed: {text}"[:300], kind=kind, provider=self.name, detail=text
        )
        return TaskStatus("failed", error=error)


def idempotency_header(key: str) -> str:
    """The key as sent: hashed when longer than Apiframe's 255-character limit (stable)."""
    if len(key) <= MAX_IDEMPOTENCY_KEY:
        return key
    return hashlib.sha256(key.encode()).hexdigest()


def failure_kind(text: str) -> ErrorKind:
    """Classify a FAILED job's ``error`` text (documented: "... content policy violation")."""
    if _is_moderation(text):
        return ErrorKind.MODERATION
    for pattern, kind in _FAILURES:
        if pattern.search(text):
            return kind
    return ErrorKind.TRANSIENT


def parse_result(result: Any) -> list[ResultImage]:
    """Every documented ``result`` shape: a URL string, or ``{"images": [url | {url}]}``."""
    if isinstance(result, dict):
        result = result.get("images", result.get("url"))
    items = result if isinstance(result, list) else [result]
    images = []
    for item in items:
        url = item.get("url") if isinstance(item, dict) else item
        if isinstance(url, str) and url.startswith(("https://", "http://")):
            images.append(ResultImage(url=url))
    return images


def _aspect_ratio(request: GenerationRequest) -> str:
    if request.aspect == MATCH:
        # without a reference there is nothing to match: the bot's size estimate is square
        return "match_input_image" if request.references else "1:1"
    return request.aspect or "1:1"


def _is_moderation(text: str) -> bool:
    return looks_like_moderation(text) or _MODERATION.search(text) is not None


def _job_error_text(error: Any) -> str:
    if isinstance(error, str):
        return error
    return error_text({"error": error}) if isinstance(error, dict) else ""


def _zod_details(details: dict[str, Any]) -> str:
    """``{"seedreamParams.size": ["Invalid enum value"]}`` -> ``seedreamParams.size: ...``."""
    parts = []
    for path, problems in details.items():
        said = "; ".join(map(str, problems)) if isinstance(problems, list) else str(problems)
        parts.append(f"{path}: {said}")
    return ", ".join(parts)
