"""Safe rendering of member text: escaped, single-line, truncated, pinging nobody."""

from __future__ import annotations

import re
import unicodedata

import discord

NO_PINGS = discord.AllowedMentions.none()
MAX_CONTENT = 2000

_INVISIBLE = re.compile(r"[\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff]")
_SPACE = re.compile(r"\s+")


def one_line(text: str) -> str:
    """Collapse whitespace, drop control and bidi-override characters."""
    text = "".join(ch for ch in text if unicodedata.category(ch) != "Cc" or ch in "\n\t ")
    text = _INVISIBLE.sub("", text)
    return _SPACE.sub(" ", text).strip()


def truncate(text: str, limit: int) -> str:
    """At most ``limit`` characters, with an ellipsis when cut."""
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def quote_prompt(prompt: str, limit: int = 300) -> str:
    """A prompt shown inside a caption: escaped markdown and mentions, one line, truncated.

    Escaping happens after truncation so a cut never leaves a dangling backslash, and the
    mention escape is belt and braces: messages are also sent with ``AllowedMentions.none()``.
    """
    short = truncate(one_line(prompt), limit)
    return discord.utils.escape_mentions(discord.utils.escape_markdown(short))
