"""FakeDiscord: a loopback Discord (REST + gateway + CDN) for real, unmodified discord.py.

Point discord.py at it with two class attributes (or the env vars in :attr:`FakeDiscord.env`)::

    discord.http.Route.BASE = fake.api_base
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(fake.gateway_url)

Entities (User, Role, Channel, Guild, Member) are dataclasses with string snowflake ``.id``s that
also allow JSON-style reads (``fake.user("alice")["id"]``); messages are plain Discord JSON dicts.
Nothing here touches the bot's objects, so the bot may also run in another process. Tests drive
users through the methods below and assert on ``fake.calls``, ``fake.messages`` and friends; call
:meth:`assert_clean` at teardown to fail on schema violations, limit breaches or unimplemented
routes.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from aiohttp import web

from . import payloads
from . import permissions as P
from .cdn import CdnStore
from .command_permissions import all_channels_id, normalise
from .command_permissions import payload as permissions_payload
from .commands import CHAT_INPUT, find_command
from .driver import ChannelRef, Driver, MessageRef, UserRef
from .errors import InvalidAction
from .gateway import Gateway, Session
from .interactions import Interaction
from .messages import Messages
from .permissions import Overwrite
from .recording import Call, Fault, PathMatcher, Problem, Recorder
from .rest import RestApi
from .state import TEXT, Channel, FakeClock, Guild, Member, Role, Settings, State, User
from .wire import API_PREFIX, Api, Router, json_response

DEFAULT_GUILD = "Fake Guild"


class FakeDiscord:
    """The fake server plus the driver API tests use."""

    def __init__(
        self, *, token: str = "test-token", bot_name: str = "imagebot", host: str = "127.0.0.1"
    ) -> None:
        self.host = host
        self.port = 0
        self.state = State(token=token, bot_name=bot_name)
        self.settings = Settings()
        self.recorder = Recorder()
        self.cdn = CdnStore(self.state.clock)
        self.gateway = Gateway(self.state, self.recorder, resume_url=lambda: self.gateway_url)
        self.messages_service = Messages(self.state, self.cdn, self.gateway.dispatch)
        self.rest = RestApi(self.state, self.settings, self.messages_service, self.gateway)
        self.driver = Driver(
            self.state, self.settings, self.cdn, self.messages_service, self.gateway, self.recorder
        )
        router = Router()
        self.rest.register(router)
        self.api = Api(router, self.recorder, self.state.clock, lambda: self.state.token)
        self._runner: web.AppRunner | None = None
        self.default_guild = self._build_default_guild()

    def _build_default_guild(self) -> Guild:
        state = self.state
        owner = state.add_user("owner")
        guild = state.add_guild(DEFAULT_GUILD, owner)
        bot_role = state.add_role(
            guild, state.bot.username, P.BOT_DEFAULT, managed=True, bot_id=state.bot.id
        )
        moderator = state.add_role(guild, "Moderator", P.MANAGE_MESSAGES | P.MANAGE_GUILD)
        artist = state.add_role(guild, "Artist", 0)
        for name, nsfw in (("general", False), ("nsfw-art", True), ("mod-log", False)):
            state.add_channel(guild, name, TEXT, nsfw=nsfw)
        state.add_member(guild, state.bot, [bot_role])
        state.add_member(guild, state.add_user("alice"))
        state.add_member(guild, state.add_user("bob"), [artist])
        state.add_member(guild, state.add_user("mod"), [moderator])
        state.add_member(guild, owner)
        return guild

    # ================================================================ lifecycle
    async def start(self) -> FakeDiscord:
        """Listen on 127.0.0.1 with an ephemeral port."""
        app = web.Application(client_max_size=256 * 1024 * 1024)
        app.router.add_route("*", API_PREFIX + "/{tail:.*}", self.api.handle)
        app.router.add_get("/gateway", self.gateway.handle)
        app.router.add_get("/cdn/attachments/{channel}/{id}/{filename}", self._cdn)
        app.router.add_route("*", "/{tail:.*}", self._outside_api)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, 0)
        await site.start()
        self.port = self._runner.addresses[0][1]
        self.cdn.base_url = self.base_url
        self.settings.gateway_url = self.gateway_url
        return self

    async def stop(self) -> None:
        """Close websockets and the listener (stop the bot first)."""
        await self.gateway.close_all()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeDiscord:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def _cdn(self, request: web.Request) -> web.StreamResponse:
        call = Call("GET", request.path, dict(request.query), None, fake_at=self.state.clock.now())
        fault = self.recorder.take_fault(call)
        if fault is not None:
            call.status, call.response_json = fault.status, fault.json_body
            self.recorder.add_call(call)
            return json_response(fault.status, fault.json_body, fault.headers)
        stored = self.cdn.lookup(request.path, dict(request.query))
        call.status = 200 if stored else 404
        self.recorder.add_call(call)
        if stored is None:
            return web.Response(status=404, text="This content is no longer available.")
        return web.Response(
            body=stored.data,
            content_type=(stored.content_type or "application/octet-stream").split(";")[0],
        )

    async def _outside_api(self, request: web.Request) -> web.StreamResponse:
        self.recorder.problem(
            request.method, request.path, "not an API, gateway or CDN path", "unimplemented"
        )
        self.recorder.add_call(
            Call(request.method, request.path, dict(request.query), None, status=404)
        )
        return json_response(404, {"message": f"fake: unknown path {request.path}", "code": 0})

    # ================================================================ addresses & settings
    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def api_base(self) -> str:
        """Value for ``discord.http.Route.BASE``."""
        return self.base_url + API_PREFIX

    @property
    def gateway_url(self) -> str:
        """Value for ``discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY`` (as a yarl.URL)."""
        return f"ws://{self.host}:{self.port}/gateway"

    @property
    def env(self) -> dict[str, str]:
        """Environment for a bot process that reads DISCORD_API_BASE / DISCORD_GATEWAY_URL."""
        return {"DISCORD_API_BASE": self.api_base, "DISCORD_GATEWAY_URL": self.gateway_url}

    @property
    def token(self) -> str:
        return self.state.token

    @property
    def app_id(self) -> str:
        return self.state.app_id

    @property
    def bot(self) -> User:
        return self.state.bot

    @property
    def clock(self) -> FakeClock:
        return self.state.clock

    @property
    def ack_deadline(self) -> float:
        return self.settings.ack_deadline

    @ack_deadline.setter
    def ack_deadline(self, seconds: float) -> None:
        self.settings.ack_deadline = seconds

    @property
    def attachment_size_limit(self) -> int:
        """Default ``attachment_size_limit`` of new interactions (per-call override exists)."""
        return self.settings.attachment_size_limit

    @attachment_size_limit.setter
    def attachment_size_limit(self, size: int) -> None:
        self.settings.attachment_size_limit = size

    @property
    def heartbeat_interval(self) -> int:
        return self.gateway.heartbeat_interval

    @heartbeat_interval.setter
    def heartbeat_interval(self, ms: int) -> None:
        self.gateway.heartbeat_interval = ms

    @property
    def shard_count(self) -> int:
        """What ``GET /gateway/bot`` recommends."""
        return self.settings.shard_count

    @shard_count.setter
    def shard_count(self, count: int) -> None:
        self.settings.shard_count = count

    @property
    def privileged_intents(self) -> int:
        """Privileged intents enabled in the "developer portal" (others close with 4014)."""
        return self.gateway.privileged_intents

    @privileged_intents.setter
    def privileged_intents(self, mask: int) -> None:
        self.gateway.privileged_intents = mask

    # ================================================================ world
    @property
    def guild(self) -> Guild:
        return self.default_guild

    def channel(self, ref: ChannelRef, guild: Guild | str | None = None) -> Channel:
        return self.state.channel(ref, self.state.guild(guild) if guild else self.default_guild)

    def user(self, ref: UserRef) -> User:
        return self.state.user(ref)

    def member(self, ref: UserRef, guild: Guild | str | None = None) -> Member:
        g = self.state.guild(guild) if guild else self.default_guild
        user = self.state.user(ref)
        if user.id not in g.members:
            raise InvalidAction(f"{user.username} is not a member of {g.name}")
        return g.members[user.id]

    def role(self, ref: Role | str, guild: Guild | str | None = None) -> Role:
        return self.state.role(ref, self.state.guild(guild) if guild else self.default_guild)

    def dm(self, user: UserRef) -> Channel:
        """The DM channel between the bot and ``user``."""
        return self.state.dm_channel(self.state.user(user))

    def add_role(
        self,
        name: str,
        permissions: int = 0,
        *,
        guild: Guild | str | None = None,
        mentionable: bool = False,
    ) -> Role:
        g = self.state.guild(guild) if guild else self.default_guild
        role = self.state.add_role(g, name, permissions, mentionable=mentionable)
        self.gateway.queue(
            "GUILD_ROLE_CREATE", {"guild_id": g.id, "role": payloads.role(role)}, g.id
        )
        return role

    def add_member(
        self, name: str, roles: Sequence[Role | str] = (), *, guild: Guild | str | None = None
    ) -> User:
        """Create a user (or reuse one by name) and make them a member with ``roles``."""
        g = self.state.guild(guild) if guild else self.default_guild
        try:
            user = self.state.user(name)
        except LookupError:
            user = self.state.add_user(name)
        member = self.state.add_member(g, user, [self.state.role(r, g) for r in roles])
        self.gateway.queue("GUILD_MEMBER_ADD", {**payloads.member(member), "guild_id": g.id}, g.id)
        return user

    def add_channel(
        self,
        name: str,
        nsfw: bool = False,
        type: int = TEXT,
        *,
        guild: Guild | str | None = None,
        topic: str | None = None,
        overwrites: Sequence[Overwrite] = (),
    ) -> Channel:
        g = self.state.guild(guild) if guild else self.default_guild
        channel = self.state.add_channel(
            g, name, type, nsfw=nsfw, topic=topic, overwrites=list(overwrites)
        )
        self.gateway.queue("CHANNEL_CREATE", payloads.channel(self.state, channel), g.id)
        return channel

    def set_overwrite(
        self, channel: ChannelRef, target: Role | User | str, *, allow: int = 0, deny: int = 0
    ) -> None:
        """Add/replace a permission overwrite for a role or member (name, id or entity)."""
        chan = self.channel(channel)
        g = self.state.guild_of(chan)
        assert g is not None, "DM channels have no overwrites"
        if isinstance(target, Role):
            target_id, kind = target.id, 0
        elif isinstance(target, User):
            target_id, kind = target.id, 1
        else:
            try:
                target_id, kind = self.state.role(target, g).id, 0
            except LookupError:
                target_id, kind = self.state.user(target).id, 1
        chan.overwrites = [o for o in chan.overwrites if o.id != target_id] + [
            Overwrite(target_id, kind, allow, deny)
        ]
        self.gateway.queue("CHANNEL_UPDATE", payloads.channel(self.state, chan), g.id)

    def add_guild(
        self,
        name: str,
        *,
        owner: UserRef = "owner",
        members: Sequence[UserRef] = ("alice",),
        channels: Sequence[str] = ("general",),
    ) -> Guild:
        """A second (third, ...) guild the bot is in; announced with GUILD_CREATE if connected."""
        state = self.state
        owner_user = state.user(owner)
        g = state.add_guild(name, owner_user)
        bot_role = state.add_role(
            g, state.bot.username, P.BOT_DEFAULT, managed=True, bot_id=state.bot.id
        )
        state.add_member(g, state.bot, [bot_role])
        for ref in {owner_user.id, *(state.user(m).id for m in members)}:
            state.add_member(g, state.users[ref])
        for channel_name in channels:
            state.add_channel(g, channel_name, TEXT)
        for session in self.gateway.sessions.values():
            if session.valid:
                body = payloads.guild_create(state, g, all_members=bool(session.intents & (1 << 8)))
                self.gateway.queue("GUILD_CREATE", body, g.id)
                break
        return g

    def block_dms(self, user: UserRef) -> None:
        """Make DMs to ``user`` fail with 50007 (privacy settings)."""
        self.state.dm_blocked.add(self.state.user(user).id)

    # ================================================================ command permissions
    def all_channels(self, guild: Guild | str | None = None) -> str:
        """The "All Channels" id for channel overrides: the guild id minus one.

        (``@everyone`` is the guild id, or just the role ``"@everyone"``.)
        """
        g = self.state.guild(guild) if guild else self.default_guild
        return all_channels_id(g.id)

    def _permission_target(
        self, command: str | int | Mapping[str, Any] | None, guild: Guild, command_type: int
    ) -> str:
        if command is None:
            return self.state.app_id  # app-level: stored under the application id
        visible = [*self.state.commands.get(guild.id, []), *self.state.commands.get(None, [])]
        key = str(command["id"]) if isinstance(command, Mapping) else str(command)
        if any(c["id"] == key for c in visible):
            return key
        if isinstance(command, Mapping):
            raise InvalidAction(f"command {key} is not synced in {guild.name}")
        return str(find_command(self.state, key, command_type, guild.id)["id"])

    def set_command_permissions(
        self,
        command: str | int | Mapping[str, Any] | None,
        permissions: Sequence[Mapping[str, Any]],
        *,
        guild: Guild | str | None = None,
        command_type: int = CHAT_INPUT,
    ) -> dict[str, Any]:
        """Set overrides as an admin does in Server Settings → Integrations → the app.

        ``command`` is a synced command's name (of ``command_type``; subcommands share their
        top-level command's overrides), id or object; ``None`` sets the app-level overrides, kept
        under the application id. Each override is ``{"id": ..., "type": 1 | 2 | 3,
        "permission": bool}`` (role, user, channel) whose ``id`` may be an id, a name or an entity;
        ``@everyone`` is the guild id (or the role name), All Channels is :meth:`all_channels`.
        The list replaces the previous one and an empty list removes them. The bot receives
        APPLICATION_COMMAND_PERMISSIONS_UPDATE, as from Discord; returns the guild application
        command permissions object. Administrators stay unaffected (module ``command_permissions``
        has the rules).
        """
        g = self.state.guild(guild) if guild else self.default_guild
        target = self._permission_target(command, g, command_type)
        entries = normalise(self.state, g, permissions)
        per_guild = self.state.command_permissions.setdefault(g.id, {})
        if entries:
            per_guild[target] = entries
        else:
            per_guild.pop(target, None)
        body = permissions_payload(self.state, g.id, target)
        self.gateway.queue("APPLICATION_COMMAND_PERMISSIONS_UPDATE", body, g.id)
        return body

    def command_permissions(
        self,
        command: str | int | Mapping[str, Any] | None = None,
        *,
        guild: Guild | str | None = None,
        command_type: int = CHAT_INPUT,
    ) -> list[dict[str, Any]]:
        """The overrides set for ``command`` (``None``: app-level) in the guild; ``[]`` if none."""
        g = self.state.guild(guild) if guild else self.default_guild
        target = self._permission_target(command, g, command_type)
        entries: list[dict[str, Any]] = permissions_payload(self.state, g.id, target)["permissions"]
        return entries

    # ================================================================ CDN
    def add_cdn_file(
        self,
        filename: str,
        data: bytes,
        content_type: str | None = None,
        *,
        channel: ChannelRef | None = None,
    ) -> dict[str, Any]:
        """Upload bytes as a user would; returns the attachment object (for options or messages)."""
        chan = self.channel(channel) if channel is not None else self.channel("general")
        stored = self.cdn.put(
            self.state.new_id(), chan.id, filename, data, content_type=content_type
        )
        return self.cdn.attachment(stored)

    def attachment_bytes(self, attachment: Mapping[str, Any]) -> bytes:
        return self.cdn.files[str(attachment["id"])].data

    def file_bytes(self, url: str) -> bytes:
        stored = self.cdn.from_url(url)
        if stored is None:
            raise KeyError(f"no stored file behind {url}")
        return stored.data

    # ================================================================ recording
    @property
    def calls(self) -> list[Call]:
        return self.recorder.calls

    @property
    def problems(self) -> list[Problem]:
        return self.recorder.problems

    @property
    def unimplemented(self) -> list[tuple[str, str]]:
        return [(p.method, p.path) for p in self.recorder.problems if p.kind == "unimplemented"]

    def mark(self) -> int:
        """A position in ``calls``; pass it as ``since=`` to only look at later calls."""
        return len(self.recorder.calls)

    def calls_since(self, mark: int) -> list[Call]:
        """Every call answered after ``mark = fake.mark()``."""
        return self.recorder.calls[mark:]

    def find_calls(
        self,
        method: str,
        path: PathMatcher,
        *,
        since: int = 0,
        exact: bool = False,
        predicate: Callable[[Call], bool] | None = None,
    ) -> list[Call]:
        return self.recorder.find(method, path, since=since, exact=exact, predicate=predicate)

    async def wait_for_call(
        self,
        method: str,
        path: PathMatcher,
        *,
        since: int = 0,
        exact: bool = False,
        timeout: float = 5.0,
        predicate: Callable[[Call], bool] | None = None,
    ) -> Call:
        """First matching answered call at or after ``since``.

        A string path matches when it occurs in the call's path (so ``/messages/@original`` or a
        prefix both work) unless ``exact=True``. Beware: ``/channels/C/messages`` also matches
        ``/channels/C/messages/M/threads``; use ``exact=True`` or a compiled regex (full match).
        """
        found = await self.recorder.wait_until(
            lambda: self.recorder.find(method, path, since=since, exact=exact, predicate=predicate),
            timeout=timeout,
            what=f"{method} {getattr(path, 'pattern', path)}",
        )
        return found[0]  # type: ignore[no-any-return]

    async def wait_until(
        self, predicate: Callable[[], Any], *, timeout: float = 5.0, what: str = "condition"
    ) -> Any:
        """Wait for any condition over the fake's state (re-checked whenever something happens)."""
        return await self.recorder.wait_until(predicate, timeout=timeout, what=what)

    def inject(
        self,
        method: str,
        path_regex: str,
        status: int,
        json_body: Any = None,
        headers: Mapping[str, str] | None = None,
        times: int = 1,
        predicate: Callable[[Call], bool] | None = None,
    ) -> None:
        """Answer the next ``times`` matching requests with this reply instead of handling them.

        ``path_regex`` must match the whole path (``/channels/\\d+/messages``); method ``*`` = any;
        ``predicate`` sees the parsed request (``call.json``, ``call.files``) to narrow it further.
        A 429 defaults to ``{"retry_after": 0.05, "global": false}`` and every reply has ``Via``.
        """
        fault = Fault(
            method.upper(),
            re.compile(path_regex),
            status,
            json_body,
            dict(headers or {}),
            times,
            predicate=predicate,
        )
        self.recorder.faults.append(fault)

    def allow_problems(
        self,
        predicate: Callable[[Problem], bool] | None = None,
        *,
        kind: str | None = None,
        path: str | None = None,
        message: str | None = None,
    ) -> None:
        """Tolerate problems a test provokes on purpose (all given filters must match)."""

        def ok(p: Problem) -> bool:
            return (
                (kind is None or p.kind == kind)
                and (path is None or re.search(path, p.path) is not None)
                and (message is None or re.search(message, p.message) is not None)
                and (predicate is None or predicate(p))
            )

        self.recorder.allow(ok)

    def assert_clean(self) -> None:
        """Fail if the bot broke a rule or used a route the fake does not serve."""
        bad = self.recorder.unexpected_problems()
        if bad:
            listing = "\n".join(f"  - {p}" for p in bad)
            raise AssertionError(f"fake Discord recorded {len(bad)} problem(s):\n{listing}")

    # ================================================================ gateway
    @property
    def identify_count(self) -> int:
        return self.gateway.identify_count

    @property
    def resume_count(self) -> int:
        return self.gateway.resume_count

    @property
    def sessions(self) -> list[Session]:
        return list(self.gateway.sessions.values())

    @property
    def intents(self) -> int | None:
        """Intents of the most recent IDENTIFY."""
        sessions = self.sessions
        return sessions[-1].intents if sessions else None

    @property
    def gateway_log(self) -> list[Any]:
        return self.gateway.log

    async def wait_until_connected(self, timeout: float = 5.0) -> Session:
        """Until a session is READY/RESUMED on an open socket (GUILD_CREATEs already sent)."""
        sessions = await self.recorder.wait_until(
            lambda: self.gateway.connected, timeout=timeout, what="a connected gateway session"
        )
        return sessions[0]  # type: ignore[no-any-return]

    async def wait_for_commands(self, *names: str, timeout: float = 5.0) -> None:
        """Until the bot has synced commands with all these names (any scope)."""

        def synced() -> bool:
            have = {c["name"] for cmds in self.state.commands.values() for c in cmds}
            return set(names) <= have

        await self.recorder.wait_until(
            synced, timeout=timeout, what=f"commands {names} to be synced"
        )

    async def drop(self, code: int = 4000) -> None:
        """Close the bot's websocket (resumable codes make discord.py RESUME)."""
        await self.gateway.drop(code)

    async def send_reconnect(self) -> None:
        """Opcode 7: ask the bot to reconnect and resume."""
        await self.gateway.send_reconnect()

    async def invalidate(self, resumable: bool = False) -> None:
        """Opcode 9; with ``resumable=False`` the bot must IDENTIFY again."""
        await self.gateway.invalidate(resumable)

    async def dispatch(self, event: str, data: dict[str, Any], guild_id: str | None = None) -> int:
        """Escape hatch: send any gateway event."""
        return await self.gateway.dispatch(event, data, guild_id)

    # ================================================================ state views
    @property
    def messages(self) -> dict[str, dict[str, Any]]:
        return self.state.messages

    @property
    def threads(self) -> dict[str, Channel]:
        return {cid: c for cid, c in self.state.channels.items() if c.is_thread}

    @property
    def interactions(self) -> dict[str, Interaction]:
        return self.state.interactions

    def channel_messages(self, channel: ChannelRef) -> list[dict[str, Any]]:
        """Messages in a channel or thread, oldest first (ephemeral ones included)."""
        chan = self.channel(channel)
        return [self.state.messages[m] for m in self.state.channel_log.get(chan.id, [])]

    def pings(self, message: MessageRef) -> set[str]:
        """User ids, role ids and "everyone" that Discord would notify for this message."""
        return self.messages_service.pings(self.state.message(message)["id"])

    # ================================================================ user actions
    async def slash(
        self,
        name: str,
        options: Mapping[str, Any] | None = None,
        *,
        user: UserRef = "alice",
        channel: ChannelRef = "general",
        attachment_size_limit: int | None = None,
    ) -> Interaction:
        """Run ``/name [sub [subsub]]`` with options as a plain dict."""
        return await self.driver.slash(
            name,
            options,
            user=user,
            channel=self._chan(channel),
            attachment_size_limit=attachment_size_limit,
        )

    async def autocomplete(
        self,
        name: str,
        options: Mapping[str, Any],
        *,
        focused: str,
        user: UserRef = "alice",
        channel: ChannelRef = "general",
        timeout: float = 5.0,
    ) -> list[dict[str, Any]]:
        """Type into option ``focused``; returns the choices the bot answered."""
        return await self.driver.autocomplete(
            name, options, focused=focused, user=user, channel=self._chan(channel), timeout=timeout
        )

    async def message_command(
        self, name: str, message: MessageRef, *, user: UserRef = "alice"
    ) -> Interaction:
        """Message context-menu command on ``message``."""
        return await self.driver.message_command(name, message, user=user)

    async def user_command(
        self,
        name: str,
        target: UserRef,
        *,
        user: UserRef = "alice",
        channel: ChannelRef = "general",
    ) -> Interaction:
        """User context-menu command on ``target``."""
        return await self.driver.user_command(name, target, user=user, channel=self._chan(channel))

    async def click(
        self,
        message: MessageRef,
        custom_id: str,
        *,
        user: UserRef = "alice",
        values: Sequence[Any] | None = None,
    ) -> Interaction:
        """Press a button / pick select values on a message."""
        return await self.driver.click(message, custom_id, user=user, values=values)

    async def submit_modal(
        self,
        source: Interaction | Mapping[str, Any],
        values: Mapping[str, Any],
        *,
        user: UserRef | None = None,
    ) -> Interaction:
        """Submit the modal opened in response to ``source`` with ``{custom_id: value}``."""
        return await self.driver.submit_modal(source, values, user=user)

    async def user_message(
        self,
        channel: ChannelRef,
        content: str = "",
        *,
        author: UserRef = "alice",
        attachments: Sequence[Mapping[str, Any]] = (),
        reply_to: MessageRef | None = None,
        mentions: Sequence[UserRef] = (),
        mention_author: bool = True,
        embeds: Sequence[dict[str, Any]] = (),
    ) -> dict[str, Any]:
        """A member posts a message (MESSAGE_CREATE); returns the stored message dict."""
        return await self.driver.user_message(
            self._chan(channel),
            content,
            author=author,
            attachments=attachments,
            reply_to=reply_to,
            mentions=mentions,
            mention_author=mention_author,
            embeds=embeds,
        )

    def _chan(self, ref: ChannelRef) -> Channel:
        return self.channel(ref)
