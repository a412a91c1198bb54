"""Fake Apiframe (seed 003, providers.md §3): ``POST /v2/images/generate``, ``GET /v2/jobs/{id}``.

Faithful to the documented contract: ``X-API-Key`` auth (401 without it, 403 for an inactive
key), a strict ``seedreamParams`` schema per model (``additionalProperties: false``; 400 with Zod
``details`` keyed by JSON path), credits charged at submit (402 ``Insufficient credits`` with
``creditsRequired``/``creditsAvailable``) and refunded when a job fails, ``Idempotency-Key``
(≤ 255 chars; a replay within 24 h returns the original job, a different body is 409), jobs
walked through ``QUEUED`` -> ``PROCESSING`` (with ``progress``) -> ``COMPLETED`` | ``FAILED`` |
``CANCELLED`` one step per poll, kept in a store so they can be polled later, and real JPEGs
served from loopback. Moderation surfaces as the documented ``FAILED`` job with
"Provider returned an error: content policy violation".

Choices where the docs are silent (GUESS), kept stricter than the real API so bot bugs show:
- ``result`` is ``{"images": [url]}`` (``result_shape="images"``) or a bare URL string
  (``result_shape="string"``): both documented shapes (§3.3).
- A replayed ``Idempotency-Key`` answers 200 with the job object (``id``, not ``jobId``).
- Preset sizes keep the preset's pixel count (1K = 1024², 2K = 2048², 4K = 4096²) at the asked
  ratio, on a 16 px grid; ``match_input_image`` follows the first reference (square without one).
- Reference images are fetched when the job runs (as upstream does): an unreachable or
  out-of-spec image fails the job with "Provider returned an error: ...", and is recorded as a
  rejection. Formats and aspect limits are the model's (§0, §5.2).
- ``width``/``height`` without ``size: "custom"`` are refused (the real API ignores them, which
  would silently drop the size the bot meant); custom sizes below Seedream 4.5's 2560x1440 total
  pixels fail the job, as the upstream model refuses them.
- Top-level unknown fields are refused too. Webhooks are validated but never delivered.
"""

from __future__ import annotations

import io
import json
import math
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aiohttp import web
from PIL import Image

from tests.fakes.providers.common import (
    FakeProvider,
    RefRules,
    RuleViolation,
    check_image_bytes,
    json_response,
)

_TOP_FIELDS = {"prompt", "model", "webhookUrl", "webhookEvents", "seedreamParams"}
# The SDK's shared Seedream schema (additionalProperties: false); seed 003 documents the first six.
_PARAM_FIELDS = {
    "aspect_ratio",
    "size",
    "width",
    "height",
    "image_input",
    "enhance_prompt",
    "guidance_scale",
    "output_format",
    "resolution",
    "seed",
    "use_pre_llm",
}
_WEBHOOK_EVENTS = {"progress", "completed", "failed"}
_PRESET_SIDE = {"1K": 1024, "2K": 2048, "4K": 4096}
_RATIO = re.compile(r"^([1-9][0-9]*):([1-9][0-9]*)$")
_MODERATION_ERROR = "Provider returned an error: content policy violation"


@dataclass(frozen=True)
class ModelRules:
    """What one Apiframe model accepts."""

    sizes: frozenset[str]
    max_refs: int
    refs: RefRules
    min_custom_pixels: int
    credits: int


MODELS = {
    "seedream-4": ModelRules(
        sizes=frozenset({"1K", "2K", "4K", "custom"}),
        max_refs=10,
        refs=RefRules(frozenset({"jpeg", "png"}), 1 / 3, 3.0),
        min_custom_pixels=1024 * 1024,
        credits=3,
    ),
    "seedream-4.5": ModelRules(
        sizes=frozenset({"2K", "4K", "custom"}),
        max_refs=14,
        refs=RefRules(frozenset({"jpeg", "png", "webp", "bmp", "tiff", "gif"}), 1 / 16, 16.0),
        min_custom_pixels=2560 * 1440,
        credits=4,
    ),
}


@dataclass
class Job:
    """One job in the store; ``public()`` is the documented job object."""

    id: str
    owner: str
    model: str
    input: dict[str, Any]
    status: str = "QUEUED"
    progress: int = 0
    result: Any = None
    error: str | None = None
    credit_cost: int = 0
    created_at: str = field(default_factory=lambda: _now())
    completed_at: str | None = None
    expired: bool = False
    polls: int = 0

    def public(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "id": self.id,
            "status": self.status,
            "model": self.model,
            "progress": self.progress,
            "result": self.result,
            "error": self.error,
            "creditCost": self.credit_cost,
            "webhookStatus": None,
            "createdAt": self.created_at,
            "completedAt": self.completed_at,
            "input": self.input,
        }
        if self.status == "COMPLETED":
            body["expired"] = self.expired
        return body


class FakeApiframe(FakeProvider):
    """The fake server; start it, point ``APIFRAME_BASE_URL`` at ``base_url``."""

    def __init__(self, api_key: str = "afk_test-apiframe-0123456789") -> None:
        super().__init__(api_key)
        self.credits = 1000
        self.inactive = False
        #: progress reported by successive polls before the job ends (0 = still QUEUED)
        self.progress_steps = [0, 35, 80]
        self.result_shape = "images"
        #: when set, jobs never leave PROCESSING (for deadline tests)
        self.hang = False
        #: when set, jobs end FAILED with this ``error`` text
        self.fail_jobs_with: str | None = None
        self.cancel_jobs = False
        self.jobs: dict[str, Job] = {}
        self.idempotency: dict[tuple[str, str], tuple[str, str]] = {}
        self.app.router.add_post("/v2/images/generate", self._generate)
        self.app.router.add_get("/v2/jobs/{id}", self._get_job)

    def expire(self, job_id: str) -> None:
        """What Apiframe does 24 h after completion: purge the CDN assets."""
        self.jobs[job_id].expired = True

    async def _generate(self, request: web.Request) -> web.Response:
        call = await self.record(request)
        denied = self._auth(request)
        if denied is not None:
            return denied
        scripted = self.scripted(request.path)
        if scripted is not None:
            return await self.respond_scripted(scripted)
        key = request.headers.get("Idempotency-Key")
        if key is not None and not 1 <= len(key) <= 255:
            return self._invalid({"Idempotency-Key": ["must be 1 to 255 characters"]})
        if request.content_type != "application/json" or not isinstance(call.json, dict):
            return self._invalid({"": ["Expected object, received " + type(call.json).__name__]})
        details = validate_body(call.json)
        if details:
            return self._invalid(details)
        owner = request.headers["X-API-Key"]
        canonical = json.dumps(call.json, sort_keys=True)
        if key is not None and (owner, key) in self.idempotency:
            body, job_id = self.idempotency[(owner, key)]
            if body != canonical:
                self.reject(f"Idempotency-Key {key} replayed with a different body")
                return error(409, "Idempotency key was already used with a different request body")
            return json_response(self.jobs[job_id].public())
        cost = MODELS[call.json["model"]].credits
        if self.credits < cost:
            return json_response(
                {
                    "error": "Insufficient credits",
                    "creditsRequired": cost,
                    "creditsAvailable": self.credits,
                },
                402,
            )
        self.credits -= cost
        job = Job(str(uuid.uuid4()), owner, call.json["model"], call.json, credit_cost=cost)
        self.jobs[job.id] = job
        if key is not None:
            self.idempotency[(owner, key)] = (canonical, job.id)
        return json_response({"jobId": job.id, "status": "QUEUED"}, 202)

    async def _get_job(self, request: web.Request) -> web.Response:
        await self.record(request)
        denied = self._auth(request)
        if denied is not None:
            return denied
        scripted = self.scripted(request.path)
        if scripted is not None:
            return await self.respond_scripted(scripted)
        job = self.jobs.get(request.match_info["id"])
        if job is None or job.owner != request.headers["X-API-Key"]:
            return error(404, "Job not found")
        if job.status in ("QUEUED", "PROCESSING"):
            await self._advance(job)
        return json_response(job.public())

    def _auth(self, request: web.Request) -> web.Response | None:
        if request.headers.get("X-API-Key") != self.api_key:
            return error(401, "Invalid or missing API key")
        if self.inactive:
            return error(403, "API key is inactive")
        return None

    def _invalid(self, details: dict[str, list[str]]) -> web.Response:
        self.reject("; ".join(f"{path}: {', '.join(msgs)}" for path, msgs in details.items()))
        return json_response({"error": "Validation failed", "details": details}, 400)

    async def _advance(self, job: Job) -> None:
        """One poll's worth of work: the next progress step, or the end of the job."""
        job.polls += 1
        if job.polls <= len(self.progress_steps):
            job.progress = self.progress_steps[job.polls - 1]
            job.status = "QUEUED" if job.progress == 0 and job.polls == 1 else "PROCESSING"
            return
        if self.hang:
            job.status = "PROCESSING"
            return
        if self.cancel_jobs:
            job.status = "CANCELLED"
            self._refund(job)
            return
        failure = self.fail_jobs_with
        if failure is None and self.is_blocked(job.input["prompt"]):
            failure = _MODERATION_ERROR
        size: tuple[int, int] | None = None
        if failure is None:
            try:
                size = await self._run(job)
            except RuleViolation as exc:
                self.reject(str(exc))
                failure = f"Provider returned an error: {exc}"
        if failure is not None:
            job.status, job.error = "FAILED", failure
            self._refund(job)
            return
        assert size is not None
        url = await self.publish(await self.images.make(*size, variant=job.polls))
        job.result = {"images": [url]} if self.result_shape == "images" else url
        job.status, job.progress, job.completed_at = "COMPLETED", 100, _now()

    def _refund(self, job: Job) -> None:
        """Failed jobs cost nothing: "Credits are refunded" (§3.3)."""
        self.credits += job.credit_cost
        job.credit_cost = 0

    async def _run(self, job: Job) -> tuple[int, int]:
        """What upstream does with the input: fetch the references, work out the size."""
        rules = MODELS[job.model]
        params = job.input.get("seedreamParams", {})
        first: tuple[int, int] | None = None
        for index, url in enumerate(params.get("image_input", [])):
            label = f"image_input[{index}]"
            data = await self.fetch(url, label)
            check_image_bytes(data, rules.refs, label)
            if first is None:
                with Image.open(io.BytesIO(data)) as img:
                    first = img.size
        size = params.get("size", "2K")
        if size == "custom":
            width, height = params["width"], params["height"]
            if width * height < rules.min_custom_pixels:
                raise RuleViolation(
                    f"InvalidParameter: {width}x{height} is below {rules.min_custom_pixels} "
                    f"pixels for {job.model}"
                )
            return width, height
        ratio = _ratio(params.get("aspect_ratio", "match_input_image"))
        if ratio is None:  # match_input_image (validated at submit)
            ratio = first[0] / first[1] if first else 1.0
        pixels = _PRESET_SIDE[size] ** 2
        width = round(math.sqrt(pixels * ratio) / 16) * 16
        return width, round(width / ratio / 16) * 16


def validate_body(body: dict[str, Any]) -> dict[str, list[str]]:
    """The Zod schema: every violation by JSON path, as Apiframe's 400 ``details`` lists them."""
    problems: dict[str, list[str]] = {}

    def bad(path: str, message: str) -> None:
        problems.setdefault(path, []).append(message)

    for name in sorted(set(body) - _TOP_FIELDS):
        bad(name, "Unrecognized key")
    prompt = body.get("prompt")
    if not isinstance(prompt, str) or not 1 <= len(prompt) <= 2000:
        bad("prompt", "String must contain 1 to 2000 character(s)")
    model = body.get("model")
    if model not in MODELS:
        bad("model", f"Invalid enum value; this fake serves {sorted(MODELS)}")
    if "webhookUrl" in body and not _is_url(body["webhookUrl"]):
        bad("webhookUrl", "Invalid url")
    if "webhookEvents" in body:
        events = body["webhookEvents"]
        if not isinstance(events, list) or not events or not set(events) <= _WEBHOOK_EVENTS:
            bad("webhookEvents", f"Array of at least 1 of {sorted(_WEBHOOK_EVENTS)}")
    params = body.get("seedreamParams", {})
    if not isinstance(params, dict):
        bad("seedreamParams", "Expected object")
    elif model in MODELS:
        _validate_params(params, MODELS[model], bad)
    return problems


def _validate_params(
    params: dict[str, Any], rules: ModelRules, bad: Callable[[str, str], None]
) -> None:
    for name in sorted(set(params) - _PARAM_FIELDS):
        bad(f"seedreamParams.{name}", "Unrecognized key")
    size = params.get("size", "2K")
    if size not in rules.sizes:
        bad("seedreamParams.size", f"Invalid enum value. Expected {sorted(rules.sizes)}")
    for side in ("width", "height"):
        value = params.get(side)
        if value is None:
            if size == "custom":
                bad(f"seedreamParams.{side}", "Required when size is custom")
            continue
        if size != "custom":
            bad(f"seedreamParams.{side}", "Only used when size is custom")
        if type(value) is not int or not 1024 <= value <= 4096:
            bad(f"seedreamParams.{side}", "Expected an integer from 1024 to 4096")
    aspect = params.get("aspect_ratio", "match_input_image")
    if aspect != "match_input_image":
        ratio = _ratio(aspect)
        if ratio is None or not 1 / 16 <= ratio <= 16:
            bad("seedreamParams.aspect_ratio", 'Expected "match_input_image" or "W:H"')
    refs = params.get("image_input", [])
    if not isinstance(refs, list) or len(refs) > rules.max_refs:
        bad("seedreamParams.image_input", f"Array must contain at most {rules.max_refs} URLs")
    else:
        for index, ref in enumerate(refs):
            if not _is_url(ref):
                bad(f"seedreamParams.image_input.{index}", "Invalid url (http or https only)")
        if len(refs) + 1 > 15:
            bad("seedreamParams.image_input", "input images + generated images must be <= 15")
    if "enhance_prompt" in params and not isinstance(params["enhance_prompt"], bool):
        bad("seedreamParams.enhance_prompt", "Expected boolean")
    if "use_pre_llm" in params and not isinstance(params["use_pre_llm"], bool):
        bad("seedreamParams.use_pre_llm", "Expected boolean")
    if "seed" in params and type(params["seed"]) is not int:
        bad("seedreamParams.seed", "Expected integer")
    guidance = params.get("guidance_scale", 1)
    if (
        isinstance(guidance, bool)
        or not isinstance(guidance, int | float)
        or not 1 <= guidance <= 10
    ):
        bad("seedreamParams.guidance_scale", "Expected a number from 1 to 10")
    if params.get("output_format", "jpg") not in ("jpg", "png"):
        bad("seedreamParams.output_format", "Expected jpg or png")
    if not isinstance(params.get("resolution", ""), str):
        bad("seedreamParams.resolution", "Expected string")


def _is_url(value: Any) -> bool:
    return isinstance(value, str) and value.startswith(("http://", "https://"))


def _ratio(aspect: Any) -> float | None:
    """``"W:H"`` -> W/H; None for anything else (including ``match_input_image``)."""
    match = _RATIO.fullmatch(aspect) if isinstance(aspect, str) else None
    return int(match[1]) / int(match[2]) if match else None


def error(status: int, message: str) -> web.Response:
    """Apiframe's error body: ``{"error": "<message string>"}``."""
    return json_response({"error": message}, status)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
