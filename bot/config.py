"""Settings, read once at start-up from the environment and `.env` (PRODUCT §5).

Every value is validated here so that a bad setting stops the bot before it connects
anywhere, with one line naming the variable (see :func:`load_settings`).
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from bot.errors import ConfigError

PROVIDER_NAMES = ("myrouter", "evolink", "apiframe", "gmi", "ark")


class Period(StrEnum):
    """Quota window lengths."""

    HOUR = "hour"
    DAY = "day"
    WEEK = "week"
    MONTH = "month"


class Settings(BaseSettings):
    """The bot's configuration. Field names map 1:1 to the upper-case variables."""

    model_config = SettingsConfigDict(
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        case_sensitive=False,
    )

    discord_token: SecretStr | None = None
    database_url: str = "sqlite:///data/seedream.db"
    seedream_providers: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: list(PROVIDER_NAMES)
    )

    myrouter_api_key: SecretStr | None = None
    myrouter_base_url: str = "https://api.myrouter.ai"
    evolink_api_key: SecretStr | None = None
    evolink_base_url: str = "https://api.evolink.ai"
    apiframe_api_key: SecretStr | None = None
    apiframe_base_url: str = "https://api.apiframe.ai"
    gmi_api_key: SecretStr | None = None
    gmi_base_url: str = "https://console.gmicloud.ai"
    ark_api_key: SecretStr | None = None
    ark_base_url: str = "https://ark.ap-southeast.bytepluses.com"

    seedream_default_model: str = "seedream-4.0"
    seedream_default_quota: int = Field(default=10, ge=-1)
    seedream_default_period: Period = Period.DAY
    seedream_global_cap: int = Field(default=0, ge=0)
    seedream_max_concurrent: int = Field(default=8, ge=1)
    seedream_max_per_user: int = Field(default=2, ge=1)
    seedream_max_per_server: int = Field(default=4, ge=1)
    seedream_watermark: bool = False
    #: overall deadline (seconds) for asynchronous provider tasks; unset = each provider's own
    seedream_task_deadline: float | None = Field(default=None, gt=0)
    #: ask for the privileged Message Content intent (enable it in the Developer Portal first):
    #: reply-to-edit can then use the images of any replied-to message, not only the bot's own
    seedream_message_content: bool = False

    discord_api_base: str | None = None
    discord_gateway_url: str | None = None
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = "INFO"

    @field_validator("seedream_providers", mode="before")
    @classmethod
    def _split_providers(cls, value: object) -> object:
        if isinstance(value, str):
            value = [part.strip().lower() for part in value.split(",") if part.strip()]
        return value

    @field_validator("seedream_providers")
    @classmethod
    def _known_providers(cls, value: list[str]) -> list[str]:
        unknown = [name for name in value if name not in PROVIDER_NAMES]
        if unknown:
            raise ValueError(
                f"unknown provider {', '.join(unknown)} (known: {', '.join(PROVIDER_NAMES)})"
            )
        if not value:
            raise ValueError("name at least one provider")
        return value

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper_level(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @field_validator("database_url")
    @classmethod
    def _known_database(cls, value: str) -> str:
        if value.startswith("sqlite:///"):
            if not value.removeprefix("sqlite:///"):
                raise ValueError("sqlite URL needs a path, e.g. sqlite:///data/seedream.db")
            return value
        if value.startswith(("postgresql://", "postgres://")):
            raise ValueError("PostgreSQL is not supported yet; use sqlite:///path")
        raise ValueError("expected sqlite:///path")

    @field_validator(
        "myrouter_base_url",
        "evolink_base_url",
        "apiframe_base_url",
        "gmi_base_url",
        "ark_base_url",
        "discord_api_base",
        "discord_gateway_url",
    )
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if not value.startswith(("http://", "https://", "ws://", "wss://")):
            raise ValueError("expected an http(s):// or ws(s):// URL")
        return value.rstrip("/")

    @property
    def database_path(self) -> Path:
        """Filesystem path of the SQLite database."""
        return Path(self.database_url.removeprefix("sqlite:///"))

    def api_key(self, provider: str) -> str | None:
        """The provider's key, or None when it is not configured (provider disabled)."""
        secret: SecretStr | None = getattr(self, f"{provider}_api_key")
        if secret is None or not secret.get_secret_value().strip():
            return None
        return secret.get_secret_value().strip()

    def base_url(self, provider: str) -> str:
        """The provider's API base URL."""
        url: str = getattr(self, f"{provider}_base_url")
        return url

    def secrets(self) -> list[str]:
        """Every secret value, so that logging can scrub them wherever they might appear."""
        values = [self.discord_token.get_secret_value()] if self.discord_token else []
        values += [key for name in PROVIDER_NAMES if (key := self.api_key(name))]
        return [value for value in values if len(value) >= 4]


def load_settings(env_file: str | Path | None = ".env") -> Settings:
    """Read and validate the settings, or raise a one-line :class:`ConfigError`."""
    try:
        return Settings(_env_file=env_file)
    except ValidationError as exc:
        raise ConfigError(_describe(exc)) from None


def _describe(exc: ValidationError) -> str:
    """One line per bad variable, naming it in upper case and never echoing secrets."""
    parts = []
    for error in exc.errors():
        loc = error["loc"][0] if error["loc"] else "?"
        name = str(loc).upper()
        message = error["msg"].removeprefix("Value error, ")
        parts.append(f"{name}: {message}")
    return "invalid configuration: " + "; ".join(parts)
