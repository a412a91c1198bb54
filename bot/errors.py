"""The one error taxonomy that every layer raises and the central handler renders.

Providers map their documented errors onto :class:`ErrorKind`; the job layer decides
retry/failover/refund from the kind alone; the UI shows :attr:`SeedreamError.public_message`
to members. Messages never contain secrets: providers' raw bodies go to ``detail`` (logged,
scrubbed) and never to members.
"""

from __future__ import annotations

from enum import StrEnum


class ErrorKind(StrEnum):
    """Why something failed. The first seven come from providers (PRODUCT §3)."""

    MODERATION = "moderation"
    INVALID_INPUT = "invalid_input"
    RATE_LIMITED = "rate_limited"
    QUOTA = "quota"
    AUTH = "auth"
    TRANSIENT = "transient"
    TIMEOUT = "timeout"
    CONFIG = "config"
    REFUSED = "refused"
    INTERNAL = "internal"

    @property
    def retryable(self) -> bool:
        """Worth retrying on the same provider (after a back-off)."""
        return self in (ErrorKind.RATE_LIMITED, ErrorKind.TRANSIENT)

    @property
    def fails_over(self) -> bool:
        """Worth trying the next provider: never for moderation or invalid input."""
        return self in (
            ErrorKind.RATE_LIMITED,
            ErrorKind.TRANSIENT,
            ErrorKind.TIMEOUT,
            ErrorKind.QUOTA,
            ErrorKind.AUTH,
        )


_PUBLIC = {
    ErrorKind.MODERATION: "The request was rejected by the model's safety filter. "
    "Try a different prompt or image.",
    ErrorKind.RATE_LIMITED: "The image service is busy right now. Please try again in a minute.",
    ErrorKind.QUOTA: "The image service account has run out of credit. Please tell a server admin.",
    ErrorKind.AUTH: "The image service refused the bot's API key. Please tell a server admin.",
    ErrorKind.TRANSIENT: "The image service failed to answer. Please try again.",
    ErrorKind.TIMEOUT: "The image service took too long to answer. Please try again.",
    ErrorKind.CONFIG: "The bot is not configured for this. Please tell a server admin.",
    ErrorKind.INTERNAL: "Something went wrong on the bot's side.",
}


class SeedreamError(Exception):
    """Base of every expected failure.

    ``message`` is safe to show to members when ``kind`` is INVALID_INPUT or REFUSED (it names
    the limit or the reason); for other kinds members see a plain-words text per kind.
    """

    kind: ErrorKind = ErrorKind.INTERNAL

    def __init__(
        self,
        message: str,
        *,
        kind: ErrorKind | None = None,
        provider: str | None = None,
        retry_after: float | None = None,
        detail: str | None = None,
    ) -> None:
        super().__init__(message)
        if kind is not None:
            self.kind = kind
        self.message = message
        self.provider = provider
        self.retry_after = retry_after
        self.detail = detail

    @property
    def public_message(self) -> str:
        """What a member is told."""
        if self.kind in (ErrorKind.INVALID_INPUT, ErrorKind.REFUSED):
            return self.message
        return _PUBLIC[self.kind]

    def __str__(self) -> str:
        where = f"{self.provider}: " if self.provider else ""
        return f"{where}{self.message}"


class ConfigError(SeedreamError):
    """A missing or malformed setting; stops start-up with one line."""

    kind = ErrorKind.CONFIG


class InvalidInput(SeedreamError):
    """The request cannot be served as asked; the message names the limit."""

    kind = ErrorKind.INVALID_INPUT


class Refused(SeedreamError):
    """Policy or quota said no; the message says why (and when it resets)."""

    kind = ErrorKind.REFUSED


class ProviderError(SeedreamError):
    """A provider call failed; ``kind`` says how (set by the adapter's error mapping)."""

    kind = ErrorKind.TRANSIENT
