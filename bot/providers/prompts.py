"""Prompt wording the models need: Seedream decides the number of images from the prompt."""

from __future__ import annotations


def sequence_prompt(prompt: str, count: int) -> str:
    """Say the count in the prompt too; in ``auto`` mode the model reads it from there."""
    if count <= 1:
        return prompt
    return f"Generate a series of {count} consistent images: {prompt}"
