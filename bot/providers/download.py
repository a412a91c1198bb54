"""Download a provider's result at once (URLs expire in 1–24 h), capped in size and time."""

from __future__ import annotations

import aiohttp

from bot.errors import ErrorKind, ProviderError

MAX_RESULT_BYTES = 64 * 1024 * 1024


async def download(
    session: aiohttp.ClientSession,
    url: str,
    *,
    provider: str,
    max_bytes: int = MAX_RESULT_BYTES,
    timeout: float = 60.0,
) -> bytes:
    """The bytes at ``url``; a :class:`ProviderError` on any failure, never a partial file."""
    try:
        async with session.get(url, timeout=aiohttp.ClientTimeout(total=timeout)) as response:
            if response.status != 200:
                raise ProviderError(
                    f"result download answered HTTP {response.status}",
                    kind=ErrorKind.TRANSIENT,
                    provider=provider,
                )
            if (response.content_length or 0) > max_bytes:
                raise _too_large(provider, max_bytes)
            chunks = []
            size = 0
            async for chunk in response.content.iter_chunked(256 * 1024):
                size += len(chunk)
                if size > max_bytes:
                    raise _too_large(provider, max_bytes)
                chunks.append(chunk)
            return b"".join(chunks)
    except TimeoutError:
        raise ProviderError(
            f"result download took longer than {timeout:.0f} s",
            kind=ErrorKind.TIMEOUT,
            provider=provider,
        ) from None
    except aiohttp.ClientError as exc:
        raise ProviderError(
            f"result download failed ({type(exc).__name__})",
            kind=ErrorKind.TRANSIENT,
            provider=provider,
        ) from None


def _too_large(provider: str, max_bytes: int) -> ProviderError:
    return ProviderError(
        f"result is larger than {max_bytes // (1024 * 1024)} MiB",
        kind=ErrorKind.TRANSIENT,
        provider=provider,
    )
