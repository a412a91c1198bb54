"""Settings: defaults, parsing, and one clear line per bad variable."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.config import Period, load_settings
from bot.errors import ConfigError


def test_defaults_match_product_contract() -> None:
    settings = load_settings(env_file=None)
    assert settings.database_url == "sqlite:///data/seedream.db"
    assert settings.seedream_providers == ["myrouter", "evolink", "apiframe", "gmi", "ark"]
    assert settings.myrouter_base_url == "https://api.myrouter.ai"
    assert settings.ark_base_url == "https://ark.ap-southeast.bytepluses.com"
    assert settings.seedream_default_model == "seedream-4.0"
    assert (settings.seedream_default_quota, settings.seedream_default_period) == (10, Period.DAY)
    assert (settings.seedream_max_concurrent, settings.seedream_max_per_user) == (8, 2)
    assert settings.seedream_global_cap == 0 and settings.seedream_watermark is False
    assert settings.discord_token is None and settings.log_level == "INFO"


def test_env_file_and_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    env = tmp_path / ".env"
    env.write_text("SEEDREAM_PROVIDERS=ark, myrouter\nMYROUTER_API_KEY=sk-file\nLOG_LEVEL=debug\n")
    monkeypatch.setenv("MYROUTER_API_KEY", "sk-env")
    settings = load_settings(env_file=env)
    assert settings.seedream_providers == ["ark", "myrouter"]
    assert settings.api_key("myrouter") == "sk-env"
    assert settings.api_key("evolink") is None
    assert settings.log_level == "DEBUG"


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("SEEDREAM_MAX_CONCURRENT", "lots", "SEEDREAM_MAX_CONCURRENT: "),
        (
            "SEEDREAM_PROVIDERS",
            "myrouter,midjourney",
            "SEEDREAM_PROVIDERS: unknown provider midjourney",
        ),
        ("DATABASE_URL", "mysql://x", "DATABASE_URL: expected sqlite:///path"),
        ("SEEDREAM_DEFAULT_PERIOD", "fortnight", "SEEDREAM_DEFAULT_PERIOD: "),
        ("MYROUTER_BASE_URL", "api.myrouter.ai", "MYROUTER_BASE_URL: expected an http"),
        ("SEEDREAM_WATERMARK", "perhaps", "SEEDREAM_WATERMARK: "),
    ],
)
def test_bad_value_names_the_variable(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, expected: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError) as caught:
        load_settings(env_file=None)
    message = str(caught.value)
    assert expected in message
    assert "\n" not in message


def test_secrets_are_not_in_repr(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DISCORD_TOKEN", "discord-secret-token")
    monkeypatch.setenv("ARK_API_KEY", "ark-secret-key")
    settings = load_settings(env_file=None)
    assert "discord-secret-token" not in repr(settings)
    assert "ark-secret-key" not in repr(settings)
    assert set(settings.secrets()) == {"discord-secret-token", "ark-secret-key"}
