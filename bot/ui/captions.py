"""Texts of progress and result messages."""

from __future__ import annotations

import time

from bot.generation import Generated, Stage
from bot.providers.models import GenerationRequest
from bot.ui.text import MAX_CONTENT, quote_prompt, truncate


def size_text(size: tuple[int, int]) -> str:
    return f"{size[0]}×{size[1]}"


def progress_text(
    stage: Stage, request: GenerationRequest, size: tuple[int, int], started: float
) -> str:
    """``🎨 Generating 1 image · seedream-4.0 · 2048×2048 · started 5 seconds ago``."""
    images = "1 image" if request.count == 1 else f"{request.count} images"
    since = f"<t:{int(started)}:R>"
    head = f"🎨 Generating {images}" if stage is Stage.GENERATING else f"⬆️ Uploading {images}"
    return f"{head} · {request.model} · {size_text(size)} · started {since}"


def result_caption(generated: Generated, requester_id: int | None, started: float) -> str:
    """Prompt (escaped), model, size, elapsed, and notes on any re-encoding."""
    result = generated.result
    elapsed = time.time() - started
    first = generated.outputs[0]
    by = f"<@{requester_id}> · " if requester_id else ""
    parts = [
        f"{result.model}",
        size_text((first.width, first.height)),
        f"{elapsed:.1f} s",
    ]
    lines = [f"🎨 {by}**{quote_prompt(generated.request.prompt)}**", " · ".join(parts)]
    if any(out.downscaled for out in generated.outputs):
        lines.append("-# Downscaled and re-encoded as JPEG to fit Discord's upload limit.")
    elif any(out.reencoded for out in generated.outputs):
        lines.append("-# Re-encoded as JPEG to fit Discord's upload limit.")
    return truncate("\n".join(lines), MAX_CONTENT)
