"""Fake GMI Cloud request queue for Seedream 4.0 (seed 004, providers.md §4).

``POST /api/v1/ie/requestqueue/apikey/requests`` takes exactly the documented envelope
``{"model": "seedream-4-0-250828", "payload": {...}}`` and payload fields, with their documented
limits: prompt ≤ 2000 characters; ``image`` a URL or URL list (jpeg/png, up to 10, each one
downloaded and checked — a data URL is refused); ``size`` only from the enumerated list;
``max_images`` with references + images ≤ 15; ``sequential_image_generation`` disabled|auto;
``seed`` in [-1, 2147483647]; ``watermark`` boolean. It answers ``{request_id, model, status,
created_at, updated_at, queued_at}``; ``GET …/requests/{request_id}`` walks each request through
``walk`` (one state per poll, default queued → processing) to ``success`` with
``outcome.media_urls[{id, url}]`` of real JPEGs served from loopback. Requests stay in ``tasks``
so they can be polled again later (resume).

Undocumented, so GUESSES (providers.md §4.3): error bodies are ``{"error": "<text>"}``; a
failed request carries a top-level ``error`` string (``error_shape`` switches to an object or
to ``outcome.error``); a prompt with a blocked word is accepted, then fails with Ark's
``InputTextSensitiveContentDetected`` text; the reference limits beyond format and count are
Seedream 4.0's (aspect 1/3–3, ≤ 10 MB, ≤ 6000×6000, sides > 14 px).
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from tests.fakes.providers.common import (
    FakeProvider,
    RefRules,
    RuleViolation,
    Scripted,
    json_response,
    parse_wxh,
)

PATH = "/api/v1/ie/requestqueue/apikey/requests"
MODEL = "seedream-4-0-250828"
_FIELDS = {
    "prompt",
    "image",
    "size",
    "max_images",
    "sequential_image_generation",
    "seed",
    "watermark",
}
_SIZES = {
    "1K",
    "2K",
    "4K",
    "1024x1024",
    "1440x2560",
    "1664x2496",
    "1728x2304",
    "2048x2048",
    "2304x1728",
    "2496x1664",
    "2560x1440",
    "3024x1296",
    "4096x4096",
}
_PRESET_SIDE = {"1K": 1024, "2K": 2048, "4K": 4096}
_REFS = RefRules(frozenset({"jpeg", "png"}), 1 / 3, 3.0)
MODERATION_ERROR = (
    "InputTextSensitiveContentDetected: The request failed because the input text may contain "
    "sensitive information."
)


@dataclass
class FakeRequest:
    """One queued request, kept so it can be polled by id at any later time."""

    request_id: str
    payload: dict[str, Any]
    size: tuple[int, int]
    count: int
    states: list[str]
    error: str | None = None
    polls: int = 0
    created_at: int = field(default_factory=lambda: int(time.time()))
    updated_at: int = 0
    media: list[dict[str, str]] = field(default_factory=list)

    @property
    def status(self) -> str:
        return self.states[min(self.polls, len(self.states) - 1)]


class FakeGMI(FakeProvider):
    """The fake server; start it, point ``GMI_BASE_URL`` at ``base_url``."""

    def __init__(self, api_key: str = "gmi-test-key-0123456789") -> None:
        super().__init__(api_key)
        self.tasks: dict[str, FakeRequest] = {}
        #: states a request shows, one per poll, before its terminal state
        self.walk = ["queued", "processing"]
        #: when set, requests stop advancing (stay in their current state) until it is cleared
        self.never_finish = False
        #: where a failed request's reason goes: "string" | "object" | "outcome"
        self.error_shape = "string"
        #: when set, sequences return this many images instead of all that were asked for
        self.sequence_returns: int | None = None
        self._endings: list[tuple[str, str | None]] = []
        self.app.router.add_post(PATH, self._submit)
        self.app.router.add_get(PATH + "/{request_id}", self._status)

    def end_next(self, status: str, error: str | None = None) -> None:
        """The next request created ends ``failed``/``cancelled`` (with ``error``)."""
        self._endings.append((status, error))

    def throttle(self, retry_after: int, times: int = 1) -> None:
        """The next ``times`` submits answer 429 with ``Retry-After`` (script it before polling:
        the needle also matches status paths)."""
        self.fail_next(
            PATH,
            Scripted(429, {"error": "rate limit exceeded"}, {"Retry-After": str(retry_after)}),
            times,
        )

    async def _submit(self, request: web.Request) -> web.Response:
        call = await self.record(request)
        denied = self._auth(request)
        if denied is not None:
            return denied
        scripted = self.scripted(request.path)
        if scripted is not None:
            return await self.respond_scripted(scripted)
        if request.content_type != "application/json" or not isinstance(call.json, dict):
            return self._invalid("body must be a JSON object (Content-Type: application/json)")
        try:
            payload, size, count = await self._validate(call.json)
        except RuleViolation as exc:
            return self._invalid(str(exc))
        ending, error = self._endings.pop(0) if self._endings else ("success", None)
        if self.is_blocked(payload["prompt"]):
            ending, error = "failed", MODERATION_ERROR
        task = FakeRequest(
            request_id=str(uuid.uuid4()),
            payload=payload,
            size=size,
            count=count,
            states=[*self.walk, ending],
            error=error,
        )
        task.updated_at = task.created_at
        self.tasks[task.request_id] = task
        return json_response(
            {
                "request_id": task.request_id,
                "model": MODEL,
                "status": task.states[0],
                "created_at": task.created_at,
                "updated_at": task.updated_at,
                "queued_at": task.created_at,
            }
        )

    async def _status(self, request: web.Request) -> web.Response:
        await self.record(request)
        denied = self._auth(request)
        if denied is not None:
            return denied
        scripted = self.scripted(request.path)
        if scripted is not None:
            return await self.respond_scripted(scripted)
        task = self.tasks.get(request.match_info["request_id"])
        if task is None:
            return error(404, "request not found")
        status = task.status
        if not self.never_finish:
            task.polls += 1
        task.updated_at = int(time.time())
        body: dict[str, Any] = {
            "request_id": task.request_id,
            "org_id": "fake-org",
            "model": MODEL,
            "status": status,
            "is_public": False,
            "payload": task.payload,
            "outcome": None,
            "created_at": task.created_at,
            "updated_at": task.updated_at,
            "queued_at": task.created_at,
        }
        if status == "success":
            body["outcome"] = {"media_urls": await self._media(task)}
        elif status in ("failed", "cancelled") and task.error:
            self._put_error(body, task.error)
        return json_response(body)

    async def _media(self, task: FakeRequest) -> list[dict[str, str]]:
        if not task.media:
            for index in range(task.count):
                data = await self.images.make(*task.size, variant=index)
                task.media.append({"id": str(index), "url": await self.publish(data)})
        return task.media

    def _put_error(self, body: dict[str, Any], text: str) -> None:
        if self.error_shape == "object":
            code, _, message = text.partition(": ")
            body["error"] = {"code": code, "message": message or code}
        elif self.error_shape == "outcome":
            body["outcome"] = {"error": text}
        else:
            body["error"] = text

    def _auth(self, request: web.Request) -> web.Response | None:
        if request.headers.get("Authorization") != f"Bearer {self.api_key}":
            return error(401, "Unauthorized: invalid API key")
        return None

    def _invalid(self, message: str) -> web.Response:
        self.reject(message)
        return error(400, message)

    async def _validate(self, body: dict[str, Any]) -> tuple[dict[str, Any], tuple[int, int], int]:
        if set(body) != {"model", "payload"}:
            raise RuleViolation("body must be exactly {model, payload}")
        if body["model"] != MODEL:
            raise RuleViolation(f"unknown model {body['model']!r}")
        payload = body["payload"]
        if not isinstance(payload, dict):
            raise RuleViolation("payload must be an object")
        unknown = set(payload) - _FIELDS
        if unknown:
            raise RuleViolation(f"unknown payload field(s): {', '.join(sorted(unknown))}")
        prompt = payload.get("prompt")
        if not isinstance(prompt, str) or not prompt.strip():
            raise RuleViolation("prompt is required")
        if len(prompt) > 2000:
            raise RuleViolation("prompt must be at most 2000 characters")
        refs = await self._references(payload)
        size = self._size(payload)
        mode = payload.get("sequential_image_generation", "disabled")
        if mode not in ("disabled", "auto"):
            raise RuleViolation("sequential_image_generation must be disabled or auto")
        max_images = payload.get("max_images", 1)
        if type(max_images) is not int or max_images < 1:
            raise RuleViolation("max_images must be a positive integer")
        if refs + max_images > 15:
            raise RuleViolation("reference images + max_images must be at most 15")
        seed = payload.get("seed", -1)
        if type(seed) is not int or not -1 <= seed <= 2_147_483_647:
            raise RuleViolation("seed must be an integer in [-1, 2147483647]")
        if not isinstance(payload.get("watermark", False), bool):
            raise RuleViolation("watermark must be a boolean")
        count = 1
        if mode == "auto":
            wanted = max_images if self.sequence_returns is None else self.sequence_returns
            count = max(1, min(wanted, max_images))
        return payload, size, count

    async def _references(self, payload: dict[str, Any]) -> int:
        if "image" not in payload:
            return 0
        image = payload["image"]
        refs = [image] if isinstance(image, str) else image
        if not isinstance(refs, list) or not 1 <= len(refs) <= 10:
            raise RuleViolation("image must be a URL or an array of 1 to 10 URLs")
        for i, ref in enumerate(refs):
            if not isinstance(ref, str) or not ref.startswith(("http://", "https://")):
                raise RuleViolation(f"image[{i}] must be an http(s) URL")
            await self.check_reference(ref, _REFS, f"image[{i}]")
        return len(refs)

    def _size(self, payload: dict[str, Any]) -> tuple[int, int]:
        size = payload.get("size", "2048x2048")
        if size not in _SIZES:
            raise RuleViolation(f"size must be one of {', '.join(sorted(_SIZES))}")
        if size in _PRESET_SIDE:
            return _PRESET_SIDE[size], _PRESET_SIDE[size]
        dims = parse_wxh(size)
        assert dims is not None
        return dims


def error(status: int, message: str) -> web.Response:
    return json_response({"error": message}, status)
