"""HTTP plumbing shared by every REST route: parse, record, inject faults, validate, reply.

One catch-all aiohttp handler serves ``/api/v10/*`` so that *every* request — implemented or not —
is recorded the same way, and unknown routes produce a loud 404 plus an ``unimplemented`` problem
instead of aiohttp's HTML 404. Replies always carry exactly ``Content-Type: application/json``
(discord.py compares the whole header) and ``Via`` (discord.py treats a 429 without it as a
Cloudflare ban). A crash inside the fake answers 400, not 500, because discord.py retries 5xx for
~25 s; it is recorded as a ``fake`` problem so the test still fails loudly.
"""

from __future__ import annotations

import json
import logging
import re
import traceback
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from aiohttp import BodyPartReader, web

from .errors import DiscordError, unauthorized
from .recording import Call, File, Recorder
from .state import FakeClock
from .validate import discord_errors, validate_request, validate_response

log = logging.getLogger("fake_discord")

API_PREFIX = "/api/v10"
BASE_HEADERS = {"Via": "1.1 google"}


@dataclass
class ApiRequest:
    """A parsed request as handlers see it."""

    method: str
    path: str
    params: dict[str, str]
    query: dict[str, str]
    headers: Mapping[str, str]
    json: Any
    files: list[File] = field(default_factory=list)
    size: int = 0


@dataclass
class Reply:
    status: int = 200
    json: Any = None
    headers: dict[str, str] = field(default_factory=dict)


Handler = Callable[[ApiRequest], Awaitable[Reply]]


@dataclass(frozen=True)
class Route:
    method: str
    template: str
    regex: re.Pattern[str]
    handler: Handler
    bot_auth: bool


class Router:
    """Method + path-template table; the first registered match wins (register @me before {id})."""

    def __init__(self) -> None:
        self.routes: list[Route] = []

    def add(self, method: str, template: str, handler: Handler, *, bot_auth: bool = True) -> None:
        pattern = re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", template)
        self.routes.append(Route(method, template, re.compile(pattern), handler, bot_auth))

    def match(self, method: str, path: str) -> tuple[Route, dict[str, str]] | None:
        for route in self.routes:
            if route.method == method:
                m = route.regex.fullmatch(path)
                if m:
                    return route, m.groupdict()
        return None


async def read_body(request: web.Request) -> tuple[Any, list[File], int]:
    """Decoded JSON (or multipart ``payload_json``), uploaded files, and total bytes."""
    if request.content_type.startswith("multipart/"):
        payload: Any = None
        files: list[File] = []
        size = 0
        reader = await request.multipart()
        while (part := await reader.next()) is not None:
            if not isinstance(
                part, BodyPartReader
            ):  # nested multipart: not something Discord takes
                raise ValueError("nested multipart bodies are not supported")
            data = await part.read(decode=False)
            size += len(data)
            name = part.name or ""
            if name == "payload_json":
                payload = json.loads(data or b"null")
            elif part.filename is not None:
                ctype = part.headers.get("Content-Type", "application/octet-stream")
                files.append(File(name, part.filename, ctype, bytes(data)))
        return payload, files, size
    raw = await request.read()
    if not raw:
        return None, [], 0
    return json.loads(raw), [], len(raw)


def json_response(status: int, body: Any, headers: Mapping[str, str] | None = None) -> web.Response:
    """Exactly ``application/json`` (aiohttp's json_response would append a charset)."""
    merged = {**BASE_HEADERS, **(headers or {})}
    if status == 204 or body is None:
        return web.Response(status=status, headers=merged)
    merged["Content-Type"] = "application/json"
    return web.Response(status=status, body=json.dumps(body).encode(), headers=merged)


def _default_fault_body(status: int) -> dict[str, Any]:
    if status == 429:
        return {"message": "You are being rate limited.", "retry_after": 0.05, "global": False}
    return {"message": f"{status}: fake injected error", "code": 0}


class Api:
    """The catch-all ``/api/v10/{tail}`` handler."""

    def __init__(
        self, router: Router, recorder: Recorder, clock: FakeClock, token: Callable[[], str]
    ) -> None:
        self.router = router
        self.recorder = recorder
        self.clock = clock
        self.token = token
        self.check_responses = True

    async def handle(self, request: web.Request) -> web.StreamResponse:
        path = "/" + request.match_info["tail"]
        method = request.method
        fake_at = self.clock.now()
        try:
            body, files, size = await read_body(request)
        except ValueError as exc:
            body, files, size = None, [], 0
            self.recorder.problem(method, path, f"undecodable body: {exc}", "schema")
        call = Call(
            method,
            path,
            dict(request.query),
            body,
            files,
            headers=dict(request.headers),
            fake_at=fake_at,
        )
        reply = await self._reply(request, call, size)
        call.status, call.response_json = reply.status, reply.json
        self.recorder.add_call(call)
        return json_response(reply.status, reply.json, reply.headers)

    async def _reply(self, request: web.Request, call: Call, size: int) -> Reply:
        method, path = call.method, call.path
        fault = self.recorder.take_fault(call)
        if fault is not None:
            body = (
                fault.json_body
                if fault.json_body is not None
                else _default_fault_body(fault.status)
            )
            return Reply(fault.status, body, dict(fault.headers))
        matched = self.router.match(method, path)
        if matched is None:
            self.recorder.problem(
                method, path, "route not implemented by the fake", "unimplemented"
            )
            return Reply(404, {"message": f"fake: unimplemented route {method} {path}", "code": 0})
        route, params = matched
        try:
            if route.bot_auth and request.headers.get("Authorization") != f"Bot {self.token()}":
                raise unauthorized()
            if call.json is not None:
                violations = validate_request(method, path, call.json)
                if violations:
                    for v in violations:
                        self.recorder.problem(method, path, str(v), "schema")
                    raise DiscordError(
                        400, 50035, "Invalid Form Body", errors=discord_errors(violations)
                    )
            api_request = ApiRequest(
                method, path, params, call.query, request.headers, call.json, call.files, size
            )
            reply = await route.handler(api_request)
        except DiscordError as err:
            if err.problem:
                self.recorder.problem(
                    method, path, f"{err.code} {err.message}: {err.errors}", "limit"
                )
            return Reply(err.status, err.body())
        except Exception as exc:  # a bug in the fake: fail loudly, but fast
            log.exception("fake_discord crashed on %s %s", method, path)
            self.recorder.problem(method, path, "".join(traceback.format_exception(exc)), "fake")
            return Reply(400, {"message": f"fake crashed: {exc!r}", "code": 0})
        if self.check_responses and 200 <= reply.status < 300 and reply.json is not None:
            for v in validate_response(method, path, reply.status, reply.json):
                self.recorder.problem(method, path, f"fake reply breaks spec: {v}", "fake")
        return reply
