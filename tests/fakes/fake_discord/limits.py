"""Discord limits that the OpenAPI schema does not (or not correctly) express.

The spec allows 4000 content characters (the Nitro user limit) and 40 top-level components;
Discord enforces 2000 characters for bots, 5 action rows of 5 buttons for classic messages,
unique custom_ids, 1–5 modal components, 10 files, a per-file limit (413/40005) and 25 MiB per
request. Violations of form rules are 400/50035 problems; size limits are 413 runtime errors a bot
must handle.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from .errors import empty_message, form_error, max_length, too_large
from .recording import File

CONTENT_MAX = 2000
EMBEDS_TOTAL_MAX = 6000
FILES_MAX = 10
REQUEST_MAX = 25 * 1024 * 1024
DEFAULT_FILE_LIMIT = 10 * 1024 * 1024
ROWS_MAX = 5
ROW_WIDTH = 5
V2_COMPONENTS_MAX = 40
MODAL_COMPONENTS_MAX = 5
IS_COMPONENTS_V2 = 1 << 15

ACTION_ROW, BUTTON = 1, 2
SELECT_TYPES = frozenset({3, 5, 6, 7, 8})
LINK_STYLE, PREMIUM_STYLE = 5, 6


def walk(components: Sequence[dict[str, Any]] | None) -> Iterator[dict[str, Any]]:
    """Every component, depth-first (rows, sections, containers, labels, accessories)."""
    for comp in components or []:
        yield comp
        yield from walk(comp.get("components"))
        for key in ("component", "accessory"):
            child = comp.get(key)
            if isinstance(child, dict):
                yield from walk([child])


def check_files(files: Sequence[File], *, per_file: int, request_size: int) -> None:
    if len(files) > FILES_MAX:
        raise max_length(["files"], FILES_MAX)
    if request_size > REQUEST_MAX or any(len(f.data) > per_file for f in files):
        raise too_large()


def _check_embeds(embeds: Sequence[dict[str, Any]]) -> None:
    total = 0
    for embed in embeds:
        total += len(embed.get("title") or "") + len(embed.get("description") or "")
        total += len((embed.get("footer") or {}).get("text") or "")
        total += len((embed.get("author") or {}).get("name") or "")
        for fld in embed.get("fields") or []:
            total += len(fld.get("name") or "") + len(fld.get("value") or "")
    if total > EMBEDS_TOTAL_MAX:
        raise form_error(
            ["embeds"], "MAX_EMBED_SIZE_EXCEEDED", "Embed size exceeds maximum size of 6000"
        )


def check_components(components: Sequence[dict[str, Any]], *, flags: int) -> None:
    """Classic layout (≤5 rows × ≤5 buttons or 1 select) or V2 (≤40 total); unique custom_ids."""
    if flags & IS_COMPONENTS_V2:
        if sum(1 for _ in walk(components)) > V2_COMPONENTS_MAX:
            raise max_length(["components"], V2_COMPONENTS_MAX)
    else:
        if len(components) > ROWS_MAX:
            raise max_length(["components"], ROWS_MAX)
        for i, row in enumerate(components):
            if row.get("type") != ACTION_ROW:
                raise form_error(
                    ["components", i],
                    "COMPONENT_LAYOUT_WIDTH_EXCEEDED",
                    "Top-level components must be action rows unless IS_COMPONENTS_V2 is set",
                )
            children = row.get("components") or []
            selects = [c for c in children if c.get("type") in SELECT_TYPES]
            if len(children) > ROW_WIDTH or (selects and len(children) > 1):
                raise form_error(
                    ["components", i, "components"],
                    "COMPONENT_LAYOUT_WIDTH_EXCEEDED",
                    "The specified component exceeds the maximum width",
                )
    seen: set[str] = set()
    for comp in walk(components):
        is_interactive_button = comp.get("type") == BUTTON and comp.get("style") not in (
            LINK_STYLE,
            PREMIUM_STYLE,
        )
        if is_interactive_button and not comp.get("custom_id"):
            raise form_error(["components"], "BASE_TYPE_REQUIRED", "custom_id is required")
        custom_id = comp.get("custom_id")
        if custom_id is None:
            continue
        if not 1 <= len(custom_id) <= 100:
            raise max_length(["components", "custom_id"], 100)
        if custom_id in seen:
            raise form_error(
                ["components"],
                "COMPONENT_CUSTOM_ID_DUPLICATED",
                f"Component custom id cannot be duplicated: {custom_id}",
            )
        seen.add(custom_id)


def check_allowed_mentions(allowed: dict[str, Any] | None) -> None:
    if not allowed:
        return
    parse = allowed.get("parse") or []
    for kind in ("users", "roles"):
        if kind in parse and allowed.get(kind):
            raise form_error(
                ["allowed_mentions"],
                "MESSAGE_ALLOWED_MENTIONS_PARSE_EXCLUSIVE",
                f'parse:["{kind}"] and {kind}: [ids...] are mutually exclusive.',
            )


def check_message(body: dict[str, Any], *, new_files: int, creating: bool) -> None:
    """Form rules for a message create/edit body (files already checked)."""
    content = body.get("content")
    if content is not None and len(content) > CONTENT_MAX:
        raise max_length(["content"], CONTENT_MAX)
    _check_embeds(body.get("embeds") or [])
    check_components(body.get("components") or [], flags=body.get("flags") or 0)
    check_allowed_mentions(body.get("allowed_mentions"))
    if creating and not (
        content
        or body.get("embeds")
        or body.get("components")
        or body.get("sticker_ids")
        or body.get("poll")
        or new_files
    ):
        raise empty_message()


def check_modal(data: dict[str, Any]) -> None:
    components = data.get("components") or []
    if not 1 <= len(components) <= MODAL_COMPONENTS_MAX:
        raise max_length(["data", "components"], MODAL_COMPONENTS_MAX)
    seen: set[str] = set()
    for comp in walk(components):
        cid = comp.get("custom_id")
        if cid is not None and cid in seen:
            raise form_error(
                ["data", "components"],
                "COMPONENT_CUSTOM_ID_DUPLICATED",
                f"Component custom id cannot be duplicated: {cid}",
            )
        if cid is not None:
            seen.add(cid)
