"""The ``seedream-bot`` command line, run as a real subprocess against the provider fake."""

from __future__ import annotations

import asyncio
import io
import re
import signal
from pathlib import Path

import pytest
from PIL import Image

from tests.fakes.fake_discord import FakeDiscord
from tests.fakes.providers.common import Scripted
from tests.fakes.providers.evolink import FakeEvoLink
from tests.fakes.providers.myrouter import FakeMyRouter
from tests.helpers import png_bytes, run_cli, start_cli


def env_for(fake: FakeMyRouter, tmp_path: Path) -> dict[str, str]:
    return {
        "MYROUTER_API_KEY": fake.api_key,
        "MYROUTER_BASE_URL": fake.base_url,
        "SEEDREAM_PROVIDERS": "myrouter",
        "DATABASE_URL": f"sqlite:///{tmp_path}/cli.db",
    }


async def test_run_without_token_says_so_in_one_line(tmp_path: Path) -> None:
    done = await run_cli("run", cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr == "error: DISCORD_TOKEN is missing: set it in the environment or in .env\n"
    bare = await run_cli(cwd=tmp_path)
    assert bare.returncode == 2 and bare.stderr == done.stderr


async def test_malformed_setting_names_the_variable(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("DISCORD_TOKEN=abc\nSEEDREAM_MAX_PER_USER=two\n")
    done = await run_cli("run", cwd=tmp_path)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "SEEDREAM_MAX_PER_USER" in lines[0]
    assert "Traceback" not in done.stderr


async def test_generate_writes_images(myrouter: FakeMyRouter, tmp_path: Path) -> None:
    out = tmp_path / "out" / "nested"
    done = await run_cli(
        "generate",
        "a red fox",
        "--aspect",
        "16:9",
        "--out",
        str(out),
        env=env_for(myrouter, tmp_path),
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    paths = done.stdout.strip().splitlines()
    assert len(paths) == 1
    image = Image.open(io.BytesIO(Path(paths[0]).read_bytes()))
    assert image.size == (2560, 1440) and image.format == "JPEG"
    assert Path(paths[0]).parent == out


async def test_generate_sequence_with_local_reference(
    myrouter: FakeMyRouter, tmp_path: Path
) -> None:
    ref = tmp_path / "ref.png"
    ref.write_bytes(png_bytes(300, 200))
    done = await run_cli(
        "generate",
        "the same cat, four seasons",
        "--model",
        "seedream-4.5",
        "--count",
        "4",
        "--size",
        "4K",
        "--aspect",
        "match",
        "--image",
        str(ref),
        "--out",
        str(tmp_path),
        env=env_for(myrouter, tmp_path),
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert len(done.stdout.split()) == 4
    body = myrouter.calls[-1].json
    assert body["image"][0].startswith("data:image/png;base64,")
    assert body["sequential_image_generation_options"] == {"max_images": 4}
    width, height = (int(v) for v in body["size"].split("x"))
    assert abs(width / height - 1.5) < 0.02


async def test_generate_moderation_exit_status(myrouter: FakeMyRouter, tmp_path: Path) -> None:
    done = await run_cli(
        "generate", "something forbidden", env=env_for(myrouter, tmp_path), cwd=tmp_path
    )
    assert done.returncode == 4
    assert done.stderr.startswith("error: rejected by the model's safety filter (myrouter: ")
    assert "Traceback" not in done.stderr


async def test_generate_refused_before_any_call(myrouter: FakeMyRouter, tmp_path: Path) -> None:
    done = await run_cli(
        "generate",
        "x",
        "--model",
        "seedream-4.5",
        "--size",
        "1K",
        env=env_for(myrouter, tmp_path),
        cwd=tmp_path,
    )
    assert done.returncode == 3
    assert "seedream-4.5 does not offer 1K" in done.stderr
    assert myrouter.calls == []


async def test_generate_provider_outage_is_one_line_without_secrets(
    myrouter: FakeMyRouter, tmp_path: Path
) -> None:
    myrouter.fail_next("/v3/", Scripted(503, {"code": 503, "message": "overloaded"}), times=5)
    env = env_for(myrouter, tmp_path) | {"LOG_LEVEL": "DEBUG"}
    done = await run_cli("generate", "x", env=env, cwd=tmp_path)
    assert done.returncode == 1
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert errors == [errors[0]] and errors[0].startswith("error: transient: myrouter: HTTP 503")
    assert "Traceback" not in done.stderr
    assert myrouter.api_key not in done.stderr + done.stdout
    assert len(myrouter.calls) == 3  # first try + two retries


async def test_check_lists_providers_without_secrets(
    myrouter: FakeMyRouter, tmp_path: Path
) -> None:
    env = env_for(myrouter, tmp_path) | {"DISCORD_TOKEN": "discord-token-secret-1"}
    done = await run_cli("check", env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "myrouter: enabled" in done.stdout
    assert "seedream-4.0, seedream-4.5" in done.stdout
    assert re.search(r"schema version \d+\)", done.stdout)
    for secret in (myrouter.api_key, "discord-token-secret-1"):
        assert secret not in done.stdout + done.stderr


async def test_check_without_providers_fails(tmp_path: Path) -> None:
    done = await run_cli("check", env={"DATABASE_URL": f"sqlite:///{tmp_path}/x.db"}, cwd=tmp_path)
    assert done.returncode == 2
    assert "no provider is enabled" in done.stderr


async def test_run_serves_discord_as_a_process(
    myrouter: FakeMyRouter, discord_fake: FakeDiscord, tmp_path: Path
) -> None:
    """`seedream-bot run` honours DISCORD_API_BASE/DISCORD_GATEWAY_URL and stops on SIGTERM."""
    env = env_for(myrouter, tmp_path) | discord_fake.env | {"DISCORD_TOKEN": discord_fake.token}
    log = tmp_path / "bot.log"
    proc = await start_cli("run", env=env, cwd=tmp_path, log=log)
    try:
        await discord_fake.wait_for_commands("imagine", timeout=20)
        await discord_fake.wait_until_connected()
        inter = await discord_fake.slash("imagine", {"prompt": "a process"})
        message = await inter.original(predicate=lambda m: bool(m.get("attachments")), timeout=20)
        assert message["attachments"][0]["filename"].endswith(".jpg")
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            code = await asyncio.wait_for(proc.wait(), 20)
        except TimeoutError:
            proc.kill()
            raise AssertionError("no clean exit on SIGTERM:\n" + log.read_text()) from None
    text = log.read_text()
    assert code == 0, text
    assert "Traceback" not in text
    assert discord_fake.token not in text and myrouter.api_key not in text
    assert "job=" in text


async def test_generate_on_a_url_only_provider_with_a_url_reference(tmp_path: Path) -> None:
    evolink = FakeEvoLink()
    await evolink.start()
    try:
        url = await evolink.publish(png_bytes(320, 240), "png")
        env = {
            "EVOLINK_API_KEY": evolink.api_key,
            "EVOLINK_BASE_URL": evolink.base_url,
            "DATABASE_URL": f"sqlite:///{tmp_path}/cli.db",
            "SEEDREAM_TASK_DEADLINE": "60",
        }
        done = await run_cli(
            "generate",
            "make it night",
            "--provider",
            "evolink",
            "--image",
            url,
            "--out",
            str(tmp_path / "out"),
            env=env,
            cwd=tmp_path,
        )
        assert done.returncode == 0, done.stderr
        assert len(done.stdout.split()) == 1
        assert evolink.calls_to("/v1/images/generations")[0].json["image_urls"] == [url]
        assert evolink.fetched == [url]
        local = tmp_path / "ref.png"
        local.write_bytes(png_bytes(64, 64))
        refused = await run_cli(
            "generate", "x", "--provider", "evolink", "--image", str(local), env=env, cwd=tmp_path
        )
        assert refused.returncode == 3
        assert "only as http(s) URLs" in refused.stderr
    finally:
        await evolink.stop()
    assert not evolink.rejections


@pytest.mark.parametrize(
    ("status", "body", "code", "prefix"),
    [
        (401, {"code": 401, "message": "bad key"}, 1, "error: auth: myrouter: HTTP 401"),
        (402, {"code": 402, "message": "no credit"}, 1, "error: quota: myrouter: HTTP 402"),
        (429, {"code": 429, "message": "RPM"}, 1, "error: rate limited: myrouter: HTTP 429"),
        (504, {"code": 504, "message": "slow"}, 1, "error: timeout: myrouter: HTTP 504"),
        (400, {"code": 400, "message": "bad size"}, 3, "error: myrouter: HTTP 400: bad size"),
    ],
)
async def test_generate_names_every_error_class(
    myrouter: FakeMyRouter,
    tmp_path: Path,
    status: int,
    body: dict[str, object],
    code: int,
    prefix: str,
) -> None:
    myrouter.fail_next("/v3/", Scripted(status, body, {"Retry-After": "0"}), times=3)
    done = await run_cli("generate", "x", env=env_for(myrouter, tmp_path), cwd=tmp_path)
    assert done.returncode == code
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and errors[0].startswith(prefix), done.stderr
    assert "Traceback" not in done.stderr
