"""Checks shared by the corpus tests: a clean log, a well-formed caption, a valid image."""

from __future__ import annotations

import base64
import io
import logging
import re
import unicodedata
from typing import Any

import pytest
import regex
from PIL import Image

from tests.fakes.fake_discord import FakeDiscord, Interaction

MAX_CONTENT = 2000
#: the caption shows at most this many characters of the prompt (bot/ui/text.py quote_prompt)
QUOTE_LIMIT = 300
UNEXPECTED = "Something went wrong on the bot's side"

# -- logs --------------------------------------------------------------------------------------


def log_problems(caplog: pytest.LogCaptureFixture, since: int = 0) -> list[str]:
    """ERROR records, tracebacks, and refusals the member never saw, from record ``since`` on."""
    records = caplog.records[since:]
    found = [
        f"{r.levelname} {r.name}: {r.getMessage()}" for r in records if r.levelno >= logging.ERROR
    ]
    found += [f"traceback logged by {r.name}: {r.getMessage()}" for r in records if r.exc_info]
    found += [
        f"{r.name}: {r.getMessage()} ({getattr(r, 'status', '?')}/{getattr(r, 'code', '?')})"
        for r in records
        if r.getMessage() == "could not tell the member about an error"
    ]
    if since == 0 and "Traceback" in caplog.text:
        found.append("'Traceback' in the captured log text")
    return found


def assert_clean_log(caplog: pytest.LogCaptureFixture, since: int = 0) -> None:
    problems = log_problems(caplog, since)
    assert not problems, "\n".join(problems)


def bot_texts(fake: FakeDiscord) -> list[str]:
    """Everything the bot said in #general, ephemeral messages included."""
    return [
        m["content"] for m in fake.channel_messages("general") if m["author"]["id"] == fake.bot.id
    ]


def refusal_text(message: dict[str, Any]) -> str:
    """The text of a private refusal; it must be ephemeral and not an internal error."""
    assert message["flags"] & 64, f"the refusal is public: {message['content']!r}"
    text: str = message["content"]
    assert UNEXPECTED not in text, text
    assert len(text) <= MAX_CONTENT
    return text


# -- captions ----------------------------------------------------------------------------------

_FIRST_LINE = re.compile(r"\A🎨 <@(?P<user>\d+)> · \*\*(?P<body>.*)\*\*\Z")
_ESCAPE = re.compile(r"\\(.)", re.DOTALL)
_URL = re.compile(r"(?:https?|steam)://\S+")
_BIDI = re.compile(r"[\u202a-\u202e\u2066-\u2069]")
_DROPPED = re.compile(r"[\u200b\u200e\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff]")
_MENTION = re.compile(r"<@[!&]?\d|@everyone|@here")
_MASKED_LINK = re.compile(r"\[[^\]]*\]\(")


def displayed(prompt: str) -> str:
    """What a caption should show of ``prompt`` before truncation, independent of the bot:
    one line (every kind of line break or space becomes one space), control characters,
    zero-width spaces and bidi overrides dropped; ZWJ, ZWNJ and variation selectors kept
    (they are part of emoji sequences and of Persian and Indic spelling)."""
    text = re.sub(r"\s+", " ", prompt)
    text = "".join(ch for ch in text if unicodedata.category(ch) != "Cc")
    text = _DROPPED.sub("", text)
    return re.sub(r" +", " ", text).strip()


def grapheme_boundaries(text: str) -> set[int]:
    ends = {0}
    for match in regex.finditer(r"\X", text):
        ends.add(match.end())
    return ends


def caption_body(caption: str) -> str:
    """The escaped prompt from the caption's first line."""
    first = caption.split("\n", 1)[0]
    match = _FIRST_LINE.match(first)
    assert match, f"the caption's first line is not '🎨 <@user> · **prompt**': {first!r}"
    return match.group("body")


def active_markdown(body: str) -> list[str]:
    """Markdown the body would still trigger inside the caption's bold: unescaped ``* ~ | ```,
    ``_`` outside links, masked links and mentions."""
    active = _ESCAPE.sub("\x00", body)  # an escaped character is inert
    found = []
    for url in _URL.finditer(active):
        for ch in "*~|`":
            if ch in url.group():
                found.append(f"{ch!r} inside the link {url.group()!r} (the caption's ** breaks)")
    outside = _URL.sub(" ", active)
    found += [f"unescaped {ch!r}" for ch in "*~|`_" if ch in outside]
    found += [f"masked link {m.group()!r}" for m in _MASKED_LINK.finditer(active)]
    found += [f"live mention {m.group()!r}" for m in _MENTION.finditer(active)]
    return found


def unescaped(body: str) -> str:
    """The text a member reads: escapes removed, the mention-breaking ZWSP removed."""
    return _ESCAPE.sub(r"\1", body).replace("@\u200b", "@")


def caption_problems(caption: str, prompt: str) -> list[str]:
    """Everything wrong with a result caption for ``prompt``."""
    problems = []
    if len(caption) > MAX_CONTENT:
        problems.append(f"the caption has {len(caption)} characters")
    body = caption_body(caption)
    if not body:
        problems.append("the prompt shows as an empty '****'")
    if any(unicodedata.category(ch) == "Cc" for ch in body):
        problems.append(f"control characters in the caption: {body!r}")
    if _BIDI.search(body):
        problems.append(f"bidi override or isolate in the caption: {body!r}")
    problems += active_markdown(body)
    shown, expected = unescaped(body), displayed(prompt)
    if shown.endswith("…") and shown != expected:
        cut = shown[:-1]
        if not expected.startswith(cut):
            problems.append(f"the caption shows {cut[-40:]!r}, not a prefix of the prompt")
        elif len(cut) not in grapheme_boundaries(expected):
            tail = regex.findall(r"\X", expected[: len(cut) + 8])[-3:]
            problems.append(f"truncated inside a character (grapheme cluster): …{tail!r}")
        if len(cut) > QUOTE_LIMIT:
            problems.append(f"{len(cut)} characters of the prompt shown (limit {QUOTE_LIMIT})")
    elif shown != expected:
        problems.append(f"the caption shows {shown!r}, expected {expected!r}")
    return problems


# -- images ------------------------------------------------------------------------------------


def decode_data_url(data_url: str) -> bytes:
    head, _, payload = data_url.partition(",")
    assert head.startswith("data:image/") and head.endswith(";base64"), head
    return base64.b64decode(payload, validate=True)


def png_bit_depth(data: bytes) -> int | None:
    """The IHDR bit depth of a PNG, else None."""
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        return None
    return data[24]


def valid_image(data: bytes) -> Image.Image:
    """``data`` as a fully decoded image; it must be a single-frame 8-bit JPEG or PNG."""
    with Image.open(io.BytesIO(data)) as probe:
        probe.verify()
    img = Image.open(io.BytesIO(data))
    img.load()
    assert img.format in ("JPEG", "PNG"), img.format
    assert getattr(img, "n_frames", 1) == 1, f"{img.n_frames} frames"
    assert img.mode in ("L", "RGB", "RGBA"), img.mode
    depth = png_bit_depth(data)
    assert depth in (None, 8), f"a {depth}-bit PNG"
    orientation = img.getexif().get(0x0112, 1)
    assert orientation == 1, f"still carries EXIF orientation {orientation}"
    return img


# -- outcomes ----------------------------------------------------------------------------------


async def outcome(
    fake: FakeDiscord, inter: Interaction, timeout: float = 30
) -> tuple[str, dict[str, Any]]:
    """How a command ended: ``("refused", message)`` for a private answer (immediate, a private
    follow-up, or the deferred reply edited into an error), ``("result", message)`` for a
    message with the image and the result buttons."""
    ack = await inter.callback()
    if ack.json["type"] == 4:
        data = ack.json["data"]
        answer = {"content": data.get("content", ""), "flags": data.get("flags", 0)}
        if ack.status >= 300:  # Discord refused the answer: the member saw "interaction failed"
            return f"lost (HTTP {ack.status} {ack.response_json})", answer
        return "refused", answer

    def done() -> tuple[str, dict[str, Any]] | None:
        followups = [fake.messages[m] for m in inter.followup_ids if m in fake.messages]
        private = [m for m in followups if m.get("flags", 0) & 64]
        if private:
            return "refused", private[0]
        if inter.original_id is None or inter.loading:
            return None
        original = fake.messages.get(inter.original_id)
        if original is None:
            return None
        if original.get("attachments") and original.get("components"):
            return "result", original
        if original["content"].startswith(("⚠️", "❌", "⛔")):
            return "refused", original
        return None

    found: tuple[str, dict[str, Any]] = await fake.wait_until(
        done, timeout=timeout, what="a result or a refusal"
    )
    return found
