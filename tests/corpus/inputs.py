"""The bad-input corpus as data: what a member might type or upload, and what must happen to it.

Every case has a ``name`` (the test id), a builder (deterministic: the same bytes on every run, no
randomness, no network) and an expectation:

* :class:`ClientRefuses` — Discord's client never sends it (the option's ``min_length`` or
  ``max_length``); the fake raises :class:`InvalidAction` naming the problem;
* :class:`Refused` — the bot answers privately in words that contain every one of ``words``
  (for attachments: the file name and the limit), calls no provider and charges nothing;
* :class:`Accepted` (prompts) — a result message whose caption is at most 2,000 characters,
  well-formed (see ``tests/corpus/checks.py``) and pings nobody;
* :class:`Normalised` (attachments) — the provider receives one valid, single-frame, 8-bit,
  upright JPEG or PNG of ``size`` whose pixels at ``probes`` are the colours given.

Attachments are built with Pillow, except where Pillow cannot write the input (16-bit RGB PNG)
or would refuse to (a header that lies): those are written chunk by chunk with correct CRCs.
"""

from __future__ import annotations

import io
import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field

from PIL import Image

# -- expectations ------------------------------------------------------------------------------


@dataclass(frozen=True)
class ClientRefuses:
    """Discord's client does not send this; ``words`` appear in the fake's InvalidAction."""

    words: tuple[str, ...]


@dataclass(frozen=True)
class Refused:
    """A private, clear refusal containing every one of ``words``; no provider call, no charge.

    ``downloaded`` is False when the bot must refuse from the attachment's declared size alone.
    """

    words: tuple[str, ...]
    downloaded: bool = True


@dataclass(frozen=True)
class Accepted:
    """Generated; the caption shows ``shown`` (escaped forms), never ``hidden``.

    ``how`` says in words what the caption does to the prompt. ``exact`` asks that the provider
    receive the prompt exactly as typed.
    """

    how: str
    shown: tuple[str, ...] = ()
    hidden: tuple[str, ...] = ()
    exact: bool = False


@dataclass(frozen=True)
class Normalised:
    """Accepted after conversion: what the provider must receive."""

    how: str
    size: tuple[int, int]
    #: (x, y) in the received image -> expected RGB, each channel within ``tolerance``
    probes: tuple[tuple[tuple[int, int], tuple[int, int, int]], ...] = ()
    tolerance: int = 24


# -- prompts -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Ids:
    """Snowflakes from the fake Discord that prompts may mention."""

    user: str
    role: str
    channel: str


@dataclass(frozen=True)
class PromptCase:
    name: str
    build: Callable[[Ids], str]
    expect: ClientRefuses | Refused | Accepted

    def __str__(self) -> str:
        return self.name


def _text(value: str) -> Callable[[Ids], str]:
    return lambda _ids: value


def _repeat_to(pattern: str, length: int) -> str:
    """``pattern`` repeated and cut to exactly ``length`` code points."""
    return (pattern * (length // len(pattern) + 1))[:length]


MAX_PROMPT = 2000
#: a flag written with tag characters (U+E0067 …, format characters like ZWJ)
SCOTLAND = "🏴\U000e0067\U000e0062\U000e0073\U000e0063\U000e0074\U000e007f"

ESCAPED = "markdown shown literally (escaped), one line"
KEPT = "shown as typed"

PROMPTS: tuple[PromptCase, ...] = (
    # ---------------------------------------------------------------- empty and blank
    PromptCase("empty", _text(""), ClientRefuses(("prompt", "length 0"))),
    PromptCase("spaces-only", _text("     "), Refused(("prompt", "empty"))),
    PromptCase("newlines-and-tabs-only", _text("\n\t \r\n\t"), Refused(("prompt", "empty"))),
    PromptCase("ideographic-spaces-only", _text("\u3000\u3000\u2003"), Refused(("empty",))),
    # invisible characters only: str.strip() keeps them, yet there is nothing to draw
    PromptCase("zero-width-only", _text("\u200b\u200d\u2060\ufeff"), Refused(("empty",))),
    PromptCase("control-chars-only", _text("\x00\x07\x1b\x7f"), Refused(("empty",))),
    # ---------------------------------------------------------------- length
    PromptCase(
        "exactly-2000-chars",
        _text(_repeat_to("a red fox in the snow, ", MAX_PROMPT)),
        Accepted("shown truncated to 300 characters with an ellipsis", ("a red fox",), exact=True),
    ),
    PromptCase(
        "exactly-2000-markdown-chars",
        _text(_repeat_to("*_`|~", MAX_PROMPT)),
        Accepted("escaping doubles its length; still within 2,000", ("\\*\\_\\`\\|\\~",)),
    ),
    PromptCase(
        "exactly-2000-mention-chars",
        _text(_repeat_to("@everyone ", MAX_PROMPT)),
        Accepted("mentions escaped, nobody pinged", hidden=("@everyone",)),
    ),
    PromptCase(
        "exactly-2000-flag-emoji-code-points",
        _text(_repeat_to("🇯🇵", MAX_PROMPT - 1) + "x"),
        Accepted("truncated between flags, never inside one", ("🇯🇵",)),
    ),
    PromptCase("2001-chars", _text("a" * (MAX_PROMPT + 1)), ClientRefuses(("length 2001",))),
    PromptCase("6000-chars", _text("a" * 6000), ClientRefuses(("length 6000",))),
    # ---------------------------------------------------------------- mentions
    PromptCase(
        "at-everyone-and-here",
        _text("@everyone @here a cat"),
        Accepted("mentions escaped", hidden=("@everyone", "@here")),
    ),
    PromptCase(
        "user-mention",
        lambda ids: f"<@{ids.user}> as a knight, and <@!{ids.user}> too",
        Accepted("mentions escaped"),
    ),
    PromptCase(
        "role-mention", lambda ids: f"the <@&{ids.role}> team portrait", Accepted("escaped")
    ),
    PromptCase(
        "every-mention-kind",
        lambda ids: (
            f"@everyone @here <@{ids.user}> <@!{ids.user}> <@&{ids.role}> <#{ids.channel}> "
            "@\u200beveryone @ everyone a crowd"
        ),
        Accepted("mentions escaped", hidden=("@everyone", "@here")),
    ),
    # ---------------------------------------------------------------- markdown
    PromptCase("md-bold", _text("**bold** cat"), Accepted(ESCAPED, ("\\*\\*bold\\*\\*",))),
    PromptCase("md-italic", _text("*it* _al_ cat"), Accepted(ESCAPED, ("\\*it\\*", "\\_al\\_"))),
    PromptCase("md-underline", _text("__under__ cat"), Accepted(ESCAPED, ("\\_\\_under\\_\\_",))),
    PromptCase("md-strike", _text("~~gone~~ cat"), Accepted(ESCAPED, ("\\~\\~gone\\~\\~",))),
    PromptCase("md-code", _text("`code` cat"), Accepted(ESCAPED, ("\\`code\\`",))),
    PromptCase(
        "md-code-block",
        _text("```py\nprint('cat')\n```"),
        Accepted(ESCAPED, ("\\`\\`\\`py print",)),
    ),
    PromptCase("md-spoiler", _text("||spoiler|| cat"), Accepted(ESCAPED, ("\\|\\|spoiler\\|\\|",))),
    PromptCase("md-quote", _text("> quoted cat"), Accepted(ESCAPED, ("quoted cat",))),
    PromptCase("md-block-quote", _text(">>> all quoted\ncat"), Accepted(ESCAPED, ("cat",))),
    PromptCase("md-heading", _text("# heading cat"), Accepted(ESCAPED, ("heading cat",))),
    PromptCase("md-subtext", _text("-# small cat"), Accepted(ESCAPED, ("small cat",))),
    PromptCase("md-list", _text("- one\n- two"), Accepted(ESCAPED)),
    PromptCase(
        "md-masked-link",
        _text("[click me](https://example.com/cat_pic)"),
        Accepted(ESCAPED, ("click me",)),
    ),
    PromptCase(
        "md-masked-link-then-bold",
        _text("[link](https://example.com) then **bold** (really)"),
        Accepted(ESCAPED, ("\\*\\*bold\\*\\*",)),
    ),
    PromptCase(
        "md-url-with-asterisks",
        _text("see https://example.com/**x** for style"),
        Accepted(ESCAPED, ("for style",)),
    ),
    PromptCase(
        "md-everything",
        _text("# **b** *i* __u__ ~~s~~ `c` ||sp|| > q [l](https://e.com) \\ end"),
        Accepted(ESCAPED, ("end",)),
    ),
    PromptCase(
        "md-backslashes", _text("a\\*b\\ c\\\\"), Accepted(ESCAPED, ("a\\\\\\*b\\\\ c\\\\\\\\",))
    ),
    # ---------------------------------------------------------------- control and zero-width
    PromptCase(
        "control-chars-inside",
        _text("a\x00cat\x07with\x1ba\x7fbell\x0c"),
        Accepted("control characters dropped", ("acatwithabell",)),
    ),
    PromptCase(
        "newlines-inside",
        _text("line one\nline two\r\nline three\u2028four\u2029five\tsix"),
        Accepted("one line", ("line one line two line three four five six",)),
    ),
    PromptCase(
        "control-line-breaks-inside",
        # NEL, vertical tab, form feed and the information separators are whitespace (str.split
        # splits on them): they separate words like a newline does
        _text("five\x85six\x0bseven\x0ceight\x1cnine"),
        Accepted("one line, words still apart", ("five six seven eight nine",)),
    ),
    PromptCase(
        "zero-width-inside",
        _text("ca\u200bt do\u2060g bi\ufeffrd"),
        Accepted("zero-width spaces dropped", ("cat dog bird",)),
    ),
    PromptCase(
        "combining-marks",
        _text("Z\u0335\u0321\u0322a\u0338l\u0337g\u0336o\u0334 cat"),
        Accepted(KEPT, ("Z\u0335\u0321\u0322a\u0338l\u0337g\u0336o\u0334",)),
    ),
    # ---------------------------------------------------------------- right-to-left
    PromptCase("rtl-arabic", _text("قطة على سجادة حمراء"), Accepted(KEPT, ("قطة على سجادة",))),
    PromptCase("rtl-hebrew", _text("חתול על שטיח אדום"), Accepted(KEPT, ("חתול על שטיח",))),
    PromptCase(
        "rtl-mixed-with-numbers", _text("cat قطة 123 חתול"), Accepted(KEPT, ("cat قطة 123 חתול",))
    ),
    PromptCase(
        "rtl-override",
        _text("a cat \u202egnp.exe\u202c and \u2067isolate\u2069 \u202dltr\u202c"),
        Accepted("bidi overrides and isolates dropped", ("a cat gnp.exe and isolate ltr",)),
    ),
    PromptCase(
        "persian-zero-width-non-joiner",
        _text("می\u200cخواهم یک گربه"),
        Accepted("ZWNJ is part of Persian spelling: kept", ("می\u200cخواهم",)),
    ),
    # ---------------------------------------------------------------- emoji
    PromptCase("emoji-simple", _text("🦊 a fox 🌲🌙"), Accepted(KEPT, ("🦊 a fox 🌲🌙",))),
    PromptCase(
        "emoji-zwj-family",
        _text("👨\u200d👩\u200d👧\u200d👦 family portrait"),
        Accepted(KEPT, ("👨\u200d👩\u200d👧\u200d👦",)),
    ),
    PromptCase(
        "emoji-zwj-profession-skin-tone",
        _text("👩🏽\u200d🚀 astronaut, 🧑🏻\u200d🤝\u200d🧑🏿 friends"),
        Accepted(KEPT, ("👩🏽\u200d🚀", "🧑🏻\u200d🤝\u200d🧑🏿")),
    ),
    PromptCase(
        "emoji-flags",
        _text(f"🇯🇵 🇺🇦 🇧🇷 {SCOTLAND} flags"),
        Accepted(KEPT, ("🇯🇵 🇺🇦 🇧🇷", SCOTLAND)),
    ),
    PromptCase(
        "emoji-rainbow-flag", _text("🏳\ufe0f\u200d🌈 parade"), Accepted(KEPT, ("🏳\ufe0f\u200d🌈",))
    ),
    PromptCase(
        "emoji-keycaps",
        _text("1\ufe0f\u20e3 #\ufe0f\u20e3 *\ufe0f\u20e3 keys"),
        Accepted(KEPT, ("1\ufe0f\u20e3",)),
    ),
    PromptCase(
        "emoji-skin-tones",
        _text("👋🏻 👋🏼 👋🏽 👋🏾 👋🏿 waves"),
        Accepted(KEPT, ("👋🏻 👋🏼 👋🏽 👋🏾 👋🏿",)),
    ),
    PromptCase(
        "emoji-variation-selectors",
        _text("\u2764\ufe0f vs \u2764\ufe0e, \u263a\ufe0f and \u00a9\ufe0f"),
        Accepted(KEPT, ("\u2764\ufe0f vs \u2764\ufe0e",)),
    ),
    PromptCase(
        "emoji-custom-and-timestamp",
        _text("<:blobcat:123456789012345678> <a:dance:123456789012345678> <t:0:R> cat"),
        Accepted("shown; pings nobody", ("cat",)),
    ),
)


# -- attachments -------------------------------------------------------------------------------


@dataclass(frozen=True)
class AttachmentCase:
    name: str
    filename: str
    content_type: str
    build: Callable[[], bytes] = field(repr=False)
    expect: Refused | Normalised

    def __str__(self) -> str:
        return self.name


RED = (220, 30, 30)
GREEN = (30, 200, 60)
BLUE = (30, 60, 220)
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

#: the most pixels the bot decodes (bot/images.py MAX_DECODE_PIXELS)
DECODE_LIMIT = f"{8192 * 8192:,}"
#: the most bytes the bot downloads per attachment (bot/references.py MAX_DOWNLOAD)
DOWNLOAD_LIMIT = "25 MiB"


def _save(img: Image.Image, fmt: str, **params: object) -> bytes:
    out = io.BytesIO()
    img.save(out, fmt, **params)
    return out.getvalue()


def _halves(
    size: tuple[int, int], left: tuple[int, int, int], right: tuple[int, int, int]
) -> Image.Image:
    img = Image.new("RGB", size, left)
    img.paste(right, (size[0] // 2, 0, size[0], size[1]))
    return img


def png_chunk(tag: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))


def small_png() -> bytes:
    return _save(Image.new("RGB", (64, 64), RED), "PNG")


def text_as_png() -> bytes:
    return b"Dear diary, today I renamed notes.txt to notes.png.\n" * 4


def truncated_png() -> bytes:
    """A 400x400 gradient PNG cut halfway through its pixel data (an interrupted upload)."""
    gradient = Image.linear_gradient("L").resize((400, 400)).convert("RGB")
    whole = _save(gradient, "PNG")
    return whole[: len(whole) // 2]


def empty_file() -> bytes:
    return b""


def fifty_mib_png() -> bytes:
    """A valid 64x64 PNG followed by deterministic padding up to 50 MiB (trailing bytes after
    IEND are ignored by decoders, so only the size makes it unacceptable)."""
    head = small_png()
    pattern = bytes(range(256))
    pad = 50 * 1024 * 1024 - len(head)
    return head + (pattern * (pad // 256 + 1))[:pad]


def png_claiming(width: int, height: int) -> bytes:
    """A small, well-formed PNG whose IHDR declares ``width`` x ``height`` (CRC recomputed)."""
    data = bytearray(_save(Image.new("RGB", (16, 16), RED), "PNG"))
    assert data[12:16] == b"IHDR"
    data[16:24] = struct.pack(">II", width, height)
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(data[12:29])))
    return bytes(data)


def header_bomb() -> bytes:
    return png_claiming(40000, 40000)


def strip_1x1000() -> bytes:
    return _save(Image.new("RGB", (1, 1000), RED), "PNG")


def tall_60x600() -> bytes:
    return _save(Image.new("RGB", (60, 600), RED), "PNG")


def icon_as_png() -> bytes:
    """A Windows icon: Pillow reads ICO, the bot must not (it only opens photo formats)."""
    return _save(Image.new("RGB", (64, 64), RED), "ICO", sizes=[(64, 64)])


def animated_gif() -> bytes:
    """Three 64x48 frames: red, green, blue (the first frame is red)."""
    frames = [Image.new("RGB", (64, 48), colour) for colour in (RED, GREEN, BLUE)]
    return _save(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)


def animated_png() -> bytes:
    """An APNG: two 64x48 frames, red then green."""
    frames = [Image.new("RGB", (64, 48), colour) for colour in (RED, GREEN)]
    return _save(frames[0], "PNG", save_all=True, append_images=frames[1:], duration=100)


def square_png(side: int) -> Callable[[], bytes]:
    return lambda: _save(Image.new("RGB", (side, side), RED), "PNG")


def pixel_flood_png() -> bytes:
    """8192x8192 of one colour: about 210 KB that decode to 192 MB of pixels (the most pixels
    the bot decodes at all; the model takes at most 6000x6000)."""
    return _save(Image.new("RGB", (8192, 8192), RED), "PNG", compress_level=9)


def cmyk_jpeg() -> bytes:
    """A CMYK JPEG (what print workflows export): left half red, right half blue."""
    return _save(_halves((96, 64), RED, BLUE).convert("CMYK"), "JPEG", quality=95)


def png16_rgb() -> bytes:
    """A 64x64 16-bit-per-channel RGB PNG (Pillow cannot write one): left half red, right half
    blue, each 8-bit value v stored as v * 257."""
    width, height = 64, 64
    rows = []
    for _y in range(height):
        row = bytearray(b"\x00")  # filter type 0
        for x in range(width):
            colour = RED if x < width // 2 else BLUE
            row += struct.pack(">HHH", *(v * 257 for v in colour))
        rows.append(bytes(row))
    ihdr = struct.pack(">IIBBBBB", width, height, 16, 2, 0, 0, 0)
    return (
        PNG_SIGNATURE
        + png_chunk(b"IHDR", ihdr)
        + png_chunk(b"IDAT", zlib.compress(b"".join(rows), 9))
        + png_chunk(b"IEND", b"")
    )


def png16_grey() -> bytes:
    """A 64x64 16-bit greyscale PNG at 40,000 of 65,535 (8-bit: 155 or 156)."""
    return _save(Image.new("I;16", (64, 64), 40000), "PNG")


def exif_rotated_jpeg(orientation: int) -> Callable[[], bytes]:
    """Stored 120x80, left half red, right half blue, with EXIF ``Orientation``."""

    def build() -> bytes:
        exif = Image.Exif()
        exif[0x0112] = orientation
        return _save(_halves((120, 80), RED, BLUE), "JPEG", quality=95, exif=exif.tobytes())

    return build


def bmp_as_png() -> bytes:
    return _save(_halves((64, 64), RED, BLUE), "BMP")


def webp_as_jpg() -> bytes:
    return _save(_halves((64, 64), RED, BLUE), "WEBP", quality=95)


Probes = tuple[tuple[tuple[int, int], tuple[int, int, int]], ...]


def _left_right(width: int, height: int) -> Probes:
    return (((width // 4, height // 2), RED), ((3 * width // 4, height // 2), BLUE))


def _top_bottom(
    width: int, height: int, top: tuple[int, int, int], bottom: tuple[int, int, int]
) -> Probes:
    return (((width // 2, height // 4), top), ((width // 2, 3 * height // 4), bottom))


ATTACHMENTS: tuple[AttachmentCase, ...] = (
    # ---------------------------------------------------------------- refused
    AttachmentCase(
        "text-renamed-png",
        "notes.png",
        "image/png",
        text_as_png,
        Refused(("notes.png", "not an image", "JPEG, PNG, WebP or GIF")),
    ),
    AttachmentCase(
        "truncated-png",
        "truncated.png",
        "image/png",
        truncated_png,
        Refused(("truncated.png", "damaged")),
    ),
    AttachmentCase("zero-bytes", "empty.png", "image/png", empty_file, Refused(("empty.png",))),
    AttachmentCase(
        "50-mib",
        "huge.png",
        "image/png",
        fifty_mib_png,
        Refused(("huge.png", "50.0 MiB", DOWNLOAD_LIMIT), downloaded=False),
    ),
    AttachmentCase(
        "header-bomb-40000x40000",
        "bomb.png",
        "image/png",
        header_bomb,
        Refused(("bomb.png", "40000×40000", DECODE_LIMIT)),
    ),
    AttachmentCase(
        "strip-1x1000",
        "strip.png",
        "image/png",
        strip_1x1000,
        Refused(("strip.png", "1×1000", "at least 15 px")),
    ),
    AttachmentCase(
        "min-side-14",
        "tiny.png",
        "image/png",
        square_png(14),
        Refused(("tiny.png", "14×14", "at least 15 px")),
    ),
    AttachmentCase(
        "aspect-1-to-10",
        "tall.png",
        "image/png",
        tall_60x600,
        Refused(("tall.png", "60×600", "1:10", "1:3 to 3:1")),
    ),
    AttachmentCase(
        "icon-renamed-png",
        "icon.png",
        "image/png",
        icon_as_png,
        Refused(("icon.png", "not an image", "JPEG, PNG, WebP or GIF")),
    ),
    # ---------------------------------------------------------------- accepted, normalised
    AttachmentCase(
        "animated-gif",
        "dance.gif",
        "image/gif",
        animated_gif,
        Normalised("first frame only, as PNG or JPEG", (64, 48), (((32, 24), RED),)),
    ),
    AttachmentCase(
        "animated-png",
        "dance.png",
        "image/png",
        animated_png,
        Normalised("first frame only", (64, 48), (((32, 24), RED),), tolerance=2),
    ),
    AttachmentCase(
        "min-side-15",
        "small.png",
        "image/png",
        square_png(15),
        Normalised("accepted as it is", (15, 15), (((7, 7), RED),), tolerance=0),
    ),
    AttachmentCase(
        "pixel-flood-8192x8192",
        "flood.png",
        "image/png",
        pixel_flood_png,
        Normalised("downscaled to the model's 6000x6000", (6000, 6000), (((3000, 3000), RED),)),
    ),
    AttachmentCase(
        "cmyk-jpeg",
        "print.jpg",
        "image/jpeg",
        cmyk_jpeg,
        Normalised("converted to RGB, colours kept", (96, 64), _left_right(96, 64)),
    ),
    AttachmentCase(
        "16-bit-rgb-png",
        "deep.png",
        "image/png",
        png16_rgb,
        Normalised("reduced to 8 bits a channel", (64, 64), _left_right(64, 64), tolerance=2),
    ),
    AttachmentCase(
        "16-bit-grey-png",
        "deep-grey.png",
        "image/png",
        png16_grey,
        Normalised("reduced to 8-bit greyscale", (64, 64), (((32, 32), (155, 155, 155)),), 2),
    ),
    AttachmentCase(
        "exif-rotated-jpeg-6",
        "phone.jpg",
        "image/jpeg",
        exif_rotated_jpeg(6),
        # rotate 90° clockwise to display: the stored left half is the top
        Normalised("turned upright", (80, 120), _top_bottom(80, 120, RED, BLUE)),
    ),
    AttachmentCase(
        "exif-rotated-jpeg-8",
        "phone8.jpg",
        "image/jpeg",
        exif_rotated_jpeg(8),
        # rotate 90° counter-clockwise to display: the stored left half is the bottom
        Normalised("turned upright", (80, 120), _top_bottom(80, 120, BLUE, RED)),
    ),
    AttachmentCase(
        "exif-rotated-jpeg-3",
        "upside-down.jpg",
        "image/jpeg",
        exif_rotated_jpeg(3),
        # upside down: the stored left half is on the right
        Normalised(
            "turned upright",
            (120, 80),
            (((30, 40), BLUE), ((90, 40), RED)),
        ),
    ),
    AttachmentCase(
        "bmp-renamed-png",
        "paint.png",
        "image/png",
        bmp_as_png,
        Normalised("converted from BMP", (64, 64), _left_right(64, 64), tolerance=2),
    ),
    AttachmentCase(
        "webp-renamed-jpg",
        "web.jpg",
        "image/jpeg",
        webp_as_jpg,
        Normalised("converted from WebP", (64, 64), _left_right(64, 64)),
    ),
)

REFUSED_ATTACHMENTS = tuple(c for c in ATTACHMENTS if isinstance(c.expect, Refused))
NORMALISED_ATTACHMENTS = tuple(c for c in ATTACHMENTS if isinstance(c.expect, Normalised))
