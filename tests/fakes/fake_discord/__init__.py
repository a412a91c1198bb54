"""A faithful loopback fake of Discord for end-to-end tests of real, unmodified discord.py bots.

Typical fixtures::

    @pytest_asyncio.fixture
    async def fake(monkeypatch):
        server = await FakeDiscord().start()  # 127.0.0.1, ephemeral port
        monkeypatch.setattr(discord.http.Route, "BASE", server.api_base)
        monkeypatch.setattr(
            discord.gateway.DiscordWebSocket, "DEFAULT_GATEWAY", yarl.URL(server.gateway_url)
        )
        yield server
        await server.stop()  # after bot.close()
        server.assert_clean()  # schema/limit problems and unimplemented routes fail the test

    inter = await fake.slash("imagine", {"prompt": "a fox", "image1": fake.add_cdn_file(...)})
    message = await inter.original()

Module map: ``server`` (FakeDiscord, the test-facing API), ``driver`` (user actions),
``rest``/``wire`` (HTTP), ``gateway`` (websocket), ``messages``/``mentions``/``limits``
(Discord's message rules), ``interactions``, ``commands`` (option resolution),
``command_permissions`` (who may run a command: overrides and default permissions), ``state``/
``payloads``/``permissions``/``cdn`` (the world), ``validate`` (OpenAPI checks). Each module's
docstring lists what it simplifies.
"""

from .cdn import StoredFile
from .errors import DiscordError, InvalidAction
from .gateway import Frame, Session
from .interactions import Interaction
from .permissions import Overwrite
from .recording import Call, File, Problem
from .server import FakeDiscord
from .state import Channel, FakeClock, Guild, Member, Role, User

__all__ = [
    "Call",
    "Channel",
    "DiscordError",
    "FakeClock",
    "FakeDiscord",
    "File",
    "Frame",
    "Guild",
    "Interaction",
    "InvalidAction",
    "Member",
    "Overwrite",
    "Problem",
    "Role",
    "Session",
    "StoredFile",
    "User",
]
