"""What the result buttons do. Each new generation is a new job of the member who pressed,
through the same path as ``/imagine`` (pre-flight, quota, queue); Delete checks who presses.

Nothing here lives only in memory: a press carries the job id (``custom_id``) and the message
it was pressed on, and the Edit modal's ``custom_id`` carries the job id too. The modal is not
registered with discord.py's view store; its submission is routed by
:func:`handle_modal_submit` from ``on_interaction``, so it works after a restart as well.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

import discord

from bot.errors import InvalidInput, Refused
from bot.jobs.model import Job
from bot.providers.models import MATCH, GenerationRequest, Resolution
from bot.providers.models import Reference as StoredReference
from bot.references import Source
from bot.storage import jobs as job_rows
from bot.ui.errors import handle_interaction_error
from bot.ui.interactions import message_sources, start_generation, start_job_id
from bot.ui.outputs import forget_message

if TYPE_CHECKING:
    from bot.client import SeedreamBot

REROLL, EDIT, VARY, UPSCALE, DELETE = "reroll", "edit", "vary", "4k", "delete"
VARIATIONS = 4  # images in a Variations sequence (PRODUCT §2)
EDIT_MODAL = re.compile(r"seedream:editmodal:(?P<job>[0-9a-f]{12})")


async def press(interaction: discord.Interaction, action: str, job_id: str) -> None:
    """A result button was pressed; refusals and failures answer the presser privately."""
    bot: SeedreamBot = interaction.client  # type: ignore[assignment]
    try:
        row = await job_rows.get(bot.db, job_id)
        if row is None:
            raise Refused("The bot no longer knows this result.")
        if action == DELETE:
            await _delete(bot, interaction, row)
        elif row["forgotten_at"] is not None:
            raise Refused(
                "The member who made this image deleted its history, so its prompt is gone; "
                "start a new one with /imagine or /edit."
            )
        elif action == EDIT:
            _image_of(bot, interaction.message)  # refuse at once if there is nothing to edit
            await interaction.response.send_modal(EditResultModal(job_id))
        else:
            await _regenerate(bot, interaction, action, row)
    except Exception as exc:
        await handle_interaction_error(interaction, exc)


async def _regenerate(
    bot: SeedreamBot, interaction: discord.Interaction, action: str, row: dict[str, Any]
) -> None:
    start_job_id(interaction)
    original = await _stored_request(bot, row)
    if action == REROLL:  # the same request, references included, with a new random seed
        # A URL we stored may be an upload the result message has since replaced (Discord
        # deletes those): keep the bytes, and let hosting upload again where a URL is needed.
        references = tuple(
            ref.model_copy(update={"url": None}) if ref.data is not None else ref
            for ref in original.references
        )
        request = original.model_copy(update={"seed": None, "references": references})
        await start_generation(bot, interaction, REROLL, request, parent_id=row["id"])
        return
    image = _image_of(bot, interaction.message)
    if action == VARY:
        request = _derived(original, count=VARIATIONS)
    else:  # 4K: the same prompt at 4K, with this image as the reference
        request = _derived(original, count=1, resolution=Resolution.R4K)
    await start_generation(bot, interaction, action, request, [image], parent_id=row["id"])


async def _stored_request(bot: SeedreamBot, row: dict[str, Any]) -> GenerationRequest:
    refs = (await job_rows.references(bot.db, [row["id"]])).get(row["id"], [])
    return Job.from_row(row, tuple(StoredReference(**ref) for ref in refs)).request


def _derived(original: GenerationRequest, **update: Any) -> GenerationRequest:
    """A new request from a result: same prompt and model, this image as its reference."""
    fields = original.model_dump(exclude={"references", "size", "seed", "aspect"})
    return GenerationRequest.model_validate({**fields, "aspect": MATCH, **update})


def _image_of(bot: SeedreamBot, message: discord.Message | None) -> Source:
    """The first image of the message the button is on, as a reference source."""
    found = message_sources(bot, message) if message is not None else []
    if not found:
        raise InvalidInput("This message has no image to use.")
    return found[0]


async def _delete(bot: SeedreamBot, interaction: discord.Interaction, row: dict[str, Any]) -> None:
    """Requester, or a member with Manage Messages in the channel, may delete a result."""
    allowed = interaction.user.id == row["user_id"] or interaction.permissions.manage_messages
    if not allowed:
        await interaction.response.send_message(
            "⛔ Only the member who asked for this image, or a moderator with Manage Messages, "
            "can delete it.",
            ephemeral=True,
        )
        return
    message = interaction.message
    assert message is not None  # a button press always comes with its message
    await message.delete()
    if message.id == row["message_id"]:
        await forget_message(bot, row, interaction.user.id)
    await interaction.response.send_message("🗑️ Deleted.", ephemeral=True)


class InstructionModal(discord.ui.Modal):
    """A modal asking what should change in an image (edit instructions)."""

    instruction: discord.ui.TextInput[InstructionModal] = discord.ui.TextInput(
        label="What should change?",
        style=discord.TextStyle.paragraph,
        max_length=2000,
        custom_id="instruction",
    )


class EditResultModal(InstructionModal, title="Edit this image"):
    """Stopped at once so discord.py never stores it: submissions are routed by custom_id."""

    def __init__(self, job_id: str) -> None:
        super().__init__(custom_id=f"seedream:editmodal:{job_id}")
        self.stop()


async def handle_modal_submit(interaction: discord.Interaction) -> bool:
    """Route a submitted Edit modal; False when the interaction is not ours."""
    data: Any = interaction.data or {}
    match = EDIT_MODAL.fullmatch(str(data.get("custom_id", "")))
    if interaction.type is not discord.InteractionType.modal_submit or match is None:
        return False
    bot: SeedreamBot = interaction.client  # type: ignore[assignment]
    start_job_id(interaction)
    try:
        row = await job_rows.get(bot.db, match["job"])
        if row is None:
            raise Refused("The bot no longer knows this result.")
        if row["forgotten_at"] is not None:
            raise Refused("The member who made this image deleted its history.")
        instruction = _submitted_value(data.get("components", []), "instruction").strip()
        if not instruction:
            raise InvalidInput("Say what should change.")
        original = await _stored_request(bot, row)
        request = _derived(original, prompt=instruction, count=1)
        image = _image_of(bot, interaction.message)
        await start_generation(bot, interaction, EDIT, request, [image], parent_id=row["id"])
    except Exception as exc:
        await handle_interaction_error(interaction, exc)
    return True


def _submitted_value(components: list[Any], custom_id: str) -> str:
    """A text input's value from a modal submission (ActionRow or Label layouts)."""
    for component in components:
        if component.get("custom_id") == custom_id:
            return str(component.get("value") or "")
        children = component.get("components") or (
            [component["component"]] if component.get("component") else []
        )
        found = _submitted_value(children, custom_id)
        if found:
            return found
    return ""
