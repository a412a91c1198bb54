"""Logging: job ids on every line, secrets scrubbed from messages, extras and tracebacks."""

from __future__ import annotations

import io
import logging

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
