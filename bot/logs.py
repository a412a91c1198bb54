"""Structured logging: one ``key=value`` line per event, with the job id attached.

Two guarantees live here rather than at every call site: a job id set with :func:`job_context`
appears on every line logged while that job runs, and every configured secret is scrubbed from
every line (message, arguments and traceback) before it is written.
"""

from __future__ import annotations

import contextvars
import logging
import sys
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

_job_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("job_id", default=None)
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime"}
REDACTED = "[redacted]"


@contextmanager
def job_context(job_id: str) -> Iterator[None]:
    """Tag every log line in this block (and tasks it starts) with ``job=<id>``."""
    token = _job_id.set(job_id)
    try:
        yield
    finally:
        _job_id.reset(token)


def current_job() -> str | None:
    """The job id of the running context, if any."""
    return _job_id.get()


def _install_job_ids() -> None:
    """Stamp ``record.job`` when a record is created, so every handler (ours, pytest's caplog,
    anything an operator adds) sees which job a line belongs to."""
    previous = logging.getLogRecordFactory()
    if getattr(previous, "_seedream", False):
        return

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        job = _job_id.get()
        if job is not None:
            record.job = job
        return record

    factory._seedream = True  # type: ignore[attr-defined]
    logging.setLogRecordFactory(factory)


_install_job_ids()


class SecretScrubber(logging.Filter):
    """Replaces every known secret with ``[redacted]`` in the final text of a record."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        self.secrets: list[str] = sorted({s for s in secrets if s}, key=len, reverse=True)

    def scrub(self, text: str) -> str:
        for secret in self.secrets:
            if secret in text:
                text = text.replace(secret, REDACTED)
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        if not self.secrets:
            return True
        record.msg = self.scrub(record.getMessage())
        record.args = None
        if record.exc_info and record.exc_info[1] is not None:
            record.exc_text = self.scrub(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        for key, value in list(vars(record).items()):
            if key not in _STANDARD and isinstance(value, str):
                setattr(record, key, self.scrub(value))
        return True


class KeyValueFormatter(logging.Formatter):
    """``2026-11-21T10:00:00 INFO bot.jobs msg="..." job=abc provider=myrouter``."""

    def format(self, record: logging.LogRecord) -> str:
        fields: dict[str, Any] = {"msg": record.getMessage()}
        job = getattr(record, "job", None)
        if job:
            fields["job"] = job
        for key, value in vars(record).items():
            if key not in _STANDARD and key != "job" and not key.startswith("_"):
                fields[key] = value
        text = " ".join(f"{key}={_quote(value)}" for key, value in fields.items())
        stamp = self.formatTime(record, "%Y-%m-%dT%H:%M:%S")
        line = f"{stamp} {record.levelname} {record.name} {text}"
        if record.exc_info:
            record.exc_text = record.exc_text or self.formatException(record.exc_info)
        if record.exc_text:
            line += "\n" + record.exc_text
        return line


def _quote(value: object) -> str:
    text = str(value)
    if text and all(c.isalnum() or c in "._-:/@" for c in text):
        return text
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def setup_logging(level: str = "INFO", secrets: Iterable[str] = (), stream: Any = None) -> None:
    """Install the formatter and scrubber on the root logger (idempotent)."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, "_seedream", False):
            root.removeHandler(handler)
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(KeyValueFormatter())
    handler.addFilter(SecretScrubber(secrets))
    handler._seedream = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(level)
    # Libraries whose DEBUG output is noise (one line per SQLite call, per websocket frame).
    for noisy in ("discord", "aiosqlite"):
        logging.getLogger(noisy).setLevel(max(logging.getLevelName(level), logging.INFO))
