"""Discord's per-message limits on files, and how results and uploads are split to fit them."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar

MAX_ATTACHMENTS = 10  # files per message
# Discord refuses a request whose body exceeds 25 MiB (413, code 40005); keep room for the
# JSON part and the multipart framing.
MAX_REQUEST_BYTES = 25 * 1024 * 1024 - 512 * 1024

T = TypeVar("T")


def batches(items: Sequence[T], size_of: Callable[[T], int]) -> list[list[T]]:
    """Consecutive groups of at most 10 items whose sizes add up to what one message takes.

    An item too large on its own still gets a group of its own (the per-file limit is
    enforced where files are fitted, not here).
    """
    groups: list[list[T]] = []
    current: list[T] = []
    total = 0
    for item in items:
        size = size_of(item)
        if current and (len(current) == MAX_ATTACHMENTS or total + size > MAX_REQUEST_BYTES):
            groups.append(current)
            current, total = [], 0
        current.append(item)
        total += size
    if current:
        groups.append(current)
    return groups
