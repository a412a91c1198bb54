"""Providers of Seedream behind one interface (see :mod:`bot.providers.base`)."""

from __future__ import annotations

import aiohttp

from bot.config import Settings
from bot.providers.base import Provider
from bot.providers.myrouter import MyRouter
from bot.providers.router import Router

#: provider name -> adapter class; a new provider is one module plus one line here
ADAPTERS: dict[str, type[Provider]] = {
    "myrouter": MyRouter,
}


def enabled_providers(settings: Settings) -> list[str]:
    """Names in ``SEEDREAM_PROVIDERS`` order whose key is set and whose adapter exists."""
    return [
        name
        for name in settings.seedream_providers
        if name in ADAPTERS and settings.api_key(name) is not None
    ]


def build_router(settings: Settings, session: aiohttp.ClientSession) -> Router:
    """The router over every enabled provider."""
    providers = []
    for name in enabled_providers(settings):
        key = settings.api_key(name)
        assert key is not None
        providers.append(ADAPTERS[name](session, key, settings.base_url(name)))
    return Router(providers, max_concurrency=settings.seedream_max_concurrent)


__all__ = ["ADAPTERS", "Provider", "Router", "build_router", "enabled_providers"]
