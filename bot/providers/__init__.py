"""Providers of Seedream behind one interface (see :mod:`bot.providers.base`)."""

from __future__ import annotations

from dataclasses import replace

import aiohttp

from bot.config import Settings
from bot.providers.apiframe import Apiframe
from bot.providers.ark import Ark
from bot.providers.base import AsyncProvider, Provider
from bot.providers.evolink import EvoLink
from bot.providers.gmi import GMI
from bot.providers.myrouter import MyRouter
from bot.providers.router import Router

#: provider name -> adapter class; a new provider is one module plus one line here
ADAPTERS: dict[str, type[Provider]] = {
    "myrouter": MyRouter,
    "evolink": EvoLink,
    "apiframe": Apiframe,
    "gmi": GMI,
    "ark": Ark,
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
        provider = ADAPTERS[name](session, key, settings.base_url(name))
        if isinstance(provider, AsyncProvider) and settings.seedream_task_deadline:
            provider.poll = replace(provider.poll, deadline=settings.seedream_task_deadline)
        providers.append(provider)
    return Router(providers, max_concurrency=settings.seedream_max_concurrent)


__all__ = ["ADAPTERS", "Provider", "Router", "build_router", "enabled_providers"]
