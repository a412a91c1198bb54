"""Texts of progress and result messages."""

from __future__ import annotations

import time
from collections.abc import Sequence

from bot.jobs.model import Generated, Job, Output, Stage
from bot.ui.limits import batches
from bot.ui.text import MAX_CONTENT, quote_prompt, truncate


def shown_outputs(outputs: Sequence[Output]) -> list[Output]:
    """The images a result message carries: as many as one Discord message takes."""
    return batches(outputs, lambda out: len(out.data))[0] if outputs else []


def size_text(size: tuple[int, int]) -> str:
    return f"{size[0]}×{size[1]}"


def _images(count: int) -> str:
    return "1 image" if count == 1 else f"{count} images"


def queued_text(job: Job, position: int) -> str:
    """``⏳ Queued (position 3) · 1 image · seedream-4.0``."""
    return (
        f"⏳ Queued (position {position}) · {_images(job.request.count)} · {job.request.model}"
        " · it starts when a slot frees up."
    )


def progress_text(job: Job, stage: Stage, size: tuple[int, int], percent: int | None) -> str:
    """``🎨 Generating 1 image · seedream-4.0 · 2048×2048 · 40% · started 5 seconds ago``."""
    head = {
        Stage.QUEUED: "⏳ Starting",
        Stage.GENERATING: "🎨 Generating",
        Stage.UPLOADING: "⬆️ Uploading",
    }[stage]
    wanted = _images(job.request.count)
    if job.request.count > 1:
        wanted += " (the model may return fewer)"
    parts = [f"{head} {wanted}", job.request.model, size_text(size)]
    if percent is not None and stage is Stage.GENERATING:
        parts.append(f"{percent}%")
    parts.append(f"started <t:{int(job.created_at)}:R>")
    return " · ".join(parts)


def result_caption(generated: Generated, *, threaded: bool = True) -> str:
    """Prompt (escaped), model, size, elapsed, remaining quota, and any re-encoding note.

    A sequence's images follow in a thread, or (``threaded=False``) in the channel itself.
    """
    where = "in the thread" if threaded else "posted below"
    where_below = "in the thread below" if threaded else "also posted below on its own"
    job = generated.job
    first = generated.outputs[0]
    by = f"<@{job.user_id}> · " if job.user_id else ""
    got = len(generated.outputs)
    parts = [generated.result.model, size_text((first.width, first.height))]
    if got > 1:
        parts.append(_images(got))
    parts.append(f"{max(0.0, time.time() - job.created_at):.1f} s")
    if generated.remaining is not None:
        parts.append(f"{generated.remaining} left")
    lines = [f"🎨 {by}**{quote_prompt(job.request.prompt)}**", " · ".join(parts)]
    if got < job.request.count:
        lines.append(
            f"⚠️ The model returned {got} of the {job.request.count} images asked for; "
            f"only {got} {'was' if got == 1 else 'were'} charged."
        )
    shown = len(shown_outputs(generated.outputs))
    if got > shown:
        lines.append(f"Images 1–{shown} are shown here; all {got} are {where}.")
    elif got > 1:
        lines.append(f"Each image is {where_below}, with its own buttons.")
    if any(out.downscaled for out in generated.outputs):
        lines.append("-# Downscaled and re-encoded to fit Discord's upload limit.")
    elif any(out.reencoded for out in generated.outputs):
        lines.append("-# Re-encoded to fit Discord's upload limit.")
    return truncate("\n".join(lines), MAX_CONTENT)
