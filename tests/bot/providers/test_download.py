"""Result download: at once, size-capped, time-limited; the generator verifies it is an image."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import aiohttp
import pytest
import pytest_asyncio
from aiohttp import web

from bot.errors import ErrorKind, ProviderError
from bot.providers.download import download
from tests.helpers import png_bytes


@pytest_asyncio.fixture
async def server() -> AsyncIterator[str]:
    async def big(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse()  # no Content-Length: the cap must hold while streaming
        await response.prepare(request)
        for _ in range(40):
            await response.write(b"\0" * 65536)
        return response

    async def slow(request: web.Request) -> web.Response:
        await asyncio.sleep(2)
        return web.Response(body=b"late")

    app = web.Application()

    async def ok(request: web.Request) -> web.Response:
        return web.Response(body=png_bytes(32, 32))

    app.router.add_get("/ok.png", ok)
    app.router.add_get("/big", big)
    app.router.add_get("/slow", slow)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    yield f"http://127.0.0.1:{port}"
    await runner.cleanup()


async def test_downloads_the_bytes(server: str) -> None:
    async with aiohttp.ClientSession() as session:
        assert (await download(session, f"{server}/ok.png", provider="p")).startswith(b"\x89PNG")


@pytest.mark.parametrize(
    ("path", "kwargs", "kind", "words"),
    [
        ("/missing", {}, ErrorKind.TRANSIENT, "HTTP 404"),
        ("/big", {"max_bytes": 1024 * 1024}, ErrorKind.TRANSIENT, "larger than 1 MiB"),
        ("/slow", {"timeout": 0.3}, ErrorKind.TIMEOUT, "longer than"),
    ],
)
async def test_failures_are_provider_errors(
    server: str, path: str, kwargs: dict[str, float], kind: ErrorKind, words: str
) -> None:
    async with aiohttp.ClientSession() as session:
        with pytest.raises(ProviderError) as caught:
            await download(session, server + path, provider="p", **kwargs)  # type: ignore[arg-type]
    assert caught.value.kind is kind and words in caught.value.message
    assert caught.value.provider == "p"


async def test_connection_refused_is_transient() -> None:
    async with aiohttp.ClientSession() as session:
        with pytest.raises(ProviderError) as caught:
            await download(session, "http://127.0.0.1:9/x.png", provider="p")
    assert caught.value.kind is ErrorKind.TRANSIENT
