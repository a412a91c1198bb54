"""The buttons under results: 🔁 Reroll, ✏️ Edit, 🔀 Variations, ⬆️ 4K, 🗑️ Delete.

They are :class:`discord.ui.DynamicItem`s whose ``custom_id`` carries the action and the job
id (``seedream:reroll:0123456789ab``), so a bot restarted since the result was posted still
knows what a press means: everything else is in the job row and the message pressed.
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Any

import discord

from bot.ui import actions


class ResultKind(StrEnum):
    """Which buttons a result message gets."""

    SINGLE = "single"  # one image: every action
    SUMMARY = "summary"  # a sequence's summary: the actions that concern the whole job
    PART = "part"  # one image of a sequence, in its thread: the actions on that image


_LOOK: dict[str, tuple[str, str, discord.ButtonStyle]] = {
    actions.REROLL: ("🔁", "Reroll", discord.ButtonStyle.secondary),
    actions.EDIT: ("✏️", "Edit", discord.ButtonStyle.secondary),
    actions.VARY: ("🔀", "Variations", discord.ButtonStyle.secondary),
    actions.UPSCALE: ("⬆️", "4K", discord.ButtonStyle.secondary),
    actions.DELETE: ("🗑️", "Delete", discord.ButtonStyle.danger),
}
_BUTTONS = {
    ResultKind.SINGLE: (
        actions.REROLL,
        actions.EDIT,
        actions.VARY,
        actions.UPSCALE,
        actions.DELETE,
    ),
    ResultKind.SUMMARY: (actions.REROLL, actions.DELETE),
    ResultKind.PART: (actions.EDIT, actions.VARY, actions.UPSCALE, actions.DELETE),
}


class ResultButton(
    discord.ui.DynamicItem[discord.ui.Button[discord.ui.View]],
    template=r"seedream:(?P<action>reroll|edit|vary|4k|delete):(?P<job>[0-9a-f]{12})",
):
    """One result button; the press is handled by :func:`bot.ui.actions.press`."""

    def __init__(self, action: str, job_id: str) -> None:
        emoji, label, style = _LOOK[action]
        super().__init__(
            discord.ui.Button(
                emoji=emoji, label=label, style=style, custom_id=f"seedream:{action}:{job_id}"
            )
        )
        self.action = action
        self.job_id = job_id

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: re.Match[str]
    ) -> ResultButton:
        return cls(match["action"], match["job"])

    async def callback(self, interaction: discord.Interaction) -> None:
        await actions.press(interaction, self.action, self.job_id)


def result_view(job_id: str, kind: ResultKind) -> discord.ui.View:
    """The row of buttons for a result message of ``kind``."""
    view = discord.ui.View(timeout=None)
    for action in _BUTTONS[kind]:
        view.add_item(ResultButton(action, job_id))
    return view
