"""Reference URLs for providers that only take URLs: refresh Discord's, upload the rest.

Discord attachment URLs are signed and expire (``?ex=…&is=…&hm=…``); a provider fetching an
expired one gets an error. Rather than trusting our clock against Discord's, every Discord URL
is refreshed (``POST /attachments/refresh-urls``, one call for all of a job's references) right
before a URL-only provider is called. References that have no URL — a member's image that had
to be converted or downscaled — are uploaded to Discord first, and their new URLs used.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

import discord

from bot.errors import InvalidInput
from bot.providers.models import Reference

if TYPE_CHECKING:
    from bot.client import SeedreamBot

log = logging.getLogger(__name__)

Upload = Callable[[list[tuple[str, bytes]]], Awaitable[list[str]]]  # (filename, data) → URLs
REFRESH_BATCH = 50  # Discord's limit per refresh-urls call


def is_discord_attachment(url: str) -> bool:
    """A signed Discord attachment URL (the kind that expires and can be refreshed)."""
    parts = urlsplit(url)
    return "/attachments/" in parts.path and "ex" in parse_qs(parts.query)


async def refresh_urls(bot: SeedreamBot, urls: Sequence[str]) -> dict[str, str]:
    """Original URL → freshly signed URL, for Discord attachment URLs."""
    fresh: dict[str, str] = {}
    for start in range(0, len(urls), REFRESH_BATCH):
        batch = list(urls[start : start + REFRESH_BATCH])
        route = discord.http.Route("POST", "/attachments/refresh-urls")
        data: Any = await bot.http.request(route, json={"attachment_urls": batch})
        for item in data.get("refreshed_urls", []):
            if item.get("original") and item.get("refreshed"):
                fresh[item["original"]] = item["refreshed"]
    return fresh


async def fresh_references(
    bot: SeedreamBot, references: Sequence[Reference], upload: Upload
) -> tuple[Reference, ...]:
    """Every reference with a URL a provider can fetch now."""
    discord_urls = [ref.url for ref in references if ref.url and is_discord_attachment(ref.url)]
    fresh: dict[str, str] = {}
    if discord_urls:
        try:
            fresh = await refresh_urls(bot, discord_urls)
        except discord.HTTPException as exc:
            log.warning("could not refresh attachment URLs", extra={"status": exc.status})
    updated = [
        ref.model_copy(update={"url": fresh[ref.url]}) if ref.url in fresh else ref
        for ref in references
    ]
    # Without a URL, or a Discord URL Discord would not refresh: upload the bytes again.
    missing = [
        index
        for index, ref in enumerate(updated)
        if ref.url is None or (is_discord_attachment(ref.url) and ref.url not in fresh.values())
    ]
    if not missing:
        return tuple(updated)
    if any(updated[index].data is None for index in missing):
        raise InvalidInput("a reference image is no longer available; please attach it again.")
    files = [(updated[index].filename, updated[index].data or b"") for index in missing]
    urls = await upload(files)
    if len(urls) != len(missing):
        raise InvalidInput("Discord did not accept the reference images for hosting.")
    for index, url in zip(missing, urls, strict=True):
        updated[index] = updated[index].model_copy(update={"url": url})
    log.info("references hosted on Discord", extra={"images": len(missing)})
    return tuple(updated)
