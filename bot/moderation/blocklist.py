"""Does a prompt contain a term a server's moderators blocked? Pure: no Discord, no database.

A term is a word, a phrase, or a ``/pattern/`` (``/pattern/i`` is accepted too; matching is
always case-insensitive, so the ``i`` changes nothing). Anything else, ``/r/nsfw`` included,
is an ordinary term.

**Folding.** Terms and prompts are compared in one *folded* form (:func:`fold`), built in this
order, each step for a reason:

1. NFKD: fullwidth ``ｃａｔ``, mathematical ``𝐜𝐚𝐭``, ligatures and circled letters become plain
   letters, and accented letters split into a letter plus combining marks.
2. One character table (:class:`_FoldTable`) that

   - removes combining marks (``é`` → ``e``; this also removes variation selectors), format
     characters (zero-width space/joiners, soft hyphen, word joiner, BOM, bidi controls, tag
     characters) and control characters, so ``c\\u200bat`` cannot hide ``cat``;
   - turns blank-looking letters (Hangul fillers, the Braille blank) into a space: a reader
     sees a gap there;
   - maps Cyrillic and Greek letters that look Latin onto the Latin letter they look like
     (``саt`` with Cyrillic ``с`` and ``а`` reads ``cat``). A letter's capital and small forms
     always map alike, even where they look like different Latin letters (Greek ``Η`` and
     ``η`` both read ``h``), because case-insensitive matching in Greek and Cyrillic matters
     more than the rarer spoof. Typographic quotes and dashes become ASCII ones.
3. ``casefold``: ``Cat``, ``CAT`` and ``ß``/``ss`` compare equal.
4. NFC, so that scripts which NFKD split (Hangul) read as usual for ``/patterns/``.

Both sides go through the same steps, so a term in any script still matches itself. The price,
accepted for a blocklist: words that differ only by accents, or a whole Russian or Greek word
made only of look-alike letters (``рот`` reads ``pot``), compare equal to their Latin twin.

**Words and phrases** match on word boundaries: ``cat`` blocks ``Cat!`` and ``a cat,`` but not
``concatenate``, ``scat`` or ``cats`` (block plurals as terms of their own, or use a pattern).
Letters and digits make words; ``_`` separates like punctuation (``cat_girl`` contains
``cat``). Characters of scripts written without spaces (Han, kana, Thai, Lao, Khmer, Myanmar)
never form a boundary, so ``猫`` is found inside ``黒猫です`` and ``cat`` inside ``画cat``.
In a term, whitespace means "any run of spaces or punctuation": ``blood bath`` blocks
``blood-bath`` and ``Blood, bath`` but not ``bloodbath``. Other punctuation in a term is
literal (``f*ck``, ``c++``); a term with no word character (an emoji) matches anywhere.

**Spelled-out words.** A one-word term of at least :data:`MIN_SPACED_LENGTH` letters or digits
also matches when *every* letter is separated: ``b.l.o.o.d``, ``b l o o d``, ``c_a_t``. Only
every-letter spacing counts, so ordinary text such as ``a cat`` never matches a term ``acat``;
shorter terms are left out because initials and list labels (``A, B or C``) are common.

**Leetspeak** (``0→o 1→i 3→e 4→a 5→s 7→t @→a $→s``) is a second pass over a decoded copy of the
prompt, after the prompt as written found nothing, so a genuine term ``a1`` still matches
``a1`` while ``ai`` does not match it. To keep false positives out, the decoded copy changes
only runs that contain a letter, or a single character standing alone (``c4t``, ``a$$``,
``c 4 t``, and so also ``4 5 5``); numbers such as ``1074`` or ``2025`` stay as they are. Only
terms of at least :data:`MIN_LEET_LENGTH` characters without leet characters of their own take
part, because ``3d`` and ``4k`` are everyday words in image prompts (``4k`` must not read
``ak``).

**Patterns** (``/…/``) are searched, case-insensitively, in the folded prompt *before* leet
decoding; write them in lowercase plain letters (non-ASCII characters in a pattern are folded
like a prompt, so a Cyrillic pattern still finds Cyrillic text). They run on the ``regex``
package with a time bound of :data:`REGEX_TIMEOUT` seconds per prompt and pattern. A pattern
that hits the bound counts as a **match** (and a warning is logged): a moderator added it to
stop prompts, and a member must not be able to slip past it with a prompt crafted to be slow;
the refused member can reword, and the log (and :attr:`BlockHit.timed_out`, from
:meth:`Blocklist.check`) tells which pattern to fix.
:func:`parse_term` rejects patterns that do not compile, that match an empty prompt (they
would block everything) or that hit the bound on a long run of one character.

**Which term is reported first:** the word or phrase found earliest in the prompt, then the
same for the leet pass, then patterns in blocklist order.
"""

from __future__ import annotations

import logging
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

import regex  # type: ignore[import-untyped,unused-ignore]

from bot.errors import InvalidInput

log = logging.getLogger(__name__)

MAX_TERM_LENGTH = 200
MAX_PROMPT_LENGTH = 2000  # PRODUCT §2; the length of parse_term's probes
MIN_SPACED_LENGTH = 3
MIN_LEET_LENGTH = 3
REGEX_TIMEOUT = 0.05  # seconds, per pattern and prompt

# --- folding -------------------------------------------------------------------------------

# Keyed by small letter; a capital goes where its small letter goes (see _FoldTable), so that
# folding stays case-insensitive. Where the small and the capital letter look like different
# Latin letters (Greek η/Η, Cyrillic н/Н), the capital's look wins.
_LOOK_ALIKES = {
    # Cyrillic
    "а": "a", "в": "b", "е": "e", "к": "k", "м": "m", "н": "h", "о": "o", "р": "p", "с": "c",
    "т": "t", "у": "y", "х": "x", "ѕ": "s", "і": "i", "ј": "j", "ԁ": "d", "ԛ": "q", "ԝ": "w",
    "һ": "h", "ү": "y", "ӏ": "l",
    # Greek
    "α": "a", "β": "b", "γ": "y", "ε": "e", "ζ": "z", "η": "h", "ι": "i", "κ": "k", "μ": "m",
    "ν": "n", "ο": "o", "ρ": "p", "τ": "t", "υ": "y", "χ": "x", "ω": "w",
    # Latin letters of other alphabets
    "ı": "i", "ɑ": "a", "ɡ": "g",
    # typographic punctuation
    "‘": "'", "’": "'", "ʼ": "'", "“": '"', "”": '"',
    "‐": "-", "‒": "-", "–": "-", "—": "-", "―": "-", "−": "-",
}  # fmt: skip
_BLANKS = "\u115f\u1160\u3164\uffa0\u2800"
_REMOVED_CATEGORIES = frozenset({"Mn", "Me", "Cf"})
_TABLE_CACHE_LIMIT = 20_000  # distinct characters remembered; the rest are looked up each time


class _FoldTable(dict[int, str | None]):
    """``str.translate`` table for step 2 of folding; filled lazily, one lookup per character."""

    def __init__(self) -> None:
        super().__init__({ord(blank): " " for blank in _BLANKS})

    def __missing__(self, code: int) -> str | None:
        char = chr(code)
        category = unicodedata.category(char)
        value: str | None = _LOOK_ALIKES.get(char.casefold())  # first: U+0345 folds to ι
        if value is None:
            hidden = category in _REMOVED_CATEGORIES or (category == "Cc" and not char.isspace())
            value = None if hidden else char
        if len(self) < _TABLE_CACHE_LIMIT:
            self[code] = value
        return value


_FOLD_TABLE = _FoldTable()


def fold(text: str) -> str:
    """The form in which terms and prompts are compared (see the module docstring)."""
    decomposed = unicodedata.normalize("NFKD", text)
    return unicodedata.normalize("NFC", decomposed.translate(_FOLD_TABLE).casefold())


_LEET = str.maketrans(
    {"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "@": "a", "$": "s"}
)
_LEET_CHAR = re.compile("[" + re.escape("".join(chr(code) for code in _LEET)) + "]")
_LEET_RUN = re.compile(r"(?:[^\W_]|[@$])+")
_LETTER = re.compile(r"[^\W\d_]")


def _decode_leet(folded: str) -> str:
    """The second-pass copy of a folded prompt: leet decoded where it cannot be a number."""

    def decode(run: re.Match[str]) -> str:
        text = run.group()
        return text.translate(_LEET) if len(text) == 1 or _LETTER.search(text) else text

    return _LEET_RUN.sub(decode, folded)


# --- terms ---------------------------------------------------------------------------------

_PATTERN_TERM = re.compile(r"/(.+)/[iI]?", re.DOTALL)


@dataclass(frozen=True)
class Term:
    """One blocklist entry as a moderator typed it: a word, a phrase or ``/pattern/``."""

    text: str

    @property
    def is_regex(self) -> bool:
        return self.pattern is not None

    @property
    def pattern(self) -> str | None:
        """The source between the slashes of a ``/pattern/`` term, else None."""
        found = _PATTERN_TERM.fullmatch(self.text)
        return found.group(1) if found else None


class _Searcher(Protocol):
    """The part of a compiled ``regex`` pattern this module uses."""

    def search(self, string: str, *, timeout: float | None = None) -> object | None: ...


_NON_ASCII = re.compile(r"[^\x00-\x7f]+")


def _compile_pattern(source: str) -> _Searcher:
    """Compile a pattern's source for folded text, or raise InvalidInput saying why not."""
    folded = _NON_ASCII.sub(lambda run: str(regex.escape(fold(run.group()))), source)
    try:
        compiled: _Searcher = regex.compile(folded, regex.IGNORECASE)
    except regex.error as exc:
        raise InvalidInput(
            f"The pattern /{source}/ is not a valid regular expression: {exc}."
        ) from exc
    if compiled.search("", timeout=REGEX_TIMEOUT) is not None:
        raise InvalidInput(
            f"The pattern /{source}/ matches an empty prompt, so it would block every prompt."
        )
    return compiled


def _probe(source: str, compiled: _Searcher) -> None:
    """Reject a pattern that hits the time bound on a long run of one character.

    Best effort (the run-time bound is the real guard): probes with each letter or digit of the
    pattern, ``a``, ``0`` and a space, the shapes that make nested repetition like ``(a|aa)+$``
    backtrack without end.
    """
    characters = {char for char in source.lower() if char.isascii() and char.isalnum()}
    for char in sorted(characters | {"a", "0", " "}):
        try:
            compiled.search(char * (MAX_PROMPT_LENGTH - 1) + "!", timeout=REGEX_TIMEOUT)
        except TimeoutError:
            raise InvalidInput(
                f"The pattern /{source}/ is too complex: it takes too long on a prompt of many "
                f"{char!r}. Avoid nested repetition such as (a|aa)+."
            ) from None


def parse_term(text: str) -> Term:
    """A blocklist entry from what a moderator typed; raises InvalidInput saying what is wrong."""
    text = text.strip()
    if not text:
        raise InvalidInput("A blocked term cannot be empty.")
    if len(text) > MAX_TERM_LENGTH:
        raise InvalidInput(
            f"A blocked term can be at most {MAX_TERM_LENGTH} characters; this one has {len(text)}."
        )
    term = Term(text)
    if term.pattern is not None:
        _probe(term.pattern, _compile_pattern(term.pattern))
    elif not any(unicodedata.category(char)[0] in "LNS" for char in fold(text)):
        raise InvalidInput(
            "A blocked term needs at least one letter, digit or symbol; "
            "only punctuation or invisible characters would block too much."
        )
    return term


# --- matching ------------------------------------------------------------------------------

# Letters and digits that form a word boundary: not those of scripts written without spaces.
_WORD_CHAR = (
    r"[^\W_\u0e00-\u0eff\u1000-\u109f\u1780-\u17ff\u3040-\u30ff\u31f0-\u31ff"
    r"\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U000323af]"
)
_WORD_START = f"(?<!{_WORD_CHAR})"
_WORD_END = f"(?!{_WORD_CHAR})"
_SEPARATORS = r"[\W_]+"
_PLAIN_WORD = re.compile(r"[^\W_]+")
_IS_WORD_CHAR = re.compile(_WORD_CHAR)


def _branch(folded: str) -> str:
    """The regex source that finds one folded word or phrase term, without boundary checks.

    It starts with the term's first character and ends with an empty group: the engine skips
    a branch whose first character differs at once, and the empty group names the term.
    """
    words = folded.split()
    alternatives = [_SEPARATORS.join(re.escape(word) for word in words)]
    if len(words) == 1 and len(folded) >= MIN_SPACED_LENGTH and _PLAIN_WORD.fullmatch(folded):
        alternatives.append(_SEPARATORS.join(re.escape(char) for char in folded))
    head = re.escape(folded[0])
    rests = "|".join(alternative.removeprefix(head) for alternative in alternatives)
    return f"{head}(?:{rests})()"


def _letter_count(folded: str) -> int:
    """How many letters and digits a folded term has."""
    return sum(map(len, _PLAIN_WORD.findall(folded)))


class _WordMatcher:
    """Words and phrases compiled into one regex, found in one search of the folded prompt."""

    def __init__(self, terms: Iterable[tuple[Term, str]]) -> None:
        # Terms sorted by which ends need a word boundary, so that each boundary check is
        # written once per kind rather than once per term (the check's character class is
        # slow to compile). A failed end check still backtracks into the next term.
        kinds: dict[tuple[bool, bool], list[tuple[Term, str]]] = {}
        for term, folded in terms:
            ends = (
                bool(_IS_WORD_CHAR.fullmatch(folded[0])),
                bool(_IS_WORD_CHAR.fullmatch(folded[-1])),
            )
            kinds.setdefault(ends, []).append((term, folded))
        self._terms: list[Term] = []
        parts = []
        for (start, end), members in kinds.items():
            self._terms.extend(term for term, _ in members)
            branches = "|".join(_branch(folded) for _, folded in members)
            parts.append(f"{_WORD_START if start else ''}(?:{branches}){_WORD_END if end else ''}")
        self._regex = re.compile("|".join(parts)) if parts else None

    def __bool__(self) -> bool:
        return self._regex is not None

    def search(self, folded: str) -> Term | None:
        """The term found earliest in the folded text, else None."""
        found = self._regex.search(folded) if self._regex else None
        return self._terms[found.lastindex - 1] if found and found.lastindex else None


@dataclass(frozen=True)
class BlockHit:
    """Why a prompt is blocked: the term, and whether it is a pattern that ran out of time."""

    term: Term
    timed_out: bool = False


class Blocklist:
    """A server's blocked terms, compiled once; rebuild it when the terms change."""

    def __init__(self, terms: Iterable[Term], *, regex_timeout: float = REGEX_TIMEOUT) -> None:
        self._timeout = regex_timeout
        words: list[tuple[Term, str]] = []
        self._patterns: list[tuple[Term, _Searcher]] = []
        for term in terms:
            if term.pattern is None:
                folded = " ".join(fold(term.text).split())
                if folded:
                    words.append((term, folded))
                continue
            try:
                self._patterns.append((term, _compile_pattern(term.pattern)))
            except InvalidInput as exc:  # stored before a rule change: skip it, do not crash
                log.warning("blocklist: skipping %r: %s", term.text, exc.message)
        self._words = _WordMatcher(words)
        self._leet_words = _WordMatcher(
            (term, folded)
            for term, folded in words
            if _letter_count(folded) >= MIN_LEET_LENGTH and not _LEET_CHAR.search(folded)
        )

    def first_match(self, prompt: str) -> Term | None:
        """The first blocked term found in the prompt, else None."""
        hit = self.check(prompt)
        return hit.term if hit else None

    def check(self, prompt: str) -> BlockHit | None:
        """Like :meth:`first_match`, and tells whether a pattern timed out (counted as a match)."""
        folded = fold(prompt)
        term = self._words.search(folded)
        if term is None and self._leet_words and _LEET_CHAR.search(folded):
            term = self._leet_words.search(_decode_leet(folded))
        if term is not None:
            return BlockHit(term)
        for term, compiled in self._patterns:
            try:
                if compiled.search(folded, timeout=self._timeout) is not None:
                    return BlockHit(term)
            except TimeoutError:
                log.warning("blocklist: pattern %r timed out; counted as a match", term.text)
                return BlockHit(term, timed_out=True)
        return None
