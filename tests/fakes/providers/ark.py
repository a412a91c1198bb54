"""Fake BytePlus ModelArk: synchronous ``POST /api/v3/images/generations`` (providers.md §5).

Enforces the documented body (§5.2) for ``seedream-4-0-250828`` and ``seedream-4-5-251128``:
only the known fields, their types and ranges, per-model size presets and pixel ranges,
reference count/format/aspect/size (data URLs decoded, URLs fetched), refs + images ≤ 15, and
answers like Ark (§5.3): ``{model, created, data: [{url, size} | {b64_json, size} |
{error: {code, message}}], usage}``. Result URLs imitate signed TOS links whose query string
carries ``&``-separated signature parameters; a mangled query gets TOS's 403 ``AccessDenied``.

Errors use Ark's body ``{"error": {code, message, param, type}}`` with the documented codes
(§5.4); messages follow the BytePlus error-code page's wording, abridged. Stateful rules: the
prompt moderation words, models not activated on the account (404 ``ModelNotOpen``), an RPM
limit (429 ``RateLimitExceeded.EndpointRPMExceeded``; the ``Retry-After`` header is a GUESS, Ark
does not document one), and per-image output failures (group mode: error items; single mode:
a top-level 400). Ark is synchronous, so there is no task store: a request is its result.
``stream: true`` (SSE) is not implemented and is recorded as a rejection: the bot never streams.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import itertools
import time
from collections import deque
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from tests.fakes.providers.common import (
    FakeProvider,
    RefRules,
    RuleViolation,
    json_response,
    parse_wxh,
)

FIELDS = frozenset(
    {
        "model",
        "prompt",
        "image",
        "response_format",
        "size",
        "seed",
        "sequential_image_generation",
        "sequential_image_generation_options",
        "stream",
        "watermark",
        "optimize_prompt_options",
    }
)


@dataclass(frozen=True)
class ModelSpec:
    """One model's documented limits on Ark (§0, §5.2)."""

    name: str
    presets: dict[str, tuple[int, int]]
    min_pixels: int
    max_pixels: int
    max_refs: int
    refs: RefRules
    prompt_modes: frozenset[str]


SEEDREAM_40 = ModelSpec(
    "seedream-4.0",
    {"1K": (1024, 1024), "2K": (2048, 2048), "4K": (4096, 4096)},
    1280 * 720,
    4096 * 4096,
    10,
    RefRules(frozenset({"jpeg", "png"}), 1 / 3, 3.0),
    frozenset({"standard", "fast"}),
)
SEEDREAM_45 = ModelSpec(
    "seedream-4.5",
    {"2K": (2048, 2048), "4K": (4096, 4096)},
    2560 * 1440,
    4096 * 4096,
    14,
    RefRules(frozenset({"jpeg", "png", "webp", "bmp", "tiff", "gif"}), 1 / 16, 16.0),
    frozenset({"standard"}),
)

_TYPES = {
    400: "BadRequest",
    401: "Unauthorized",
    403: "Forbidden",
    404: "NotFound",
    429: "TooManyRequests",
    500: "InternalServerError",
}
#: documented code -> (HTTP status, message without the request id), abridged from §5.4 sources
MESSAGES: dict[str, tuple[int, str]] = {
    "MissingParameter": (
        400,
        "The request failed because it is missing one or multiple required parameters.",
    ),
    "InvalidParameter": (400, "A parameter specified in the request is not valid."),
    "SensitiveContentDetected": (
        400,
        "The request failed because the input text may contain sensitive information.",
    ),
    "SensitiveContentDetected.SevereViolation": (
        400,
        "The request failed because the input text may contain severe violation information.",
    ),
    "SensitiveContentDetected.Violence": (
        400,
        "The request failed because the input text may contain violent information.",
    ),
    "InputTextSensitiveContentDetected": (
        400,
        "The request failed because the input text may contain sensitive information.",
    ),
    "InputImageSensitiveContentDetected": (
        400,
        "The request failed because the input image may contain sensitive information.",
    ),
    "InputImageSensitiveContentDetected.PrivacyInformation": (
        400,
        "The request failed because the input image may contain real person.",
    ),
    "OutputImageSensitiveContentDetected": (
        400,
        "The request failed because the output image may contain sensitive information.",
    ),
    "InputTextRiskDetection": (400, "The input text triggered content security detection."),
    "InputImageRiskDetection": (400, "The input image triggered content security detection."),
    "OutputImageRiskDetection": (400, "The output image triggered content security detection."),
    "InvalidEndpoint.ClosedEndpoint": (
        400,
        "The request targeted an endpoint that is closed or temporarily unavailable.",
    ),
    "AuthenticationError": (401, "The API key or AK/SK in the request is missing or invalid."),
    "AccountOverdueError": (
        403,
        "The request failed because your account has an overdue balance.",
    ),
    "AccessDenied": (
        403,
        "The request failed because you do not have access to the requested resource.",
    ),
    "InvalidEndpoint.NotFound": (
        404,
        "The endpoint does not exist or you do not have access to it.",
    ),
    "InvalidEndpointOrModel.NotFound": (
        404,
        "The model or endpoint does not exist or you do not have access to it.",
    ),
    "ModelNotOpen": (
        404,
        "Your account has not activated the model. "
        "Please activate the model service in the Ark Console.",
    ),
    "RateLimitExceeded.EndpointRPMExceeded": (
        429,
        "The request has exceeded the RPM (requests per minute) limit for the endpoint.",
    ),
    "RateLimitExceeded.EndpointTPMExceeded": (
        429,
        "The request has exceeded the TPM (tokens per minute) limit for the endpoint.",
    ),
    "ServerOverloaded": (
        429,
        "The service is currently unable to handle additional requests due to server overload.",
    ),
    "RequestBurstTooFast": (
        429,
        "The request was rejected because the traffic increased too fast.",
    ),
    "AccountRateLimitExceeded": (429, "The request has exceeded the account's rate limit."),
    "QuotaExceeded": (
        429,
        "Your account has exhausted its free trial quota for the model. "
        "Please activate the model service.",
    ),
    "SetLimitExceeded": (
        429,
        "Your account has reached the set inference limit for the model, and the model "
        "service has been paused (Safe Experience Mode).",
    ),
    "InternalServiceError": (500, "The service encountered an unexpected internal error."),
}

_request_ids = itertools.count(1)


def error_body(code: str, message: str | None = None, param: str = "") -> tuple[int, Any]:
    """Ark's documented error body for ``code``, with a request id as Ark appends one."""
    status, default = MESSAGES[code]
    text = f"{message or default} Request id: 0217{int(time.time())}{next(_request_ids):06d}"
    return status, {
        "error": {"code": code, "message": text, "param": param, "type": _TYPES[status]}
    }


def error(code: str, message: str | None = None, param: str = "", **headers: str) -> web.Response:
    status, body = error_body(code, message, param)
    return json_response(body, status, headers or None)


class FakeArk(FakeProvider):
    """The fake server; point the adapter's base URL at ``base_url``."""

    def __init__(self, api_key: str = "ark-test-key-0123456789abcdef") -> None:
        super().__init__(api_key)
        #: model id -> spec; tests may add endpoint ids (``ep-…``) or Volcengine ids
        self.models: dict[str, ModelSpec] = {
            "seedream-4-0-250828": SEEDREAM_40,
            "seedream-4-5-251128": SEEDREAM_45,
        }
        #: model ids the account has not activated -> 404 ModelNotOpen
        self.not_activated: set[str] = set()
        #: when set, ``auto`` sequences return this many images (the model decides, §8.4)
        self.sequence_returns: int | None = None
        #: image index -> error code for that output (group mode: error item; else a 400)
        self.output_errors: dict[int, str] = {}
        #: accepted generations per rolling minute before 429 EndpointRPMExceeded
        self.rpm: int | None = None
        self._accepted: deque[float] = deque()
        self.app.router.add_post("/api/v3/images/generations", self._generate)
        self.app.router.add_get("/tos/{name}", self._tos_file)

    async def _generate(self, request: web.Request) -> web.Response:
        call = await self.record(request)
        if request.headers.get("Authorization") != f"Bearer {self.api_key}":
            return error("AuthenticationError")
        if request.content_type != "application/json" or not isinstance(call.json, dict):
            return self._invalid("the body must be a JSON object (application/json)", "")
        body: dict[str, Any] = call.json
        model_id = body.get("model")
        if not isinstance(model_id, str) or not model_id:
            return self._invalid("model is required", "model", "MissingParameter")
        spec = self.models.get(model_id)
        if spec is None:
            return error(
                "InvalidEndpointOrModel.NotFound",
                f"The model or endpoint {model_id} does not exist or you do not have access to it.",
            )
        if model_id in self.not_activated:
            return error(
                "ModelNotOpen",
                f"Your account 2100000000 has not activated the model {model_id}. "
                "Please activate the model service in the Ark Console.",
            )
        limited = self._rate_limited()
        if limited is not None:
            return limited
        try:
            plan = await self._validate(body, spec)
        except _Invalid as exc:
            return self._invalid(exc.message, exc.param, exc.code)
        except RuleViolation as exc:
            return self._invalid(str(exc), "image")
        scripted = self.scripted(request.path)  # faults answer only requests Ark would accept
        if scripted is not None:
            return await self.respond_scripted(scripted)
        if self.is_blocked(body["prompt"]):
            return error("InputTextSensitiveContentDetected")
        self._accepted.append(time.monotonic())
        if self.latency:
            await asyncio.sleep(self.latency)
        return await self._answer(model_id, plan)

    def _invalid(self, message: str, param: str, code: str = "InvalidParameter") -> web.Response:
        """Ark's 400 for a broken rule; recorded, since the bot must never send one."""
        self.reject(f"{param or 'body'}: {message}")
        if code == "InvalidParameter":
            message = f"The parameter `{param}` specified in the request is not valid: {message}."
        return error(code, message, param)

    def _rate_limited(self) -> web.Response | None:
        if self.rpm is None:
            return None
        now = time.monotonic()
        while self._accepted and now - self._accepted[0] >= 60:
            self._accepted.popleft()
        if len(self._accepted) < self.rpm:
            return None
        wait = max(1, int(60 - (now - self._accepted[0])) + 1)
        return error("RateLimitExceeded.EndpointRPMExceeded", **{"Retry-After": str(wait)})

    async def _validate(self, body: dict[str, Any], spec: ModelSpec) -> _Plan:
        unknown = set(body) - FIELDS
        if unknown:
            raise _Invalid(f"unknown field(s) {', '.join(sorted(unknown))}", sorted(unknown)[0])
        prompt = body.get("prompt")
        if not isinstance(prompt, str) or not prompt.strip():
            raise _Invalid("prompt is required", "prompt", "MissingParameter")
        refs = await self._references(body, spec)
        size = _size(body.get("size", "2048x2048"), spec)
        if "seed" in body:  # accepted, has no effect on 4.x (§0)
            seed = body["seed"]
            if type(seed) is not int or not -1 <= seed <= 2_147_483_647:
                raise _Invalid("seed must be an integer in [-1, 2147483647]", "seed")
        for flag in ("stream", "watermark"):
            if flag in body and not isinstance(body[flag], bool):
                raise _Invalid(f"{flag} must be a boolean", flag)
        if body.get("stream") is True:
            raise _Invalid("this fake does not stream (the bot must send stream=false)", "stream")
        response_format = body.get("response_format", "url")
        if response_format not in ("url", "b64_json"):
            raise _Invalid("response_format must be url or b64_json", "response_format")
        options = body.get("optimize_prompt_options", {"mode": "standard"})
        if not isinstance(options, dict) or set(options) - {"mode"}:
            raise _Invalid("optimize_prompt_options takes only mode", "optimize_prompt_options")
        if options.get("mode", "standard") not in spec.prompt_modes:
            raise _Invalid(
                f"{spec.name} supports mode {sorted(spec.prompt_modes)}", "optimize_prompt_options"
            )
        mode = body.get("sequential_image_generation", "disabled")
        if mode not in ("auto", "disabled"):
            raise _Invalid("must be auto or disabled", "sequential_image_generation")
        seq = body.get("sequential_image_generation_options", {})
        if not isinstance(seq, dict) or set(seq) - {"max_images"}:
            raise _Invalid("takes only max_images", "sequential_image_generation_options")
        max_images = seq.get("max_images", 15)
        if type(max_images) is not int or not 1 <= max_images <= 15:
            raise _Invalid("max_images must be an integer in [1, 15]", "max_images")
        if mode == "auto" and "max_images" in seq and refs + max_images > 15:
            raise _Invalid(
                f"reference images ({refs}) + max_images ({max_images}) must be at most 15",
                "max_images",
            )
        if mode == "disabled":
            count = 1
        else:
            wanted = max_images if self.sequence_returns is None else self.sequence_returns
            count = max(1, min(wanted, max_images, 15 - refs))
        return _Plan(size, count, mode == "auto", response_format)

    async def _references(self, body: dict[str, Any], spec: ModelSpec) -> int:
        if "image" not in body:
            return 0
        value = body["image"]
        refs = [value] if isinstance(value, str) else value
        if not isinstance(refs, list) or not 1 <= len(refs) <= spec.max_refs:
            raise _Invalid(
                f"image must be a string or an array of 1 to {spec.max_refs} strings", "image"
            )
        for index, ref in enumerate(refs):
            label = f"image[{index}]"
            if isinstance(ref, str) and ref.startswith("data:"):
                fmt = ref[len("data:image/") :].partition(";")[0]
                if fmt != fmt.lower():
                    raise _Invalid(f"{label}: the format in a data URL must be lower case", "image")
            await self.check_reference(ref, spec.refs, label)
        return len(refs)

    async def _answer(self, model_id: str, plan: _Plan) -> web.Response:
        width, height = plan.size
        items: list[dict[str, Any]] = []
        for index in range(plan.count):
            code = self.output_errors.get(index)
            if code is not None:
                if not plan.group:
                    return error(code)
                items.append({"error": {"code": code, "message": MESSAGES[code][1]}})
                continue
            data = await self.images.make(width, height, variant=index)
            item: dict[str, Any] = {"size": f"{width}x{height}"}
            if plan.response_format == "b64_json":
                item["b64_json"] = base64.b64encode(data).decode("ascii")
            else:
                item["url"] = await self._publish_signed(data)
            items.append(item)
        made = sum(1 for item in items if "error" not in item)
        tokens = made * width * height // 256
        return json_response(
            {
                "model": model_id,
                "created": int(time.time()),
                "data": items,
                "usage": {
                    "generated_images": made,
                    "output_tokens": tokens,
                    "total_tokens": tokens,
                },
            }
        )

    async def _publish_signed(self, data: bytes) -> str:
        """A TOS-like URL whose ``&``-joined query must arrive intact to download it."""
        name = f"img-{self.new_id()}.jpeg"
        self.files[name] = data
        query = "&".join(f"{k}={v}" for k, v in _signature(name).items())
        return f"{self.base_url}/tos/{name}?{query}"

    async def _tos_file(self, request: web.Request) -> web.Response:
        faulty = await self.scripted_file()
        if faulty is not None:
            return faulty
        name = request.match_info["name"]
        wanted = _signature(name)
        if any(request.query.get(key) != value for key, value in wanted.items()):
            body = {"Code": "AccessDenied", "Message": "signature mismatch"}
            return json_response(body, 403)
        data = self.files.get(name)
        if data is None:
            return web.Response(status=404, text="not found")
        return web.Response(body=data, content_type="image/jpeg")


@dataclass(frozen=True)
class _Plan:
    size: tuple[int, int]
    count: int
    group: bool
    response_format: str


class _Invalid(Exception):
    def __init__(self, message: str, param: str, code: str = "InvalidParameter") -> None:
        super().__init__(message)
        self.message, self.param, self.code = message, param, code


def _signature(name: str) -> dict[str, str]:
    return {
        "X-Tos-Algorithm": "TOS4-HMAC-SHA256",
        "X-Tos-Expires": "86400",
        "X-Tos-Signature": hashlib.sha256(name.encode()).hexdigest()[:32],
    }


def _size(value: Any, spec: ModelSpec) -> tuple[int, int]:
    if not isinstance(value, str):
        raise _Invalid("size must be a string", "size")
    if value in spec.presets:
        return spec.presets[value]
    dims = parse_wxh(value)
    if dims is None:
        raise _Invalid(f"the specified size is not supported for model {spec.name}", "size")
    width, height = dims
    if not spec.min_pixels <= width * height <= spec.max_pixels:
        raise _Invalid(
            f"size {value}: total pixels must be within [{spec.min_pixels}, {spec.max_pixels}]",
            "size",
        )
    if not 1 / 16 <= width / height <= 16:
        raise _Invalid(f"size {value}: aspect ratio must be within [1/16, 16]", "size")
    return width, height
