"""Pieces every provider fake shares: an aiohttp server on loopback, real images, a call log,
scripted faults, and the documented reference-image checks.

Fakes encode each provider's documented rules independently of the bot's own capability
tables, so a bot bug that sends something the provider forbids is caught here, not hidden.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import io
import itertools
import json
import os
import random
import socket
import struct
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, TypeVar

import aiohttp
from aiohttp import web
from PIL import Image


@dataclass
class Recorded:
    """One request a fake received."""

    method: str
    path: str
    json: Any
    headers: dict[str, str]


@dataclass
class Scripted:
    """A response to give instead of the normal one (fault injection)."""

    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    raw: bytes | None = None
    delay: float = 0.0
    #: drop the connection with a TCP reset instead of answering (``status`` is then unused)
    reset: bool = False


class _ResetConnection(web.Response):
    """Not an answer: when aiohttp sends it, the connection is aborted with a TCP RST."""

    async def prepare(self, request: web.BaseRequest) -> None:  # type: ignore[override]
        transport = request.transport
        if transport is not None:
            sock = transport.get_extra_info("socket")
            if sock is not None:  # SO_LINGER 0: close() sends RST, not FIN
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            transport.abort()
        raise ConnectionResetError("fake provider: connection reset")


class ImageFactory:
    """Real JPEG/PNG images of any size, cached, rendered off the event loop."""

    def __init__(self) -> None:
        self._cache: dict[tuple[int, int, str, int], bytes] = {}

    async def make(self, width: int, height: int, fmt: str = "JPEG", variant: int = 0) -> bytes:
        key = (width, height, fmt, variant)
        if key not in self._cache:
            self._cache[key] = await asyncio.to_thread(render_image, width, height, fmt, variant)
        return self._cache[key]

    async def noise(self, width: int, height: int, fmt: str = "PNG") -> bytes:
        """Full-entropy noise (see :func:`render_noise`), rendered once per size and format."""
        key = (width, height, fmt, -1)  # variants of make() are never negative
        if key not in self._cache:
            self._cache[key] = await asyncio.to_thread(render_noise, width, height, fmt)
        return self._cache[key]


def render_image(width: int, height: int, fmt: str = "JPEG", variant: int = 0) -> bytes:
    """A gradient with noise: compresses like a photo, not like a flat colour."""
    rng = random.Random(variant)
    base = Image.linear_gradient("L").resize((width, height))
    noise = Image.effect_noise((width, height), 40 + rng.randint(0, 20))
    tint = Image.new("L", (width, height), rng.randint(40, 200))
    img = Image.merge("RGB", (base, noise, tint))
    out = io.BytesIO()
    img.save(out, fmt, **({"quality": 90} if fmt == "JPEG" else {}))
    return out.getvalue()


def render_noise(width: int, height: int, fmt: str = "PNG") -> bytes:
    """RGB pixels straight from ``os.urandom``: nothing to compress, the worst case for every
    encoder. As a PNG that is just over 3 bytes a pixel (4096×4096: about 48 MiB)."""
    img = Image.frombytes("RGB", (width, height), os.urandom(width * height * 3))
    out = io.BytesIO()
    # Deflate cannot shrink random bytes at any level; level 1 is the quickest real stream.
    img.save(out, fmt, **({"quality": 90} if fmt == "JPEG" else {"compress_level": 1}))
    return out.getvalue()


@dataclass(frozen=True)
class RefRules:
    """Documented limits on reference images."""

    formats: frozenset[str]
    min_aspect: float
    max_aspect: float
    max_bytes: int = 10 * 1024 * 1024
    max_pixels: int = 6000 * 6000
    min_side: int = 15


class RuleViolation(Exception):
    """The request breaks a documented rule; the fake answers with the provider's 400."""


F = TypeVar("F", bound="FakeProvider")


class FakeProvider:
    """Base for provider fakes: server lifecycle, auth, call log, faults, image files."""

    def __init__(self, api_key: str = "sk-test-key-0123456789") -> None:
        self.api_key = api_key
        self.app = web.Application(
            client_max_size=64 * 1024 * 1024, middlewares=[self._count_in_flight]
        )
        #: API requests being handled right now, and the most there ever were at once
        self.in_flight = 0
        self.max_in_flight = 0
        self.app.router.add_get("/files/{name}", self._file)
        self.calls: list[Recorded] = []
        self.rejections: list[str] = []
        #: URLs the fake downloaded (reference images), in order
        self.fetched: list[str] = []
        self.script: list[tuple[str, Scripted]] = []
        #: replies for the next result-file downloads (see :meth:`fail_next_file`)
        self.file_script: list[Scripted] = []
        #: path needles whose next request is handled normally, then its answer is lost
        #: (the connection is reset instead; see :meth:`lose_next_answer`)
        self.lost_answers: list[str] = []
        self.files: dict[str, bytes] = {}
        self.images = ImageFactory()
        self.blocked_words = {"forbidden"}
        self.latency = 0.0
        #: seconds every result-file download takes (to catch a bot mid-download)
        self.file_latency = 0.0
        self._ids = itertools.count(1)
        self._runner: web.AppRunner | None = None
        self.base_url = ""
        self._client: aiohttp.ClientSession | None = None

    @web.middleware
    async def _count_in_flight(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        if request.path.startswith("/files/"):
            return await handler(request)
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            response = await handler(request)
        finally:
            self.in_flight -= 1
        if isinstance(response, _ResetConnection):
            return response
        for index, needle in enumerate(self.lost_answers):
            if needle in request.path:
                del self.lost_answers[index]
                return _ResetConnection()
        return response

    async def start(self) -> None:
        self._runner = web.AppRunner(self.app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.base_url = f"http://127.0.0.1:{port}"

    async def stop(self) -> None:
        if self._client is not None:
            await self._client.close()
        if self._runner is not None:
            await self._runner.cleanup()

    def fail_next(self, path_contains: str, response: Scripted, times: int = 1) -> None:
        """Answer the next ``times`` matching requests with ``response``."""
        self.script.extend([(path_contains, response)] * times)

    def fail_next_file(self, response: Scripted, times: int = 1) -> None:
        """Answer the next ``times`` result-file downloads with ``response`` (a 404, a body
        that is not an image, a reset...) instead of the stored file."""
        self.file_script.extend([response] * times)

    def lose_next_answer(self, path_contains: str, times: int = 1) -> None:
        """Handle the next ``times`` matching requests normally (a task is created, credits
        are charged), then reset the connection instead of sending the answer."""
        self.lost_answers.extend([path_contains] * times)

    def calls_to(self, path_contains: str) -> list[Recorded]:
        return [c for c in self.calls if path_contains in c.path]

    async def record(self, request: web.Request) -> Recorded:
        body = await request.read()
        try:
            parsed = json.loads(body) if body else None
        except ValueError:
            parsed = body
        headers = {
            k: v
            for k, v in request.headers.items()
            if k.lower() not in ("authorization", "x-api-key")
        }
        call = Recorded(request.method, request.path, parsed, headers)
        self.calls.append(call)
        return call

    def scripted(self, path: str) -> Scripted | None:
        for index, (needle, response) in enumerate(self.script):
            if needle in path:
                del self.script[index]
                return response
        return None

    async def respond_scripted(self, response: Scripted) -> web.Response:
        if response.delay:
            await asyncio.sleep(response.delay)
        if response.reset:
            return _ResetConnection()
        if response.raw is not None:
            return web.Response(status=response.status, body=response.raw, headers=response.headers)
        return json_response(response.body, response.status, response.headers)

    def new_id(self) -> int:
        return next(self._ids)

    async def publish(self, data: bytes, ext: str = "jpeg") -> str:
        """Store bytes and return the URL the fake serves them at."""
        name = f"img-{self.new_id()}.{ext}"
        self.files[name] = data
        return f"{self.base_url}/files/{name}"

    async def scripted_file(self) -> web.Response | None:
        """The scripted reply for this result-file download, if one is queued."""
        if not self.file_script:
            return None
        return await self.respond_scripted(self.file_script.pop(0))

    async def _file(self, request: web.Request) -> web.Response:
        if self.file_latency:
            await asyncio.sleep(self.file_latency)
        faulty = await self.scripted_file()
        if faulty is not None:
            return faulty
        data = self.files.get(request.match_info["name"])
        if data is None:
            return web.Response(status=404, text="not found")
        kind = "image/png" if request.match_info["name"].endswith(".png") else "image/jpeg"
        return web.Response(body=data, content_type=kind)

    def is_blocked(self, prompt: str) -> bool:
        lowered = prompt.lower()
        return any(word in lowered for word in self.blocked_words)

    async def check_reference(self, ref: Any, rules: RefRules, label: str) -> None:
        """Decode a data URL or fetch a URL, then apply the documented image limits."""
        if not isinstance(ref, str) or not ref:
            raise RuleViolation(f"{label} must be a non-empty string")
        if ref.startswith("data:"):
            head, _, payload = ref.partition(",")
            if not head.startswith("data:image/") or not head.endswith(";base64"):
                raise RuleViolation(f"{label}: data URL must be data:image/<format>;base64,<data>")
            try:
                data = base64.b64decode(payload, validate=True)
            except (binascii.Error, ValueError):
                raise RuleViolation(f"{label}: invalid base64") from None
        elif ref.startswith(("http://", "https://")):
            data = await self.fetch(ref, label)
        else:
            raise RuleViolation(f"{label} must be a URL or a data URL")
        check_image_bytes(data, rules, label)

    async def fetch(self, url: str, label: str) -> bytes:
        self.fetched.append(url)
        if self._client is None:
            self._client = aiohttp.ClientSession()
        try:
            async with self._client.get(url, timeout=aiohttp.ClientTimeout(total=10)) as resp:
                if resp.status != 200:
                    raise RuleViolation(
                        f"{label}: downloading {url} failed with HTTP {resp.status}"
                    )
                return await resp.read()
        except aiohttp.ClientError as exc:
            raise RuleViolation(f"{label}: downloading {url} failed ({exc})") from None

    def reject(self, message: str) -> None:
        self.rejections.append(message)


def check_image_bytes(data: bytes, rules: RefRules, label: str) -> None:
    if len(data) > rules.max_bytes:
        raise RuleViolation(f"{label}: image larger than {rules.max_bytes} bytes")
    try:
        with Image.open(io.BytesIO(data)) as img:
            fmt = (img.format or "").lower()
            width, height = img.size
    except Exception:
        raise RuleViolation(f"{label}: not a decodable image") from None
    if fmt not in rules.formats:
        raise RuleViolation(f"{label}: format {fmt} not supported ({sorted(rules.formats)})")
    if min(width, height) < rules.min_side:
        raise RuleViolation(f"{label}: width and height must be > 14 px")
    if not rules.min_aspect <= width / height <= rules.max_aspect:
        raise RuleViolation(f"{label}: aspect ratio {width}/{height} out of range")
    if width * height > rules.max_pixels:
        raise RuleViolation(f"{label}: more than {rules.max_pixels} pixels")


@asynccontextmanager
async def serving(fake: F) -> AsyncIterator[F]:
    """Run a provider fake for a test; afterwards, any request the provider would have
    rejected fails the test (the bot must never send what the docs forbid)."""
    await fake.start()
    try:
        yield fake
    finally:
        await fake.stop()
    name = type(fake).__name__.removeprefix("Fake")
    assert not fake.rejections, f"the bot sent requests {name} would reject: {fake.rejections}"


def json_response(
    body: Any, status: int = 200, headers: dict[str, str] | None = None
) -> web.Response:
    return web.Response(
        status=status,
        body=json.dumps(body).encode(),
        headers=headers,
        content_type="application/json",
    )


def parse_wxh(size: str) -> tuple[int, int] | None:
    left, sep, right = size.partition("x")
    if not sep or not left.isdigit() or not right.isdigit():
        return None
    return int(left), int(right)
