"""Every attachment of the corpus through ``/edit`` end to end: refused privately naming the file
and the limit, with no provider call and no charge; or normalised into an image the provider
accepts (first frame, RGB, 8 bits, upright). Never an ERROR record or a traceback in the log."""

from __future__ import annotations

import logging

import pytest

from tests.corpus.checks import (
    UNEXPECTED,
    assert_clean_log,
    bot_texts,
    decode_data_url,
    outcome,
    refusal_text,
    valid_image,
)
from tests.corpus.inputs import (
    ATTACHMENTS,
    NORMALISED_ATTACHMENTS,
    REFUSED_ATTACHMENTS,
    AttachmentCase,
    Normalised,
    Refused,
)
from tests.fakes.fake_discord import FakeDiscord
from tests.fakes.providers.myrouter import FakeMyRouter
from tests.helpers import quota_of

pytestmark = pytest.mark.usefixtures("bot")


def test_the_corpus_is_deterministic() -> None:
    for case in ATTACHMENTS:
        assert case.build() == case.build(), case.name


@pytest.mark.parametrize("case", REFUSED_ATTACHMENTS, ids=str)
async def test_refused_attachment(
    case: AttachmentCase,
    discord_fake: FakeDiscord,
    myrouter: FakeMyRouter,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    assert isinstance(case.expect, Refused)
    att = discord_fake.add_cdn_file(case.filename, case.build(), case.content_type)
    mark = discord_fake.mark()
    inter = await discord_fake.slash("edit", {"image": att, "prompt": "make it night"})
    kind, message = await outcome(discord_fake, inter, timeout=20)
    assert kind == "refused", f"accepted: {message['content']!r}"
    text = refusal_text(message)
    for words in case.expect.words:
        assert words in text, f"{words!r} not in {text!r}"
    assert myrouter.calls == []
    downloads = [c for c in discord_fake.calls_since(mark) if c.path.startswith("/cdn/")]
    if not case.expect.downloaded:
        assert downloads == [], "refused only after downloading it"
    # the public "Preparing…" message does not stay behind
    if inter.original_id is not None:
        assert inter.original_id not in discord_fake.messages
    assert "**0 of" in await quota_of(discord_fake)
    assert not [t for t in bot_texts(discord_fake) if UNEXPECTED in t]
    assert_clean_log(caplog)


@pytest.mark.parametrize("case", NORMALISED_ATTACHMENTS, ids=str)
async def test_normalised_attachment(
    case: AttachmentCase,
    discord_fake: FakeDiscord,
    myrouter: FakeMyRouter,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    expect = case.expect
    assert isinstance(expect, Normalised)
    att = discord_fake.add_cdn_file(case.filename, case.build(), case.content_type)
    inter = await discord_fake.slash("edit", {"image": att, "prompt": "make it night"})
    kind, message = await outcome(discord_fake, inter, timeout=30)
    assert kind == "result", f"refused: {message['content']!r}"
    assert len(myrouter.calls) == 1
    sent = myrouter.calls[0].json["images"]
    assert len(sent) == 1
    image = valid_image(decode_data_url(sent[0]))
    assert image.size == expect.size, f"{expect.how}: got {image.size}, expected {expect.size}"
    rgb = image.convert("RGB")
    for (x, y), colour in expect.probes:
        got = rgb.getpixel((x, y))
        assert all(abs(a - b) <= expect.tolerance for a, b in zip(got, colour, strict=True)), (
            f"{expect.how}: pixel {(x, y)} is {got}, expected about {colour}"
        )
    assert "**1 of" in await quota_of(discord_fake)
    assert not [t for t in bot_texts(discord_fake) if UNEXPECTED in t]
    assert_clean_log(caplog)
