"""The websocket gateway: HELLO, heartbeats, IDENTIFY/READY, RESUME, dispatch and fault hooks.

Sessions outlive their socket so that events dispatched while the bot is disconnected are replayed
on RESUME, exactly what Discord guarantees. Each session has its own sequence numbers and intents:
events the intents do not cover are not sent, and without MESSAGE_CONTENT (bit 15) message
content, embeds, attachments and components are blanked except in DMs, messages mentioning the
bot, and the bot's own messages. Routing to shards uses ``(guild_id >> 22) % shard_count``.

Simplifications: JSON encoding only; ``compress=zlib-stream`` is accepted but frames are sent as
uncompressed TEXT (discord.py handles both); no presence or voice modelling.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import json
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from aiohttp import WSMsgType, web

from . import payloads

if TYPE_CHECKING:
    from .recording import Recorder
    from .state import State

DISPATCH, HEARTBEAT, IDENTIFY, PRESENCE_UPDATE, VOICE_STATE = 0, 1, 2, 3, 4
RESUME, RECONNECT, REQUEST_MEMBERS, INVALID_SESSION, HELLO, HEARTBEAT_ACK = 6, 7, 8, 9, 10, 11

GUILDS, GUILD_MEMBERS, GUILD_PRESENCES = 1 << 0, 1 << 1, 1 << 8
GUILD_MESSAGES, GUILD_REACTIONS, GUILD_TYPING = 1 << 9, 1 << 10, 1 << 11
DIRECT_MESSAGES, DIRECT_REACTIONS, DIRECT_TYPING = 1 << 12, 1 << 13, 1 << 14
MESSAGE_CONTENT = 1 << 15
PRIVILEGED = GUILD_MEMBERS | GUILD_PRESENCES | MESSAGE_CONTENT
ALL_INTENTS = (1 << 26) - 1

#: event -> (intent for guild events, intent for DM events); None means always delivered.
_EVENT_INTENTS: dict[str, tuple[int | None, int | None]] = {
    "GUILD_CREATE": (GUILDS, None),
    "GUILD_UPDATE": (GUILDS, None),
    "GUILD_DELETE": (GUILDS, None),
    "GUILD_ROLE_CREATE": (GUILDS, None),
    "GUILD_ROLE_UPDATE": (GUILDS, None),
    "GUILD_ROLE_DELETE": (GUILDS, None),
    "CHANNEL_CREATE": (GUILDS, None),
    "CHANNEL_UPDATE": (GUILDS, None),
    "CHANNEL_DELETE": (GUILDS, None),
    "THREAD_CREATE": (GUILDS, None),
    "THREAD_UPDATE": (GUILDS, None),
    "THREAD_DELETE": (GUILDS, None),
    "GUILD_MEMBER_ADD": (GUILD_MEMBERS, None),
    "GUILD_MEMBER_UPDATE": (GUILD_MEMBERS, None),
    "GUILD_MEMBER_REMOVE": (GUILD_MEMBERS, None),
    "MESSAGE_CREATE": (GUILD_MESSAGES, DIRECT_MESSAGES),
    "MESSAGE_UPDATE": (GUILD_MESSAGES, DIRECT_MESSAGES),
    "MESSAGE_DELETE": (GUILD_MESSAGES, DIRECT_MESSAGES),
    "MESSAGE_REACTION_ADD": (GUILD_REACTIONS, DIRECT_REACTIONS),
    "MESSAGE_REACTION_REMOVE": (GUILD_REACTIONS, DIRECT_REACTIONS),
    "TYPING_START": (GUILD_TYPING, DIRECT_TYPING),
}
_CONTENT_FIELDS = {"content": "", "embeds": [], "attachments": [], "components": []}


def strip_content(message: dict[str, Any], bot_id: str) -> dict[str, Any]:
    """What a bot without the MESSAGE_CONTENT intent receives for a message.

    The replied-to message (``referenced_message``) is judged on its own: a reply that
    mentions the bot keeps its content, but the message it replies to is blanked unless it too
    is the bot's, mentions the bot, or is in a DM.
    """
    if "guild_id" not in message or message.get("author", {}).get("id") == bot_id:
        return message
    if any(u.get("id") == bot_id for u in message.get("mentions", [])):
        out = dict(message)
    else:
        out = {**message, **copy.deepcopy(_CONTENT_FIELDS)}
        out.pop("poll", None)
    ref = out.get("referenced_message")
    if isinstance(ref, dict):
        out["referenced_message"] = strip_content({**ref, "guild_id": message["guild_id"]}, bot_id)
        out["referenced_message"].pop("guild_id", None)
    return out


@dataclass(frozen=True)
class Frame:
    """One gateway frame, for assertions (``fake.gateway_log``)."""

    direction: str  # "recv" (from the bot) or "send"
    session_id: str | None
    payload: dict[str, Any]


@dataclass(eq=False)
class Session:
    id: str
    intents: int
    shard: tuple[int, int]
    seq: int = 0
    buffer: list[dict[str, Any]] = field(default_factory=list)
    ws: web.WebSocketResponse | None = None
    valid: bool = True
    ready: bool = False
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    def wants(self, event: str, guild_id: str | None) -> bool:
        if guild_id is not None and self.shard[1] > 1:
            if (int(guild_id) >> 22) % self.shard[1] != self.shard[0]:
                return False
        elif guild_id is None and self.shard[0] != 0:
            return False
        guild_intent, dm_intent = _EVENT_INTENTS.get(event, (None, None))
        needed = guild_intent if guild_id is not None else dm_intent
        return needed is None or bool(self.intents & needed)


class Gateway:
    """Websocket endpoint plus the dispatch fan-out used by REST handlers and the driver."""

    def __init__(
        self,
        state: State,
        recorder: Recorder,
        *,
        resume_url: Callable[[], str],
    ) -> None:
        self.state = state
        self.recorder = recorder
        self.resume_url = resume_url
        self.heartbeat_interval = 41250
        self.privileged_intents = PRIVILEGED
        self.sessions: dict[str, Session] = {}
        self.sockets: set[web.WebSocketResponse] = set()
        self.log: list[Frame] = []
        self.identify_count = 0
        self.resume_count = 0
        self.heartbeat_count = 0
        self.presence: dict[str, Any] | None = None
        self._queued: list[tuple[str, dict[str, Any], str | None]] = []
        self._tasks: set[asyncio.Task[None]] = set()
        self._closed_by_us: set[web.WebSocketResponse] = set()

    # ----------------------------------------------------------------- helpers
    @property
    def connected(self) -> list[Session]:
        """Sessions that are READY (or RESUMED) on an open socket."""
        return [
            s
            for s in self.sessions.values()
            if s.valid and s.ready and s.ws is not None and not s.ws.closed
        ]

    def queue(self, event: str, data: dict[str, Any], guild_id: str | None) -> None:
        """Dispatch from synchronous code (e.g. ``fake.add_channel``) without reordering events.

        Queued events are flushed before the next :meth:`dispatch` and by a scheduled task.
        """
        if not any(s.valid for s in self.sessions.values()):
            return  # nobody to tell; future sessions get it in READY/GUILD_CREATE
        self._queued.append((event, data, guild_id))
        with contextlib.suppress(RuntimeError):  # no running loop: flushed by the next dispatch
            task = asyncio.get_running_loop().create_task(self.flush())
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def flush(self) -> None:
        while self._queued:
            event, data, guild_id = self._queued.pop(0)
            await self._fan_out(event, data, guild_id)

    async def _send(
        self, ws: web.WebSocketResponse, session: Session | None, payload: dict[str, Any]
    ) -> None:
        self.log.append(Frame("send", session.id if session else None, payload))
        with contextlib.suppress(ConnectionError, RuntimeError):
            await ws.send_str(json.dumps(payload))

    async def _dispatch_to(self, session: Session, event: str, data: dict[str, Any]) -> None:
        async with session.lock:
            session.seq += 1
            payload = {"op": DISPATCH, "t": event, "s": session.seq, "d": data}
            session.buffer.append(payload)
            if session.ws is not None and not session.ws.closed:
                await self._send(session.ws, session, payload)
        self.recorder.changed()

    async def dispatch(self, event: str, data: dict[str, Any], guild_id: str | None = None) -> int:
        """Send an event to every session that should get it; returns how many did.

        Sessions whose socket is down still count: the event is buffered for RESUME.
        """
        await self.flush()
        return await self._fan_out(event, data, guild_id)

    async def _fan_out(self, event: str, data: dict[str, Any], guild_id: str | None) -> int:
        sent = 0
        for session in list(self.sessions.values()):
            if not session.valid or not session.wants(event, guild_id):
                continue
            body = data
            if (
                event in ("MESSAGE_CREATE", "MESSAGE_UPDATE")
                and not session.intents & MESSAGE_CONTENT
            ):
                body = strip_content(data, self.state.bot.id)
            await self._dispatch_to(session, event, copy.deepcopy(body))
            sent += 1
        return sent

    # ----------------------------------------------------------------- fault hooks
    async def drop(self, code: int = 4000) -> None:
        """Close every socket with ``code``; sessions stay resumable."""
        for ws in list(self.sockets):
            self._closed_by_us.add(ws)
            await ws.close(code=code, message=b"fake: dropped")

    async def send_reconnect(self) -> None:
        for session in self.connected:
            assert session.ws is not None
            await self._send(
                session.ws, session, {"op": RECONNECT, "d": None, "s": None, "t": None}
            )

    async def invalidate(self, resumable: bool = False) -> None:
        for session in self.connected:
            assert session.ws is not None
            await self._send(
                session.ws, session, {"op": INVALID_SESSION, "d": resumable, "s": None, "t": None}
            )
            if not resumable:
                session.valid = False

    async def close_all(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        for ws in list(self.sockets):
            self._closed_by_us.add(ws)
            await ws.close(code=1001, message=b"fake: shutting down")

    # ----------------------------------------------------------------- websocket
    async def handle(self, request: web.Request) -> web.StreamResponse:
        ws = web.WebSocketResponse(autoping=True, max_msg_size=16 * 1024 * 1024)
        await ws.prepare(request)
        self.sockets.add(ws)
        session: Session | None = None
        try:
            if request.query.get("encoding", "json") != "json":
                await ws.close(code=4002, message=b"Error while decoding payload.")
                return ws
            await self._send(
                ws,
                None,
                {
                    "op": HELLO,
                    "d": {"heartbeat_interval": self.heartbeat_interval},
                    "s": None,
                    "t": None,
                },
            )
            async for msg in ws:
                if msg.type != WSMsgType.TEXT:
                    await self._close(ws, 4002, "Error while decoding payload.")
                    break
                try:
                    frame = json.loads(msg.data)
                except ValueError:
                    await self._close(ws, 4002, "Error while decoding payload.")
                    break
                self.log.append(Frame("recv", session.id if session else None, frame))
                session = await self._on_frame(ws, session, frame)
                self.recorder.changed()
        finally:
            self.sockets.discard(ws)
            if session is not None and session.ws is ws:
                session.ws = None
                session.ready = False
                # A client closing with 1000/1001 ends its session, as on Discord.
                if ws not in self._closed_by_us and ws.close_code in (1000, 1001):
                    session.valid = False
            self._closed_by_us.discard(ws)
            self.recorder.changed()
        return ws

    async def _close(self, ws: web.WebSocketResponse, code: int, reason: str) -> None:
        self.recorder.problem("WS", "/gateway", f"closed {code}: {reason}", "gateway")
        await ws.close(code=code, message=reason.encode())

    async def _on_frame(
        self, ws: web.WebSocketResponse, session: Session | None, frame: dict[str, Any]
    ) -> Session | None:
        op, data = frame.get("op"), frame.get("d")
        if op == HEARTBEAT:
            self.heartbeat_count += 1
            await self._send(ws, session, {"op": HEARTBEAT_ACK, "d": None, "s": None, "t": None})
            return session
        if op == IDENTIFY:
            if session is not None:
                await self._close(ws, 4005, "Already authenticated.")
                return session
            return await self._identify(ws, data or {})
        if op == RESUME:
            return await self._resume(ws, data or {})
        if session is None:
            await self._close(ws, 4003, "Not authenticated.")
            return None
        if op == PRESENCE_UPDATE:
            self.presence = data
        elif op == REQUEST_MEMBERS:
            await self._members_chunk(session, data or {})
        elif op != VOICE_STATE:
            await self._close(ws, 4001, f"Unknown opcode {op}.")
        return session

    async def _identify(self, ws: web.WebSocketResponse, data: dict[str, Any]) -> Session | None:
        if data.get("token") != self.state.token:
            await ws.close(code=4004, message=b"Authentication failed.")
            return None
        intents = data.get("intents")
        if not isinstance(intents, int) or intents < 0 or intents & ~ALL_INTENTS:
            await self._close(ws, 4013, "Invalid intent(s).")
            return None
        if intents & PRIVILEGED & ~self.privileged_intents:
            await ws.close(code=4014, message=b"Disallowed intent(s).")
            return None
        shard_id, shard_count = data.get("shard") or [0, 1]
        if not 0 <= shard_id < shard_count:
            await self._close(ws, 4010, "Invalid shard.")
            return None
        session = Session(secrets.token_hex(16), intents, (shard_id, shard_count), ws=ws)
        self.sessions[session.id] = session
        self.identify_count += 1
        guilds = [
            gid
            for gid in self.state.guilds
            if shard_count == 1 or (int(gid) >> 22) % shard_count == shard_id
        ]
        ready = payloads.ready(
            self.state,
            session_id=session.id,
            resume_url=self.resume_url(),
            guild_ids=guilds,
            shard=[shard_id, shard_count] if data.get("shard") else None,
        )
        await self._dispatch_to(session, "READY", ready)
        for gid in guilds:
            # Lazy-loaded GUILD_CREATE is sent whatever the intents are.
            body = payloads.guild_create(
                self.state, self.state.guilds[gid], all_members=bool(intents & GUILD_PRESENCES)
            )
            await self._dispatch_to(session, "GUILD_CREATE", body)
        session.ready = True
        return session

    async def _resume(self, ws: web.WebSocketResponse, data: dict[str, Any]) -> Session | None:
        if data.get("token") != self.state.token:
            await ws.close(code=4004, message=b"Authentication failed.")
            return None
        session = self.sessions.get(str(data.get("session_id")))
        seq = data.get("seq") or 0
        if session is None or not session.valid or seq > session.seq:
            await self._send(ws, None, {"op": INVALID_SESSION, "d": False, "s": None, "t": None})
            return None
        self.resume_count += 1
        async with session.lock:
            session.ws = ws
            for payload in session.buffer:
                if payload["s"] > seq:
                    await self._send(ws, session, payload)
        await self._dispatch_to(session, "RESUMED", {})
        session.ready = True
        return session

    async def _members_chunk(self, session: Session, data: dict[str, Any]) -> None:
        guild = self.state.guilds.get(str(data.get("guild_id")))
        if guild is None:
            return
        members = list(guild.members.values())
        if data.get("user_ids"):
            wanted = {str(u) for u in data["user_ids"]}
            members = [m for m in members if m.id in wanted]
        elif data.get("query"):
            members = [m for m in members if m.user.username.startswith(data["query"])]
        if data.get("limit"):
            members = members[: data["limit"]]
        chunk = {
            "guild_id": guild.id,
            "members": [payloads.member(m) for m in members],
            "chunk_index": 0,
            "chunk_count": 1,
        }
        if data.get("nonce") is not None:
            chunk["nonce"] = data["nonce"]
        await self._dispatch_to(session, "GUILD_MEMBERS_CHUNK", chunk)
