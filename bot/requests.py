"""Turning what a member (or the CLI) typed into a validated :class:`GenerationRequest`."""

from __future__ import annotations

import re

from pydantic import ValidationError

from bot.config import Settings
from bot.errors import InvalidInput
from bot.providers.models import GenerationRequest, Reference, Resolution

_UNSAFE = re.compile(r"[^\w.:/ -]")
_SIZE = re.compile(r"^\s*(\d{2,5})\s*[xX×]\s*(\d{2,5})\s*$")


def parse_size(text: str) -> tuple[Resolution | None, tuple[int, int] | None]:
    """``1K``/``2K``/``4K`` or ``WIDTHxHEIGHT``."""
    upper = text.strip().upper()
    if upper in {r.value for r in Resolution}:
        return Resolution(upper), None
    match = _SIZE.match(text)
    if not match:
        raise InvalidInput(f"size must be 1K, 2K, 4K or WIDTHxHEIGHT (got {text!r}).")
    return None, (int(match.group(1)), int(match.group(2)))


def build_request(
    settings: Settings,
    available_models: list[str],
    *,
    prompt: str,
    model: str | None = None,
    default_model: str | None = None,
    aspect: str | None = None,
    resolution: str | None = None,
    size: tuple[int, int] | None = None,
    count: int = 1,
    seed: int | None = None,
    references: tuple[Reference, ...] = (),
) -> GenerationRequest:
    """Validate and assemble a request; any problem becomes one clear :class:`InvalidInput`."""
    chosen = (model or default_model or settings.seedream_default_model).strip().lower()
    if chosen not in available_models:
        offered = ", ".join(available_models) or "none (no provider is enabled)"
        # Echo only what a model name is made of (no markdown, no mentions), and not too much.
        shown = _UNSAFE.sub("", chosen)
        shown = shown if len(shown) <= 40 else shown[:39] + "…"
        raise InvalidInput(f"unknown model {shown!r}; available: {offered}.")
    try:
        return GenerationRequest(
            prompt=prompt,
            model=chosen,
            aspect=aspect,
            resolution=Resolution(resolution) if resolution else None,
            size=size,
            count=count,
            seed=seed,
            references=references,
            watermark=settings.seedream_watermark,
        )
    except ValidationError as exc:
        raise InvalidInput(_first_problem(exc)) from None
    except ValueError as exc:
        raise InvalidInput(str(exc)) from None


def _first_problem(exc: ValidationError) -> str:
    error = exc.errors()[0]
    field = ".".join(str(part) for part in error["loc"]) or "request"
    message = error["msg"].removeprefix("Value error, ")
    if error["type"] == "string_too_long" and field == "prompt":
        return "the prompt is longer than 2000 characters."
    return f"{field}: {message}"
