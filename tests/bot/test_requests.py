"""Turning typed options into a request: the refusals members see."""

from __future__ import annotations

import pytest

from bot.config import Settings
from bot.errors import InvalidInput
from bot.requests import build_request

MODELS = ["seedream-4.0", "seedream-4.5"]


def refusal(model: str) -> str:
    settings = Settings(discord_token="t" * 60)
    with pytest.raises(InvalidInput) as caught:
        build_request(settings, MODELS, prompt="a cat", model=model)
    return str(caught.value)


def test_an_unknown_model_is_named_with_what_is_available() -> None:
    assert refusal("dall-e") == ("unknown model 'dall-e'; available: seedream-4.0, seedream-4.5.")


def test_an_echoed_model_name_carries_no_markdown_or_mentions_and_stays_short() -> None:
    text = refusal("**bold** <@123> @everyone " + "x" * 5000)
    assert not set("*<>@`|~") & set(text), text
    assert len(text) < 150, text
