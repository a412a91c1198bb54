"""Interaction records: what the fake dispatched and how the bot has responded so far.

Discord's rules live here: the initial response must come within ``ack_deadline`` seconds (3 s)
of dispatch or the interaction is unknown (10062); it can be acknowledged once (40060); the token
then works for 15 minutes of webhook calls (afterwards 401/50027). Times use the fake clock.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .errors import already_acknowledged, invalid_webhook_token, unknown_interaction

if TYPE_CHECKING:
    from .recording import Call, Recorder
    from .state import State

TOKEN_LIFETIME = 15 * 60.0

PING, APPLICATION_COMMAND, MESSAGE_COMPONENT, AUTOCOMPLETE, MODAL_SUBMIT = 1, 2, 3, 4, 5

CHANNEL_MESSAGE, DEFERRED_MESSAGE, DEFERRED_UPDATE, UPDATE_MESSAGE = 4, 5, 6, 7
AUTOCOMPLETE_RESULT, MODAL = 8, 9

#: Which callback types Discord accepts for each interaction type.
ALLOWED_CALLBACKS: dict[int, frozenset[int]] = {
    APPLICATION_COMMAND: frozenset({CHANNEL_MESSAGE, DEFERRED_MESSAGE, MODAL}),
    MESSAGE_COMPONENT: frozenset(
        {CHANNEL_MESSAGE, DEFERRED_MESSAGE, DEFERRED_UPDATE, UPDATE_MESSAGE, MODAL}
    ),
    AUTOCOMPLETE: frozenset({AUTOCOMPLETE_RESULT}),
    MODAL_SUBMIT: frozenset({CHANNEL_MESSAGE, DEFERRED_MESSAGE, DEFERRED_UPDATE, UPDATE_MESSAGE}),
}


@dataclass(eq=False)
class Interaction:
    """One dispatched interaction plus its response state; ``await`` helpers wait for the bot."""

    id: str
    token: str
    type: int
    payload: dict[str, Any] = field(repr=False)
    created_at: float
    channel_id: str
    user_id: str
    attachment_size_limit: int
    source_message_id: str | None = None
    opener_id: str | None = None
    ack_type: int | None = None
    original_id: str | None = None
    loading: bool = False
    ephemeral: bool = False
    followup_ids: list[str] = field(default_factory=list)
    modal: dict[str, Any] | None = None
    choices: list[dict[str, Any]] | None = None
    modal_submitted: bool = False
    _state: State | None = field(default=None, repr=False)
    _recorder: Recorder | None = field(default=None, repr=False)

    @property
    def acked(self) -> bool:
        return self.ack_type is not None

    @property
    def data(self) -> dict[str, Any]:
        return dict(self.payload.get("data") or {})

    # ----------------------------------------------------------------- Discord's rules
    def check_ack(self, now: float, deadline: float) -> None:
        if self.acked:
            raise already_acknowledged()
        if now - self.created_at > deadline:
            raise unknown_interaction()

    def check_token(self, now: float) -> None:
        if now - self.created_at > TOKEN_LIFETIME:
            raise invalid_webhook_token()

    def owns(self, message_id: str) -> bool:
        return message_id == self.original_id or message_id in self.followup_ids

    # ----------------------------------------------------------------- test helpers
    def _deps(self) -> tuple[State, Recorder]:
        assert self._state is not None and self._recorder is not None
        return self._state, self._recorder

    async def callback(self, timeout: float = 5.0) -> Call:
        """The bot's initial-response call (``POST /interactions/{id}/{token}/callback``)."""
        _, recorder = self._deps()
        prefix = f"/interactions/{self.id}/{self.token}/callback"
        calls = await recorder.wait_until(
            lambda: recorder.find("POST", prefix, exact=True),
            timeout=timeout,
            what=f"the callback of interaction {self.id}",
        )
        return calls[0]  # type: ignore[no-any-return]

    async def original(
        self,
        timeout: float = 5.0,
        predicate: Callable[[dict[str, Any]], bool] | None = None,
    ) -> dict[str, Any]:
        """``@original`` once it exists, is done loading and satisfies ``predicate``."""
        state, recorder = self._deps()

        def ready() -> dict[str, Any] | None:
            if self.original_id is None or self.loading:
                return None
            message = state.messages.get(self.original_id)
            if message is None or (predicate is not None and not predicate(message)):
                return None
            return message

        return await recorder.wait_until(  # type: ignore[no-any-return]
            ready, timeout=timeout, what=f"the original response of interaction {self.id}"
        )

    async def followups(self, count: int = 0, timeout: float = 5.0) -> list[dict[str, Any]]:
        """Follow-up messages (not the original), waiting until at least ``count`` exist."""
        state, recorder = self._deps()

        def current() -> list[dict[str, Any]] | None:
            found = [state.messages[m] for m in self.followup_ids if m in state.messages]
            return found if len(found) >= count else None

        if count == 0:
            return current() or []
        return await recorder.wait_until(  # type: ignore[no-any-return]
            current, timeout=timeout, what=f"{count} follow-ups of interaction {self.id}"
        )

    async def modal_shown(self, timeout: float = 5.0) -> dict[str, Any]:
        """The modal the bot opened in response (callback type 9)."""
        _, recorder = self._deps()
        return await recorder.wait_until(  # type: ignore[no-any-return]
            lambda: self.modal, timeout=timeout, what=f"a modal for interaction {self.id}"
        )
