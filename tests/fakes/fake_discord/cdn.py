"""Attachment bytes and Discord-style signed CDN URLs.

Real attachment URLs look like ``.../attachments/{channel}/{id}/{name}?ex=<hex>&is=<hex>&hm=<hex>&``
and 404 ("This content is no longer available.") once ``ex`` has passed or the signature is wrong.
The fake signs with a per-process HMAC key and checks against the fake clock, so a bot that keeps
an old URL for more than :attr:`CdnStore.lifetime` seconds of fake time must re-fetch the message
or re-sign the URL through ``POST /attachments/refresh-urls`` (:meth:`CdnStore.resign`).
Simplification: ``proxy_url`` equals ``url`` (Discord serves it from media.discordapp.net).
"""

from __future__ import annotations

import hashlib
import hmac
import io
import mimetypes
import os
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, parse_qsl, urlencode, urlsplit

from PIL import Image, UnidentifiedImageError

from .state import FakeClock

DEFAULT_LIFETIME = 24 * 3600.0
SIGNATURE_PARAMS = frozenset({"ex", "is", "hm"})


@dataclass
class StoredFile:
    id: str
    channel_id: str
    filename: str
    content_type: str | None
    data: bytes
    width: int | None = None
    height: int | None = None
    description: str | None = None

    @property
    def path(self) -> str:
        return f"/cdn/attachments/{self.channel_id}/{self.id}/{self.filename}"


def sanitize_filename(filename: str) -> str:
    """Discord replaces spaces and unusual characters in uploaded names with underscores."""
    return re.sub(r"[^A-Za-z0-9._-]", "_", filename) or "unknown"


def sniff(
    filename: str, data: bytes, declared: str | None
) -> tuple[str | None, int | None, int | None]:
    """Content type and image size the way Discord derives them (bytes first, then the name)."""
    try:
        with Image.open(io.BytesIO(data)) as image:
            mime = Image.MIME.get(image.format or "")
            if mime:
                return mime, image.width, image.height
    except (UnidentifiedImageError, OSError, ValueError):
        pass
    guessed, _ = mimetypes.guess_type(filename)
    if guessed is None and declared and declared != "application/octet-stream":
        guessed = declared
    if guessed is not None and guessed.startswith("text/"):
        guessed += "; charset=utf-8"
    return guessed, None, None


class CdnStore:
    """Stores uploaded bytes and hands out signed, expiring URLs for them."""

    def __init__(self, clock: FakeClock, *, lifetime: float = DEFAULT_LIFETIME) -> None:
        self.clock = clock
        self.lifetime = lifetime
        self.base_url = ""
        self.files: dict[str, StoredFile] = {}
        self._key = os.urandom(16)

    def put(
        self,
        file_id: str,
        channel_id: str,
        filename: str,
        data: bytes,
        *,
        content_type: str | None = None,
        description: str | None = None,
    ) -> StoredFile:
        filename = sanitize_filename(filename)
        mime, width, height = sniff(filename, data, content_type)
        stored = StoredFile(file_id, channel_id, filename, mime, data, width, height, description)
        self.files[file_id] = stored
        return stored

    def _signature(self, path: str, expires: int, issued: int) -> str:
        msg = f"{path}|{expires:x}|{issued:x}".encode()
        return hmac.new(self._key, msg, hashlib.sha256).hexdigest()

    def url(self, stored: StoredFile) -> str:
        """A freshly signed URL, valid for ``lifetime`` seconds of fake time."""
        issued = int(self.clock.now())
        expires = int(issued + self.lifetime)
        sig = self._signature(stored.path, expires, issued)
        return f"{self.base_url}{stored.path}?ex={expires:x}&is={issued:x}&hm={sig}&"

    def attachment(self, stored: StoredFile, *, ephemeral: bool = False) -> dict[str, Any]:
        """The attachment object Discord puts in messages and ``resolved.attachments``."""
        url = self.url(stored)
        out: dict[str, Any] = {
            "id": stored.id,
            "filename": stored.filename,
            "size": len(stored.data),
            "url": url,
            "proxy_url": url,
        }
        if stored.content_type:
            out["content_type"] = stored.content_type
        if stored.width is not None:
            out["width"] = stored.width
            out["height"] = stored.height
        if stored.description is not None:
            out["description"] = stored.description
        if ephemeral:
            out["ephemeral"] = True
        return out

    def refresh(self, attachment: dict[str, Any]) -> dict[str, Any]:
        """Same attachment with a new signature (what every fresh fetch from Discord returns)."""
        stored = self.files.get(str(attachment["id"]))
        if stored is None:
            return attachment
        return {**attachment, "url": (url := self.url(stored)), "proxy_url": url}

    def lookup(self, path: str, query: dict[str, str]) -> StoredFile | None:
        """The file behind a CDN request, or None when unknown, badly signed or expired."""
        parts = path.split("/")
        if len(parts) != 6 or parts[1:3] != ["cdn", "attachments"]:
            return None
        stored = self.files.get(parts[4])
        if stored is None or stored.path != path:
            return None
        try:
            expires, issued = int(query["ex"], 16), int(query["is"], 16)
        except (KeyError, ValueError):
            return None
        if not hmac.compare_digest(self._signature(path, expires, issued), query.get("hm", "")):
            return None
        if self.clock.now() > expires:
            return None
        return stored

    def from_url(self, url: str) -> StoredFile | None:
        """The stored file a URL points at, ignoring its signature (for test assertions)."""
        path = urlsplit(url).path
        parts = path.split("/")
        stored = self.files.get(parts[4]) if len(parts) == 6 else None
        return stored if stored is not None and stored.path == path else None

    def resign(self, url: str) -> str | None:
        """A freshly signed copy of one of this CDN's attachment URLs, or None for any other URL.

        What ``POST /attachments/refresh-urls`` does: the old ``ex``/``is``/``hm`` may be expired,
        forged or missing; other query parameters (``size=``, ...) are kept after the new ones.
        """
        parts = urlsplit(url)
        if self.base_url and f"{parts.scheme}://{parts.netloc}" != self.base_url:
            return None
        stored = self.from_url(url)
        if stored is None:
            return None
        query = parse_qsl(parts.query, keep_blank_values=True)
        extra = urlencode([(k, v) for k, v in query if k not in SIGNATURE_PARAMS])
        return self.url(stored) + extra

    @staticmethod
    def query_of(url: str) -> dict[str, str]:
        return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}
