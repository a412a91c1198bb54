"""JSON builders for Discord objects, shaped after the OpenAPI response schemas and gateway docs.

The REST shapes are checked against openapi.json in the fake's own tests; gateway shapes (READY,
GUILD_CREATE, INTERACTION_CREATE) follow Discord's docs and the keys discord.py 2.7.1 reads with
``data[...]``.
"""

from __future__ import annotations

from typing import Any

from .state import THREAD_TYPES, Channel, Guild, Member, Role, State, User


def user(u: User) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": u.id,
        "username": u.username,
        "avatar": u.avatar,
        "discriminator": "0",
        "public_flags": 0,
        "flags": 0,
        "global_name": u.global_name,
        "primary_guild": None,
        "avatar_decoration_data": None,
        "collectibles": None,
        "banner": None,
        "accent_color": None,
    }
    if u.bot:
        out["bot"] = True
    return out


def current_user(u: User) -> dict[str, Any]:
    """``GET /users/@me`` (UserPIIResponse)."""
    return {**user(u), "mfa_enabled": False, "locale": u.locale, "verified": True, "email": None}


def role(r: Role) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": r.id,
        "name": r.name,
        "permissions": str(r.permissions),
        "position": r.position,
        "color": r.color,
        "colors": {"primary_color": r.color, "secondary_color": None, "tertiary_color": None},
        "hoist": r.hoist,
        "managed": r.managed,
        "mentionable": r.mentionable,
        "icon": None,
        "unicode_emoji": None,
        "flags": 0,
    }
    if r.bot_id is not None:
        out["tags"] = {"bot_id": r.bot_id}
    return out


def member(m: Member, *, with_user: bool = True, permissions: int | None = None) -> dict[str, Any]:
    """A guild member; interactions add ``permissions``, MESSAGE_CREATE omits ``user``."""
    out: dict[str, Any] = {
        "avatar": None,
        "banner": None,
        "communication_disabled_until": None,
        "flags": 0,
        "joined_at": m.joined_at,
        "nick": m.nick,
        "pending": False,
        "premium_since": None,
        "roles": list(m.roles),
        "mute": False,
        "deaf": False,
    }
    if with_user:
        out["user"] = user(m.user)
    if permissions is not None:
        out["permissions"] = str(permissions)
    return out


def channel(state: State, c: Channel, *, for_user: str | None = None) -> dict[str, Any]:
    """Guild channel, thread or DM. ``for_user`` adds the ``permissions`` interactions carry."""
    if c.is_dm:
        return {
            "id": c.id,
            "type": c.type,
            "last_message_id": c.last_message_id,
            "flags": 0,
            "recipients": [user(state.users[uid]) for uid in c.recipients],
        }
    out: dict[str, Any] = {
        "id": c.id,
        "type": c.type,
        "last_message_id": c.last_message_id,
        "flags": 0,
        "guild_id": c.guild_id,
        "name": c.name,
        "parent_id": c.parent_id,
        "rate_limit_per_user": c.rate_limit_per_user,
    }
    if c.type in THREAD_TYPES:
        out.update(
            owner_id=c.owner_id,
            thread_metadata=dict(c.thread_metadata or {}),
            message_count=c.message_count,
            member_count=len(c.thread_members),
            total_message_sent=c.total_message_sent,
        )
    else:
        out.update(
            position=c.position,
            permission_overwrites=[ow.to_payload() for ow in c.overwrites],
            nsfw=c.nsfw,
            topic=c.topic,
        )
    if for_user is not None:
        out["permissions"] = str(state.channel_permissions(c, for_user))
    return out


def thread_member(state: State, thread: Channel, user_id: str) -> dict[str, Any]:
    return {"id": thread.id, "user_id": user_id, "join_timestamp": state.clock.iso(), "flags": 0}


def guild(g: Guild) -> dict[str, Any]:
    """The REST guild object (GuildResponse)."""
    return {
        "id": g.id,
        "name": g.name,
        "icon": None,
        "description": None,
        "home_header": None,
        "splash": None,
        "discovery_splash": None,
        "features": [],
        "banner": None,
        "owner_id": g.owner_id,
        "application_id": None,
        "region": "deprecated",
        "afk_channel_id": None,
        "afk_timeout": 300,
        "system_channel_id": g.channel_ids[0] if g.channel_ids else None,
        "system_channel_flags": 0,
        "widget_enabled": False,
        "widget_channel_id": None,
        "verification_level": 0,
        "roles": [role(r) for r in g.roles.values()],
        "default_message_notifications": 0,
        "mfa_level": 0,
        "explicit_content_filter": 0,
        "max_presences": None,
        "max_members": 500000,
        "max_stage_video_channel_users": 50,
        "max_video_channel_users": 25,
        "vanity_url_code": None,
        "premium_tier": g.premium_tier,
        "premium_subscription_count": 0,
        "preferred_locale": g.preferred_locale,
        "rules_channel_id": None,
        "safety_alerts_channel_id": None,
        "public_updates_channel_id": None,
        "premium_progress_bar_enabled": False,
        "nsfw": False,
        "nsfw_level": 0,
        "emojis": [],
        "stickers": [],
        "incidents_data": None,
    }


def guild_create(state: State, g: Guild, *, all_members: bool) -> dict[str, Any]:
    """GUILD_CREATE. Without GUILD_PRESENCES Discord only lists the bot itself in ``members``."""
    members = list(g.members.values())
    if not all_members:
        members = [m for m in members if m.user.id == state.bot.id]
    channels = [state.channels[cid] for cid in g.channel_ids]
    threads = [
        c
        for c in state.channels.values()
        if c.guild_id == g.id and c.is_thread and not (c.thread_metadata or {}).get("archived")
    ]
    return {
        **guild(g),
        "joined_at": g.joined_at,
        "large": False,
        "unavailable": False,
        "member_count": len(g.members),
        "voice_states": [],
        "members": [member(m) for m in members],
        "channels": [channel(state, c) for c in channels],
        "threads": [channel(state, t) for t in threads],
        "presences": [],
        "stage_instances": [],
        "guild_scheduled_events": [],
        "soundboard_sounds": [],
        "lazy": True,
    }


def application(state: State) -> dict[str, Any]:
    """``GET /oauth2/applications/@me``; no interactions_endpoint_url, or discord.py warns."""
    return {
        "id": state.app_id,
        "name": state.bot.username,
        "icon": None,
        "description": "",
        "type": None,
        "bot": user(state.bot),
        "bot_public": True,
        "bot_require_code_grant": False,
        "verify_key": "0" * 64,
        "flags": 0,
        "flags_new": "0",
        "redirect_uris": [],
        "interactions_endpoint_url": None,
        "role_connections_verification_url": None,
        "owner": user(state.users[next(iter(state.guilds.values())).owner_id])
        if state.guilds
        else user(state.bot),
        "approximate_guild_count": len(state.guilds),
        "approximate_user_install_count": 0,
        "approximate_user_authorization_count": 0,
        "explicit_content_filter": 0,
        "team": None,
        "eligible_oauth2_scopes": ["bot", "applications.commands"],
        "integration_types_config": {"0": {}},
    }


def ready(
    state: State,
    *,
    session_id: str,
    resume_url: str,
    guild_ids: list[str],
    shard: list[int] | None,
) -> dict[str, Any]:
    out: dict[str, Any] = {
        "v": 10,
        "user": current_user(state.bot),
        "user_settings": {},
        "guilds": [{"id": gid, "unavailable": True} for gid in guild_ids],
        "session_id": session_id,
        "session_type": "normal",
        "resume_gateway_url": resume_url,
        "private_channels": [],
        "presences": [],
        "relationships": [],
        "guild_join_requests": [],
        "geo_ordered_rtc_regions": ["fake"],
        "application": {"id": state.app_id, "flags": 0},
        "auth": {},
    }
    if shard is not None:
        out["shard"] = shard
    return out
