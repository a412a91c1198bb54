"""Every prompt of the corpus through ``/imagine`` end to end (real discord.py, fake Discord,
MyRouter fake): refused clearly and privately, or generated with a well-formed caption that
pings nobody; never an ERROR record or a traceback in the log."""

from __future__ import annotations

import logging

import pytest

from tests.corpus.checks import (
    UNEXPECTED,
    assert_clean_log,
    bot_texts,
    caption_body,
    caption_problems,
    outcome,
    refusal_text,
)
from tests.corpus.inputs import PROMPTS, Accepted, ClientRefuses, Ids, PromptCase, Refused
from tests.fakes.fake_discord import FakeDiscord, InvalidAction
from tests.fakes.providers.myrouter import FakeMyRouter
from tests.helpers import quota_of

pytestmark = pytest.mark.usefixtures("bot")


def ids_of(fake: FakeDiscord) -> Ids:
    return Ids(
        user=fake.user("bob")["id"],
        role=fake.role("Moderator")["id"],
        channel=fake.channel("general")["id"],
    )


def prompt_option(fake: FakeDiscord) -> dict:
    synced = next(c for c in fake.calls if c.method == "PUT" and c.path.endswith("/commands")).json
    imagine = next(c for c in synced if c["name"] == "imagine")
    return next(o for o in imagine["options"] if o["name"] == "prompt")


@pytest.mark.parametrize("case", PROMPTS, ids=str)
async def test_prompt(
    case: PromptCase,
    discord_fake: FakeDiscord,
    myrouter: FakeMyRouter,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    prompt = case.build(ids_of(discord_fake))
    expect = case.expect

    if isinstance(expect, ClientRefuses):
        # the option is declared so that Discord's client itself will not send this
        option = prompt_option(discord_fake)
        assert (option.get("min_length"), option.get("max_length")) == (1, 2000)
        with pytest.raises(InvalidAction) as refused:
            await discord_fake.slash("imagine", {"prompt": prompt})
        for words in expect.words:
            assert words in str(refused.value)
        assert myrouter.calls == []
        assert_clean_log(caplog)
        return

    inter = await discord_fake.slash("imagine", {"prompt": prompt}, user="alice")
    kind, message = await outcome(discord_fake, inter)

    if isinstance(expect, Refused):
        assert kind == "refused", f"accepted instead of refused: {message['content']!r}"
        text = refusal_text(message)
        for words in expect.words:
            assert words in text, f"{words!r} not in {text!r}"
        assert myrouter.calls == []
        assert "**0 of" in await quota_of(discord_fake)
    else:
        assert isinstance(expect, Accepted)
        assert kind == "result", f"refused instead of accepted: {message['content']!r}"
        caption = message["content"]
        assert discord_fake.pings(message) == set()
        problems = caption_problems(caption, prompt)
        assert not problems, "\n".join([repr(caption), *problems])
        for shown in expect.shown:
            assert shown in caption, f"{shown!r} not in {caption!r}"
        body = caption_body(caption)
        for hidden in expect.hidden:
            assert hidden not in body, f"{hidden!r} in {body!r}"
        assert len(myrouter.calls) == 1
        if expect.exact:
            assert myrouter.calls[0].json["prompt"] == prompt
        for call in discord_fake.calls:
            if isinstance(call.json, dict) and "content" in call.json:
                assert call.json.get("allowed_mentions") == {"parse": []}, call.path
    assert not [t for t in bot_texts(discord_fake) if UNEXPECTED in t]
    assert_clean_log(caplog)
