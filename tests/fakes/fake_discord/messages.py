"""Creating, editing and deleting messages, shared by channel, webhook and interaction routes.

The stored dict is the REST message object (no ``guild_id``, as Discord's REST replies); gateway
dispatches add ``guild_id`` and the author's ``member``. Attachment URLs are re-signed every time a
message is served. ``mentions``/``mention_roles``/``mention_everyone`` reflect who is actually
pinged after ``allowed_mentions``, which is how Discord fills them.

Simplifications: interaction originals are type 20 (slash) / 23 (context menu), every other
message is 0 or 19 (reply); only the bot's own reactions are modelled; stickers, polls, forwards
and embed media proxying are not.
"""

from __future__ import annotations

import copy
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from . import payloads
from .cdn import CdnStore, StoredFile
from .errors import form_error
from .limits import walk
from .mentions import EVERYONE, compute_pings
from .recording import File
from .state import Channel, MessageMeta, State, User

Dispatch = Callable[[str, dict[str, Any], "str | None"], Awaitable[object]]

EPHEMERAL = 1 << 6
LOADING = 1 << 7
HAS_THREAD = 1 << 5
DEFAULT, REPLY, CHAT_INPUT_COMMAND, CONTEXT_MENU_COMMAND = 0, 19, 20, 23
_PLACEHOLDER_MAX = 1 << 22  # attachment "ids" below this are files[n] indexes, not snowflakes


def file_index(field: str, position: int) -> int:
    """``files[3]`` → 3; any other part name falls back to its position."""
    if field.startswith("files[") and field.endswith("]"):
        try:
            return int(field[6:-1])
        except ValueError:
            pass
    return position


class Messages:
    """Message store operations plus the gateway events they cause."""

    def __init__(self, state: State, cdn: CdnStore, dispatch: Dispatch) -> None:
        self.state = state
        self.cdn = cdn
        self.dispatch = dispatch

    # ----------------------------------------------------------------- serving
    def serve(self, message: dict[str, Any], *, nested: bool = False) -> dict[str, Any]:
        """A detached copy with freshly signed attachment URLs and the current replied-to message.

        Like Discord, ``referenced_message`` is one level deep (it carries no referenced_message).
        """
        out = copy.deepcopy(message)
        out["attachments"] = [self.cdn.refresh(a) for a in out.get("attachments", [])]
        ref = out.pop("referenced_message", None)
        if isinstance(ref, dict) and not nested:
            current = self.state.messages.get(ref["id"])
            out["referenced_message"] = self.serve(current, nested=True) if current else None
        elif "referenced_message" in message and not nested:
            out["referenced_message"] = None
        return out

    def gateway_payload(self, message: dict[str, Any]) -> dict[str, Any]:
        """MESSAGE_CREATE/UPDATE body: the REST object plus ``guild_id`` and author ``member``."""
        out = self.serve(message)
        channel = self.state.channels.get(out["channel_id"])
        guild = self.state.guild_of(channel) if channel else None
        if guild is not None:
            out["guild_id"] = guild.id
            member = guild.members.get(out["author"]["id"])
            if member is not None and "webhook_id" not in out:
                out["member"] = payloads.member(member, with_user=False)
        return out

    # ----------------------------------------------------------------- attachments
    def _attachments(
        self,
        body: dict[str, Any],
        files: Sequence[File],
        channel: Channel,
        *,
        existing: list[dict[str, Any]],
        ephemeral: bool,
    ) -> list[dict[str, Any]]:
        """Resolve ``attachments`` (keep existing ids, map ``files[n]``) into attachment objects."""
        by_index = {file_index(f.field, i): f for i, f in enumerate(files)}
        existing_by_id = {str(a["id"]): a for a in existing}
        meta = body.get("attachments")
        if meta is None:
            return existing + [
                self._store(by_index[i], channel, None, ephemeral) for i in sorted(by_index)
            ]
        out: list[dict[str, Any]] = []
        for pos, item in enumerate(meta):
            raw_id = item.get("id")
            try:
                number = int(raw_id)
            except (TypeError, ValueError):
                number = -1
            if 0 <= number < _PLACEHOLDER_MAX and number in by_index:
                out.append(self._store(by_index[number], channel, item, ephemeral))
            elif str(raw_id) in existing_by_id:
                kept = dict(existing_by_id[str(raw_id)])
                if "description" in item:
                    kept["description"] = item["description"]
                out.append(kept)
            else:
                raise form_error(
                    ["attachments", pos, "id"],
                    "ATTACHMENT_NOT_FOUND",
                    f"Unknown attachment {raw_id}",
                )
        return out

    def _store(
        self, upload: File, channel: Channel, meta: dict[str, Any] | None, ephemeral: bool
    ) -> dict[str, Any]:
        meta = meta or {}
        stored: StoredFile = self.cdn.put(
            self.state.new_id(),
            channel.id,
            meta.get("filename") or upload.filename,
            upload.data,
            content_type=upload.content_type,
            description=meta.get("description"),
        )
        return self.cdn.attachment(stored, ephemeral=ephemeral)

    # ----------------------------------------------------------------- mentions
    def _meta_pings(self, message: dict[str, Any], meta: MessageMeta) -> set[str]:
        channel = self.state.channels.get(message["channel_id"])
        guild = self.state.guild_of(channel) if channel else None
        if guild is not None:
            reachable: set[str] = set(guild.members)
            mentionable = {rid: r.mentionable for rid, r in guild.roles.items() if rid != guild.id}
        else:
            reachable = set(channel.recipients) | {self.state.bot.id} if channel else set()
            mentionable = {}
        return compute_pings(
            content=message.get("content"),
            allowed_mentions=meta.allowed_mentions,
            author_id=message["author"]["id"],
            author_permissions=meta.author_permissions,
            replied_user_id=meta.replied_user_id,
            reachable_users=reachable,
            mentionable_roles=mentionable,
            flags=message.get("flags", 0),
            in_guild=guild is not None,
        )

    def pings(self, message: dict[str, Any] | str) -> set[str]:
        msg = self.state.message(message)
        return self._meta_pings(msg, self.state.message_meta[msg["id"]])

    def _apply_mentions(self, message: dict[str, Any], meta: MessageMeta) -> None:
        pinged = self._meta_pings(message, meta)
        message["mentions"] = [
            payloads.user(self.state.users[uid])
            for uid in sorted(pinged)
            if uid in self.state.users
        ]
        message["mention_roles"] = sorted(
            p for p in pinged if p != EVERYONE and p not in self.state.users
        )
        message["mention_everyone"] = EVERYONE in pinged

    # ----------------------------------------------------------------- create / edit / delete
    async def create(
        self,
        channel: Channel,
        author: User,
        body: dict[str, Any],
        files: Sequence[File] = (),
        *,
        msg_type: int | None = None,
        extra: dict[str, Any] | None = None,
        attachments: list[dict[str, Any]] | None = None,
        author_permissions: int | None = None,
        announce: bool = True,
    ) -> dict[str, Any]:
        """Store a new message and dispatch MESSAGE_CREATE (not for ephemeral ones)."""
        state = self.state
        flags = int(body.get("flags") or 0)
        ephemeral = bool(flags & EPHEMERAL)
        reference = body.get("message_reference")
        referenced = None
        if reference and reference.get("message_id"):
            referenced = state.messages.get(str(reference["message_id"]))
            if referenced is None and reference.get("fail_if_not_exists", True):
                raise form_error(
                    ["message_reference"], "MESSAGE_REFERENCE_UNKNOWN_MESSAGE", "Unknown message"
                )
        message: dict[str, Any] = {
            "id": state.new_id(),
            "type": msg_type if msg_type is not None else (REPLY if referenced else DEFAULT),
            "channel_id": channel.id,
            "author": payloads.user(author),
            "content": body.get("content") or "",
            "timestamp": state.clock.iso(),
            "edited_timestamp": None,
            "tts": bool(body.get("tts", False)),
            "mention_everyone": False,
            "mentions": [],
            "mention_roles": [],
            "attachments": attachments
            if attachments is not None
            else self._attachments(body, files, channel, existing=[], ephemeral=ephemeral),
            "embeds": [{"type": "rich", **e} for e in body.get("embeds") or []],
            "components": with_component_ids(body.get("components") or []),
            "pinned": False,
            "flags": flags,
        }
        if referenced is not None:
            message["message_reference"] = {
                "type": 0,
                "channel_id": referenced["channel_id"],
                "message_id": referenced["id"],
                **({"guild_id": channel.guild_id} if channel.guild_id else {}),
            }
            message["referenced_message"] = {
                k: copy.deepcopy(v) for k, v in referenced.items() if k != "referenced_message"
            }
        message.update(extra or {})
        if author_permissions is None:
            author_permissions = state.channel_permissions(channel, author.id)
        meta = MessageMeta(
            allowed_mentions=body.get("allowed_mentions"),
            author_permissions=author_permissions,
            replied_user_id=referenced["author"]["id"] if referenced else None,
            interaction_id=(message.get("interaction_metadata") or {}).get("id"),
        )
        self._apply_mentions(message, meta)
        state.messages[message["id"]] = message
        state.message_meta[message["id"]] = meta
        state.channel_log.setdefault(channel.id, []).append(message["id"])
        if not ephemeral:
            channel.last_message_id = message["id"]
            if channel.is_thread:
                channel.message_count += 1
                channel.total_message_sent += 1
        if announce and not ephemeral:
            await self.dispatch("MESSAGE_CREATE", self.gateway_payload(message), channel.guild_id)
        return message

    async def edit(
        self,
        message: dict[str, Any],
        body: dict[str, Any],
        files: Sequence[File] = (),
        *,
        clear_flags: int = 0,
        mark_edited: bool = True,
    ) -> dict[str, Any]:
        """Apply edit semantics (``attachments`` lists what stays) and dispatch MESSAGE_UPDATE.

        Completing a deferred ("thinking") response is not an edit, hence ``mark_edited``.
        """
        channel = self.state.channels[message["channel_id"]]
        ephemeral = bool(message["flags"] & EPHEMERAL)
        if "content" in body:
            message["content"] = body["content"] or ""
        if "embeds" in body:
            message["embeds"] = [{"type": "rich", **e} for e in body["embeds"] or []]
        if "components" in body:
            message["components"] = with_component_ids(body["components"] or [])
        if "attachments" in body or files:
            message["attachments"] = self._attachments(
                body, files, channel, existing=message["attachments"], ephemeral=ephemeral
            )
        if body.get("flags") is not None:
            # Only SUPPRESS_EMBEDS (and IS_COMPONENTS_V2) can be changed by an edit.
            changeable = (1 << 2) | (1 << 15)
            message["flags"] = (message["flags"] & ~changeable) | (int(body["flags"]) & changeable)
        message["flags"] &= ~clear_flags
        meta = self.state.message_meta[message["id"]]
        if "allowed_mentions" in body:
            meta.allowed_mentions = body["allowed_mentions"]
        self._apply_mentions(message, meta)
        if mark_edited:
            message["edited_timestamp"] = self.state.clock.iso()
        if not ephemeral:
            await self.dispatch("MESSAGE_UPDATE", self.gateway_payload(message), channel.guild_id)
        return message

    async def delete(self, message: dict[str, Any]) -> None:
        """Drop the message and dispatch MESSAGE_DELETE."""
        state = self.state
        state.messages.pop(message["id"], None)
        log = state.channel_log.get(message["channel_id"], [])
        if message["id"] in log:
            log.remove(message["id"])
        channel = state.channels.get(message["channel_id"])
        if message["flags"] & EPHEMERAL or channel is None:
            return
        data: dict[str, Any] = {"id": message["id"], "channel_id": message["channel_id"]}
        if channel.guild_id:
            data["guild_id"] = channel.guild_id
        await self.dispatch("MESSAGE_DELETE", data, channel.guild_id)


def with_component_ids(components: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Echo components with the numeric ``id`` Discord assigns to each one.

    A unicode emoji is echoed as ``{"name": "🔁"}``: clients send ``"id": null`` for it, but
    Discord's stored emoji (and the spec's response schema) has no null id.
    """
    out = copy.deepcopy(components)
    used = {c["id"] for c in walk(out) if isinstance(c.get("id"), int)}
    counter = 1
    for comp in walk(out):
        emoji = comp.get("emoji")
        if isinstance(emoji, dict) and emoji.get("id") is None:
            emoji.pop("id", None)
        if not isinstance(comp.get("id"), int):
            while counter in used:
                counter += 1
            comp["id"] = counter
            used.add(counter)
    return out
