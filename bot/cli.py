"""``seedream-bot run | generate | check`` (PRODUCT §6).

Every failure ends with one line on stderr and a non-zero exit status, never a traceback:
2 configuration or usage, 3 request refused before any provider call, 4 moderation rejection,
1 any other failure (provider, network).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import aiohttp
import discord

from bot import images
from bot.config import PROVIDER_NAMES, Settings, load_settings
from bot.errors import ConfigError, ErrorKind, SeedreamError
from bot.jobs.model import Generated, Job, JobState, Stage, new_job_id
from bot.jobs.runner import JobRunner, Limits
from bot.logs import SecretScrubber, setup_logging
from bot.providers import ADAPTERS, build_router, enabled_providers
from bot.providers.base import http_session
from bot.providers.download import MAX_RESULT_BYTES, download
from bot.providers.models import Reference
from bot.quota import Ledger
from bot.requests import build_request, parse_size
from bot.storage.db import Database

log = logging.getLogger("bot.cli")

EXIT_FAILED, EXIT_CONFIG, EXIT_REFUSED, EXIT_MODERATION = 1, 2, 3, 4


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="seedream-bot", description="Seedream Discord bot")
    sub = p.add_subparsers(dest="verb")
    sub.add_parser("run", help="start the bot (default)")
    gen = sub.add_parser("generate", help="one generation without Discord")
    gen.add_argument("prompt")
    gen.add_argument("--model")
    gen.add_argument("--provider", choices=PROVIDER_NAMES)
    gen.add_argument("--image", action="append", default=[], metavar="FILE_OR_URL")
    gen.add_argument("--size", help="1K, 2K, 4K or WIDTHxHEIGHT")
    gen.add_argument("--aspect", help="1:1, 4:3, 3:4, 16:9, 9:16, 3:2, 2:3, 21:9 or match")
    gen.add_argument("--count", type=int, default=1)
    gen.add_argument("--seed", type=int)
    gen.add_argument("--out", default=".", help="directory to save images in (created)")
    sub.add_parser("check", help="validate configuration and database, list providers")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    verb = args.verb or "run"
    try:
        settings = load_settings()
    except ConfigError as exc:
        return _fail(str(exc), EXIT_CONFIG)
    quiet = verb != "run" and "log_level" not in settings.model_fields_set
    setup_logging("WARNING" if quiet else settings.log_level, settings.secrets())
    scrub = SecretScrubber(settings.secrets()).scrub
    try:
        if verb == "run":
            return run(settings)
        if verb == "generate":
            return asyncio.run(generate(settings, args))
        return asyncio.run(check(settings))
    except KeyboardInterrupt:
        return 130
    except ConfigError as exc:
        return _fail(scrub(str(exc)), EXIT_CONFIG)
    except SeedreamError as exc:
        status = {
            ErrorKind.INVALID_INPUT: EXIT_REFUSED,
            ErrorKind.REFUSED: EXIT_REFUSED,
            ErrorKind.MODERATION: EXIT_MODERATION,
        }.get(exc.kind, EXIT_FAILED)
        return _fail(scrub(cli_message(exc)), status)
    except OSError as exc:
        return _fail(
            scrub(f"{exc.strerror or exc}: {exc.filename or ''}".rstrip(": ")), EXIT_FAILED
        )


def cli_message(exc: SeedreamError) -> str:
    """Precise enough for an admin checking keys; the kind says what to do."""
    if exc.kind is ErrorKind.MODERATION:
        return f"rejected by the model's safety filter ({exc})"
    if exc.kind in (ErrorKind.INVALID_INPUT, ErrorKind.REFUSED):
        return str(exc)
    return f"{exc.kind.value.replace('_', ' ')}: {exc}"


def _fail(message: str, status: int) -> int:
    print(f"error: {message}", file=sys.stderr)
    return status


# --- run ---------------------------------------------------------------------------------


def run(settings: Settings) -> int:
    """Start the bot until it is stopped (SIGINT/SIGTERM close it cleanly)."""
    if settings.discord_token is None or not settings.discord_token.get_secret_value().strip():
        raise ConfigError("DISCORD_TOKEN is missing: set it in the environment or in .env")
    if not enabled_providers(settings):
        keys = ", ".join(f"{name.upper()}_API_KEY" for name in ADAPTERS)
        raise ConfigError(f"no provider is enabled: set {keys}")
    return asyncio.run(_run_bot(settings))


async def _run_bot(settings: Settings) -> int:
    from bot.client import SeedreamBot, apply_discord_endpoints

    apply_discord_endpoints(settings)
    bot = SeedreamBot(settings)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, lambda: asyncio.ensure_future(bot.close()))
    assert settings.discord_token is not None
    try:
        await bot.start(settings.discord_token.get_secret_value().strip())
    except discord.LoginFailure:
        raise ConfigError("Discord rejected DISCORD_TOKEN (401 Unauthorized)") from None
    except discord.PrivilegedIntentsRequired:
        raise ConfigError(
            "the bot asked for an intent not enabled in the Developer Portal"
        ) from None
    finally:
        await bot.close()  # start() returns once Discord is closed; finish our own cleanup
    return 0


# --- generate ----------------------------------------------------------------------------


class FileDelivery:
    """Saves results to a directory and prints each path on its own line."""

    upload_limit = MAX_RESULT_BYTES

    def __init__(self, out: Path) -> None:
        self.out = out
        self.paths: list[Path] = []

    async def queued(self, job: Job, position: int) -> None:
        """The CLI runs its job at once: never queued."""

    async def progress(
        self, job: Job, stage: Stage, size: tuple[int, int], percent: int | None
    ) -> None:
        log.info(
            "generate",
            extra={"stage": stage.value, "size": f"{size[0]}x{size[1]}", "progress": percent},
        )

    async def failed(self, job: Job, error: SeedreamError) -> None:
        """The error reaches the user as the command's one-line message instead."""

    async def cancelled(self, job: Job) -> None:
        """CLI jobs cannot be cancelled from Discord."""

    async def host(self, references: Sequence[Reference]) -> tuple[Reference, ...]:
        """No Discord to host files on: URL-only providers get only the URLs given."""
        return tuple(references)

    async def deliver(self, generated: Generated) -> int | None:
        self.out.mkdir(parents=True, exist_ok=True)
        for output in generated.outputs:
            path = self.out / output.filename
            await asyncio.to_thread(path.write_bytes, output.data)
            self.paths.append(path)
            print(path, flush=True)
        return None


async def generate(settings: Settings, args: argparse.Namespace) -> int:
    async with http_session() as session:
        router = build_router(settings, session)
        if not router.providers:
            keys = ", ".join(f"{name.upper()}_API_KEY" for name in ADAPTERS)
            raise ConfigError(f"no provider is enabled: set {keys}")
        resolution, size = parse_size(args.size) if args.size else (None, None)
        references = tuple([await load_reference(session, item) for item in args.image])
        request = build_request(
            settings,
            router.models,
            prompt=args.prompt,
            model=args.model,
            aspect=args.aspect,
            resolution=resolution.value if resolution else None,
            size=size,
            count=args.count,
            seed=args.seed,
            references=references,
        )
        router.check(request, args.provider)
        db = Database(settings.database_path)
        await db.open()
        try:
            runner = JobRunner(db, router, session, Ledger(db, settings), Limits(1, 1, 1))
            job = Job(
                id=new_job_id(),
                source="cli",
                state=JobState.QUEUED,
                request=request,
                provider=args.provider,
                created_at=time.time(),
            )
            await runner.admit(job)
            await runner.run_inline(job, FileDelivery(Path(args.out)))
        finally:
            await db.close()
            images.shutdown_process_pool()
    return 0


async def load_reference(session: aiohttp.ClientSession, source: str) -> Reference:
    """A local file (sent inline) or an http(s) URL (passed on to the provider)."""
    if source.startswith(("http://", "https://")):
        data = await download(session, source, provider="reference")
        name = source
    else:
        path = Path(source)
        data = await asyncio.to_thread(path.read_bytes)
        name = path.name
    try:
        info = await images.run_off_loop(images.probe, data)
    except ValueError as exc:
        raise SeedreamError(f"{name}: {exc}", kind=ErrorKind.INVALID_INPUT) from None
    if source.startswith(("http://", "https://")):
        return Reference(filename=name, url=source, width=info.width, height=info.height)
    return Reference(filename=name, data=data, mime=info.mime, width=info.width, height=info.height)


# --- check -------------------------------------------------------------------------------


async def check(settings: Settings) -> int:
    """Validate the configuration and database; list providers and models. No network."""
    problems = []
    db = Database(settings.database_path)
    await db.open()
    version = await db.scalar("PRAGMA user_version")
    await db.close()
    print(f"database: {settings.database_path} (schema version {version})")
    token = "set" if settings.discord_token else "MISSING (needed for run)"
    print(f"discord token: {token}")
    enabled = enabled_providers(settings)
    models: set[str] = set()
    print("providers, in order:")
    for name in settings.seedream_providers:
        if name not in ADAPTERS:
            state = "not available in this version"
        elif settings.api_key(name) is None:
            state = f"disabled (no {name.upper()}_API_KEY)"
        else:
            offered = list(ADAPTERS[name].caps)
            models.update(offered)
            state = f"enabled, {settings.base_url(name)}, models: {', '.join(offered)}"
        print(f"  {name}: {state}")
    if not enabled:
        problems.append("no provider is enabled")
    default = settings.seedream_default_model
    if enabled and default not in models:
        problems.append(f"SEEDREAM_DEFAULT_MODEL {default} is not offered by any enabled provider")
    print(f"default model: {default}")
    print(f"models: {', '.join(sorted(models)) or 'none'}")
    for problem in problems:
        print(f"problem: {problem}", file=sys.stderr)
    print("check: " + ("ok" if not problems else f"{len(problems)} problem(s)"))
    return EXIT_CONFIG if problems else 0
