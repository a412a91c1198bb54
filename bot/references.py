"""Reference images: from a member's attachments to verified, normalised :class:`Reference`s.

Limits come from every enabled route that offers the model (the strictest wins), so whichever
provider the router picks, or fails over to, accepts the images. Nothing here knows Discord:
the UI hands in :class:`Source` objects that can fetch their bytes.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import PurePath

from bot import images
from bot.errors import InvalidInput
from bot.providers.base import Provider
from bot.providers.models import MAX_TOTAL_IMAGES, Reference

#: never download more than this per attachment (Discord allows up to 500 MiB with boosts)
MAX_DOWNLOAD = 25 * 1024 * 1024


@dataclass(frozen=True)
class Source:
    """An image a member supplied: its declared name and size, a URL, and how to fetch it."""

    filename: str
    size: int
    url: str | None
    fetch: Callable[[], Awaitable[bytes]]


def rules_for(model: str, providers: Sequence[Provider]) -> images.ReferenceRules:
    """The strictest reference limits among the enabled routes that offer ``model``."""
    caps = [provider.caps[model] for provider in providers if model in provider.caps]
    if not caps:
        raise InvalidInput(f"no enabled provider offers {model}.")
    formats = frozenset.intersection(*(c.reference_formats for c in caps))
    return images.ReferenceRules(
        formats=formats,
        min_aspect=max(c.reference_min_aspect for c in caps),
        max_aspect=min(c.reference_max_aspect for c in caps),
        max_pixels=min(c.reference_max_pixels for c in caps),
        max_bytes=min(c.reference_max_bytes for c in caps),
    )


def max_references(model: str, providers: Sequence[Provider], count: int) -> int:
    """How many references a request for ``count`` images may carry on the best route."""
    limits = [p.caps[model].max_references for p in providers if model in p.caps]
    return min(max(limits, default=0), MAX_TOTAL_IMAGES - count)


async def prepare(
    sources: Sequence[Source], rules: images.ReferenceRules, *, limit: int
) -> tuple[Reference, ...]:
    """Download, verify and normalise each source; refuse with a message naming file and limit."""
    if len(sources) > limit:
        raise InvalidInput(
            f"{len(sources)} reference images is too many here; the limit is {limit}."
        )
    prepared = []
    for source in sources:
        if source.size > MAX_DOWNLOAD:
            raise InvalidInput(
                f"{source.filename} is {source.size / 1048576:.1f} MiB; reference images may be "
                f"at most {MAX_DOWNLOAD // 1048576} MiB."
            )
        data = await source.fetch()
        try:
            image = await images.run_in_process(
                images.normalise_reference, data, source.filename, rules
            )
        except images.ImageRejected as exc:
            raise InvalidInput(str(exc)) from None
        name = source.filename
        if image.changed:  # re-encoded: the name must say what the bytes now are
            name = f"{PurePath(name).stem or 'image'}.{image.extension}"
        prepared.append(
            Reference(
                filename=name,
                data=image.data,
                mime=image.mime,
                width=image.width,
                height=image.height,
                # URL-only providers may fetch the original only if it was usable as it is
                url=source.url if not image.changed else None,
            )
        )
    return tuple(prepared)
