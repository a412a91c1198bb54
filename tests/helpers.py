"""Small helpers shared by tests: real images, and the CLI run as a real subprocess."""

from __future__ import annotations

import asyncio
import io
import os
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PIL import Image

from bot.storage import jobs as job_rows

if TYPE_CHECKING:
    from bot.client import SeedreamBot
    from tests.fakes.fake_discord import FakeDiscord

REPO = Path(__file__).resolve().parent.parent


def png_bytes(
    width: int = 64, height: int = 64, color: tuple[int, int, int] = (200, 30, 30)
) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), color).save(out, "PNG")
    return out.getvalue()


@dataclass
class Completed:
    returncode: int
    stdout: str
    stderr: str


def cli_env(env: dict[str, str] | None = None) -> dict[str, str]:
    """A minimal environment for the CLI: no developer keys leak in."""
    keep = ("PATH", "HOME", "LANG", "SYSTEMROOT")
    full_env = {k: v for k, v in os.environ.items() if k in keep}
    full_env["PYTHONPATH"] = str(REPO)
    full_env.update(env or {})
    return full_env


async def start_cli(
    *args: str, env: dict[str, str], cwd: Path, log: Path
) -> asyncio.subprocess.Process:
    """Start ``python -m bot ARGS`` in the background, its output going to ``log``."""
    with log.open("wb") as out:
        return await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bot",
            *args,
            stdout=out,
            stderr=asyncio.subprocess.STDOUT,
            env=cli_env(env),
            cwd=cwd,
        )


async def run_cli(
    *args: str, env: dict[str, str] | None = None, cwd: Path | None = None, timeout: float = 60
) -> Completed:
    """Run ``python -m bot ARGS`` without blocking the loop that serves the fakes."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=cli_env(env),
        cwd=cwd,
    )
    out, err = await asyncio.wait_for(proc.communicate(), timeout)
    assert proc.returncode is not None
    return Completed(proc.returncode, out.decode(), err.decode())


def replies_to(fake: FakeDiscord, message: dict[str, Any]) -> list[dict[str, Any]]:
    """The bot's messages that reply to ``message``, oldest first."""
    return [
        m
        for m in fake.channel_messages("general")
        if m["author"]["id"] == fake.bot.id
        and (m.get("message_reference") or {}).get("message_id") == message["id"]
    ]


def has_image(message: dict[str, Any]) -> bool:
    """The message carries at least one attachment."""
    return bool(message.get("attachments"))


def is_result(message: dict[str, Any]) -> bool:
    """A result message: an image and the result buttons."""
    return bool(message.get("attachments")) and bool(message.get("components"))


async def result_for(
    fake: FakeDiscord, message: dict[str, Any], timeout: float = 30
) -> dict[str, Any]:
    """The bot's reply to ``message`` once it carries an image and the result buttons."""

    def done() -> dict[str, Any] | None:
        return next((m for m in replies_to(fake, message) if is_result(m)), None)

    found: dict[str, Any] = await fake.wait_until(done, timeout=timeout, what="the result")
    return found


def attachments(count: int) -> Callable[[dict[str, Any]], bool]:
    """A predicate: the message carries exactly ``count`` attachments."""
    return lambda message: len(message.get("attachments") or []) == count


def custom_ids(message: dict[str, Any]) -> list[str]:
    """Every component custom_id of a message, in order."""
    return [
        component["custom_id"]
        for row in message.get("components") or []
        for component in row.get("components") or []
        if "custom_id" in component
    ]


def job_of(message: dict[str, Any]) -> str:
    """The job id carried by a result message's buttons (they must all agree)."""
    jobs = {custom_id.rsplit(":", 1)[1] for custom_id in custom_ids(message)}
    assert len(jobs) == 1, custom_ids(message)
    job_id = jobs.pop()
    assert re.fullmatch(r"[0-9a-f]{12}", job_id), job_id
    return job_id


async def quota_of(fake: FakeDiscord, user: str = "alice") -> str:
    """What ``/quota`` privately tells ``user`` (``**N of M** images used …``)."""
    inter = await fake.slash("quota", user=user)
    ack = await inter.callback()
    assert ack.json["data"]["flags"] & 64, ack.json
    return str(ack.json["data"]["content"])


async def finished(bot: SeedreamBot, job_id: str, timeout: float = 30) -> dict[str, Any]:
    """The job's row once it reached a final state (a result shows a moment before)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        row = await job_rows.get(bot.db, job_id)
        if row is not None and row["state"] in job_rows.FINAL_STATES:
            return row
        assert asyncio.get_running_loop().time() < deadline, f"job {job_id} still {row}"
        await asyncio.sleep(0.05)
