"""REST route handlers: identity, gateway discovery, commands, interactions, webhooks, channels.

Each handler enforces what Discord enforces for that route (permissions of the bot, limits,
interaction state) and returns the documented object. Interaction-token routes (callback and
``/webhooks/{app}/{token}``) need no bot token, exactly like Discord.

``POST /attachments/refresh-urls`` is absent from the OpenAPI spec (so no schema check applies to
it; the handler validates the body itself) and follows the route as documented by the community
(docs.discord.food "Refresh Attachment URLs"): ``{"attachment_urls": [1-50 strings]}`` answers
``{"refreshed_urls": [{"original": <url as sent>, "refreshed": <url>}, ...]}``, one entry per URL in
request order. A fake CDN attachment URL is re-signed whatever its ``ex``/``is``/``hm`` (expired,
forged or missing; other query parameters are kept); any other URL comes back with ``refreshed``
equal to ``original`` (an assumption: Discord's behaviour for foreign URLs is not documented).

``PATCH``/``DELETE /channels/{id}`` are served for threads (rename, archive, lock, delete, with
Discord's Manage Threads rules) and refused loudly for other channels.

Command permission overrides (see :mod:`.command_permissions`) are readable with the bot token
(``GET .../guilds/{guild}/commands/permissions`` and ``.../commands/{id}/permissions``); writing
them needs a user's Bearer token in Discord, so ``PUT .../commands/{id}/permissions`` answers a
bot 403 20001 "Bots cannot use this endpoint" and the removed batch ``PUT`` answers 405.

Simplifications: no rate-limit headers unless injected; forum channels, pins, bulk delete,
member/role management and editing non-thread channels are not implemented (reported as
unimplemented if used).
"""

from __future__ import annotations

from typing import Any

from . import command_permissions, limits, payloads
from . import permissions as P
from .errors import (
    UNKNOWN_COMMAND,
    UNKNOWN_MEMBER,
    UNKNOWN_MESSAGE,
    UNKNOWN_WEBHOOK,
    DiscordError,
    cannot_dm,
    field_errors,
    form_error,
    max_length,
    merge_errors,
    min_length,
    missing_access,
    not_author,
    thread_exists,
    unknown,
    unknown_interaction,
    wrong_channel_type,
)
from .gateway import MESSAGE_CONTENT, Gateway, strip_content
from .interactions import (
    ALLOWED_CALLBACKS,
    APPLICATION_COMMAND,
    AUTOCOMPLETE_RESULT,
    CHANNEL_MESSAGE,
    DEFERRED_MESSAGE,
    DEFERRED_UPDATE,
    MESSAGE_COMPONENT,
    MODAL,
    MODAL_SUBMIT,
    UPDATE_MESSAGE,
    Interaction,
)
from .messages import (
    CHAT_INPUT_COMMAND,
    CONTEXT_MENU_COMMAND,
    DEFAULT,
    EPHEMERAL,
    HAS_THREAD,
    LOADING,
    Messages,
    with_component_ids,
)
from .state import (
    ANNOUNCEMENT,
    ANNOUNCEMENT_THREAD,
    PRIVATE_THREAD,
    PUBLIC_THREAD,
    TEXT,
    Channel,
    Guild,
    Settings,
    State,
)
from .wire import ApiRequest, Reply, Router

COMMAND_LIMITS = {1: 100, 2: 15, 3: 15, 4: 1}
FOLLOWUP_FLAGS = EPHEMERAL | (1 << 2) | (1 << 12) | (1 << 15)
ARCHIVE_DURATIONS = (60, 1440, 4320, 10080)
MAX_REFRESH_URLS = 50
TIER_UPLOAD_LIMITS = {
    0: 10 * 1024 * 1024,
    1: 10 * 1024 * 1024,
    2: 50 * 1024 * 1024,
    3: 100 * 1024 * 1024,
}


def _truthy(value: str | None) -> bool:
    return (value or "").lower() in ("1", "true")


class RestApi:
    """Holds the handlers; :meth:`register` wires them into a :class:`Router`."""

    def __init__(
        self, state: State, settings: Settings, messages: Messages, gateway: Gateway
    ) -> None:
        self.state = state
        self.settings = settings
        self.messages = messages
        self.gateway = gateway

    def register(self, r: Router) -> None:
        r.add("GET", "/users/@me", self.get_me)
        r.add("POST", "/users/@me/channels", self.create_dm)
        r.add("GET", "/users/{user_id}", self.get_user)
        r.add("GET", "/oauth2/applications/@me", self.get_application)
        r.add("GET", "/gateway", self.get_gateway, bot_auth=False)
        r.add("GET", "/gateway/bot", self.get_gateway_bot)
        # Before ".../commands/{command_id}", which would take "permissions" for a command id.
        guild_commands = "/applications/{app_id}/guilds/{guild_id}/commands"
        r.add("GET", guild_commands + "/permissions", self.list_command_permissions)
        r.add("PUT", guild_commands + "/permissions", self.batch_edit_command_permissions)
        r.add("GET", guild_commands + "/{command_id}/permissions", self.get_command_permissions)
        r.add("PUT", guild_commands + "/{command_id}/permissions", self.edit_command_permissions)
        for scope in ("/applications/{app_id}", "/applications/{app_id}/guilds/{guild_id}"):
            r.add("GET", scope + "/commands", self.list_commands)
            r.add("PUT", scope + "/commands", self.put_commands)
            r.add("POST", scope + "/commands", self.post_command)
            r.add("GET", scope + "/commands/{command_id}", self.get_command)
            r.add("PATCH", scope + "/commands/{command_id}", self.patch_command)
            r.add("DELETE", scope + "/commands/{command_id}", self.delete_command)
        r.add(
            "POST", "/interactions/{interaction_id}/{token}/callback", self.callback, bot_auth=False
        )
        r.add("POST", "/webhooks/{app_id}/{token}", self.execute_webhook, bot_auth=False)
        hook_msg = "/webhooks/{app_id}/{token}/messages/{message_id}"
        r.add("GET", hook_msg, self.get_webhook_message, bot_auth=False)
        r.add("PATCH", hook_msg, self.edit_webhook_message, bot_auth=False)
        r.add("DELETE", hook_msg, self.delete_webhook_message, bot_auth=False)
        r.add("GET", "/channels/{channel_id}", self.get_channel)
        r.add("GET", "/channels/{channel_id}/messages", self.list_messages)
        r.add("POST", "/channels/{channel_id}/messages", self.post_message)
        r.add("GET", "/channels/{channel_id}/messages/{message_id}", self.get_message)
        r.add("PATCH", "/channels/{channel_id}/messages/{message_id}", self.edit_message)
        r.add("DELETE", "/channels/{channel_id}/messages/{message_id}", self.delete_message)
        r.add(
            "POST", "/channels/{channel_id}/messages/{message_id}/threads", self.thread_from_message
        )
        r.add("POST", "/channels/{channel_id}/threads", self.thread_without_message)
        r.add("PATCH", "/channels/{channel_id}", self.edit_thread)
        r.add("DELETE", "/channels/{channel_id}", self.delete_thread)
        r.add("POST", "/channels/{channel_id}/typing", self.typing)
        reaction = "/channels/{channel_id}/messages/{message_id}/reactions/{emoji}/@me"
        r.add("PUT", reaction, self.add_reaction)
        r.add("DELETE", reaction, self.remove_reaction)
        r.add("GET", "/guilds/{guild_id}", self.get_guild)
        r.add("GET", "/guilds/{guild_id}/channels", self.get_guild_channels)
        r.add("GET", "/guilds/{guild_id}/roles", self.get_guild_roles)
        r.add("GET", "/guilds/{guild_id}/members/{user_id}", self.get_member)
        r.add("POST", "/attachments/refresh-urls", self.refresh_attachment_urls)

    # ================================================================ helpers
    @property
    def bot_id(self) -> str:
        return self.state.bot.id

    def _channel(self, req: ApiRequest) -> Channel:
        return self.state.channel(req.params["channel_id"])

    def _guild(self, guild_id: str) -> Guild:
        guild = self.state.guild(guild_id)
        if self.bot_id not in guild.members:
            raise missing_access()
        return guild

    def _visible_message(self, channel: Channel, message_id: str) -> dict[str, Any]:
        msg = self.state.messages.get(message_id)
        if msg is None or msg["channel_id"] != channel.id or msg["flags"] & EPHEMERAL:
            raise unknown("Message", UNKNOWN_MESSAGE)
        return msg

    def _upload_limit(self, channel: Channel) -> int:
        guild = self.state.guild_of(channel)
        return TIER_UPLOAD_LIMITS.get(guild.premium_tier if guild else 0, TIER_UPLOAD_LIMITS[0])

    def _require_send(self, channel: Channel, req: ApiRequest) -> None:
        if channel.is_dm:
            if any(uid in self.state.dm_blocked for uid in channel.recipients):
                raise cannot_dm()
            return
        needed = P.SEND_MESSAGES_IN_THREADS if channel.is_thread else P.SEND_MESSAGES
        if req.files:
            needed |= P.ATTACH_FILES
        self.state.require(channel, self.bot_id, P.VIEW_CHANNEL | needed)

    # ================================================================ identity & gateway
    async def get_me(self, req: ApiRequest) -> Reply:
        return Reply(200, payloads.current_user(self.state.bot))

    async def get_user(self, req: ApiRequest) -> Reply:
        return Reply(200, payloads.user(self.state.user(req.params["user_id"])))

    async def get_application(self, req: ApiRequest) -> Reply:
        return Reply(200, payloads.application(self.state))

    async def get_gateway(self, req: ApiRequest) -> Reply:
        return Reply(200, {"url": self.settings.gateway_url})

    async def get_gateway_bot(self, req: ApiRequest) -> Reply:
        return Reply(
            200,
            {
                "url": self.settings.gateway_url,
                "shards": self.settings.shard_count,
                "session_start_limit": {
                    "total": 1000,
                    "remaining": 1000 - self.gateway.identify_count,
                    "reset_after": 14400000,
                    "max_concurrency": 1,
                },
            },
        )

    async def create_dm(self, req: ApiRequest) -> Reply:
        user = self.state.user(req.json["recipient_id"])
        return Reply(200, payloads.channel(self.state, self.state.dm_channel(user)))

    # ================================================================ application commands
    def _scope(self, req: ApiRequest) -> str | None:
        if req.params["app_id"] != self.state.app_id:
            raise missing_access()
        guild_id = req.params.get("guild_id")
        if guild_id is not None:
            self._guild(guild_id)
        return guild_id

    def _normalise_command(
        self, body: dict[str, Any], scope: str | None, previous: list[dict[str, Any]]
    ) -> dict[str, Any]:
        ctype = body.get("type", 1)
        if ctype == 1 and not 1 <= len(body.get("description") or "") <= 100:
            raise form_error(
                ["description"], "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 100 in length."
            )
        same = next((c for c in previous if c["name"] == body["name"] and c["type"] == ctype), None)
        perms = body.get("default_member_permissions")  # Discord echoes it as a string
        cmd: dict[str, Any] = {
            "id": same["id"] if same else self.state.new_id(),
            "application_id": self.state.app_id,
            "version": self.state.new_id(),
            "default_member_permissions": None if perms is None else str(perms),
            "type": ctype,
            "name": body["name"],
            "name_localizations": body.get("name_localizations"),
            "description": body.get("description") or "",
            "description_localizations": body.get("description_localizations"),
            "nsfw": bool(body.get("nsfw", False)),
            "contexts": body.get("contexts"),
            "integration_types": body.get("integration_types") or [0],
        }
        if body.get("options"):
            cmd["options"] = body["options"]
        if scope is not None:
            cmd["guild_id"] = scope
        else:
            cmd["dm_permission"] = body.get("dm_permission", True)
        return cmd

    def _check_command_set(self, commands: list[dict[str, Any]]) -> None:
        for ctype, limit in COMMAND_LIMITS.items():
            same_type = [c for c in commands if c["type"] == ctype]
            if len(same_type) > limit:
                raise DiscordError(
                    400,
                    30032,
                    f"Maximum number of application commands reached ({limit})",
                    problem=True,
                )
            names = [c["name"] for c in same_type]
            if len(names) != len(set(names)):
                raise form_error(
                    [],
                    "APPLICATION_COMMANDS_DUPLICATE_NAME",
                    "Application command names must be unique",
                )

    async def list_commands(self, req: ApiRequest) -> Reply:
        return Reply(200, self.state.commands.get(self._scope(req), []))

    async def put_commands(self, req: ApiRequest) -> Reply:
        scope = self._scope(req)
        previous = self.state.commands.get(scope, [])
        commands = [self._normalise_command(b, scope, previous) for b in req.json or []]
        self._check_command_set(commands)
        self.state.commands[scope] = commands
        self.state.prune_command_permissions()
        return Reply(200, commands)

    async def post_command(self, req: ApiRequest) -> Reply:
        scope = self._scope(req)
        previous = self.state.commands.get(scope, [])
        cmd = self._normalise_command(req.json, scope, previous)
        updated = [c for c in previous if c["id"] != cmd["id"]] + [cmd]
        self._check_command_set(updated)
        self.state.commands[scope] = updated
        return Reply(201 if len(updated) > len(previous) else 200, cmd)

    def _find_command(self, req: ApiRequest) -> tuple[str | None, dict[str, Any]]:
        scope = self._scope(req)
        for cmd in self.state.commands.get(scope, []):
            if cmd["id"] == req.params["command_id"]:
                return scope, cmd
        raise unknown("application command", UNKNOWN_COMMAND)

    async def get_command(self, req: ApiRequest) -> Reply:
        return Reply(200, self._find_command(req)[1])

    async def patch_command(self, req: ApiRequest) -> Reply:
        scope, cmd = self._find_command(req)
        merged = self._normalise_command({**cmd, **req.json}, scope, [cmd])
        self.state.commands[scope] = [merged if c is cmd else c for c in self.state.commands[scope]]
        return Reply(200, merged)

    async def delete_command(self, req: ApiRequest) -> Reply:
        scope, cmd = self._find_command(req)
        self.state.commands[scope] = [c for c in self.state.commands[scope] if c is not cmd]
        self.state.prune_command_permissions()
        return Reply(204)

    # ================================================================ command permissions
    async def list_command_permissions(self, req: ApiRequest) -> Reply:
        """Every command (and the app itself) with overrides in the guild; bot tokens may read."""
        guild_id = self._scope(req)
        assert guild_id is not None
        targets = self.state.command_permissions.get(guild_id, {})
        return Reply(
            200,
            [command_permissions.payload(self.state, guild_id, t) for t, e in targets.items() if e],
        )

    async def get_command_permissions(self, req: ApiRequest) -> Reply:
        """One command's overrides (the app id gives the app-level ones); 404 10066 if none."""
        guild_id = self._scope(req)
        assert guild_id is not None
        target = req.params["command_id"]
        visible = [*self.state.commands.get(guild_id, []), *self.state.commands.get(None, [])]
        if target != self.state.app_id and not any(c["id"] == target for c in visible):
            raise unknown("application command", UNKNOWN_COMMAND)
        if not self.state.command_permissions.get(guild_id, {}).get(target):
            raise command_permissions.unknown_command_permissions()
        return Reply(200, command_permissions.payload(self.state, guild_id, target))

    async def edit_command_permissions(self, req: ApiRequest) -> Reply:
        """Needs a guild admin's Bearer token since Permissions v2: a bot token gets 403 20001."""
        self._scope(req)
        raise command_permissions.bots_cannot_edit()

    async def batch_edit_command_permissions(self, req: ApiRequest) -> Reply:
        """Removed with Permissions v2; Discord answers 405 (discord-api-docs issue #4687)."""
        self._scope(req)
        raise DiscordError(405, 0, "405: Method Not Allowed")

    # ================================================================ interactions
    def _metadata(self, inter: Interaction) -> dict[str, Any]:
        """``interaction_metadata`` by interaction type (spec: *InteractionMetadataResponse)."""
        data = inter.payload.get("data") or {}
        meta: dict[str, Any] = {
            "id": inter.id,
            "type": inter.type,
            "user": payloads.user(self.state.users[inter.user_id]),
            "authorizing_integration_owners": inter.payload.get(
                "authorizing_integration_owners", {}
            ),
        }
        if inter.original_id is not None:
            meta["original_response_message_id"] = inter.original_id
        if inter.type == APPLICATION_COMMAND and data.get("type") == 2:
            meta["target_user"] = payloads.user(self.state.user(data["target_id"]))
        elif inter.type == APPLICATION_COMMAND and data.get("type") == 3:
            meta["target_message_id"] = data["target_id"]
        elif inter.type == MESSAGE_COMPONENT:
            meta["interacted_message_id"] = inter.source_message_id
        elif inter.type == MODAL_SUBMIT and inter.opener_id in self.state.interactions:
            meta["triggering_interaction_metadata"] = self._metadata(
                self.state.interactions[inter.opener_id]
            )
        return meta

    def interaction_extra(self, inter: Interaction, *, original: bool) -> dict[str, Any]:
        """``webhook_id``/``application_id``/``interaction_metadata`` of interaction messages."""
        extra: dict[str, Any] = {
            "webhook_id": self.state.app_id,
            "application_id": self.state.app_id,
        }
        meta = self._metadata(inter)
        if original:
            meta.pop("original_response_message_id", None)
        extra["interaction_metadata"] = meta
        if inter.type == APPLICATION_COMMAND:
            user = payloads.user(self.state.users[inter.user_id])
            name = (inter.payload.get("data") or {}).get("name")
            extra["interaction"] = {"id": inter.id, "type": inter.type, "name": name, "user": user}
        return extra

    def _original_type(self, inter: Interaction) -> int:
        if inter.type != APPLICATION_COMMAND:
            return DEFAULT
        return (
            CHAT_INPUT_COMMAND
            if (inter.payload["data"].get("type", 1) == 1)
            else CONTEXT_MENU_COMMAND
        )

    async def callback(self, req: ApiRequest) -> Reply:
        state = self.state
        inter = state.interactions.get(req.params["interaction_id"])
        if inter is None or inter.token != req.params["token"]:
            raise unknown_interaction()
        inter.check_ack(state.clock.now(), self.settings.ack_deadline)
        body = req.json or {}
        ctype = body.get("type")
        if ctype not in ALLOWED_CALLBACKS.get(inter.type, frozenset()):
            raise form_error(
                ["type"],
                "INTERACTION_CALLBACK_TYPE_INVALID",
                f"Invalid callback type {ctype} for interaction type {inter.type}",
            )
        data = body.get("data") or {}
        channel = state.channels[inter.channel_id]
        info: dict[str, Any] = {"id": inter.id, "type": inter.type}
        reply: dict[str, Any] = {"interaction": info}

        if ctype in (CHANNEL_MESSAGE, DEFERRED_MESSAGE):
            flags = int(data.get("flags") or 0) & FOLLOWUP_FLAGS
            if ctype == CHANNEL_MESSAGE:
                limits.check_files(
                    req.files, per_file=inter.attachment_size_limit, request_size=req.size
                )
                limits.check_message(data, new_files=len(req.files), creating=True)
                msg_body = {**data, "flags": flags}
            else:
                msg_body = {"content": "", "flags": flags | LOADING}
            msg = await self.messages.create(
                channel,
                state.bot,
                msg_body,
                req.files,
                msg_type=self._original_type(inter),
                extra=self.interaction_extra(inter, original=True),
            )
            inter.original_id = msg["id"]
            inter.loading = ctype == DEFERRED_MESSAGE
            inter.ephemeral = bool(flags & EPHEMERAL)
            info.update(
                response_message_id=msg["id"],
                response_message_loading=inter.loading,
                response_message_ephemeral=inter.ephemeral,
            )
            if ctype == CHANNEL_MESSAGE:
                reply["resource"] = {"type": ctype, "message": self.messages.serve(msg)}
        elif ctype in (DEFERRED_UPDATE, UPDATE_MESSAGE):
            if inter.source_message_id is None or inter.source_message_id not in state.messages:
                raise form_error(
                    ["type"], "INTERACTION_CALLBACK_TYPE_INVALID", "No message to update"
                )
            msg = state.messages[inter.source_message_id]
            if ctype == UPDATE_MESSAGE:
                limits.check_files(
                    req.files, per_file=inter.attachment_size_limit, request_size=req.size
                )
                limits.check_message(data, new_files=len(req.files), creating=False)
                await self.messages.edit(msg, data, req.files)
                reply["resource"] = {"type": ctype, "message": self.messages.serve(msg)}
            inter.original_id = msg["id"]
            info.update(
                response_message_id=msg["id"],
                response_message_loading=False,
                response_message_ephemeral=bool(msg["flags"] & EPHEMERAL),
            )
        elif ctype == AUTOCOMPLETE_RESULT:
            choices = data.get("choices") or []
            if len(choices) > 25:
                raise form_error(
                    ["data", "choices"], "BASE_TYPE_MAX_LENGTH", "Must be 25 or fewer in length."
                )
            inter.choices = choices
        elif ctype == MODAL:
            limits.check_modal(data)
            inter.modal = {**data, "components": with_component_ids(data.get("components") or [])}
        inter.ack_type = ctype
        return Reply(200, reply)

    def _token_interaction(self, req: ApiRequest) -> Interaction:
        if req.params["app_id"] != self.state.app_id:
            raise unknown("Webhook", UNKNOWN_WEBHOOK)
        token = req.params["token"]
        inter = next((i for i in self.state.interactions.values() if i.token == token), None)
        if inter is None or not inter.acked:
            raise unknown("Webhook", UNKNOWN_WEBHOOK)
        inter.check_token(self.state.clock.now())
        return inter

    def _webhook_message(self, inter: Interaction, message_id: str) -> dict[str, Any]:
        if message_id == "@original":
            message_id = inter.original_id or ""
        msg = self.state.messages.get(message_id)
        if msg is None or not inter.owns(message_id):
            raise unknown("Message", UNKNOWN_MESSAGE)
        return msg

    async def execute_webhook(self, req: ApiRequest) -> Reply:
        inter = self._token_interaction(req)
        body = req.json or {}
        limits.check_files(req.files, per_file=inter.attachment_size_limit, request_size=req.size)
        limits.check_message(body, new_files=len(req.files), creating=True)
        channel = self.state.channels[inter.channel_id]
        if req.query.get("thread_id"):
            channel = self.state.channel(req.query["thread_id"])
        original = self.state.messages.get(inter.original_id or "")
        if inter.loading and original is not None:
            # The first follow-up after a thinking defer *is* the original response.
            msg = await self.messages.edit(
                original, body, req.files, clear_flags=LOADING, mark_edited=False
            )
            inter.loading = False
        else:
            flags = int(body.get("flags") or 0) & FOLLOWUP_FLAGS
            msg = await self.messages.create(
                channel,
                self.state.bot,
                {**body, "flags": flags},
                req.files,
                extra=self.interaction_extra(inter, original=False),
            )
            inter.followup_ids.append(msg["id"])
        if not _truthy(req.query.get("wait")):
            return Reply(204)
        return Reply(200, self.messages.serve(msg))

    async def get_webhook_message(self, req: ApiRequest) -> Reply:
        inter = self._token_interaction(req)
        return Reply(
            200, self.messages.serve(self._webhook_message(inter, req.params["message_id"]))
        )

    async def edit_webhook_message(self, req: ApiRequest) -> Reply:
        inter = self._token_interaction(req)
        msg = self._webhook_message(inter, req.params["message_id"])
        body = req.json or {}
        limits.check_files(req.files, per_file=inter.attachment_size_limit, request_size=req.size)
        limits.check_message(body, new_files=len(req.files), creating=False)
        completing = inter.loading and msg["id"] == inter.original_id
        await self.messages.edit(
            msg,
            body,
            req.files,
            clear_flags=LOADING if completing else 0,
            mark_edited=not completing,
        )
        if completing:
            inter.loading = False
        return Reply(200, self.messages.serve(msg))

    async def delete_webhook_message(self, req: ApiRequest) -> Reply:
        inter = self._token_interaction(req)
        msg = self._webhook_message(inter, req.params["message_id"])
        await self.messages.delete(msg)
        return Reply(204)

    # ================================================================ channels & messages
    async def get_channel(self, req: ApiRequest) -> Reply:
        channel = self._channel(req)
        if not channel.is_dm:
            self.state.require(channel, self.bot_id, P.VIEW_CHANNEL)
        return Reply(200, payloads.channel(self.state, channel))

    async def list_messages(self, req: ApiRequest) -> Reply:
        channel = self._channel(req)
        if not channel.is_dm:
            self.state.require(channel, self.bot_id, P.VIEW_CHANNEL | P.READ_MESSAGE_HISTORY)
        ids = [
            m
            for m in self.state.channel_log.get(channel.id, [])
            if not self.state.messages[m]["flags"] & EPHEMERAL
        ]
        limit = max(1, min(100, int(req.query.get("limit", "50"))))
        if "before" in req.query:
            ids = [m for m in ids if int(m) < int(req.query["before"])]
        if "after" in req.query:
            ids = [m for m in ids if int(m) > int(req.query["after"])][:limit]
        if "around" in req.query:
            pivot = int(req.query["around"])
            ids = sorted(ids, key=lambda m: abs(int(m) - pivot))[:limit]
        chosen = sorted(ids, key=int, reverse=True)[:limit]
        return Reply(200, [self._readable(self.state.messages[m]) for m in chosen])

    async def post_message(self, req: ApiRequest) -> Reply:
        channel = self._channel(req)
        self._require_send(channel, req)
        body = req.json or {}
        limits.check_files(req.files, per_file=self._upload_limit(channel), request_size=req.size)
        limits.check_message(body, new_files=len(req.files), creating=True)
        msg = await self.messages.create(channel, self.state.bot, body, req.files)
        return Reply(200, self.messages.serve(msg))

    async def get_message(self, req: ApiRequest) -> Reply:
        channel = self._channel(req)
        if not channel.is_dm:
            self.state.require(channel, self.bot_id, P.VIEW_CHANNEL | P.READ_MESSAGE_HISTORY)
        return Reply(200, self._readable(self._visible_message(channel, req.params["message_id"])))

    def _readable(self, message: dict[str, Any]) -> dict[str, Any]:
        """A message as the bot may read it over REST: without the MESSAGE_CONTENT intent
        (judged by its latest gateway session), the same blanking as on the gateway."""
        served = self.messages.serve(message)
        sessions = list(self.gateway.sessions.values())
        if sessions and not sessions[-1].intents & MESSAGE_CONTENT:
            return strip_content(served, self.bot_id)
        return served

    async def edit_message(self, req: ApiRequest) -> Reply:
        channel = self._channel(req)
        msg = self._visible_message(channel, req.params["message_id"])
        if msg["author"]["id"] != self.bot_id:
            raise not_author()
        body = req.json or {}
        limits.check_files(req.files, per_file=self._upload_limit(channel), request_size=req.size)
        limits.check_message(body, new_files=len(req.files), creating=False)
        await self.messages.edit(msg, body, req.files)
        return Reply(200, self.messages.serve(msg))

    async def delete_message(self, req: ApiRequest) -> Reply:
        channel = self._channel(req)
        msg = self._visible_message(channel, req.params["message_id"])
        if msg["author"]["id"] != self.bot_id and not channel.is_dm:
            self.state.require(channel, self.bot_id, P.MANAGE_MESSAGES)
        await self.messages.delete(msg)
        return Reply(204)

    async def typing(self, req: ApiRequest) -> Reply:
        channel = self._channel(req)
        if not channel.is_dm:
            needed = P.SEND_MESSAGES_IN_THREADS if channel.is_thread else P.SEND_MESSAGES
            self.state.require(channel, self.bot_id, P.VIEW_CHANNEL | needed)
        return Reply(204)

    async def add_reaction(self, req: ApiRequest) -> Reply:
        channel = self._channel(req)
        msg = self._visible_message(channel, req.params["message_id"])
        if not channel.is_dm:
            self.state.require(
                channel, self.bot_id, P.VIEW_CHANNEL | P.READ_MESSAGE_HISTORY | P.ADD_REACTIONS
            )
        name = req.params["emoji"]
        reactions = msg.setdefault("reactions", [])
        entry = next((r for r in reactions if r["emoji"]["name"] == name), None)
        if entry is None:
            entry = {
                "count": 0,
                "count_details": {"burst": 0, "normal": 0},
                "me": False,
                "me_burst": False,
                "burst_colors": [],
                "emoji": {"id": None, "name": name},
            }
            reactions.append(entry)
        if not entry["me"]:
            entry["me"] = True
            entry["count"] += 1
            entry["count_details"]["normal"] += 1
            event = {
                "user_id": self.bot_id,
                "channel_id": channel.id,
                "message_id": msg["id"],
                "emoji": {"id": None, "name": name},
                "burst": False,
                "type": 0,
                "message_author_id": msg["author"]["id"],
            }
            if channel.guild_id:
                event["guild_id"] = channel.guild_id
            await self.gateway.dispatch("MESSAGE_REACTION_ADD", event, channel.guild_id)
        return Reply(204)

    async def remove_reaction(self, req: ApiRequest) -> Reply:
        channel = self._channel(req)
        msg = self._visible_message(channel, req.params["message_id"])
        reactions = msg.get("reactions", [])
        for entry in reactions:
            if entry["emoji"]["name"] == req.params["emoji"] and entry["me"]:
                entry["me"] = False
                entry["count"] -= 1
                entry["count_details"]["normal"] -= 1
        msg["reactions"] = [r for r in reactions if r["count"] > 0]
        return Reply(204)

    # ================================================================ threads
    def _new_thread(
        self, parent: Channel, thread_id: str, body: dict[str, Any], thread_type: int
    ) -> Channel:
        duration = body.get("auto_archive_duration") or 4320
        if duration not in ARCHIVE_DURATIONS:
            raise form_error(
                ["auto_archive_duration"],
                "BASE_TYPE_CHOICES",
                f"Value must be one of {ARCHIVE_DURATIONS}.",
            )
        now = self.state.clock.iso()
        thread = Channel(
            thread_id,
            thread_type,
            body["name"],
            parent.guild_id,
            parent_id=parent.id,
            owner_id=self.bot_id,
            rate_limit_per_user=body.get("rate_limit_per_user") or 0,
            thread_metadata={
                "archived": False,
                "archive_timestamp": now,
                "auto_archive_duration": duration,
                "locked": False,
                "create_timestamp": now,
                **(
                    {"invitable": bool(body.get("invitable", True))}
                    if thread_type == PRIVATE_THREAD
                    else {}
                ),
            },
            thread_members={self.bot_id},
        )
        self.state.channels[thread.id] = thread
        return thread

    async def _announce_thread(self, thread: Channel) -> dict[str, Any]:
        body = {
            **payloads.channel(self.state, thread),
            "member": payloads.thread_member(self.state, thread, self.bot_id),
        }
        await self.gateway.dispatch(
            "THREAD_CREATE", {**body, "newly_created": True}, thread.guild_id
        )
        return body

    async def thread_from_message(self, req: ApiRequest) -> Reply:
        parent = self._channel(req)
        if parent.type not in (TEXT, ANNOUNCEMENT):
            raise wrong_channel_type()
        self.state.require(parent, self.bot_id, P.VIEW_CHANNEL | P.CREATE_PUBLIC_THREADS)
        msg = self._visible_message(parent, req.params["message_id"])
        if msg["id"] in self.state.channels:
            raise thread_exists()
        thread_type = ANNOUNCEMENT_THREAD if parent.type == ANNOUNCEMENT else PUBLIC_THREAD
        thread = self._new_thread(parent, msg["id"], req.json or {}, thread_type)
        msg["flags"] |= HAS_THREAD
        msg["thread"] = payloads.channel(self.state, thread)
        return Reply(201, await self._announce_thread(thread))

    async def thread_without_message(self, req: ApiRequest) -> Reply:
        parent = self._channel(req)
        if parent.type not in (TEXT, ANNOUNCEMENT):
            raise wrong_channel_type()
        body = req.json or {}
        thread_type = body.get("type", PRIVATE_THREAD)
        needed = (
            P.CREATE_PRIVATE_THREADS if thread_type == PRIVATE_THREAD else P.CREATE_PUBLIC_THREADS
        )
        self.state.require(parent, self.bot_id, P.VIEW_CHANNEL | needed)
        thread = self._new_thread(parent, self.state.new_id(), body, thread_type)
        return Reply(201, await self._announce_thread(thread))

    def _thread(self, req: ApiRequest) -> Channel:
        """Threads only: editing and deleting other channels is channel management (not faked)."""
        channel = self._channel(req)
        if not channel.is_thread:
            raise DiscordError(
                404, 0, f"fake: {req.method} /channels/{{id}} is implemented for threads only"
            )
        return channel

    async def edit_thread(self, req: ApiRequest) -> Reply:
        """Rename, archive, lock: the thread's creator may archive and rename an unlocked
        thread; everything else (and any change to a locked thread) needs Manage Threads."""
        thread = self._thread(req)
        body = req.json or {}
        meta = thread.thread_metadata
        own = thread.owner_id == self.bot_id and not meta.get("locked")
        needs_manage = "locked" in body or not own or set(body) - {"name", "archived"}
        self.state.require(
            thread, self.bot_id, P.VIEW_CHANNEL | (P.MANAGE_THREADS if needs_manage else 0)
        )
        if "name" in body:
            thread.name = body["name"]
        for key in ("archived", "locked", "auto_archive_duration"):
            if key in body:
                meta[key] = body[key]
        if "archived" in body:
            meta["archive_timestamp"] = self.state.clock.iso()
        data = payloads.channel(self.state, thread)
        await self.gateway.dispatch("THREAD_UPDATE", data, thread.guild_id)
        return Reply(200, data)

    async def delete_thread(self, req: ApiRequest) -> Reply:
        """Deleting a thread needs Manage Threads, even for the thread's creator."""
        thread = self._thread(req)
        self.state.require(thread, self.bot_id, P.VIEW_CHANNEL | P.MANAGE_THREADS)
        data = payloads.channel(self.state, thread)
        del self.state.channels[thread.id]
        await self.gateway.dispatch(
            "THREAD_DELETE",
            {
                "id": thread.id,
                "guild_id": thread.guild_id,
                "parent_id": thread.parent_id,
                "type": thread.type,
            },
            thread.guild_id,
        )
        return Reply(200, data)

    # ================================================================ guilds
    async def get_guild(self, req: ApiRequest) -> Reply:
        return Reply(200, payloads.guild(self._guild(req.params["guild_id"])))

    async def get_guild_channels(self, req: ApiRequest) -> Reply:
        guild = self._guild(req.params["guild_id"])
        return Reply(
            200, [payloads.channel(self.state, self.state.channels[c]) for c in guild.channel_ids]
        )

    async def get_guild_roles(self, req: ApiRequest) -> Reply:
        guild = self._guild(req.params["guild_id"])
        return Reply(200, [payloads.role(r) for r in guild.roles.values()])

    async def get_member(self, req: ApiRequest) -> Reply:
        guild = self._guild(req.params["guild_id"])
        member = guild.members.get(req.params["user_id"])
        if member is None:
            raise unknown("Member", UNKNOWN_MEMBER)
        return Reply(200, payloads.member(member))

    # ================================================================ attachments
    async def refresh_attachment_urls(self, req: ApiRequest) -> Reply:
        body = req.json if isinstance(req.json, dict) else {}
        urls = body.get("attachment_urls")
        if urls is None:
            raise form_error(["attachment_urls"], "BASE_TYPE_REQUIRED", "This field is required")
        if not isinstance(urls, list):
            # Discord's code for "not a list" is not documented; this one is a best guess.
            raise form_error(["attachment_urls"], "BASE_TYPE_LIST", "Must be a list.")
        if not urls:
            raise min_length(["attachment_urls"], 1)
        if len(urls) > MAX_REFRESH_URLS:
            raise max_length(["attachment_urls"], MAX_REFRESH_URLS)
        errors: dict[str, Any] = {}
        for i, url in enumerate(urls):
            if url is None:
                merge_errors(
                    errors,
                    field_errors(
                        ["attachment_urls", i],
                        "LIST_ITEM_VALUE_REQUIRED",
                        "List item values of ModelType are required",
                    ),
                )
            elif not isinstance(url, str):
                merge_errors(
                    errors,
                    field_errors(
                        ["attachment_urls", i],
                        "BASE_TYPE_STRING",
                        f'Could not interpret "{url!r}" as string.',
                    ),
                )
        if errors:
            raise DiscordError(400, 50035, "Invalid Form Body", errors=errors, problem=True)
        cdn = self.messages.cdn
        # Foreign URLs (not a fake CDN attachment) are echoed unchanged; see the module docstring.
        refreshed = [{"original": url, "refreshed": cdn.resign(url) or url} for url in urls]
        return Reply(200, {"refreshed_urls": refreshed})
