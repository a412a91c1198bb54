"""Safe rendering of member text: escaped, single-line, truncated, pinging nobody."""

from __future__ import annotations

import re
import unicodedata

import discord
import regex  # type: ignore[import-untyped,unused-ignore]

NO_PINGS = discord.AllowedMentions.none()
MAX_CONTENT = 2000

# Zero-width space, direction marks and overrides, word joiners, BOM. Not the zero-width
# (non-)joiners U+200C/U+200D: emoji sequences (👨‍👩‍👧) and Persian spelling need them.
_INVISIBLE = re.compile(r"[\u200b\u200e\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff]")
_SPACE = re.compile(r"\s+")
# Markdown that could change how the rest of a caption renders, escaped one character at a
# time (discord.py's escape_markdown skips URLs and matches masked links greedily).
_MARKDOWN = re.compile(r"[\\*_`~|]|(?<=\])\(|^[>#-]")
_GRAPHEME = regex.compile(r"\X")


def one_line(text: str) -> str:
    """Collapse whitespace (line breaks of every kind included), drop control and
    bidi-override characters."""
    text = _SPACE.sub(" ", text)  # first, so NEL, VT, FF and separators do not glue words
    text = "".join(ch for ch in text if unicodedata.category(ch) != "Cc")
    text = _INVISIBLE.sub("", text)
    return _SPACE.sub(" ", text).strip()


def truncate(text: str, limit: int) -> str:
    """At most ``limit`` characters, with an ellipsis when cut, never inside a character a
    reader sees as one (a flag, an emoji with a skin tone, a letter with its accents)."""
    if len(text) <= limit:
        return text
    kept, size = [], 0
    for grapheme in _GRAPHEME.findall(text):
        if size + len(grapheme) > limit - 1:
            break
        kept.append(grapheme)
        size += len(grapheme)
    return "".join(kept).rstrip() + "…"


def escape_markdown(text: str) -> str:
    return _MARKDOWN.sub(lambda match: "\\" + match.group(0), text)


def quote_prompt(prompt: str, limit: int = 300) -> str:
    """A prompt shown inside a caption: escaped markdown and mentions, one line, truncated.

    Escaping happens after truncation so a cut never leaves a dangling backslash, and the
    mention escape is belt and braces: messages are also sent with ``AllowedMentions.none()``.
    """
    short = truncate(one_line(prompt), limit)
    return discord.utils.escape_mentions(escape_markdown(short))
