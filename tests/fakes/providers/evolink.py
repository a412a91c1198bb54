"""Fake EvoLink (seed 002, providers.md §2): async image tasks for doubao-seedream-4.0 / 4.5.

``POST /v1/images/generations`` validates every documented field (unknown fields, types, the
2000-character prompt, ``n`` in [1, 15], each model's size forms and pixel ranges, ``quality``
tiers, ``prompt_priority``, ``callback_url``, ``image_urls``: http(s) only, at most 14, each one
FETCHED and checked for size, format, aspect and pixels) and answers the documented task object.
``GET /v1/tasks/{id}`` walks a stored task through pending -> processing (with progress) ->
completed (``results[]`` of real JPEGs served from loopback) or failed (``error {code, message}``),
so a task can be polled again later by id (resume). HTTP errors use the documented
``{"error": {code, message, type, param?, fallback_suggestion?}}`` body.

Choices where the docs are silent, stricter than EvoLink may be so a doubtful request is caught:
``quality`` is refused with a pixel ``size`` (it only "works with" the ratio form) and on 4.5
(its page documents only ``2K``/``4K``/pixels); a reference that cannot be fetched or decoded
fails the task with ``image_processing_error``; a reference over 10 MB gets the documented 413.
As documented, several images come only when the prompt asks for them, and refs + n > 15 is
clamped (and recorded as a rejection, since the bot would have pre-paid for images it cannot get).
"""

from __future__ import annotations

import math
import re
import secrets
import time
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from tests.fakes.providers.common import (
    FakeProvider,
    RefRules,
    RuleViolation,
    check_image_bytes,
    json_response,
    parse_wxh,
)

_MODELS = {"doubao-seedream-4.0": "4.0", "doubao-seedream-4.5": "4.5"}
_FIELDS = {
    "model",
    "prompt",
    "n",
    "size",
    "quality",
    "prompt_priority",
    "image_urls",
    "callback_url",
}
_RATIOS = {"auto", "1:1", "2:3", "3:2", "3:4", "4:3", "4:5", "5:4", "9:16", "16:9", "21:9"}
_QUALITIES = {"1K", "2K", "4K"}
_PRIORITIES = {"4.0": {"standard", "fast"}, "4.5": {"standard"}}
_PIXELS = {"4.0": (1280 * 720, 4096 * 4096), "4.5": (2560 * 1440, 4096 * 4096)}
_CREDITS = {"4.0": 1.8, "4.5": 2.0}
_REFS = RefRules(frozenset({"jpeg", "png", "webp", "bmp", "tiff", "gif"}), 1 / 16, 16.0)
_MAX_REF_BYTES = 10 * 1024 * 1024

# What Seedream 4.0 renders for a tier + ratio (ByteDance's "method 1" table); ratios it does not
# list (4:5, 5:4, auto) get the tier's pixel budget at that ratio, auto meaning square here.
_TIER_TABLE: dict[str, dict[str, tuple[int, int]]] = {
    "1K": {
        "1:1": (1024, 1024),
        "4:3": (1152, 864),
        "3:4": (864, 1152),
        "16:9": (1280, 720),
        "9:16": (720, 1280),
        "3:2": (1248, 832),
        "2:3": (832, 1248),
        "21:9": (1512, 648),
    },
    "2K": {
        "1:1": (2048, 2048),
        "4:3": (2304, 1728),
        "3:4": (1728, 2304),
        "16:9": (2848, 1600),
        "9:16": (1600, 2848),
        "3:2": (2496, 1664),
        "2:3": (1664, 2496),
        "21:9": (3136, 1344),
    },
    "4K": {
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

#: status -> (type, message, fallback_suggestion) as in the OpenAPI error responses (§2.5);
#: messages are CONSTRUCTED from the documented meaning, fallbacks are the documented examples
HTTP_ERRORS: dict[int, tuple[str, str, str | None]] = {
    400: ("invalid_request_error", "Invalid request parameters", None),
    401: ("authentication_error", "Invalid or missing API key", None),
    402: ("insufficient_quota_error", "Insufficient credits", "https://evolink.ai/dashboard"),
    403: ("permission_error", "No permission to use this model", None),
    404: ("not_found_error", "Task not found or expired", None),
    413: ("request_too_large_error", "Image file too large", "compress image to under 4MB"),
    429: ("rate_limit_error", "Rate limit exceeded", "retry after 60 seconds"),
    500: ("internal_server_error", "Internal server error", "try again later"),
    502: ("upstream_error", "Upstream service error", "try different model"),
    503: ("service_unavailable_error", "Service temporarily unavailable", "retry after 30 seconds"),
}

#: task-level error codes (§2.5); content_policy_violation's text is the documented example
TASK_ERRORS: dict[str, str] = {
    "content_policy_violation": "Content policy violation.\n"
    "Your request was blocked by safety filters...",
    "invalid_parameters": "Invalid parameters.",
    "image_processing_error": "Failed to process the input image.",
    "image_dimension_mismatch": "Image dimensions do not match the request.",
    "request_cancelled": "The request was cancelled.",
    "generation_failed_no_content": "The model generated no content.",
    "service_error": "Internal service error.",
    "generation_timeout": "Generation timed out.",
    "resource_exhausted": "Upstream resources exhausted.",
    "quota_exceeded": "Quota exceeded, please slow down.",
    "service_unavailable": "Service temporarily unavailable.",
    "resource_not_found": "Task not found or expired.",
    "unknown_error": "Unknown error.",
}


class TooLarge(RuleViolation):
    """A reference image over the documented 10 MB: EvoLink's 413."""


@dataclass
class FakeTask:
    """One stored task; ``polls`` drives its walk through the documented states."""

    id: str
    model: str
    created: int
    size: tuple[int, int]
    count: int
    failure: tuple[str, str] | None = None
    polls: int = 0
    results: list[str] | None = None


class FakeEvoLink(FakeProvider):
    """The fake server; start it and point ``EVOLINK_BASE_URL`` at ``base_url``."""

    def __init__(self, api_key: str = "sk-evo-test-0123456789abcdef") -> None:
        super().__init__(api_key)
        self.tasks: dict[str, FakeTask] = {}
        #: progress shown on successive polls (the first one is ``pending``), then completed
        self.steps: tuple[int, ...] = (0, 25, 60, 90)
        #: tasks stay ``processing`` forever (a task that never completes)
        self.stall = False
        #: where finished tasks list their URLs: "results" (documented), "result_data", "both"
        self.results_shape = "results"
        #: when set, sequences return this many images instead of all that were asked for
        self.sequence_returns: int | None = None
        self._task_failures: list[tuple[str, str]] = []
        self.app.router.add_post("/v1/images/generations", self._create)
        self.app.router.add_get("/v1/tasks/{task_id}", self._query)

    def fail_next_task(self, code: str, message: str | None = None) -> None:
        """The next created task ends ``failed`` with this documented code."""
        self._task_failures.append((code, message or TASK_ERRORS[code]))

    def expire(self, task_id: str) -> None:
        """Forget a task, as EvoLink does after its retention window."""
        del self.tasks[task_id]

    async def _create(self, request: web.Request) -> web.Response:
        call = await self.record(request)
        if request.headers.get("Authorization") != f"Bearer {self.api_key}":
            return error(401)
        scripted = self.scripted(request.path)
        if scripted is not None:
            return await self.respond_scripted(scripted)
        if request.content_type != "application/json" or not isinstance(call.json, dict):
            return self._invalid("body must be a JSON object (Content-Type: application/json)")
        try:
            task = await self._validate(call.json)
        except TooLarge as exc:
            self.reject(str(exc))
            return error(413, str(exc), param="image_urls")
        except RuleViolation as exc:
            return self._invalid(str(exc))
        self.tasks[task.id] = task
        version = _MODELS[task.model]
        return json_response(
            {
                "created": task.created,
                "id": task.id,
                "model": task.model,
                "object": "image.generation.task",
                "progress": 0,
                "status": "pending",
                "task_info": {"can_cancel": True, "estimated_time": 45},
                "type": "image",
                "usage": {
                    "billing_rule": "per_call",
                    "credits_reserved": round(_CREDITS[version] * call.json.get("n", 1), 2),
                    "user_group": "default",
                },
            }
        )

    async def _query(self, request: web.Request) -> web.Response:
        await self.record(request)
        if request.headers.get("Authorization") != f"Bearer {self.api_key}":
            return error(401)
        scripted = self.scripted(request.path)
        if scripted is not None:
            return await self.respond_scripted(scripted)
        task = self.tasks.get(request.match_info["task_id"])
        if task is None:
            return error(404)
        return json_response(await self._advance(task))

    async def _advance(self, task: FakeTask) -> dict[str, Any]:
        task.polls += 1
        body: dict[str, Any] = {
            "created": task.created,
            "id": task.id,
            "model": task.model,
            "object": "image.generation.task",
            "type": "image",
            "task_info": {"can_cancel": True},
        }
        if self.stall or task.polls <= len(self.steps):
            step = min(task.polls, len(self.steps)) - 1
            state = "pending" if task.polls == 1 and not self.stall else "processing"
            return body | {"status": state, "progress": self.steps[step]}
        body["task_info"] = {"can_cancel": False}
        if task.failure is not None:
            code, message = task.failure
            return body | {
                "status": "failed",
                "progress": 0,
                "error": {"code": code, "message": message},
            }
        if task.results is None:
            task.results = []
            for index in range(task.count):
                data = await self.images.make(*task.size, variant=index)
                task.results.append(await self.publish(data))
        body |= {"status": "completed", "progress": 100}
        if self.results_shape in ("results", "both"):
            body["results"] = list(task.results)
        if self.results_shape in ("result_data", "both"):
            body["result_data"] = [
                {"result_id": f"r{i}", "image_url": url} for i, url in enumerate(task.results)
            ]
        return body

    def _invalid(self, message: str) -> web.Response:
        self.reject(message)
        return error(400, message)

    async def _validate(self, body: dict[str, Any]) -> FakeTask:
        unknown = set(body) - _FIELDS
        if unknown:
            raise RuleViolation(f"unknown field(s): {', '.join(sorted(unknown))}")
        model = body.get("model")
        if model not in _MODELS:
            raise RuleViolation(f"model must be one of {sorted(_MODELS)}")
        version = _MODELS[model]
        prompt = body.get("prompt")
        if not isinstance(prompt, str) or not prompt.strip():
            raise RuleViolation("prompt is required")
        if len(prompt) > 2000:
            raise RuleViolation("prompt: maximum length is 2000")
        n = body.get("n", 1)
        if type(n) is not int or not 1 <= n <= 15:
            raise RuleViolation("n must be an integer in [1, 15]")
        size = _size(body, version)
        priority = body.get("prompt_priority", "standard")
        if priority not in _PRIORITIES[version]:
            raise RuleViolation(f"prompt_priority must be one of {sorted(_PRIORITIES[version])}")
        callback = body.get("callback_url")
        if callback is not None and (
            not isinstance(callback, str)
            or not callback.startswith("https://")
            or len(callback) > 2048
        ):
            raise RuleViolation("callback_url must be an https URL of at most 2048 characters")
        refs = body.get("image_urls", [])
        if not isinstance(refs, list) or len(refs) > 14:
            raise RuleViolation("image_urls must be an array of at most 14 URLs")
        failure = await self._check_references(refs)
        if len(refs) + n > 15:
            self.reject(f"{len(refs)} references + n={n} > 15: pre-charged for unreachable images")
        count = self._count(prompt, n, len(refs))
        if failure is None and self.is_blocked(prompt):
            failure = ("content_policy_violation", TASK_ERRORS["content_policy_violation"])
        if failure is None and self._task_failures:
            failure = self._task_failures.pop(0)
        created = int(time.time())
        return FakeTask(
            id=f"task-unified-{created}-{secrets.token_hex(4)}",
            model=model,
            created=created,
            size=size,
            count=count,
            failure=failure,
        )

    async def _check_references(self, refs: list[Any]) -> tuple[str, str] | None:
        """Field errors are a 400; an image EvoLink cannot use fails the task later."""
        for i, ref in enumerate(refs):
            if not isinstance(ref, str) or not ref.startswith(("http://", "https://")):
                raise RuleViolation(f"image_urls[{i}] must be an http(s) URL (no data URLs)")
        for i, ref in enumerate(refs):
            label = f"image_urls[{i}]"
            try:
                data = await self.fetch(ref, label)
                if len(data) > _MAX_REF_BYTES:
                    raise TooLarge(f"{label}: image larger than 10MB")
                check_image_bytes(data, _REFS, label)
            except TooLarge:
                raise
            except RuleViolation as exc:
                self.reject(str(exc))
                return ("image_processing_error", f"{TASK_ERRORS['image_processing_error']} {exc}")
        return None

    def _count(self, prompt: str, n: int, refs: int) -> int:
        """Several images only when the prompt asks for them too; never past 15 - refs."""
        asked = n if n == 1 or re.search(rf"\b{n}\b", prompt) else 1
        if self.sequence_returns is not None:
            asked = min(asked, self.sequence_returns)
        return max(1, min(asked, 15 - refs))


def error(status: int, message: str | None = None, *, param: str | None = None) -> web.Response:
    return json_response(error_body(status, message, param=param), status)


def error_body(status: int, message: str | None = None, *, param: str | None = None) -> Any:
    """EvoLink's documented HTTP error body for ``status``."""
    kind, default, fallback = HTTP_ERRORS[status]
    err: dict[str, Any] = {"code": status, "message": message or default, "type": kind}
    if param:
        err["param"] = param
    if fallback:
        err["fallback_suggestion"] = fallback
    return {"error": err}


def _size(body: dict[str, Any], version: str) -> tuple[int, int]:
    size = body.get("size", "2048x2048")
    quality = body.get("quality")
    if not isinstance(size, str):
        raise RuleViolation("size must be a string")
    if version == "4.5":
        if "quality" in body:
            raise RuleViolation("quality is not a doubao-seedream-4.5 field (size: 2K, 4K, WxH)")
        if size in ("2K", "4K"):
            side = 2048 if size == "2K" else 4096
            return side, side
    elif size in _RATIOS:
        if quality is None:
            quality = "2K"
        if quality not in _QUALITIES:
            raise RuleViolation(f"quality must be one of {sorted(_QUALITIES)}")
        return _ratio_pixels(size, quality)
    elif quality is not None:
        raise RuleViolation("quality is used only with the ratio form of size")
    dims = parse_wxh(size)
    if dims is None:
        forms = "2K, 4K or WxH" if version == "4.5" else f"one of {sorted(_RATIOS)} or WxH"
        raise RuleViolation(f"size must be {forms} (got {size!r})")
    low, high = _PIXELS[version]
    width, height = dims
    if not low <= width * height <= high:
        raise RuleViolation(f"size {size}: total pixels must be within [{low}, {high}]")
    if not 1 / 16 <= width / height <= 16:
        raise RuleViolation(f"size {size}: aspect ratio must be within [1/16, 16]")
    return width, height


def _ratio_pixels(ratio: str, quality: str) -> tuple[int, int]:
    table = _TIER_TABLE[quality]
    if ratio in table:
        return table[ratio]
    if ratio == "auto":
        return table["1:1"]
    w, h = (int(part) for part in ratio.split(":"))
    budget = table["1:1"][0] ** 2
    width = round(math.sqrt(budget * w / h) / 16) * 16
    return width, round(width * h / w / 16) * 16
