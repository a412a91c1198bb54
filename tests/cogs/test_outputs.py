"""Results end to end: what a provider returns is what Discord will take.

Real discord.py over HTTP/websocket to the fake Discord, which refuses any attachment over the
upload limit the interaction carries (10 MiB by default, as real Discord's), and the MyRouter
fake serving its results.
"""

from __future__ import annotations

import io

import pytest
from PIL import Image

from tests.fakes.fake_discord import FakeDiscord
from tests.fakes.providers.myrouter import FakeMyRouter

pytestmark = pytest.mark.usefixtures("bot")

MIB = 1024 * 1024


@pytest.mark.parametrize(
    ("limit", "posted_side", "note"),
    [
        # Discord's default: noise fits as a JPEG at the last quality step (~9.6 MiB), whole.
        pytest.param(10 * MIB, 4096, "Re-encoded to fit", id="10MiB-reencoded"),
        # Discord's old default: no quality step fits, so it must lose pixels too.
        pytest.param(8 * MIB, None, "Downscaled and re-encoded to fit", id="8MiB-downscaled"),
    ],
)
async def test_4k_noise_png_is_posted_under_the_upload_limit(
    discord_fake: FakeDiscord,
    myrouter: FakeMyRouter,
    limit: int,
    posted_side: int | None,
    note: str,
) -> None:
    # Full-entropy noise: no encoder can shrink it much, the worst a provider can send.
    myrouter.result_noise = "PNG"
    inter = await discord_fake.slash(
        "imagine",
        {"prompt": "static on an old TV", "model": "seedream-4.0", "resolution": "4K"},
        attachment_size_limit=limit,
    )
    # Generous: a ~48 MiB PNG is rendered, downloaded, and fitted in a worker process.
    message = await inter.original(predicate=lambda m: bool(m.get("attachments")), timeout=60)

    # The provider really served a 4096×4096 PNG several times over the limit.
    assert myrouter.calls[0].json["size"] == "4096x4096"
    (served,) = myrouter.files.values()
    with Image.open(io.BytesIO(served)) as original:
        assert (original.format, original.size) == ("PNG", (4096, 4096))
    assert len(served) > 4 * limit

    (attachment,) = message["attachments"]
    data = discord_fake.attachment_bytes(attachment)
    assert len(data) == attachment["size"] <= limit
    with Image.open(io.BytesIO(data)) as image:
        image.load()  # every pixel decodes: not truncated
        assert image.format == "JPEG" and attachment["filename"].endswith(".jpg")
        width, height = image.size
    assert width == height
    if posted_side is None:
        assert width < 4096
    else:
        assert width == posted_side

    caption = message["content"]
    assert "static on an old TV" in caption and "seedream-4.0" in caption
    assert f"{width}×{height}" in caption, "the caption must give the posted size"
    assert f"-# {note} Discord's upload limit." in caption.splitlines()
    discord_fake.assert_clean()
