"""The work between a provider's answer and a post: download at once, verify, fit."""

from __future__ import annotations

import asyncio

import aiohttp

from bot import images
from bot.errors import ErrorKind, ProviderError
from bot.jobs.model import Output
from bot.providers.download import download
from bot.providers.models import GenerationResult, ResultImage


async def fetch_outputs(
    session: aiohttp.ClientSession, job_id: str, result: GenerationResult, limit: int
) -> list[Output]:
    """Download every result at once (URLs expire), verify it, and fit it to ``limit``."""
    return list(
        await asyncio.gather(
            *(
                _fetch_one(session, job_id, index, image, result.provider, limit)
                for index, image in enumerate(result.images, start=1)
            )
        )
    )


async def _fetch_one(
    session: aiohttp.ClientSession,
    job_id: str,
    index: int,
    image: ResultImage,
    provider: str,
    limit: int,
) -> Output:
    if image.data is not None:
        data = image.data
    else:
        assert image.url is not None
        data = await download(session, image.url, provider=provider)
    return await _fit(data, f"seedream-{job_id}-{index}", limit, provider)


async def refit(outputs: list[Output]) -> list[Output]:
    """Fit outputs again at half their size (Discord refused them as too large)."""
    fitted = []
    for out in outputs:
        stem = out.filename.rsplit(".", 1)[0]
        again = await _fit(out.data, stem, len(out.data) // 2, "discord")
        fitted.append(
            Output(
                data=again.data,
                filename=again.filename,
                width=again.width,
                height=again.height,
                reencoded=True,
                downscaled=out.downscaled or again.downscaled,
            )
        )
    return fitted


async def _fit(data: bytes, stem: str, limit: int, provider: str) -> Output:
    try:
        fitted = await images.run_in_process(images.fit_to_limit, data, limit)
    except ValueError as exc:
        raise ProviderError(
            f"returned a file that is not an image: {exc}",
            kind=ErrorKind.TRANSIENT,
            provider=provider,
        ) from None
    return Output(
        data=fitted.data,
        filename=f"{stem}.{fitted.info.extension}",
        width=fitted.info.width,
        height=fitted.info.height,
        reencoded=fitted.reencoded,
        downscaled=fitted.downscaled,
    )
