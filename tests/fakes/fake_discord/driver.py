"""User actions a test performs: commands, clicks, modal submits, plain messages.

Every action builds the gateway payload Discord would send (INTERACTION_CREATE with the invoking
member's channel permissions, ``app_permissions``, locale, entitlements, integration owners,
context and ``attachment_size_limit``; MESSAGE_CREATE with ``member`` and ``referenced_message``)
and refuses what Discord's client would not let the user do, raising :class:`InvalidAction`.
"""

from __future__ import annotations

import base64
import secrets
from collections.abc import Mapping, Sequence
from typing import Any

from . import payloads
from . import permissions as P
from .cdn import CdnStore
from .commands import (
    CHAT_INPUT,
    MESSAGE_COMMAND,
    USER_COMMAND,
    OptionBuilder,
    check_usable,
    descend,
    find_command,
    wrap,
)
from .errors import InvalidAction
from .gateway import Gateway
from .interactions import (
    APPLICATION_COMMAND,
    AUTOCOMPLETE,
    MESSAGE_COMPONENT,
    MODAL_SUBMIT,
    Interaction,
)
from .limits import BUTTON, LINK_STYLE, PREMIUM_STYLE, SELECT_TYPES, walk
from .messages import EPHEMERAL, Messages
from .recording import Recorder
from .state import Channel, Settings, State, User

UserRef = User | str | int
ChannelRef = Channel | str | int
MessageRef = dict[str, Any] | str | int

STRING_SELECT, USER_SELECT, ROLE_SELECT, MENTIONABLE_SELECT, CHANNEL_SELECT = 3, 5, 6, 7, 8
TEXT_INPUT, TEXT_DISPLAY, LABEL, FILE_UPLOAD, ACTION_ROW = 4, 10, 18, 19, 1


def _token(interaction_id: str) -> str:
    raw = f"interaction:{interaction_id}:{secrets.token_urlsafe(48)}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


class Driver:
    """Builds and dispatches user actions."""

    def __init__(
        self,
        state: State,
        settings: Settings,
        cdn: CdnStore,
        messages: Messages,
        gateway: Gateway,
        recorder: Recorder,
    ) -> None:
        self.state = state
        self.settings = settings
        self.cdn = cdn
        self.messages = messages
        self.gateway = gateway
        self.recorder = recorder

    # ================================================================ envelope
    def _invoker(self, user: UserRef, channel: Channel, *, command: bool) -> User:
        invoker = self.state.user(user)
        guild = self.state.guild_of(channel)
        if guild is not None:
            if invoker.id not in guild.members:
                raise InvalidAction(f"{invoker.username} is not a member of {guild.name}")
            have = self.state.channel_permissions(channel, invoker.id)
            needed = P.VIEW_CHANNEL | (P.USE_APPLICATION_COMMANDS if command else 0)
            if not P.has(have, needed):
                raise InvalidAction(f"{invoker.username} cannot use that in #{channel.name}")
        elif invoker.id not in channel.recipients:
            raise InvalidAction(f"{invoker.username} is not in DM channel {channel.id}")
        return invoker

    async def _dispatch_interaction(
        self,
        itype: int,
        invoker: User,
        channel: Channel,
        data: dict[str, Any],
        *,
        message: dict[str, Any] | None = None,
        attachment_size_limit: int | None = None,
    ) -> Interaction:
        state = self.state
        guild = state.guild_of(channel)
        iid = state.new_id()
        limit = attachment_size_limit or self.settings.attachment_size_limit
        payload: dict[str, Any] = {
            "id": iid,
            "application_id": state.app_id,
            "type": itype,
            "token": _token(iid),
            "version": 1,
            "data": data,
            "channel": payloads.channel(
                state, channel, for_user=None if channel.is_dm else invoker.id
            ),
            "channel_id": channel.id,
            "app_permissions": str(state.channel_permissions(channel, state.bot.id)),
            "locale": invoker.locale,
            "entitlements": [],
            "authorizing_integration_owners": {"0": guild.id if guild else "0"},
            "context": 0 if guild else 1,
            "attachment_size_limit": limit,
        }
        if guild is not None:
            perms = state.channel_permissions(channel, invoker.id)
            payload.update(
                guild_id=guild.id,
                guild={"id": guild.id, "locale": guild.preferred_locale, "features": []},
                guild_locale=guild.preferred_locale,
                member=payloads.member(guild.members[invoker.id], permissions=perms),
            )
        else:
            payload["user"] = payloads.user(invoker)
        if message is not None:
            payload["message"] = message
        inter = Interaction(
            iid,
            payload["token"],
            itype,
            payload,
            state.clock.now(),
            channel.id,
            invoker.id,
            limit,
            source_message_id=message["id"] if message else None,
            _state=state,
            _recorder=self.recorder,
        )
        state.interactions[iid] = inter
        if not await self.gateway.dispatch(
            "INTERACTION_CREATE", payload, guild.id if guild else None
        ):
            raise RuntimeError(
                "no gateway session to deliver the interaction to; is the bot connected?"
            )
        return inter

    # ================================================================ application commands
    def _command_data(
        self,
        name: str,
        options: Mapping[str, Any] | None,
        invoker: UserRef,
        channel: ChannelRef,
        focused: str | None,
    ) -> tuple[User, Channel, dict[str, Any]]:
        chan = self.state.channel(channel)
        user = self._invoker(invoker, chan, command=True)
        top, *path = name.split()
        guild = self.state.guild_of(chan)
        cmd = find_command(self.state, top, CHAT_INPUT, guild.id if guild else None)
        check_usable(self.state, cmd, chan, user)
        definitions, wrappers = descend(cmd, path)
        builder = OptionBuilder(self.state, self.cdn, guild=guild, channel=chan, invoker=user)
        leaf = builder.build(definitions, options or {}, focused=focused)
        data: dict[str, Any] = {"id": cmd["id"], "name": cmd["name"], "type": CHAT_INPUT}
        built = wrap(leaf, wrappers)
        if built:
            data["options"] = built
        if builder.resolved:
            data["resolved"] = builder.resolved
        if cmd.get("guild_id"):
            data["guild_id"] = cmd["guild_id"]
        return user, chan, data

    async def slash(
        self,
        name: str,
        options: Mapping[str, Any] | None = None,
        *,
        user: UserRef = "alice",
        channel: ChannelRef = "general",
        attachment_size_limit: int | None = None,
    ) -> Interaction:
        invoker, chan, data = self._command_data(name, options, user, channel, None)
        return await self._dispatch_interaction(
            APPLICATION_COMMAND, invoker, chan, data, attachment_size_limit=attachment_size_limit
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
        invoker, chan, data = self._command_data(name, options, user, channel, focused)
        inter = await self._dispatch_interaction(AUTOCOMPLETE, invoker, chan, data)
        return await self.recorder.wait_until(  # type: ignore[no-any-return]
            lambda: inter.choices if inter.choices is not None else None,
            timeout=timeout,
            what=f"autocomplete choices for {name!r}",
        )

    async def _context_menu(
        self, name: str, ctype: int, target_id: str, builder_fill: Any, user: UserRef, chan: Channel
    ) -> Interaction:
        invoker = self._invoker(user, chan, command=True)
        guild = self.state.guild_of(chan)
        cmd = find_command(self.state, name, ctype, guild.id if guild else None)
        check_usable(self.state, cmd, chan, invoker)
        builder = OptionBuilder(self.state, self.cdn, guild=guild, channel=chan, invoker=invoker)
        builder_fill(builder)
        data: dict[str, Any] = {
            "id": cmd["id"],
            "name": cmd["name"],
            "type": ctype,
            "target_id": target_id,
            "resolved": builder.resolved,
        }
        if cmd.get("guild_id"):
            data["guild_id"] = cmd["guild_id"]
        return await self._dispatch_interaction(APPLICATION_COMMAND, invoker, chan, data)

    async def message_command(
        self, name: str, message: MessageRef, *, user: UserRef = "alice"
    ) -> Interaction:
        """Message context menu; the target's content is included even without the intent."""
        msg = self.state.message(message)
        if msg["flags"] & EPHEMERAL:
            raise InvalidAction("context menus cannot target ephemeral messages")
        chan = self.state.channels[msg["channel_id"]]
        served = self.messages.serve(msg)
        return await self._context_menu(
            name, MESSAGE_COMMAND, msg["id"], lambda b: b.add_message(served), user, chan
        )

    async def user_command(
        self,
        name: str,
        target: UserRef,
        *,
        user: UserRef = "alice",
        channel: ChannelRef = "general",
    ) -> Interaction:
        chan = self.state.channel(channel)
        target_user = self.state.user(target)
        return await self._context_menu(
            name, USER_COMMAND, target_user.id, lambda b: b.add_user(target_user), user, chan
        )

    # ================================================================ components
    async def click(
        self,
        message: MessageRef,
        custom_id: str,
        *,
        user: UserRef = "alice",
        values: Sequence[Any] | None = None,
    ) -> Interaction:
        """Press a button or choose select values on a message the bot sent."""
        msg = self.state.message(message)
        comp = next(
            (c for c in walk(msg.get("components")) if c.get("custom_id") == custom_id), None
        )
        if comp is None:
            present = [
                c.get("custom_id") for c in walk(msg.get("components")) if c.get("custom_id")
            ]
            raise InvalidAction(
                f"message {msg['id']} has no component {custom_id!r} (has {present})"
            )
        if comp.get("disabled"):
            raise InvalidAction(f"component {custom_id!r} is disabled")
        if comp["type"] == BUTTON and comp.get("style") in (LINK_STYLE, PREMIUM_STYLE):
            raise InvalidAction("link and premium buttons do not create interactions")
        chan = self.state.channels[msg["channel_id"]]
        invoker = self._invoker(user, chan, command=False)
        data: dict[str, Any] = {
            "custom_id": custom_id,
            "component_type": comp["type"],
            "id": comp.get("id"),
        }
        if comp["type"] in SELECT_TYPES:
            data.update(self._select_values(comp, list(values or []), chan, invoker))
        elif values:
            raise InvalidAction("buttons take no values")
        return await self._dispatch_interaction(
            MESSAGE_COMPONENT, invoker, chan, data, message=self.messages.serve(msg)
        )

    def _select_values(
        self, comp: dict[str, Any], values: list[Any], chan: Channel, invoker: User
    ) -> dict[str, Any]:
        low, high = comp.get("min_values", 1), comp.get("max_values", 1)
        if not low <= len(values) <= high:
            raise InvalidAction(
                f"select {comp['custom_id']!r} takes {low}..{high} values, got {len(values)}"
            )
        if comp["type"] == STRING_SELECT:
            allowed = [o["value"] for o in comp.get("options", [])]
            bad = [v for v in values if v not in allowed]
            if bad:
                raise InvalidAction(f"select {comp['custom_id']!r}: {bad} not among {allowed}")
            return {"values": list(values)}
        guild = self.state.guild_of(chan)
        builder = OptionBuilder(self.state, self.cdn, guild=guild, channel=chan, invoker=invoker)
        kinds = {USER_SELECT: 6, ROLE_SELECT: 8, MENTIONABLE_SELECT: 9, CHANNEL_SELECT: 7}
        ids = [
            builder.value({"name": comp["custom_id"], "type": kinds[comp["type"]]}, v)
            for v in values
        ]
        return {"values": ids, "resolved": builder.resolved}

    # ================================================================ modals
    def _modal_source(self, source: Interaction | Mapping[str, Any]) -> Interaction:
        if isinstance(source, Interaction):
            if source.modal is None:
                raise InvalidAction(f"interaction {source.id} did not open a modal")
            return source
        custom_id = source.get("custom_id") or (source.get("data") or {}).get("custom_id")
        for inter in reversed(list(self.state.interactions.values())):
            if inter.modal is not None and inter.modal.get("custom_id") == custom_id:
                return inter
        raise InvalidAction(f"no open modal with custom_id {custom_id!r}")

    async def submit_modal(
        self,
        source: Interaction | Mapping[str, Any],
        values: Mapping[str, Any],
        *,
        user: UserRef | None = None,
    ) -> Interaction:
        """Fill and submit the modal the bot opened (Label/type 18 and ActionRow/type 1 layouts)."""
        opener = self._modal_source(source)
        modal = opener.modal
        assert modal is not None
        if opener.modal_submitted:
            raise InvalidAction("that modal was already submitted and closed")
        chan = self.state.channels[opener.channel_id]
        invoker = self._invoker(user if user is not None else opener.user_id, chan, command=False)
        builder = OptionBuilder(
            self.state, self.cdn, guild=self.state.guild_of(chan), channel=chan, invoker=invoker
        )
        remaining = dict(values)
        components = [self._submitted(c, remaining, builder) for c in modal["components"]]
        if remaining:
            raise InvalidAction(f"modal {modal['custom_id']!r} has no inputs {sorted(remaining)}")
        data: dict[str, Any] = {"custom_id": modal["custom_id"], "components": components}
        if builder.resolved:
            data["resolved"] = builder.resolved
        source_message = None
        if opener.source_message_id and opener.source_message_id in self.state.messages:
            source_message = self.messages.serve(self.state.messages[opener.source_message_id])
        opener.modal_submitted = True
        submitted = await self._dispatch_interaction(
            MODAL_SUBMIT, invoker, chan, data, message=source_message
        )
        submitted.opener_id = opener.id
        return submitted

    def _submitted(
        self, comp: dict[str, Any], values: dict[str, Any], builder: OptionBuilder
    ) -> dict[str, Any]:
        ctype = comp["type"]
        if ctype == ACTION_ROW:
            return {
                "type": ctype,
                "id": comp.get("id"),
                "components": [self._submitted(c, values, builder) for c in comp["components"]],
            }
        if ctype == LABEL:
            return {
                "type": ctype,
                "id": comp.get("id"),
                "component": self._submitted(comp["component"], values, builder),
            }
        custom_id = comp.get("custom_id")
        if custom_id is None:
            return {"type": ctype, "id": comp.get("id")}
        out: dict[str, Any] = {"type": ctype, "id": comp.get("id"), "custom_id": custom_id}
        provided = custom_id in values
        value = values.pop(custom_id, None)
        required = comp.get("required", True)
        if ctype == TEXT_INPUT:
            text = value if provided else comp.get("value") or ""
            if not isinstance(text, str):
                raise InvalidAction(f"text input {custom_id!r} takes a string")
            if required and not text:
                raise InvalidAction(f"text input {custom_id!r} is required")
            if text and not comp.get("min_length", 0) <= len(text) <= comp.get("max_length", 4000):
                raise InvalidAction(
                    f"text input {custom_id!r}: length {len(text)} outside the allowed range"
                )
            out["value"] = text
        elif ctype == FILE_UPLOAD:
            files = list(value or [])
            low, high = comp.get("min_values", 1 if required else 0), comp.get("max_values", 1)
            if not low <= len(files) <= high:
                raise InvalidAction(f"file upload {custom_id!r} takes {low}..{high} files")
            out["values"] = [builder.add_attachment(f) for f in files]
        elif ctype in SELECT_TYPES:
            chosen = list(value or [])
            if required and not chosen:
                raise InvalidAction(f"select {custom_id!r} is required")
            out.update(
                self._select_values(
                    {**comp, "min_values": comp.get("min_values", 1 if required else 0)},
                    chosen,
                    builder.channel,
                    builder.invoker,
                )
            )
            builder.resolved.update(out.pop("resolved", {}))
        return out

    # ================================================================ plain messages
    def _repost(self, attachment: Mapping[str, Any], channel: Channel) -> dict[str, Any]:
        """Uploading a file with a message gives it a new id under that channel, like Discord."""
        source = self.cdn.files.get(str(attachment["id"]))
        if source is None:
            raise InvalidAction(f"attachment {attachment['id']} is not in the fake CDN")
        stored = self.cdn.put(
            self.state.new_id(),
            channel.id,
            source.filename,
            source.data,
            content_type=source.content_type,
            description=source.description,
        )
        return self.cdn.attachment(stored)

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
        """A member posts a message; dispatches MESSAGE_CREATE and returns the stored message.

        ``<@BOT>`` in ``content`` is shorthand for a mention of the bot.
        """
        content = content.replace("<@BOT>", self.state.bot.mention)
        chan = self.state.channel(channel)
        user = self.state.user(author)
        guild = self.state.guild_of(chan)
        if guild is not None:
            if user.id not in guild.members:
                raise InvalidAction(f"{user.username} is not a member of {guild.name}")
            needed = P.VIEW_CHANNEL | (
                P.SEND_MESSAGES_IN_THREADS if chan.is_thread else P.SEND_MESSAGES
            )
            if attachments:
                needed |= P.ATTACH_FILES
            if not P.has(self.state.channel_permissions(chan, user.id), needed):
                raise InvalidAction(f"{user.username} may not post that in #{chan.name}")
        elif user.id not in chan.recipients:
            raise InvalidAction(f"{user.username} is not in DM channel {chan.id}")
        if len(content) > 2000:
            raise InvalidAction("users without Nitro cannot send more than 2000 characters")
        body: dict[str, Any] = {"content": content, "embeds": list(embeds)}
        if reply_to is not None:
            body["message_reference"] = {"message_id": self.state.message(reply_to)["id"]}
            if not mention_author:
                body["allowed_mentions"] = {
                    "parse": ["users", "roles", "everyone"],
                    "replied_user": False,
                }
        atts = [self._repost(a, chan) for a in attachments]
        msg = await self.messages.create(chan, user, body, attachments=atts, announce=False)
        present = {u["id"] for u in msg["mentions"]}
        for ref in mentions:
            extra = self.state.user(ref)
            if extra.id not in present:
                msg["mentions"].append(payloads.user(extra))
                present.add(extra.id)
        await self.gateway.dispatch(
            "MESSAGE_CREATE", self.messages.gateway_payload(msg), chan.guild_id
        )
        return msg
