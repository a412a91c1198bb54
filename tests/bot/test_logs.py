"""Logging: job ids on every line, secrets scrubbed from messages, extras and tracebacks."""

from __future__ import annotations

import io
import logging
import pathlib
import re

from bot.logs import job_context, setup_logging


def test_job_id_and_secret_scrubbing() -> None:
    stream = io.StringIO()
    setup_logging("INFO", ["sk-very-secret"], stream=stream)
    log = logging.getLogger("test.logs")
    with job_context("abc123"):
        log.info("calling with %s", "Bearer sk-very-secret", extra={"header": "sk-very-secret"})
        try:
            raise RuntimeError("key sk-very-secret rejected")
        except RuntimeError:
            log.exception("boom")
    text = stream.getvalue()
    assert "sk-very-secret" not in text
    assert text.count("[redacted]") >= 3
    assert "job=abc123" in text
    assert "RuntimeError" in text


def test_no_log_call_uses_a_reserved_record_attribute_in_extra() -> None:
    """``extra={"thread": …}`` raises KeyError inside logging — only when that level is on."""
    reserved = set(vars(logging.LogRecord("n", 0, "p", 0, "m", None, None))) | {"message"}
    root = pathlib.Path(__file__).resolve().parents[2] / "bot"
    clashes = [
        f"{path.relative_to(root.parent)}: {key}"
        for path in root.rglob("*.py")
        for block in re.findall(r"extra=\{([^}]*)\}", path.read_text(), re.S)
        for key in re.findall(r'"(\w+)":', block)
        if key in reserved
    ]
    assert clashes == []
