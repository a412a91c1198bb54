"""Discord-shaped API errors.

Handlers raise :class:`DiscordError`; the HTTP layer turns it into the JSON body Discord sends
(``{"message": ..., "code": ...}`` plus ``"errors"`` for form errors), so discord.py builds the same
``HTTPException``/``NotFound``/``Forbidden`` it would in production. ``problem=True`` marks errors
that only a buggy bot can cause (malformed bodies); those also land in ``fake.problems``.
"""

from __future__ import annotations

from typing import Any


class DiscordError(Exception):
    """An error reply with Discord's status, JSON error code and message."""

    def __init__(
        self,
        status: int,
        code: int,
        message: str,
        *,
        errors: dict[str, Any] | None = None,
        problem: bool = False,
    ) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.errors = errors
        self.problem = problem

    def body(self) -> dict[str, Any]:
        """The JSON body Discord would send."""
        out: dict[str, Any] = {"message": self.message, "code": self.code}
        if self.errors:
            out["errors"] = self.errors
        return out


class InvalidAction(ValueError):
    """Raised *in the test* when a driver call asks for something Discord's client would refuse."""


def field_errors(path: list[str | int], code: str, message: str) -> dict[str, Any]:
    """Nest one error under its field path the way Discord formats form errors."""
    node: dict[str, Any] = {"_errors": [{"code": code, "message": message}]}
    for key in reversed(path):
        node = {str(key): node}
    return node


def merge_errors(target: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    """Deep-merge two Discord error trees (several violations in one reply)."""
    for key, value in extra.items():
        if key == "_errors":
            target.setdefault("_errors", []).extend(value)
        elif isinstance(value, dict):
            merge_errors(target.setdefault(key, {}), value)
    return target


def form_error(path: list[str | int], code: str, message: str) -> DiscordError:
    """400 / 50035 "Invalid Form Body" for one field — a bot bug, so recorded as a problem."""
    return DiscordError(
        400, 50035, "Invalid Form Body", errors=field_errors(path, code, message), problem=True
    )


def max_length(path: list[str | int], limit: int) -> DiscordError:
    return form_error(path, "BASE_TYPE_MAX_LENGTH", f"Must be {limit} or fewer in length.")


def min_length(path: list[str | int], limit: int) -> DiscordError:
    return form_error(path, "BASE_TYPE_MIN_LENGTH", f"Must be {limit} or more in length.")


def unauthorized() -> DiscordError:
    return DiscordError(401, 0, "401: Unauthorized")


class UnknownEntity(DiscordError, LookupError):
    """404 "Unknown <kind>"; also a LookupError so test code can catch failed lookups naturally."""


def unknown(kind: str, code: int) -> DiscordError:
    """404 "Unknown <kind>" (Unknown Channel 10003, Unknown Message 10008, ...)."""
    return UnknownEntity(404, code, f"Unknown {kind}")


UNKNOWN_CHANNEL = 10003
UNKNOWN_GUILD = 10004
UNKNOWN_MEMBER = 10007
UNKNOWN_MESSAGE = 10008
UNKNOWN_ROLE = 10011
UNKNOWN_USER = 10013
UNKNOWN_WEBHOOK = 10015
UNKNOWN_INTERACTION = 10062
UNKNOWN_COMMAND = 10063


def unknown_interaction() -> DiscordError:
    return DiscordError(404, UNKNOWN_INTERACTION, "Unknown interaction")


def already_acknowledged() -> DiscordError:
    return DiscordError(400, 40060, "Interaction has already been acknowledged.")


def invalid_webhook_token() -> DiscordError:
    return DiscordError(401, 50027, "Invalid Webhook Token")


def too_large() -> DiscordError:
    return DiscordError(413, 40005, "Request entity too large")


def missing_permissions() -> DiscordError:
    return DiscordError(403, 50013, "Missing Permissions")


def missing_access() -> DiscordError:
    return DiscordError(403, 50001, "Missing Access")


def empty_message() -> DiscordError:
    return DiscordError(400, 50006, "Cannot send an empty message", problem=True)


def not_author() -> DiscordError:
    return DiscordError(403, 50005, "Cannot edit a message authored by another user")


def thread_exists() -> DiscordError:
    return DiscordError(400, 160004, "A thread has already been created for this message")


def wrong_channel_type() -> DiscordError:
    return DiscordError(400, 50024, "Cannot execute action on this channel type")


def cannot_dm() -> DiscordError:
    return DiscordError(403, 50007, "Cannot send messages to this user")
