"""``/seedream`` follows the server's command permissions (Server Settings → Integrations).

The cog declares only ``default_permissions(manage_guild=True)`` and adds no check of its own, so
who may run ``/seedream`` is what Discord decides. The fake applies Discord's logic (overrides,
then ``default_member_permissions``) before it dispatches anything: a refused member raises
``InvalidAction`` in the test and the bot never sees an interaction, while every member Discord
lets through gets the bot's answer.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.fakes.fake_discord import FakeDiscord, InvalidAction

pytestmark = pytest.mark.usefixtures("bot")

ROLE, USER, CHANNEL = 1, 2, 3


def override(target: Any, kind: int, permission: bool) -> dict[str, Any]:
    return {"id": target, "type": kind, "permission": permission}


async def settings_reply(fake: FakeDiscord, user: str, channel: str = "general") -> str:
    """Run ``/seedream settings`` and return the bot's (ephemeral) answer."""
    inter = await fake.slash("seedream settings", user=user, channel=channel)
    ack = await inter.callback()
    assert ack.json["type"] == 4 and ack.json["data"]["flags"] & 64, ack.json
    content = str(ack.json["data"]["content"])
    assert "Seedream settings for this server" in content, content
    return content


async def assert_refused(
    fake: FakeDiscord, user: str, match: str, channel: str = "general", command: str = "settings"
) -> None:
    """Discord refuses the command itself: no interaction reaches the bot."""
    dispatched, mark = len(fake.interactions), fake.mark()
    with pytest.raises(InvalidAction, match=match):
        await fake.slash(f"seedream {command}", user=user, channel=channel)
    assert len(fake.interactions) == dispatched
    assert not fake.find_calls("POST", "/interactions/", since=mark)


async def test_plain_members_are_refused_by_default(discord_fake: FakeDiscord) -> None:
    await assert_refused(discord_fake, "alice", match="lacks permissions")
    await assert_refused(discord_fake, "bob", match="lacks permissions", command="channels list")
    await settings_reply(discord_fake, "mod")  # Moderator has Manage Server


async def test_allowing_a_role_lets_its_members_in(discord_fake: FakeDiscord) -> None:
    artist = discord_fake.role("Artist")
    discord_fake.set_command_permissions("seedream", [override(artist, ROLE, True)])
    await settings_reply(discord_fake, "bob")  # bob has Artist, not Manage Server
    # Subcommands share the top-level command's overrides.
    listed = await discord_fake.slash("seedream channels list", user="bob")
    assert (await listed.callback()).json["type"] == 4
    # Members without an override still need Manage Server.
    await assert_refused(discord_fake, "alice", match="lacks permissions")
    await settings_reply(discord_fake, "mod")


async def test_denying_a_user_blocks_them_despite_manage_server(discord_fake: FakeDiscord) -> None:
    mod, owner = discord_fake.user("mod"), discord_fake.user("owner")
    discord_fake.set_command_permissions(
        "seedream", [override(mod, USER, False), override(owner, USER, False)]
    )
    await assert_refused(discord_fake, "mod", match="denied by the command-level user override")
    await settings_reply(discord_fake, "owner")  # owners and administrators cannot be locked out


async def test_a_channel_override_disables_the_command_in_one_channel(
    discord_fake: FakeDiscord,
) -> None:
    mod_log = discord_fake.channel("mod-log")
    discord_fake.set_command_permissions("seedream", [override(mod_log, CHANNEL, False)])
    await assert_refused(
        discord_fake, "mod", match="command-level channel override for #mod-log", channel="mod-log"
    )
    await settings_reply(discord_fake, "mod", channel="general")


async def test_app_level_overrides_and_command_level_exceptions(discord_fake: FakeDiscord) -> None:
    """App-level overrides (for all the bot's commands) are refined by command-level ones."""
    moderator = discord_fake.role("Moderator")
    discord_fake.set_command_permissions(None, [override(moderator, ROLE, False)])
    await assert_refused(discord_fake, "mod", match="denied by the app-level role overrides")
    discord_fake.set_command_permissions("seedream", [override("mod", USER, True)])
    await settings_reply(discord_fake, "mod")
