"""Tests of the fake Discord itself, driven by a tiny throwaway discord.py bot defined here.

Nothing from the project's ``bot``/``cogs`` packages is imported: the bot below exists only to
exercise the fake over real HTTP and websocket on 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import io
import os
import re
import sys
import textwrap
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import discord
import pytest
import pytest_asyncio
import yarl
from discord import app_commands
from discord.ext import commands
from PIL import Image

from tests.fakes.fake_discord import DiscordError, FakeDiscord, InvalidAction, Overwrite, limits
from tests.fakes.fake_discord import permissions as P
from tests.fakes.fake_discord.command_permissions import verdict
from tests.fakes.fake_discord.commands import find_command
from tests.fakes.fake_discord.mentions import compute_pings
from tests.fakes.fake_discord.state import PUBLIC_THREAD
from tests.fakes.fake_discord.validate import validate_request, validate_response

MODELS = ["seedream-4", "seedream-4.5", "flux"]
EPHEMERAL = 64


def png(width: int = 4, height: int = 4, color: tuple[int, int, int] = (200, 30, 30)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (width, height), color).save(buf, "PNG")
    return buf.getvalue()


# ====================================================================== the throwaway bot
class AgainView(discord.ui.View):
    """Persistent view: registered once with add_view, so clicks work on any message."""

    def __init__(self) -> None:
        super().__init__(timeout=None)

    @discord.ui.button(label="Again", custom_id="test:again", style=discord.ButtonStyle.primary)
    async def again(self, inter: discord.Interaction, button: discord.ui.Button[AgainView]) -> None:
        await inter.response.defer(thinking=True)
        await inter.followup.send("again", file=discord.File(io.BytesIO(b"again"), "again.png"))


class PromptModal(discord.ui.Modal, title="Describe your image"):
    prompt: discord.ui.Label[PromptModal] = discord.ui.Label(
        text="Prompt",
        component=discord.ui.TextInput(custom_id="prompt_text", style=discord.TextStyle.long),
    )
    style: discord.ui.TextInput[PromptModal] = discord.ui.TextInput(
        label="Style", custom_id="style", required=False
    )

    async def on_submit(self, inter: discord.Interaction) -> None:
        text = self.prompt.component.value  # type: ignore[attr-defined]
        await inter.response.send_message(f"prompt={text} style={self.style.value}")


class TestBot(commands.Bot):
    __test__ = False  # not a pytest class

    def __init__(self, guild_id: str, intents: discord.Intents | None = None) -> None:
        super().__init__(
            command_prefix="!",
            intents=intents or discord.Intents.default(),
            guild_ready_timeout=0.05,
        )
        self.guild_id = int(guild_id)
        self.errors: list[BaseException] = []
        self.seen: list[discord.Message] = []
        self.gate = asyncio.Event()
        self.permission_updates: list[discord.RawAppCommandPermissionsUpdateEvent] = []

    async def before_identify_hook(self, shard_id: int | None, *, initial: bool = False) -> None:
        """Skip discord.py's 5 s sleep before re-IDENTIFY; tests must be fast."""

    async def setup_hook(self) -> None:
        self.add_view(AgainView())
        guild = discord.Object(self.guild_id)
        for cmd in (imagine, say, panel, form, late, stale, stress, fetch, tidy, lookup):
            self.tree.add_command(cmd)
        self.tree.add_command(seedream, guild=guild)
        self.tree.add_command(edit_image, guild=guild)
        self.tree.add_command(profile, guild=guild)
        self.tree.on_error = self.on_tree_error  # type: ignore[method-assign]
        await self.tree.sync()
        await self.tree.sync(guild=guild)

    async def on_tree_error(
        self, inter: discord.Interaction, error: app_commands.AppCommandError
    ) -> None:
        self.errors.append(getattr(error, "original", error))

    async def on_raw_app_command_permissions_update(
        self, payload: discord.RawAppCommandPermissionsUpdateEvent
    ) -> None:
        self.permission_updates.append(payload)

    async def on_message(self, message: discord.Message) -> None:
        if message.author.id == self.user.id:  # type: ignore[union-attr]
            return
        self.seen.append(message)
        addressed = self.user in message.mentions
        if addressed and message.attachments:
            data = await message.attachments[0].read()
            await message.reply("got it", file=discord.File(io.BytesIO(data.upper()), "reply.png"))
        elif addressed:
            await message.reply("hello")


async def _record(inter: discord.Interaction, coro: Awaitable[Any]) -> None:
    try:
        await coro
    except discord.HTTPException as exc:
        inter.client.errors.append(exc)  # type: ignore[attr-defined]


@app_commands.command(description="Generate an image")
async def imagine(
    inter: discord.Interaction,
    prompt: str,
    image1: discord.Attachment | None = None,
    count: app_commands.Range[int, 1, 4] = 1,
    model: str = "seedream-4",
) -> None:
    await inter.response.defer(thinking=True)
    source = await image1.read() if image1 else png()
    files = [discord.File(io.BytesIO(source[::-1]), f"out{i}.png") for i in range(count)]
    msg = await inter.followup.send(f"{prompt} x{count}", files=files, view=AgainView(), wait=True)
    # Edit semantics: ``attachments`` lists what stays (out0.png) plus a new upload.
    extra = discord.File(io.BytesIO(b"extra"), "extra.png")
    await inter.edit_original_response(
        content=f"done: {prompt}", attachments=[msg.attachments[0], extra]
    )
    assert isinstance(inter.channel, discord.TextChannel)
    thread = await inter.channel.create_thread(name="variations", message=msg)
    await thread.send("variation", file=discord.File(io.BytesIO(b"variation"), "var.png"))


@imagine.autocomplete("model")
async def model_autocomplete(
    inter: discord.Interaction, current: str
) -> list[app_commands.Choice[str]]:
    return [app_commands.Choice(name=m, value=m) for m in MODELS if current in m]


@app_commands.command(description="Repeat text")
@app_commands.choices(
    mode=[app_commands.Choice(name=m, value=m) for m in ("default", "none", "users", "roles")]
)
async def say(inter: discord.Interaction, text: str, mode: str = "default") -> None:
    mentions = {
        "none": discord.AllowedMentions.none(),
        "users": discord.AllowedMentions(everyone=False, users=True, roles=False),
        "roles": discord.AllowedMentions(everyone=False, users=False, roles=True),
    }
    if mode in mentions:
        await inter.response.send_message(text, allowed_mentions=mentions[mode])
    else:
        await inter.response.send_message(text)


@app_commands.command(description="A message with a persistent button")
async def panel(inter: discord.Interaction) -> None:
    await inter.response.send_message("panel", view=AgainView())


@app_commands.command(description="Open a modal")
async def form(inter: discord.Interaction) -> None:
    await inter.response.send_modal(PromptModal(custom_id="test:prompt_modal"))


@app_commands.command(description="Acks only when the test opens the gate")
async def late(inter: discord.Interaction) -> None:
    bot: TestBot = inter.client  # type: ignore[assignment]
    await bot.gate.wait()
    await _record(inter, inter.response.defer())


@app_commands.command(description="Follows up only when the test opens the gate")
async def stale(inter: discord.Interaction) -> None:
    bot: TestBot = inter.client  # type: ignore[assignment]
    await inter.response.defer(thinking=True)
    await bot.gate.wait()
    await _record(inter, inter.followup.send("too late"))


@app_commands.command(description="Break Discord's rules on purpose")
async def stress(inter: discord.Interaction, kind: str) -> None:
    await inter.response.defer(thinking=True)
    send = inter.followup.send
    if kind == "big_file":
        blob = b"x" * (inter.filesize_limit + 1)
        await _record(inter, send("big", file=discord.File(io.BytesIO(blob), "big.png")))
    elif kind == "eleven_files":
        files = [discord.File(io.BytesIO(b"f"), f"f{i}.png") for i in range(11)]
        await _record(inter, send("many", files=files))
    elif kind == "long_text":
        await _record(inter, send("x" * 2001))
    elif kind == "long_custom_id":
        view = discord.ui.View()
        view.add_item(discord.ui.Button(label="bad", custom_id="c" * 101))
        await _record(inter, send("bad view", view=view))
    elif kind == "unimplemented":
        await _record(inter, inter.guild.fetch_emojis())  # type: ignore[union-attr]
        await send("done")


@app_commands.command(description="Exercise the webhook and channel message routes")
async def tidy(inter: discord.Interaction) -> None:
    await inter.response.send_message("first")
    second = await inter.followup.send("second", wait=True)
    await second.edit(content="second!")
    assert (await inter.original_response()).content == "first"
    await inter.delete_original_response()
    assert isinstance(inter.channel, discord.TextChannel)
    async with inter.channel.typing():
        posted = await inter.channel.send("in channel")
    await posted.edit(content="edited in channel")
    await posted.delete()
    await inter.channel.create_thread(name="standalone", type=discord.ChannelType.public_thread)
    await inter.followup.send("tidy done", ephemeral=True)


@app_commands.command(description="Fetch things over REST and DM the invoker")
@app_commands.default_permissions(manage_messages=True)
async def lookup(inter: discord.Interaction, who: discord.Member) -> None:
    assert inter.guild is not None
    channel = await inter.client.fetch_channel(inter.channel_id or 0)
    member = await inter.guild.fetch_member(who.id)
    await inter.response.send_message(f"{channel.name}/{member.name}/{len(member.roles)}")  # type: ignore[union-attr]
    await _record(inter, inter.user.send("a private note"))


@app_commands.command(description="Re-fetch a message and read its first attachment")
async def fetch(inter: discord.Interaction, message_id: str) -> None:
    assert isinstance(inter.channel, discord.TextChannel)
    msg = await inter.channel.fetch_message(int(message_id))
    data = await msg.attachments[0].read()
    await inter.response.send_message(f"read {len(data)} bytes")


seedream = app_commands.Group(name="seedream", description="Seedream settings")
quota = app_commands.Group(name="quota", description="Quota settings", parent=seedream)


@quota.command(name="default", description="Set the default quota")
async def quota_default(inter: discord.Interaction, value: app_commands.Range[int, 0, 100]) -> None:
    await inter.response.send_message(f"quota {value}", ephemeral=True)


@app_commands.context_menu(name="Edit image")
async def edit_image(inter: discord.Interaction, message: discord.Message) -> None:
    await inter.response.defer(ephemeral=True, thinking=True)
    data = await message.attachments[0].read()
    await inter.followup.send(
        f"edited {message.content}",
        file=discord.File(io.BytesIO(data + b"!"), "edit.png"),
        ephemeral=True,
    )


@app_commands.context_menu(name="Profile")
async def profile(inter: discord.Interaction, user: discord.Member) -> None:
    await inter.response.send_message(
        f"profile {user.name} roles={len(user.roles)}", ephemeral=True
    )


# ====================================================================== fixtures
@pytest_asyncio.fixture
async def fake(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[FakeDiscord]:
    server = await FakeDiscord().start()
    monkeypatch.setattr(discord.http.Route, "BASE", server.api_base)
    monkeypatch.setattr(
        discord.gateway.DiscordWebSocket, "DEFAULT_GATEWAY", yarl.URL(server.gateway_url)
    )
    yield server
    await server.stop()
    server.assert_clean()


BotFactory = Callable[..., Awaitable[TestBot]]


@pytest_asyncio.fixture
async def make_bot(fake: FakeDiscord) -> AsyncIterator[BotFactory]:
    started: list[tuple[TestBot, asyncio.Task[None]]] = []

    async def start(intents: discord.Intents | None = None) -> TestBot:
        bot = TestBot(fake.guild.id, intents)
        task = asyncio.create_task(bot.start(fake.token))
        started.append((bot, task))
        ready = asyncio.create_task(bot.wait_until_ready())
        done, _ = await asyncio.wait({ready, task}, timeout=10, return_when=asyncio.FIRST_COMPLETED)
        if task in done:
            ready.cancel()
            task.result()  # re-raise why the bot died
        assert ready in done, "bot did not become ready"
        return bot

    yield start
    for bot, task in started:
        assert not task.done() or task.exception() is None, f"bot crashed: {task.exception()!r}"
        await bot.close()
        await asyncio.wait_for(task, 5)


@pytest_asyncio.fixture
async def bot(make_bot: BotFactory) -> TestBot:
    return await make_bot()


def webhook_path(fake: FakeDiscord, token: str) -> str:
    return f"/webhooks/{fake.app_id}/{token}"


# ====================================================================== login & world
async def test_login_and_command_sync(fake: FakeDiscord, bot: TestBot) -> None:
    methods_paths = [(c.method, c.path) for c in fake.calls]
    assert methods_paths[:2] == [("GET", "/users/@me"), ("GET", "/oauth2/applications/@me")]
    assert fake.calls[0].headers["Authorization"] == f"Bot {fake.token}"
    put_global = fake.find_calls("PUT", f"/applications/{fake.app_id}/commands", exact=True)[0]
    assert {c["name"] for c in put_global.response_json} >= {"imagine", "say", "form", "stress"}
    assert all(
        c["application_id"] == fake.app_id and c["id"] and c["version"]
        for c in put_global.response_json
    )
    image1 = next(o for o in put_global.json[0]["options"] if o["name"] == "image1")
    assert image1["type"] == 11
    put_guild = fake.find_calls(
        "PUT", f"/applications/{fake.app_id}/guilds/{fake.guild.id}/commands"
    )[0]
    by_name = {c["name"]: c for c in put_guild.response_json}
    assert by_name["Edit image"]["type"] == 3 and by_name["Profile"]["type"] == 2
    assert all(c["guild_id"] == fake.guild.id for c in put_guild.response_json)

    assert fake.identify_count == 1 and fake.intents == bot.intents.value
    assert bot.user is not None and bot.user.id == int(fake.app_id)
    guild = bot.get_guild(int(fake.guild.id))
    assert guild is not None and guild.name == "Fake Guild"
    assert {c.name for c in guild.text_channels} == {"general", "nsfw-art", "mod-log"}
    nsfw = guild.get_channel(int(fake.channel("nsfw-art").id))
    assert isinstance(nsfw, discord.TextChannel) and nsfw.is_nsfw()
    assert {r.name for r in guild.roles} == {"@everyone", "imagebot", "Moderator", "Artist"}
    assert guild.owner_id == int(fake.user("owner").id)
    assert guild.me.guild_permissions.mention_everyone


def test_default_world_and_permission_constants() -> None:
    fake = FakeDiscord()
    assert fake.guild.everyone.permissions == P.EVERYONE_DEFAULT
    assert fake.role("Moderator").permissions == P.MANAGE_MESSAGES | P.MANAGE_GUILD
    assert fake.role("Artist").permissions == 0
    assert fake.member("bob").roles == [fake.role("Artist").id] and fake.member("alice").roles == []
    assert fake.guild.owner_id == fake.user("owner").id
    assert fake.user("alice")["id"] == fake.user("alice").id  # JSON-style access works too
    assert fake.channel("nsfw-art")["nsfw"] is True
    for name, value in discord.Permissions.VALID_FLAGS.items():
        ours = getattr(P, name.upper(), None)
        if ours is not None:
            assert ours == value, name
    assert discord.Permissions.all().value == P.ALL


# ====================================================================== slash + attachment flow
async def test_slash_attachment_defer_followup_edit_thread(fake: FakeDiscord, bot: TestBot) -> None:
    source = png(6, 5)
    att = fake.add_cdn_file("in.png", source, "image/png")
    assert (att["width"], att["height"], att["content_type"]) == (6, 5, "image/png")
    inter = await fake.slash("imagine", {"prompt": "a fox", "image1": att, "count": 2})

    thread_post = await fake.wait_for_call(
        "POST",
        re.compile(r"/channels/\d+/messages"),
        predicate=lambda c: bool(c.files) and c.files[0].filename == "var.png",
    )
    callback = await inter.callback()
    assert callback.json == {"type": 5} and callback.query == {"with_response": "1"}
    assert callback.response_json["interaction"]["response_message_loading"] is True

    assert fake.find_calls(
        "GET", f"/cdn/attachments/{fake.channel('general').id}/{att['id']}/in.png"
    )
    followup = fake.find_calls("POST", webhook_path(fake, inter.token), exact=True)[0]
    assert followup.query == {"wait": "1", "with_components": "1"}
    assert [f.field for f in followup.files] == ["files[0]", "files[1]"]
    assert followup.files[0].data == source[::-1]
    assert followup.json["attachments"] == [
        {"id": 0, "filename": "out0.png"},
        {"id": 1, "filename": "out1.png"},
    ]

    original = await inter.original()
    # The first follow-up after a thinking defer completed the loading original.
    assert followup.response_json["id"] == original["id"] == inter.original_id
    assert original["content"] == "done: a fox" and not original["flags"] & 128
    assert [a["filename"] for a in original["attachments"]] == ["out0.png", "extra.png"]
    assert original["attachments"][0]["id"] == followup.response_json["attachments"][0]["id"]
    assert fake.attachment_bytes(original["attachments"][1]) == b"extra"
    edit = fake.find_calls("PATCH", webhook_path(fake, inter.token) + "/messages/@original")[0]
    assert edit.json["attachments"][1] == {"id": 0, "filename": "extra.png"}
    assert fake.file_bytes(original["attachments"][0]["url"]) == source[::-1]
    assert original["components"][0]["components"][0]["custom_id"] == "test:again"
    assert await inter.followups() == []

    thread = fake.threads[original["id"]]
    assert thread.name == "variations" and thread.parent_id == fake.channel("general").id
    assert thread_post.path == f"/channels/{original['id']}/messages"
    assert [m["content"] for m in fake.channel_messages(thread)] == ["variation"]
    assert fake.messages[original["id"]]["thread"]["id"] == thread.id
    assert bot.get_channel(int(thread.id)) is not None  # THREAD_CREATE reached the bot


async def test_second_thread_on_same_message_and_auth(fake: FakeDiscord, bot: TestBot) -> None:
    msg = await fake.user_message("general", "thread me")
    url = f"{fake.api_base}/channels/{fake.channel('general').id}/messages/{msg['id']}/threads"
    headers = {"Authorization": f"Bot {fake.token}"}
    async with aiohttp.ClientSession() as http:
        async with http.post(url, json={"name": "one"}, headers=headers) as first:
            assert first.status == 201 and first.headers["Content-Type"] == "application/json"
        async with http.post(url, json={"name": "two"}, headers=headers) as second:
            assert second.status == 400 and (await second.json())["code"] == 160004
        async with http.post(url, json={"name": "x" * 101}, headers=headers) as too_long:
            assert too_long.status == 400 and (await too_long.json())["code"] == 50035
        async with http.get(f"{fake.api_base}/users/@me") as anonymous:
            assert anonymous.status == 401
    fake.allow_problems(kind="schema", path="/threads$")


async def test_webhook_and_channel_message_routes(fake: FakeDiscord, bot: TestBot) -> None:
    inter = await fake.slash("tidy")
    done = await inter.followups(2)
    assert [m["content"] for m in done] == ["second!", "tidy done"] and done[1]["flags"] & EPHEMERAL
    assert done[0]["interaction_metadata"]["original_response_message_id"] == inter.original_id
    hook = webhook_path(fake, inter.token) + "/messages/"
    assert fake.find_calls("GET", hook + "@original")[0].status == 200
    assert fake.find_calls("PATCH", hook + done[0]["id"])[0].status == 200
    assert fake.find_calls("DELETE", hook + "@original")[0].status == 204
    assert inter.original_id not in fake.messages
    general = fake.channel("general").id
    assert fake.find_calls("POST", f"/channels/{general}/typing")[0].status == 204
    edited = fake.find_calls("PATCH", re.compile(rf"/channels/{general}/messages/\d+"))[0]
    assert edited.response_json["content"] == "edited in channel"
    events = [f.payload.get("t") for f in fake.gateway_log if f.direction == "send"]
    assert events.count("MESSAGE_DELETE") == 2 and "MESSAGE_UPDATE" in events
    assert [m["content"] for m in fake.channel_messages("general")] == ["second!", "tidy done"]
    standalone = next(t for t in fake.threads.values() if t.name == "standalone")
    assert standalone.type == 11 and standalone.parent_id == general


async def test_rest_lookups_dm_and_command_permissions(fake: FakeDiscord, bot: TestBot) -> None:
    with pytest.raises(InvalidAction, match="lacks permissions"):
        await fake.slash("lookup", {"who": "bob"}, user="alice")  # default_permissions hides it
    inter = await fake.slash("lookup", {"who": "bob"}, user="mod")
    assert inter.payload["data"]["resolved"]["members"][fake.user("bob").id]["roles"] == [
        fake.role("Artist").id
    ]
    assert (await inter.original())["content"] == "general/bob/2"
    dm = await fake.wait_for_call("POST", f"/channels/{fake.dm('mod').id}/messages", exact=True)
    assert dm.status == 200 and dm.json["content"] == "a private note"
    assert fake.find_calls("POST", "/users/@me/channels")[0].json == {
        "recipient_id": int(fake.user("mod").id)
    }
    assert (
        fake.find_calls("GET", f"/guilds/{fake.guild.id}/members/{fake.user('bob').id}")[0].status
        == 200
    )

    fake.block_dms("owner")
    blocked = await fake.slash("lookup", {"who": "alice"}, user="owner")
    await blocked.original()
    await fake.wait_until(lambda: bot.errors)
    assert isinstance(bot.errors[0], discord.Forbidden) and bot.errors[0].code == 50007


# ====================================================================== command permissions
ROLE, USER, CHANNEL = 1, 2, 3


def allow(target: Any, kind: int) -> dict[str, Any]:
    return {"id": target, "type": kind, "permission": True}


def deny(target: Any, kind: int) -> dict[str, Any]:
    return {"id": target, "type": kind, "permission": False}


async def runs(fake: FakeDiscord, name: str, options: dict[str, Any], **where: Any) -> bool:
    """True when Discord lets the member run the command (and the bot then answers it)."""
    try:
        inter = await fake.slash(name, options, **where)
    except InvalidAction:
        return False
    await inter.callback()
    return True


async def test_command_level_overrides_replace_default_member_permissions(
    fake: FakeDiscord, bot: TestBot
) -> None:
    """/lookup needs Manage Messages by default; command-level overrides decide before that."""
    who = {"who": "bob"}
    fake.add_member("carol", ["Artist", "Moderator"])
    assert not await runs(fake, "lookup", who, user="bob")
    fake.set_command_permissions("lookup", [allow("Artist", ROLE)])
    assert await runs(fake, "lookup", who, user="bob")  # a role allow grants it without the perms
    assert await runs(fake, "lookup", who, user="mod")  # no override for mod: the default applies
    assert not await runs(fake, "lookup", who, user="alice")  # ... and still refuses alice

    fake.set_command_permissions("lookup", [deny(fake.user("mod"), USER)])
    with pytest.raises(InvalidAction, match="denied by the command-level user override"):
        await fake.slash("lookup", who, user="mod")  # a user deny beats Manage Messages

    # Any allowed role wins over denied ones; the member's own override beats both.
    fake.set_command_permissions("lookup", [allow("Artist", ROLE), deny("Moderator", ROLE)])
    assert await runs(fake, "lookup", who, user="carol")
    assert not await runs(fake, "lookup", who, user="mod")
    fake.set_command_permissions(
        "lookup", [allow("Artist", ROLE), allow("Moderator", ROLE), deny("carol", USER)]
    )
    assert not await runs(fake, "lookup", who, user="carol")

    # @everyone (the guild id) is the fallback for members without a user or role override.
    fake.set_command_permissions("lookup", [allow(fake.guild.id, ROLE), deny("Artist", ROLE)])
    assert await runs(fake, "lookup", who, user="alice")
    assert not await runs(fake, "lookup", who, user="bob")

    # Administrators (and the owner) can use every command, even against an explicit deny.
    fake.add_role("Admins", P.ADMINISTRATOR)
    fake.add_member("dana", ["Admins"])
    fake.set_command_permissions(
        "lookup", [deny("owner", USER), deny("dana", USER), deny(fake.guild.id, ROLE)]
    )
    assert await runs(fake, "lookup", who, user="owner")
    assert await runs(fake, "lookup", who, user="dana")

    # Subcommands and groups share their top-level command's overrides.
    assert await runs(fake, "seedream quota default", {"value": 1}, user="alice")
    fake.set_command_permissions("seedream", [deny("@everyone", ROLE), allow("bob", USER)])
    assert not await runs(fake, "seedream quota default", {"value": 1}, user="alice")
    assert await runs(fake, "seedream quota default", {"value": 1}, user="bob")

    # An empty list removes the overrides: back to default_member_permissions.
    fake.set_command_permissions("lookup", [])
    assert fake.command_permissions("lookup") == []
    with pytest.raises(InvalidAction, match="lacks permissions"):
        await fake.slash("lookup", who, user="alice")
    assert await runs(fake, "lookup", who, user="mod")


async def test_app_level_overrides_work_with_default_member_permissions(
    fake: FakeDiscord, bot: TestBot
) -> None:
    """App-level overrides (the application id) are the base; command-level ones override them."""
    who = {"who": "bob"}
    fake.set_command_permissions(None, [deny("@everyone", ROLE), allow("Artist", ROLE)])
    assert fake.command_permissions(None)[0]["id"] == fake.guild.id
    assert not await runs(fake, "say", {"text": "hi"}, user="alice")
    assert await runs(fake, "say", {"text": "hi"}, user="bob")
    # An app-level allow still leaves default_member_permissions in force...
    with pytest.raises(InvalidAction, match="lacks permissions"):
        await fake.slash("lookup", who, user="bob")
    # ... and an app-level deny refuses even members who have them.
    with pytest.raises(InvalidAction, match="denied by the app-level @everyone override"):
        await fake.slash("lookup", who, user="mod")
    # A command-level override replaces the conflicting app-level one; the rest stay in effect.
    fake.set_command_permissions("lookup", [allow("Moderator", ROLE)])
    assert await runs(fake, "lookup", who, user="mod")
    assert not await runs(fake, "lookup", who, user="alice")
    fake.set_command_permissions(None, [deny("bob", USER)])
    assert not await runs(fake, "say", {"text": "hi"}, user="bob")
    assert await runs(fake, "say", {"text": "hi"}, user="alice")


async def test_command_permission_channel_overrides(fake: FakeDiscord, bot: TestBot) -> None:
    say = {"text": "hi"}
    fake.set_command_permissions("say", [deny(fake.channel("mod-log"), CHANNEL)])
    with pytest.raises(InvalidAction, match="command-level channel override for #mod-log"):
        await fake.slash("say", say, channel="mod-log")
    assert await runs(fake, "say", say, channel="general")
    assert await runs(fake, "say", say, channel="mod-log", user="owner")  # admins are exempt
    # Channel overrides also gate members their user override allows.
    fake.set_command_permissions(
        "say", [deny(fake.channel("mod-log"), CHANNEL), allow("alice", USER)]
    )
    assert not await runs(fake, "say", say, channel="mod-log")

    # App level: only #general; a command-level All Channels allow lifts it for one command.
    fake.set_command_permissions("say", [])
    fake.set_command_permissions(
        None, [deny(fake.all_channels(), CHANNEL), allow("general", CHANNEL)]
    )
    assert await runs(fake, "say", say, channel="general")
    with pytest.raises(InvalidAction, match="denied by the app-level channel override for All"):
        await fake.slash("say", say, channel="nsfw-art")
    fake.set_command_permissions("say", [allow(fake.all_channels(), CHANNEL)])
    assert await runs(fake, "say", say, channel="nsfw-art")
    assert not await runs(fake, "panel", {}, channel="nsfw-art")

    # Threads follow their parent channel's overrides.
    parent = fake.channel("nsfw-art")
    thread = fake.state.add_channel(fake.guild, "t", PUBLIC_THREAD, parent_id=parent.id)
    panel_cmd = find_command(fake.state, "panel", 1, fake.guild.id)
    assert not verdict(fake.state, panel_cmd, thread, fake.user("alice")).allowed
    fake.set_command_permissions("panel", [allow(parent, CHANNEL)])
    assert verdict(fake.state, panel_cmd, thread, fake.user("alice")).allowed


async def test_command_permissions_routes_and_event(fake: FakeDiscord, bot: TestBot) -> None:
    guild = bot.get_guild(int(fake.guild.id))
    assert guild is not None
    commands_by_name = {c.name: c for c in await bot.tree.fetch_commands()}
    lookup_cmd = commands_by_name["lookup"]
    with pytest.raises(discord.NotFound) as none_set:
        await lookup_cmd.fetch_permissions(guild)
    assert none_set.value.code == 10066

    body = fake.set_command_permissions(
        "lookup", [allow("Artist", ROLE), deny(fake.all_channels(), CHANNEL)]
    )
    assert body == {
        "id": str(lookup_cmd.id),
        "application_id": fake.app_id,
        "guild_id": fake.guild.id,
        "permissions": [
            {"id": fake.role("Artist").id, "type": ROLE, "permission": True},
            {"id": fake.all_channels(), "type": CHANNEL, "permission": False},
        ],
    }
    fetched = await lookup_cmd.fetch_permissions(guild)
    assert [(p.id, p.permission) for p in fetched.permissions] == [
        (int(fake.role("Artist").id), True),
        (int(fake.guild.id) - 1, False),
    ]
    assert isinstance(fetched.permissions[1].target, app_commands.AllChannels)
    update = await fake.wait_until(lambda: bot.permission_updates)
    assert update[0].target_id == lookup_cmd.id and update[0].guild.id == guild.id

    fake.set_command_permissions(None, [deny("bob", USER)])
    listed = await bot.http.get_guild_application_command_permissions(fake.app_id, fake.guild.id)
    assert {entry["id"] for entry in listed} == {str(lookup_cmd.id), fake.app_id}
    app_level = await bot.http.get_application_command_permissions(
        fake.app_id, fake.guild.id, fake.app_id
    )
    assert app_level["permissions"] == [
        {"id": fake.user("bob").id, "type": USER, "permission": False}
    ]
    with pytest.raises(discord.NotFound) as unknown_command:
        await bot.http.get_application_command_permissions(fake.app_id, fake.guild.id, "123")
    assert unknown_command.value.code == 10063

    # Only a guild admin's Bearer token may edit; a bot token is refused, as by Discord.
    with pytest.raises(discord.Forbidden) as refused:
        await bot.http.edit_application_command_permissions(
            fake.app_id, fake.guild.id, lookup_cmd.id, {"permissions": []}
        )
    assert refused.value.code == 20001
    route = discord.http.Route(
        "PUT",
        "/applications/{app}/guilds/{guild}/commands/permissions",
        app=fake.app_id,
        guild=fake.guild.id,
    )
    with pytest.raises(discord.HTTPException) as removed:
        await bot.http.request(route, json=[])
    assert removed.value.status == 405
    assert len(fake.command_permissions("lookup")) == 2  # nothing changed

    # Deleting a command deletes its overrides.
    profile_cmd = next(c for c in await bot.tree.fetch_commands(guild=guild) if c.name == "Profile")
    fake.set_command_permissions(profile_cmd.id, [deny("alice", USER)])
    with pytest.raises(InvalidAction, match="denied by the command-level user override"):
        await fake.user_command("Profile", "bob", user="alice")
    await bot.http.delete_guild_command(fake.app_id, fake.guild.id, profile_cmd.id)
    assert profile_cmd.id not in {
        int(e["id"])
        for e in await bot.http.get_guild_application_command_permissions(
            fake.app_id, fake.guild.id
        )
    }


def test_default_member_permissions_zero_and_overrides() -> None:
    """ "0" leaves a command to administrators, unless a command-level override allows more."""
    fake = FakeDiscord()
    cmd = {"id": fake.state.new_id(), "name": "secret", "type": 1}
    fake.state.commands[None] = [{**cmd, "default_member_permissions": "0"}]
    secret = fake.state.commands[None][0]
    general = fake.channel("general")
    fake.add_role("Admins", P.ADMINISTRATOR)
    fake.add_member("dana", ["Admins"])

    def may(user: str) -> bool:
        return verdict(fake.state, secret, general, fake.user(user)).allowed

    assert [may(u) for u in ("alice", "mod", "owner", "dana")] == [False, False, True, True]
    fake.set_command_permissions(None, [allow("@everyone", ROLE)])  # app level: "0" still holds
    assert not may("alice")
    fake.set_command_permissions("secret", [allow("Moderator", ROLE)])
    assert may("mod") and not may("alice")


def test_command_permission_overrides_are_validated() -> None:
    fake = FakeDiscord()
    with pytest.raises(InvalidAction, match="no synced command"):
        fake.set_command_permissions("lookup", [])
    bad: list[list[dict[str, Any]]] = [
        [{"id": fake.guild.id, "type": 4, "permission": True}],
        [{"id": fake.guild.id, "type": ROLE, "permission": "yes"}],
        [{"type": ROLE, "permission": True}],
        [deny("no such role", ROLE)],
        [deny("nobody", USER)],
        [deny("no-such-channel", CHANNEL)],
        [deny("alice", USER), allow("alice", USER)],
        [deny(f"{n}", CHANNEL) for n in range(101)],
    ]
    for overrides in bad:
        with pytest.raises(InvalidAction):
            fake.set_command_permissions(None, overrides)
    assert fake.command_permissions(None) == []
    done = fake.set_command_permissions(None, [allow("@everyone", ROLE), deny("Artist", ROLE)])
    assert [p["id"] for p in done["permissions"]] == [fake.guild.id, fake.role("Artist").id]


# ====================================================================== components & modals
async def test_persistent_button_click(fake: FakeDiscord, bot: TestBot) -> None:
    inter = await fake.slash("panel")
    panel_msg = await inter.original()
    assert (await inter.callback()).response_json["resource"]["message"]["id"] == panel_msg["id"]
    click = await fake.click(panel_msg, "test:again", user="bob")
    assert (
        click.payload["data"]["component_type"] == 2
        and click.payload["message"]["id"] == panel_msg["id"]
    )
    followups = await click.original()
    assert (
        followups["content"] == "again" and followups["attachments"][0]["filename"] == "again.png"
    )
    assert followups["interaction_metadata"]["interacted_message_id"] == panel_msg["id"]
    with pytest.raises(InvalidAction):
        await fake.click(panel_msg, "no-such-button")


async def test_modal_open_and_submit(fake: FakeDiscord, bot: TestBot) -> None:
    inter = await fake.slash("form")
    modal = await inter.modal_shown()
    assert modal["custom_id"] == "test:prompt_modal" and modal["title"] == "Describe your image"
    assert [c["type"] for c in modal["components"]] == [18, 1]  # Label and legacy ActionRow
    with pytest.raises(InvalidAction):
        await fake.submit_modal(inter, {"style": "ink"})  # required prompt missing
    submitted = await fake.submit_modal(inter, {"prompt_text": "a red fox", "style": "ink"})
    callback = await submitted.callback()
    assert (
        callback.json["type"] == 4
        and callback.json["data"]["content"] == "prompt=a red fox style=ink"
    )
    with pytest.raises(InvalidAction):
        await fake.submit_modal(inter, {"prompt_text": "again"})


async def test_message_context_menu(fake: FakeDiscord, bot: TestBot) -> None:
    source = png(3, 3)
    target = await fake.user_message(
        "general", "look at this", attachments=[fake.add_cdn_file("a.png", source)]
    )
    inter = await fake.message_command("Edit image", target, user="bob")
    assert inter.payload["data"]["resolved"]["messages"][target["id"]]["content"] == "look at this"
    assert inter.payload["data"]["guild_id"] == fake.guild.id
    callback = await inter.callback()
    assert callback.json == {"type": 5, "data": {"flags": EPHEMERAL}}
    result = await inter.original()
    assert result["flags"] & EPHEMERAL and result["content"] == "edited look at this"
    assert fake.attachment_bytes(result["attachments"][0]) == source + b"!"
    assert result["attachments"][0]["content_type"] == "image/png"
    assert result["attachments"][0]["width"] == 3
    dispatched = [
        f.payload["d"]["id"] for f in fake.gateway_log if f.payload.get("t") == "MESSAGE_CREATE"
    ]
    assert result["id"] not in dispatched  # ephemeral messages never reach the gateway


async def test_user_command_and_subcommand_group(fake: FakeDiscord, bot: TestBot) -> None:
    inter = await fake.user_command("Profile", "bob", user="alice")
    assert (await inter.original())["content"] == "profile bob roles=2"
    quota_inter = await fake.slash("seedream quota default", {"value": 7}, user="mod")
    options = quota_inter.payload["data"]["options"]
    assert options == [
        {
            "name": "quota",
            "type": 2,
            "options": [
                {
                    "name": "default",
                    "type": 1,
                    "options": [{"name": "value", "type": 4, "value": 7}],
                }
            ],
        }
    ]
    reply = await quota_inter.original()
    assert reply["content"] == "quota 7" and reply["flags"] & EPHEMERAL


async def test_option_checks_and_autocomplete(fake: FakeDiscord, bot: TestBot) -> None:
    with pytest.raises(InvalidAction, match="unknown options"):
        await fake.slash("imagine", {"prompt": "x", "colour": "red"})
    with pytest.raises(InvalidAction, match="missing required"):
        await fake.slash("imagine", {"count": 2})
    with pytest.raises(InvalidAction, match="outside"):
        await fake.slash("imagine", {"prompt": "x", "count": 5})
    with pytest.raises(InvalidAction, match="expects an integer"):
        await fake.slash("imagine", {"prompt": "x", "count": "2"})
    with pytest.raises(InvalidAction, match="not one of the choices"):
        await fake.slash("say", {"text": "x", "mode": "loud"})
    with pytest.raises(InvalidAction, match="no synced command"):
        await fake.slash("nope")
    choices = await fake.autocomplete("imagine", {"prompt": "x", "model": "seed"}, focused="model")
    assert [c["value"] for c in choices] == ["seedream-4", "seedream-4.5"]


# ====================================================================== messages & intents
async def test_reply_with_attachment_and_content_stripping(fake: FakeDiscord, bot: TestBot) -> None:
    assert not bot.intents.message_content
    await fake.user_message("general", "not for the bot")
    await fake.wait_until(lambda: len(bot.seen) == 1)
    assert bot.seen[0].content == ""  # no MESSAGE_CONTENT intent, no mention

    data = b"pixels"
    mention = await fake.user_message(
        "general", "hi <@BOT>", attachments=[fake.add_cdn_file("in.png", data)]
    )
    reply_call = await fake.wait_for_call(
        "POST", f"/channels/{fake.channel('general').id}/messages", exact=True
    )
    assert bot.seen[1].content == f"hi <@{fake.app_id}>" and len(bot.seen[1].attachments) == 1
    assert str(reply_call.json["message_reference"]["message_id"]) == mention["id"]
    assert reply_call.files[0].data == data.upper()
    bot_reply = fake.messages[reply_call.response_json["id"]]
    assert bot_reply["type"] == 19 and bot_reply["referenced_message"]["id"] == mention["id"]

    mark = fake.mark()
    await fake.user_message(
        "general",
        "here you go",
        reply_to=bot_reply,
        attachments=[fake.add_cdn_file("b.png", b"more")],
    )
    second = await fake.wait_for_call(
        "POST", f"/channels/{fake.channel('general').id}/messages", exact=True, since=mark
    )
    assert second.files[0].data == b"MORE"  # replying to the bot mentions it, so content arrives
    await fake.user_message(fake.dm("alice"), "dm text")
    await fake.wait_until(lambda: len(bot.seen) == 4)
    assert bot.seen[3].content == "dm text" and isinstance(bot.seen[3].channel, discord.DMChannel)


async def test_message_content_intent(fake: FakeDiscord, make_bot: BotFactory) -> None:
    intents = discord.Intents.default()
    intents.message_content = True
    bot = await make_bot(intents)
    await fake.user_message("general", "plain text", attachments=[fake.add_cdn_file("c.png", b"c")])
    await fake.wait_until(lambda: bot.seen)
    assert bot.seen[0].content == "plain text" and len(bot.seen[0].attachments) == 1
    fake.privileged_intents = 0  # "disabled in the developer portal" -> close code 4014
    refused = TestBot(fake.guild.id, intents)
    with pytest.raises(discord.PrivilegedIntentsRequired):
        await asyncio.wait_for(refused.start(fake.token), 10)
    await refused.close()


# ====================================================================== gateway faults
async def test_drop_resumes_and_replays(fake: FakeDiscord, bot: TestBot) -> None:
    await fake.drop(4000)
    inter = await fake.slash("say", {"text": "still here"})  # buffered while disconnected
    assert (await inter.original())["content"] == "still here"
    assert fake.resume_count == 1 and fake.identify_count == 1
    inter2 = await fake.slash("say", {"text": "and again"})
    assert (await inter2.original())["content"] == "and again"


async def test_reconnect_and_invalidate(fake: FakeDiscord, bot: TestBot) -> None:
    await fake.send_reconnect()
    await fake.wait_until(lambda: fake.resume_count == 1)
    await fake.invalidate(resumable=False)
    await fake.wait_until(lambda: fake.identify_count == 2)
    await fake.wait_until_connected()
    inter = await fake.slash("say", {"text": "fresh session"})
    assert (await inter.original())["content"] == "fresh session"


# ====================================================================== interaction deadlines
async def test_late_ack_is_unknown_interaction(fake: FakeDiscord, bot: TestBot) -> None:
    inter = await fake.slash("late")
    fake.clock.advance(3.5)
    bot.gate.set()
    callback = await inter.callback()
    assert callback.status == 404 and callback.response_json == {
        "message": "Unknown interaction",
        "code": 10062,
    }
    await fake.wait_until(lambda: bot.errors)
    assert isinstance(bot.errors[0], discord.NotFound) and bot.errors[0].code == 10062

    fake.ack_deadline = 0.0  # the real-time flavour of the same rule
    inter2 = await fake.slash("late")
    assert (await inter2.callback()).status == 404


async def test_followup_after_15_minutes_is_rejected(fake: FakeDiscord, bot: TestBot) -> None:
    inter = await fake.slash("stale")
    assert (await inter.callback()).status == 200
    fake.clock.advance(15 * 60 + 1)
    bot.gate.set()
    call = await fake.wait_for_call("POST", webhook_path(fake, inter.token), exact=True)
    assert call.status == 401 and call.response_json["code"] == 50027
    await fake.wait_until(lambda: bot.errors)
    assert isinstance(bot.errors[0], discord.HTTPException) and bot.errors[0].code == 50027


async def test_second_ack_and_unknown_token_are_rejected(fake: FakeDiscord, bot: TestBot) -> None:
    inter = await fake.slash("say", {"text": "once"})
    await inter.callback()
    url = f"{fake.api_base}/interactions/{inter.id}/{inter.token}/callback"
    body = {"type": 4, "data": {"content": "twice"}}
    async with aiohttp.ClientSession() as http:
        async with http.post(url, json=body) as resp:
            assert resp.status == 400 and (await resp.json())["code"] == 40060
        async with http.post(url.replace(inter.token, "forged"), json=body) as resp:
            assert resp.status == 404 and (await resp.json())["code"] == 10062


async def test_interaction_payload_is_complete(fake: FakeDiscord, bot: TestBot) -> None:
    inter = await fake.slash("say", {"text": "fields"}, user="bob", attachment_size_limit=12345)
    p = inter.payload
    for key in (
        "id",
        "application_id",
        "type",
        "token",
        "version",
        "guild_id",
        "channel",
        "channel_id",
        "member",
        "app_permissions",
        "locale",
        "guild_locale",
        "entitlements",
        "authorizing_integration_owners",
        "context",
        "attachment_size_limit",
        "data",
    ):
        assert key in p, key
    assert p["attachment_size_limit"] == 12345
    assert p["authorizing_integration_owners"] == {"0": fake.guild.id}
    assert set(p["member"]) >= {"user", "roles", "permissions", "joined_at", "flags"}
    assert p["channel"]["name"] == "general"
    assert p["channel"]["permissions"] == p["member"]["permissions"]
    assert int(p["app_permissions"]) & P.MENTION_EVERYONE
    await inter.original()


async def test_gateway_auth_and_heartbeats(fake: FakeDiscord, make_bot: BotFactory) -> None:
    refused = TestBot(fake.guild.id)
    with pytest.raises(discord.LoginFailure):
        await refused.login("wrong-token")
    await refused.close()
    gateway = fake.gateway_url + "?v=10&encoding=json"
    async with aiohttp.ClientSession() as http, http.ws_connect(gateway) as ws:
        hello = await ws.receive_json()
        assert hello["op"] == 10 and hello["d"]["heartbeat_interval"] == 41250
        await ws.send_json({"op": 2, "d": {"token": "nope", "intents": 0, "properties": {}}})
        await ws.receive()
        assert ws.close_code == 4004
    fake.heartbeat_interval = 20
    bot = await make_bot()
    await fake.wait_until(lambda: fake.gateway.heartbeat_count >= 4)
    assert bot.latency < 1


# ====================================================================== limits & validation
async def _stress(fake: FakeDiscord, bot: TestBot, kind: str, **kwargs: Any) -> Any:
    inter = await fake.slash("stress", {"kind": kind}, **kwargs)
    call = await fake.wait_for_call("POST", webhook_path(fake, inter.token), exact=True)
    await fake.wait_until(lambda: bot.errors)
    return call


async def test_file_over_interaction_limit_is_413(fake: FakeDiscord, bot: TestBot) -> None:
    call = await _stress(fake, bot, "big_file", attachment_size_limit=2048)
    assert len(call.files[0].data) == 2049
    assert call.status == 413 and call.response_json == {
        "message": "Request entity too large",
        "code": 40005,
    }
    assert bot.errors[0].status == 413  # type: ignore[attr-defined]
    assert not fake.problems  # a runtime condition, not a bot bug


async def test_eleven_files_rejected(fake: FakeDiscord, bot: TestBot) -> None:
    call = await _stress(fake, bot, "eleven_files")
    assert len(call.files) == 11 and call.status == 400 and call.response_json["code"] == 50035
    assert "attachments" in call.response_json["errors"]
    assert fake.problems
    fake.allow_problems(path="/webhooks/")


async def test_long_content_is_a_problem(fake: FakeDiscord, bot: TestBot) -> None:
    call = await _stress(fake, bot, "long_text")
    assert (
        call.status == 400
        and call.response_json["errors"]["content"]["_errors"][0]["code"] == "BASE_TYPE_MAX_LENGTH"
    )
    assert any("content" in p.message for p in fake.problems)
    assert bot.errors[0].code == 50035  # type: ignore[attr-defined]
    fake.allow_problems(path="/webhooks/")


async def test_long_custom_id_is_a_problem(fake: FakeDiscord, bot: TestBot) -> None:
    call = await _stress(fake, bot, "long_custom_id")
    assert call.status == 400
    assert [p.kind for p in fake.problems] == ["schema"] and "custom_id" in fake.problems[0].message
    fake.allow_problems(kind="schema", message="custom_id")


async def test_unimplemented_route_is_recorded(fake: FakeDiscord, bot: TestBot) -> None:
    inter = await fake.slash("stress", {"kind": "unimplemented"})
    await inter.original()
    assert fake.unimplemented == [("GET", f"/guilds/{fake.guild.id}/emojis")]
    assert isinstance(bot.errors[0], discord.NotFound)
    with pytest.raises(AssertionError, match="unimplemented"):
        fake.assert_clean()
    fake.allow_problems(kind="unimplemented")


def test_validation_helpers_flag_real_violations() -> None:
    assert validate_request("POST", "/interactions/1/tok/callback", {"type": 5}) == []
    bad_modal = {"type": 9, "data": {"custom_id": "m", "title": "t" * 46, "components": []}}
    paths = {v.path for v in validate_request("POST", "/interactions/1/tok/callback", bad_modal)}
    assert ("data", "title") in paths
    assert (
        validate_request("POST", "/webhooks/1/t", {"attachments": [{"id": 0, "filename": "a.png"}]})
        == []
    )
    assert validate_response(
        "GET", "/users/@me", 200, {"id": "1"}
    )  # the fake's replies are checked too


def test_limits_and_mention_rules_directly() -> None:
    def row(*ids: str) -> dict[str, Any]:
        return {"type": 1, "components": [{"type": 2, "style": 1, "custom_id": i} for i in ids]}

    limits.check_components([row(f"b{i}") for i in range(5)], flags=0)
    bad_layouts = [
        [row(f"r{i}") for i in range(6)],  # six action rows
        [row("a", "b", "c", "d", "e", "f")],  # six buttons in a row
        [row("same"), row("same")],  # duplicate custom_id
    ]
    for components in bad_layouts:
        with pytest.raises(DiscordError) as err:
            limits.check_components(components, flags=0)
        assert err.value.code == 50035 and err.value.problem
    label = {"type": 18, "component": {"type": 4, "custom_id": "t", "style": 1}}
    with pytest.raises(DiscordError):
        limits.check_modal({"custom_id": "m", "title": "t", "components": [label] * 6})
    with pytest.raises(DiscordError) as big:
        limits.check_files([], per_file=10, request_size=25 * 1024 * 1024 + 1)
    assert (big.value.status, big.value.code) == (413, 40005)
    with pytest.raises(DiscordError):
        limits.check_allowed_mentions({"parse": ["users"], "users": ["1"]})

    def pings(
        content: str, allowed: dict[str, Any] | None, perms: int = 0, flags: int = 0
    ) -> set[str]:
        return compute_pings(
            content=content,
            allowed_mentions=allowed,
            author_id="9",
            author_permissions=perms,
            replied_user_id=None,
            reachable_users={"1", "2"},
            mentionable_roles={"5": False},
            flags=flags,
        )

    assert pings("<@1> <@!2> <@3>", None) == {"1", "2"}  # 3 is not reachable
    assert pings("<@1> <@2>", {"users": ["2"]}) == {"2"}
    assert pings("<@&5> @here", None, P.MENTION_EVERYONE) == {"5", "everyone"}
    assert pings("<@&5> @here", None) == set()  # role not mentionable, no MENTION_EVERYONE
    assert pings("<@1>", None, flags=1 << 12) == set()  # @silent


# ====================================================================== mentions
async def test_pings_follow_allowed_mentions(fake: FakeDiscord, bot: TestBot) -> None:
    alice, artist = fake.user("alice"), fake.role("Artist")
    text = f"@everyone look {alice.mention} {artist.mention}"
    expected = {
        "default": {"everyone", alice.id, artist.id},
        "none": set(),
        "users": {alice.id},
        "roles": {artist.id},
    }
    for mode, pinged in expected.items():
        inter = await fake.slash("say", {"text": text, "mode": mode}, user="bob")
        message = await inter.original()
        assert fake.pings(message) == pinged, mode
        assert message["mention_everyone"] == ("everyone" in pinged)

    from_alice = await fake.user_message(
        "general", "@everyone <@&" + artist.id + ">", author="alice"
    )
    assert fake.pings(from_alice) == set()  # alice lacks MENTION_EVERYONE, Artist not mentionable
    from_owner = await fake.user_message("general", "@here", author="owner")
    assert fake.pings(from_owner) == {"everyone"}

    bob_msg = await fake.user_message("general", "<@BOT> hi", author="bob")
    reply = await fake.wait_for_call(
        "POST", f"/channels/{fake.channel('general').id}/messages", exact=True
    )
    assert str(reply.json["message_reference"]["message_id"]) == bob_msg["id"]
    assert fake.pings(reply.response_json["id"]) == {fake.user("bob").id}  # replies ping by default
    quiet = await fake.user_message(
        "general", "reply", author="alice", reply_to=reply.response_json["id"], mention_author=False
    )
    assert fake.pings(quiet) == set()


# ====================================================================== CDN, faults, permissions
async def test_cdn_urls_expire_and_refetch_refreshes(fake: FakeDiscord, bot: TestBot) -> None:
    msg = await fake.user_message(
        "general", "pic", attachments=[fake.add_cdn_file("p.png", b"12345")]
    )
    old_url = msg["attachments"][0]["url"]
    assert re.search(r"\?ex=[0-9a-f]+&is=[0-9a-f]+&hm=[0-9a-f]+&$", old_url)
    async with aiohttp.ClientSession() as http:
        async with http.get(old_url) as fresh:
            assert fresh.status == 200 and await fresh.read() == b"12345"
        fake.clock.advance(25 * 3600)
        async with http.get(old_url) as expired:
            assert expired.status == 404
        async with http.get(old_url.replace("hm=", "hm=0")) as forged:
            assert forged.status == 404
    inter = await fake.slash("fetch", {"message_id": msg["id"]})
    assert (await inter.original())["content"] == "read 5 bytes"


REFRESH_URLS = "/attachments/refresh-urls"


async def _refresh(
    fake: FakeDiscord, http: aiohttp.ClientSession, body: Any, *, auth: bool = True
) -> tuple[int, Any]:
    headers = {"Authorization": f"Bot {fake.token}"} if auth else {}
    async with http.post(fake.api_base + REFRESH_URLS, json=body, headers=headers) as resp:
        assert resp.headers["Content-Type"] == "application/json"
        return resp.status, await resp.json()


async def test_refresh_urls_resigns_expired_cdn_urls(fake: FakeDiscord) -> None:
    assert validate_request("POST", REFRESH_URLS, {"attachment_urls": ["x"]}) == []  # not in spec
    old_url = fake.add_cdn_file("r.png", b"refresh me")["url"]
    bare = old_url.split("?")[0]  # "the provided URLs do not have to be valid or signed"
    forged = old_url.replace("hm=", "hm=0")
    sized = old_url + "size=64"  # other query parameters survive the refresh
    async with aiohttp.ClientSession() as http:
        fake.clock.advance(25 * 3600)
        async with http.get(old_url) as expired:
            assert expired.status == 404
        sent = [old_url, bare, forged, sized]
        status, body = await _refresh(fake, http, {"attachment_urls": sent})
        assert status == 200
        pairs = body["refreshed_urls"]
        assert [p["original"] for p in pairs] == sent
        for pair in pairs:
            assert pair["refreshed"] != pair["original"]
            assert re.search(r"\?ex=[0-9a-f]+&is=[0-9a-f]+&hm=[0-9a-f]+&", pair["refreshed"])
            assert fake.file_bytes(pair["refreshed"]) == b"refresh me"
            async with http.get(pair["refreshed"]) as fresh:
                assert fresh.status == 200 and await fresh.read() == b"refresh me"
        assert pairs[3]["refreshed"].endswith("&size=64")
        issued = int(fake.cdn.query_of(pairs[0]["refreshed"])["is"], 16)
        assert issued == int(fake.clock.now())  # signed at the fake clock's "now"
    call = fake.find_calls("POST", REFRESH_URLS, exact=True)[0]
    assert call.status == 200 and call.headers["Authorization"] == f"Bot {fake.token}"


async def test_refresh_urls_echoes_foreign_urls(fake: FakeDiscord) -> None:
    att = fake.add_cdn_file("f.png", b"f")
    channel = fake.channel("general").id
    foreign = [
        "https://example.com/attachments/1/2/cat.png?ex=1&is=1&hm=1&",
        att["url"].replace(fake.base_url, "https://cdn.discordapp.com"),  # other host, same path
        f"{fake.base_url}/cdn/attachments/{channel}/999/gone.png?ex=1&is=1&hm=1&",  # unknown file
        att["url"].replace("f.png", "g.png"),  # right id, wrong name
        "not a url at all",
    ]
    async with aiohttp.ClientSession() as http:
        status, body = await _refresh(fake, http, {"attachment_urls": [*foreign, att["url"]]})
    assert status == 200
    pairs = body["refreshed_urls"]
    assert pairs[:-1] == [{"original": u, "refreshed": u} for u in foreign]
    assert pairs[-1]["original"] == att["url"] and fake.file_bytes(pairs[-1]["refreshed"]) == b"f"


async def test_refresh_urls_rejects_bad_bodies(fake: FakeDiscord) -> None:
    url = fake.add_cdn_file("b.png", b"b")["url"]

    def codes(body: Any) -> dict[str, Any]:
        assert body["code"] == 50035 and body["message"] == "Invalid Form Body"
        field = body["errors"]["attachment_urls"]
        if "_errors" in field:
            return {"": field["_errors"][0]["code"]}
        return {k: v["_errors"][0]["code"] for k, v in field.items()}

    cases: list[tuple[Any, dict[str, str]]] = [
        ({}, {"": "BASE_TYPE_REQUIRED"}),
        (None, {"": "BASE_TYPE_REQUIRED"}),
        ({"attachment_urls": url}, {"": "BASE_TYPE_LIST"}),
        ({"attachment_urls": []}, {"": "BASE_TYPE_MIN_LENGTH"}),
        ({"attachment_urls": [url] * 51}, {"": "BASE_TYPE_MAX_LENGTH"}),
        (
            {"attachment_urls": [url, 5, None, {"url": url}]},
            {"1": "BASE_TYPE_STRING", "2": "LIST_ITEM_VALUE_REQUIRED", "3": "BASE_TYPE_STRING"},
        ),
    ]
    async with aiohttp.ClientSession() as http:
        for body, expected in cases:
            status, reply = await _refresh(fake, http, body)
            assert status == 400 and codes(reply) == expected, (body, reply)
        status, reply = await _refresh(fake, http, {"attachment_urls": [url] * 50})
        assert status == 200 and len(reply["refreshed_urls"]) == 50
        status, reply = await _refresh(fake, http, {"attachment_urls": [url]}, auth=False)
        assert status == 401
    assert len([p for p in fake.problems if p.path == REFRESH_URLS]) == len(cases)
    fake.allow_problems(path=f"{REFRESH_URLS}$")


async def test_injected_fault_with_predicate(fake: FakeDiscord, bot: TestBot) -> None:
    mark = fake.mark()
    fake.inject(
        "POST",
        r"/webhooks/\d+/[^/]+",
        403,
        {"message": "Missing Permissions", "code": 50013},
        predicate=lambda call: any(f.filename == "out1.png" for f in call.files),
    )
    inter = await fake.slash("imagine", {"prompt": "p", "count": 2})
    call = await fake.wait_for_call("POST", "/webhooks/", since=mark)
    assert call.status == 403 and call.response_json["code"] == 50013
    assert fake.calls_since(mark)[0].path.startswith("/interactions/")
    await fake.wait_until(lambda: bot.errors)
    assert isinstance(bot.errors[0], discord.Forbidden)
    loading = await fake.wait_until(lambda: fake.messages.get(inter.original_id or ""))
    assert loading["flags"] & 128  # the loader was never completed
    ok = await fake.slash("imagine", {"prompt": "q"})
    done = await ok.original(predicate=lambda m: m["content"] == "done: q")
    assert done["attachments"][0]["filename"] == "out0.png"
    await fake.wait_for_call("POST", re.compile(rf"/channels/{done['id']}/messages"))


async def test_injected_429_is_retried(fake: FakeDiscord, bot: TestBot) -> None:
    channel_id = fake.channel("general").id
    fake.inject("POST", rf"/channels/{channel_id}/messages", 429)
    await fake.user_message("general", "<@BOT> hi")
    ok = await fake.wait_for_call(
        "POST", f"/channels/{channel_id}/messages", exact=True, predicate=lambda c: c.status == 200
    )
    statuses = [
        c.status for c in fake.find_calls("POST", f"/channels/{channel_id}/messages", exact=True)
    ]
    assert statuses == [429, 200] and ok.json["content"] == "hello"


async def test_permissions_match_discord_py(fake: FakeDiscord, make_bot: BotFactory) -> None:
    fake.set_overwrite("mod-log", fake.guild.everyone, deny=P.VIEW_CHANNEL)
    fake.set_overwrite("mod-log", "Moderator", allow=P.VIEW_CHANNEL)
    fake.set_overwrite("general", "Artist", deny=P.SEND_MESSAGES)
    fake.add_channel(
        "art-only", overwrites=[Overwrite(fake.member("bob").id, 1, allow=P.MANAGE_MESSAGES)]
    )
    bot = await make_bot(discord.Intents.all())
    guild = bot.get_guild(int(fake.guild.id))
    assert guild is not None and guild.chunked
    voice_only = discord.Permissions.voice().value  # discord.py strips these in text channels
    for name in ("general", "mod-log", "art-only", "nsfw-art"):
        channel = guild.get_channel(int(fake.channel(name).id))
        assert isinstance(channel, discord.TextChannel)
        for member in guild.members:
            ours = fake.state.channel_permissions(fake.channel(name), str(member.id))
            assert channel.permissions_for(member).value == ours & ~voice_only, (name, member.name)
    with pytest.raises(InvalidAction):
        await fake.user_message("general", "muted", author="bob")
    inter = await fake.slash("say", {"text": "mods only"}, user="mod", channel="mod-log")
    assert inter.payload["member"]["permissions"] == str(
        fake.state.channel_permissions(fake.channel("mod-log"), fake.user("mod").id)
    )
    await inter.original()
    with pytest.raises(InvalidAction):
        await fake.slash("say", {"text": "x"}, user="alice", channel="mod-log")


async def test_second_guild_and_dm_commands(fake: FakeDiscord, bot: TestBot) -> None:
    other = fake.add_guild("Other Guild", members=["alice", "bob"])
    await fake.wait_until(lambda: bot.get_guild(int(other.id)))
    inter = await fake.slash(
        "say", {"text": "elsewhere"}, channel=fake.channel("general", guild=other)
    )
    assert inter.payload["guild_id"] == other.id
    assert (await inter.original())["channel_id"] == fake.channel("general", guild=other).id
    dm = await fake.slash("say", {"text": "in a dm"}, channel=fake.dm("alice"))
    assert "member" not in dm.payload and dm.payload["user"]["id"] == fake.user("alice").id
    assert dm.payload["context"] == 1
    assert (await dm.original())["content"] == "in a dm"
    with pytest.raises(InvalidAction):
        await fake.slash("seedream quota default", {"value": 1}, channel=fake.dm("alice"))


class ShardedTestBot(TestBot, commands.AutoShardedBot):
    __test__ = False


async def test_sharding_and_member_chunking(fake: FakeDiscord) -> None:
    fake.shard_count = 2
    other = fake.add_guild("Other Guild")
    intents = discord.Intents.default()
    intents.members = True  # chunking via REQUEST_GUILD_MEMBERS (no presences intent)
    bot = ShardedTestBot(fake.guild.id, intents)
    task = asyncio.create_task(bot.start(fake.token))
    try:
        await asyncio.wait_for(bot.wait_until_ready(), 10)
        assert bot.shard_count == 2 and fake.identify_count == 2
        assert sorted(s.shard for s in fake.sessions) == [(0, 2), (1, 2)]
        for gid in (fake.guild.id, other.id):
            guild = bot.get_guild(int(gid))
            assert guild is not None and guild.shard_id == (int(gid) >> 22) % 2 and guild.chunked
        assert len(bot.get_guild(int(fake.guild.id)).members) == 5  # type: ignore[union-attr]
        assert any(f.payload.get("op") == 8 for f in fake.gateway_log if f.direction == "recv")
        inter = await fake.slash(
            "say", {"text": "sharded"}, channel=fake.channel("general", guild=other)
        )
        assert (await inter.original())["content"] == "sharded"
    finally:
        await bot.close()
        await asyncio.wait_for(task, 5)


# ====================================================================== process independence
BOT_SCRIPT = textwrap.dedent(
    """
    import asyncio, os, discord, yarl

    discord.http.Route.BASE = os.environ["DISCORD_API_BASE"]
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(os.environ["DISCORD_GATEWAY_URL"])

    class Bot(discord.Client):
        def __init__(self):
            super().__init__(intents=discord.Intents.default())
            self.tree = discord.app_commands.CommandTree(self)

        async def setup_hook(self):
            @self.tree.command(description="Where am I running?")
            async def where(inter: discord.Interaction) -> None:
                await inter.response.send_message(f"pid={os.getpid()}")
            await self.tree.sync()

    asyncio.run(Bot().start(os.environ["DISCORD_TOKEN"]))
    """
)


async def test_bot_in_another_process_only_needs_the_urls(
    fake: FakeDiscord, tmp_path: Path
) -> None:
    script = tmp_path / "bot.py"
    script.write_text(BOT_SCRIPT)
    env = {**os.environ, **fake.env, "DISCORD_TOKEN": fake.token}
    log = tmp_path / "bot.log"
    with log.open("wb") as sink:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, str(script), env=env, stdout=sink, stderr=sink
        )
    try:
        await fake.wait_for_commands("where", timeout=15)
        await fake.wait_until_connected(timeout=15)
        inter = await fake.slash("where")
        content = (await inter.original())["content"]
        assert content.startswith("pid=") and content != f"pid={os.getpid()}"
    except AssertionError as exc:
        raise AssertionError(f"{exc}\nbot process output:\n{log.read_text()}") from exc
    finally:
        proc.terminate()
        await proc.wait()
