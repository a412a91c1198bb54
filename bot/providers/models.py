"""What a member asked for and what came back: the provider-neutral data models.

Adapters map :class:`GenerationRequest` onto their wire format and build a
:class:`GenerationResult`; nothing else in the bot knows any provider's field names.
"""

from __future__ import annotations

import base64
import unicodedata
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

MAX_PROMPT = 2000
MAX_TOTAL_IMAGES = 15  # references + generated images, for every Seedream route

ASPECTS: dict[str, tuple[int, int]] = {
    "1:1": (1, 1),
    "4:3": (4, 3),
    "3:4": (3, 4),
    "16:9": (16, 9),
    "9:16": (9, 16),
    "3:2": (3, 2),
    "2:3": (2, 3),
    "21:9": (21, 9),
}
MATCH = "match"


class Resolution(StrEnum):
    """The size presets members pick from."""

    R1K = "1K"
    R2K = "2K"
    R4K = "4K"


class Reference(BaseModel):
    """A reference image, already verified and normalised (bytes), or a URL the provider fetches."""

    model_config = ConfigDict(frozen=True)

    filename: str = "reference"
    data: bytes | None = Field(default=None, repr=False)
    mime: str | None = None
    url: str | None = None
    width: int | None = None
    height: int | None = None

    @model_validator(mode="after")
    def _has_source(self) -> Reference:
        if self.data is None and self.url is None:
            raise ValueError("a reference needs bytes or a URL")
        return self

    def wire_value(self) -> str:
        """What inline-capable providers are sent: the bytes as a data URL, else the URL."""
        return self.data_url() if self.data is not None else str(self.url)

    def data_url(self) -> str:
        """The ``data:image/<fmt>;base64,...`` form providers accept inline."""
        if self.data is None or self.mime is None:
            raise ValueError("reference has no bytes to inline")
        return f"data:{self.mime};base64,{base64.b64encode(self.data).decode('ascii')}"


class GenerationRequest(BaseModel):
    """One generation as the member asked for it (PRODUCT §2, §6)."""

    model_config = ConfigDict(frozen=True)

    prompt: str = Field(min_length=1, max_length=MAX_PROMPT)
    model: str
    references: tuple[Reference, ...] = ()
    aspect: str | None = None
    resolution: Resolution | None = None
    size: tuple[int, int] | None = None
    count: int = Field(default=1, ge=1, le=MAX_TOTAL_IMAGES)
    seed: int | None = Field(default=None, ge=-1, le=2_147_483_647)
    watermark: bool = False

    @field_validator("prompt")
    @classmethod
    def _prompt_not_blank(cls, value: str) -> str:
        """Whitespace, control and invisible format characters alone are no prompt."""
        if all(ch.isspace() or unicodedata.category(ch) in ("Cc", "Cf") for ch in value):
            raise ValueError("the prompt is empty")
        return value

    @field_validator("aspect")
    @classmethod
    def _known_aspect(cls, value: str | None) -> str | None:
        if value is not None and value != MATCH and value not in ASPECTS:
            raise ValueError(f"aspect must be one of {', '.join([*ASPECTS, MATCH])}")
        return value

    @model_validator(mode="after")
    def _one_way_to_size(self) -> GenerationRequest:
        if self.size is not None and self.resolution is not None:
            raise ValueError("give either a resolution or an exact size, not both")
        if self.size is not None and min(self.size) <= 0:
            raise ValueError("width and height must be positive")
        return self


class ResultImage(BaseModel):
    """One generated image as the provider returned it: a URL to download, or inline bytes."""

    # Stored in the job row as JSON between "delivering" and "done": bytes travel as base64.
    model_config = ConfigDict(ser_json_bytes="base64", val_json_bytes="base64")

    url: str | None = None
    data: bytes | None = Field(default=None, repr=False)


class GenerationResult(BaseModel):
    """What a provider produced for a request."""

    images: list[ResultImage]
    provider: str
    model: str
    size: tuple[int, int]
    task_id: str | None = None
    elapsed: float = 0.0


def with_references(
    request: GenerationRequest, references: tuple[Reference, ...]
) -> GenerationRequest:
    """The same request with these reference images (validated again)."""
    return GenerationRequest.model_validate({**request.model_dump(), "references": references})
