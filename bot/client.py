"""The bot: wires settings, HTTP session, database, providers, cogs and the error handler."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging

import aiohttp
import discord
import yarl
from discord import app_commands
from discord.ext import commands

from bot import images
from bot.config import Settings
from bot.jobs.model import Job
from bot.jobs.recovery import RecoveryReport, recover
from bot.jobs.runner import JobRunner, Limits
from bot.moderation.policy import Moderation
from bot.providers import Router, build_router
from bot.providers.base import http_session
from bot.quota import Ledger
from bot.storage import jobs as job_rows
from bot.storage import meta
from bot.storage.db import Database
from bot.ui import actions
from bot.ui.account import CancelJobButton, ForgetButton
from bot.ui.audit import Auditor, BanButton, DeleteOutputButton
from bot.ui.delivery import MessageDelivery, delivery_for
from bot.ui.errors import handle_interaction_error
from bot.ui.results import ResultButton
from bot.ui.text import NO_PINGS

log = logging.getLogger(__name__)

COGS = ("cogs.imagine", "cogs.edit", "cogs.replies", "cogs.account", "cogs.admin")
SHUTDOWN_GRACE = 20.0  # seconds running jobs get to finish when the bot is stopped
_API_VERSION = "/api/v10"


def apply_discord_endpoints(settings: Settings) -> None:
    """Honour ``DISCORD_API_BASE`` and ``DISCORD_GATEWAY_URL`` (REST proxies, test servers).

    discord.py has no base-URL option; these two class attributes are where it reads them.
    """
    if settings.discord_api_base:
        base = settings.discord_api_base
        if "/api/v" not in base:
            base += _API_VERSION
        discord.http.Route.BASE = base
    if settings.discord_gateway_url:
        discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(settings.discord_gateway_url)


class SeedreamBot(commands.Bot):
    """The Seedream Discord bot."""

    def __init__(self, settings: Settings, **options: object) -> None:
        # The bot never joins voice: silence discord.py's "PyNaCl/davey is not installed" warnings.
        discord.VoiceClient.warn_nacl = discord.VoiceClient.warn_dave = False
        intents = discord.Intents.default()
        # Reply-to-edit works from mentions without the privileged intent; with it, it can also
        # see the images of other members' messages it is not mentioned in.
        intents.message_content = settings.seedream_message_content
        super().__init__(
            command_prefix=commands.when_mentioned,
            intents=intents,
            allowed_mentions=NO_PINGS,
            help_command=None,
            **options,  # type: ignore[arg-type]
        )
        self.settings = settings
        self.db = Database(settings.database_path)
        self.ledger = Ledger(self.db, settings)
        self.moderation = Moderation(self.db)
        self.auditor = Auditor(self)
        self._session: aiohttp.ClientSession | None = None
        self._router: Router | None = None
        self._runner: JobRunner | None = None
        self.recovery: RecoveryReport | None = None

    @property
    def session(self) -> aiohttp.ClientSession:
        assert self._session is not None, "setup_hook has not run"
        return self._session

    @property
    def router(self) -> Router:
        assert self._router is not None, "setup_hook has not run"
        return self._router

    @property
    def runner(self) -> JobRunner:
        assert self._runner is not None, "setup_hook has not run"
        return self._runner

    async def job_owner(self, job_id: str) -> int | None:
        """Who started a job (buttons check this on the server side)."""
        row = await job_rows.get(self.db, job_id)
        return None if row is None else row["user_id"]

    async def default_model(self, guild_id: int | None) -> str | None:
        """The server's default model (``/seedream model default``), if one was set."""
        if guild_id is None:
            return None
        return (await self.moderation.policy(guild_id)).default_model

    def delivery_for(self, job: Job) -> MessageDelivery:
        """A job's delivery, built from its row alone (new jobs and start-up recovery)."""
        return delivery_for(self, job)

    async def setup_hook(self) -> None:
        self._session = http_session()
        await self.db.open()
        self._router = build_router(self.settings, self.session)
        self._runner = JobRunner(
            self.db, self.router, self.session, self.ledger, Limits.from_settings(self.settings)
        )
        self._runner.on_final = self.auditor.job_finished
        # Kept on the bot: asyncio holds only weak references to the notice tasks it started.
        self.recovery = await recover(self.runner, self.delivery_for)
        self.runner.start()
        self.add_dynamic_items(
            CancelJobButton, ForgetButton, ResultButton, DeleteOutputButton, BanButton
        )
        self.tree.on_error = self.on_app_command_error  # type: ignore[method-assign]
        for extension in COGS:
            await self.load_extension(extension)
        await self.sync_commands()
        log.info(
            "bot set up",
            extra={"providers": ",".join(p.name for p in self.router.providers) or "none"},
        )

    async def sync_commands(self) -> bool:
        """Sync the command tree only when it changed (Discord limits command creates per day)."""
        assert self.application_id is not None
        payload = [command.to_dict(self.tree) for command in self.tree.get_commands()]
        digest = hashlib.sha256(
            json.dumps([self.application_id, payload], sort_keys=True).encode()
        ).hexdigest()
        if await meta.get(self.db, "commands_hash") == digest:
            log.info("commands unchanged; not syncing")
            return False
        synced = await self.tree.sync()
        await meta.put(self.db, "commands_hash", digest)
        log.info("commands synced", extra={"count": len(synced)})
        return True

    async def on_app_command_error(
        self, interaction: discord.Interaction, error: app_commands.AppCommandError
    ) -> None:
        await handle_interaction_error(interaction, error)

    async def on_message(self, message: discord.Message) -> None:
        """No text commands: a mention is reply-to-edit (``cogs/replies.py``), not a prefix."""

    async def on_interaction(self, interaction: discord.Interaction) -> None:
        """Modals whose submissions must work after a restart (not in discord.py's store)."""
        await actions.handle_modal_submit(interaction)

    async def on_ready(self) -> None:
        user = self.user
        log.info("connected", extra={"user": str(user), "guilds": len(self.guilds)})

    def model_choices(self, current: str) -> list[app_commands.Choice[str]]:
        """Autocomplete: configured models matching what the member typed, default first."""
        default = self.settings.seedream_default_model
        models = sorted(self.router.models, key=lambda m: (m != default, m))
        wanted = current.strip().lower()
        return [
            app_commands.Choice(name=m + (" (default)" if m == default else ""), value=m)
            for m in models
            if wanted in m
        ][:25]

    async def close(self) -> None:
        """Let running jobs finish (briefly), close Discord, then our own resources.

        Idempotent: signal handlers and ``run`` both call it.
        """
        if self._runner is not None:
            await self._runner.drain(SHUTDOWN_GRACE)
            with contextlib.suppress(TimeoutError):  # audit posts are best effort
                await asyncio.wait_for(self.auditor.settle(), timeout=5)
        await super().close()
        session, self._session = self._session, None
        if session is not None:
            await session.close()
        await self.db.close()
        images.shutdown_process_pool()
