"""GMI Cloud request queue for Seedream 4.0 (seed 004, providers.md §4).

``POST /api/v1/ie/requestqueue/apikey/requests`` with ``{"model", "payload"}`` answers a
``request_id``; ``GET …/requests/{request_id}`` reports ``status`` and, on ``success``, the images
in ``outcome.media_urls[].url``. Only ``seedream-4-0-250828`` is offered.

Why the size handling is special: GMI accepts only an enumerated ``size`` list — the bare presets
and ten ``WxH`` values — so 2K maps to Seedream's recommended table for every aspect, while 1K and
4K exist only as the squares 1024x1024 and 4096x4096. ``match`` snaps to the nearest offered
aspect (within 15 %) rather than sending a bare preset, so the size we report is the size we get.

References are URLs only (the ``image`` field takes URLs; jpeg/png; up to 10). GMI documents no
idempotency key, no progress figure and no webhook.

UNCONFIRMED, parsed defensively (§4.3, §11.5):

* failure detail — read from a top-level ``error`` (string or ``{code, message}`` object), then
  ``outcome.error``, then ``message``. That GMI relays ByteDance's Ark error codes is a GUESS:
  Ark's codes (§5.4) are matched by name, moderation words by text;
* HTTP error bodies — mapped by status, refined by the body's text;
* result items — ``{id, url}`` objects (documented) or bare strings, under ``media_urls`` or
  ``medias`` (a third-party client reads the latter);
* progress — GMI reports a stage, not a percentage: a numeric ``progress`` is used if one ever
  appears, otherwise waiting states count as 0 and ``processing`` as 50.
"""

from __future__ import annotations

import math
from typing import Any
from urllib.parse import quote

from bot.errors import ErrorKind, InvalidInput, ProviderError
from bot.providers.base import (
    AsyncProvider,
    TaskStatus,
    error_text,
    kind_for_status,
    looks_like_moderation,
)
from bot.providers.capabilities import RECOMMENDED_2K, ModelCaps, aspect_ratio
from bot.providers.models import MATCH, GenerationRequest, Resolution, ResultImage
from bot.providers.prompts import sequence_prompt

#: the ``size`` values seed 004 lists, besides the bare presets 1K/2K/4K
SIZES: frozenset[tuple[int, int]] = frozenset(
    {
        (1024, 1024),
        (1440, 2560),
        (1664, 2496),
        (1728, 2304),
        (2048, 2048),
        (2304, 1728),
        (2496, 1664),
        (2560, 1440),
        (3024, 1296),
        (4096, 4096),
    }
)

CAPS: dict[str, ModelCaps] = {
    "seedream-4.0": ModelCaps(
        model="seedream-4.0",
        presets=frozenset(Resolution),
        min_pixels=1024 * 1024,
        max_pixels=4096 * 4096,
        max_references=10,
        sizes=SIZES,
        reference_formats=frozenset({"jpeg", "png"}),
        reference_transport="url",
        seed=True,
    ),
}

MODEL_IDS = {"seedream-4.0": "seedream-4-0-250828"}
REQUESTS_PATH = "/api/v1/ie/requestqueue/apikey/requests"

#: aspects each preset exists in (1K and 4K only as squares, see the module docstring)
_ASPECTS: dict[Resolution, tuple[str, ...]] = {
    Resolution.R1K: ("1:1",),
    Resolution.R2K: tuple(RECOMMENDED_2K),
    Resolution.R4K: ("1:1",),
}
_MATCH_TOLERANCE = 1.15

_WAITING = frozenset({"created", "queued", "dispatched"})
_STAGE_PROGRESS = {"processing": 50}

#: failure text -> kind, first match wins; names are Ark's codes (§5.4), matched lower-case
_TEXT_KINDS: tuple[tuple[ErrorKind, tuple[str, ...]], ...] = (
    # a reference GMI could not download is the member's input, even though it says "timeout"
    (ErrorKind.INVALID_INPUT, ("download", "invalidparameter", "missingparameter")),
    (
        ErrorKind.QUOTA,
        ("accountoverdue", "quotaexceeded", "balance", "credit", "billing", "payment", "arrear"),
    ),
    (
        ErrorKind.AUTH,
        ("authenticationerror", "accessdenied", "unauthorized", "modelnotopen", "invalidendpoint"),
    ),
    (
        ErrorKind.RATE_LIMITED,
        ("ratelimit", "rate limit", "serveroverloaded", "requestbursttoofast", "too many requests"),
    ),
    (ErrorKind.TIMEOUT, ("timeout", "timed out")),
)


class GMI(AsyncProvider):
    """Adapter for console.gmicloud.ai's request queue."""

    name = "gmi"
    caps = CAPS

    @property
    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self._api_key}"}

    def check(self, request: GenerationRequest) -> tuple[int, int]:
        """Refuse shapes GMI's size list lacks, naming them; snap ``match`` to an offered aspect."""
        caps = self.caps.get(request.model)
        if caps is None or request.size is not None:
            return super().check(request)
        resolution = request.resolution or Resolution.R2K
        offered = _ASPECTS[resolution]
        aspect = request.aspect or "1:1"
        if aspect == MATCH:
            nearest = _nearest_aspect(aspect_ratio(request), offered)
            if nearest is None:
                raise InvalidInput(
                    f"{caps.model} on {self.name} has no {resolution} size close to the "
                    f"reference's shape; choose an aspect ({', '.join(offered)})"
                    + ("." if resolution is Resolution.R2K else " or 2K.")
                )
            aspect = nearest
        elif aspect not in offered:
            side = 1024 if resolution is Resolution.R1K else 4096
            raise InvalidInput(
                f"{caps.model} on {self.name} offers {resolution} only as {side}x{side} (1:1); "
                f"choose 2K for {aspect}."
            )
        return super().check(request.model_copy(update={"aspect": aspect}))

    def build_body(self, request: GenerationRequest, size: tuple[int, int]) -> dict[str, Any]:
        """The documented ``{model, payload}`` envelope (seed 004 field names)."""
        sequence = request.count > 1
        payload: dict[str, Any] = {
            "prompt": sequence_prompt(request.prompt, request.count),
            "size": f"{size[0]}x{size[1]}",
            "sequential_image_generation": "auto" if sequence else "disabled",
            "watermark": request.watermark,
        }
        if request.references:
            payload["image"] = [ref.url for ref in request.references]
        if sequence:
            payload["max_images"] = request.count
        if request.seed is not None:
            payload["seed"] = request.seed
        return {"model": MODEL_IDS[request.model], "payload": payload}

    async def submit(
        self, request: GenerationRequest, size: tuple[int, int], idempotency_key: str | None
    ) -> str:
        """Queue the request; GMI has no idempotency key, so ``idempotency_key`` is unused."""
        data = await self.request_json(
            "POST",
            self.base_url + REQUESTS_PATH,
            headers=self._headers,
            payload=self.build_body(request, size),
        )
        task_id = (data.get("request_id") or data.get("id")) if isinstance(data, dict) else None
        if not isinstance(task_id, str) or not task_id:
            raise self.malformed("accepted the request without a request_id")
        early = self.parse_status(data, task_id)
        if early.state == "failed":  # refused while queueing: no point polling
            assert early.error is not None
            raise early.error
        return task_id

    async def status(self, task_id: str) -> TaskStatus:
        data = await self.request_json(
            "GET",
            f"{self.base_url}{REQUESTS_PATH}/{quote(task_id, safe='')}",
            headers=self._headers,
        )
        return self.parse_status(data, task_id)

    def parse_status(self, data: Any, task_id: str) -> TaskStatus:
        """One status body -> TaskStatus; any state but success/failed/cancelled is pending."""
        if not isinstance(data, dict):
            raise self.malformed("answered a status poll with something other than an object")
        state = str(data.get("status") or "").lower()
        if state == "success":
            return TaskStatus("done", progress=100, images=parse_images(data.get("outcome")))
        if state == "failed":
            text = self.scrub(failure_text(data)) or "no reason given"
            return TaskStatus(
                "failed",
                error=ProviderError(
                    f"request {task_id} failed: {text}"[:300],
                    kind=failure_kind(text),
                    provider=self.name,
                    detail=text,
                ),
            )
        if state == "cancelled":
            return TaskStatus(
                "failed",
                error=ProviderError(
                    f"request {task_id} was cancelled",
                    kind=ErrorKind.TRANSIENT,
                    provider=self.name,
                    detail=self.scrub(failure_text(data)) or None,
                ),
            )
        return TaskStatus("pending", progress=_progress(data, state))

    def map_http_error(
        self, status: int, data: Any, raw: bytes, retry_after: float | None
    ) -> ProviderError:
        """Status first (GMI's error bodies are undocumented); the body's text refines it."""
        said = failure_text(data) if isinstance(data, dict) else error_text(data)
        text = self.scrub(said or raw[:200].decode("utf-8", "replace").strip())
        kind = kind_for_status(status)
        found = classify(text)
        if found is ErrorKind.MODERATION and kind is not ErrorKind.RATE_LIMITED:
            kind = found  # content refusals are sometimes reported as 5xx (§8 1b)
        elif kind is ErrorKind.INVALID_INPUT and found in (ErrorKind.QUOTA, ErrorKind.AUTH):
            kind = found
        elif kind is ErrorKind.AUTH and found is ErrorKind.QUOTA:
            kind = found  # Ark's 403 AccountOverdueError is a billing problem
        return ProviderError(
            f"HTTP {status}: {text}"[:300],
            kind=kind,
            provider=self.name,
            retry_after=retry_after,
            detail=text,
        )


def parse_images(outcome: Any) -> list[ResultImage]:
    """``outcome.media_urls`` items as ``{id, url}`` objects or bare URL strings."""
    if not isinstance(outcome, dict):
        return []
    items = outcome.get("media_urls") or outcome.get("medias")
    if not isinstance(items, list):
        return []
    images = []
    for item in items:
        url = item.get("url") if isinstance(item, dict) else item
        if isinstance(url, str) and url:
            images.append(ResultImage(url=url))
    return images


def failure_text(data: dict[str, Any]) -> str:
    """The reason a request failed, wherever this response put it (UNCONFIRMED shape)."""
    outcome = data.get("outcome")
    for source in (data, outcome if isinstance(outcome, dict) else None):
        if source is None:
            continue
        err = source.get("error")
        if isinstance(err, dict):
            code, message = err.get("code"), err.get("message")
            parts = [str(part) for part in (code, message) if part]
            if parts:
                return ": ".join(parts)
        elif isinstance(err, str) and err:
            return err
    return error_text({k: v for k, v in data.items() if k != "error"})


def classify(text: str) -> ErrorKind | None:
    """The kind a failure text names, if it names one."""
    if not text:
        return None
    if looks_like_moderation(text) or "riskdetection" in text.lower():
        return ErrorKind.MODERATION
    lowered = text.lower()
    for kind, needles in _TEXT_KINDS:
        if any(needle in lowered for needle in needles):
            return kind
    return None


def failure_kind(text: str) -> ErrorKind:
    """A failed request's kind; unexplained failures are worth another try."""
    return classify(text) or ErrorKind.TRANSIENT


def _nearest_aspect(ratio: float, offered: tuple[str, ...]) -> str | None:
    def distance(key: str) -> float:
        width, height = RECOMMENDED_2K[key]
        return abs(math.log(ratio * height / width))

    best = min(offered, key=distance)
    return best if distance(best) <= math.log(_MATCH_TOLERANCE) else None


def _progress(data: dict[str, Any], state: str) -> int | None:
    reported = data.get("progress")
    if isinstance(reported, int | float) and not isinstance(reported, bool):
        return max(0, min(100, int(reported)))
    if state in _WAITING:
        return 0
    return _STAGE_PROGRESS.get(state)
