"""The blocklist matcher: words, phrases, look-alikes, invisible characters, spelled-out and
leetspeak words, the false positives each rule must not cause, patterns with their time bound,
and the validation of what moderators type."""

from __future__ import annotations

import logging
import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.errors import InvalidInput
from bot.moderation.blocklist import (
    MAX_TERM_LENGTH,
    BlockHit,
    Blocklist,
    Term,
    fold,
    parse_term,
)


def blocked(term: str, prompt: str) -> bool:
    """Whether a blocklist of this one term refuses the prompt."""
    return Blocklist([parse_term(term)]).first_match(prompt) is not None


def assert_blocks(term: str, prompts: list[str]) -> None:
    missed = [prompt for prompt in prompts if not blocked(term, prompt)]
    assert missed == [], f"{term!r} should block {missed!r}"


def assert_allows(term: str, prompts: list[str]) -> None:
    wrong = [prompt for prompt in prompts if blocked(term, prompt)]
    assert wrong == [], f"{term!r} should not block {wrong!r}"


# --- words and phrases ---------------------------------------------------------------------


def test_words_match_case_insensitively() -> None:
    assert_blocks("cat", ["Cat!", "a cat, sleeping", "CAT", "cAt"])
    assert_blocks("CAT", ["a cat"])


def test_words_match_on_word_boundaries_only() -> None:
    assert_allows("cat", ["concatenate", "scat", "cats", "bobcat", "cat5", "a dog"])


def test_punctuation_and_underscore_end_a_word() -> None:
    assert_blocks("cat", ["(cat)", "cat's toy", "cat_girl", "#cat", "me@cat.com"])


def test_phrases_match_with_any_separator_between_words() -> None:
    assert_blocks(
        "blood bath",
        ["a blood bath", "Blood-Bath", "blood,  bath", "blood_bath", "blood\nbath", "blood…bath"],
    )
    assert_allows("blood bath", ["bloodbath", "blood baths", "bad blood, bathed"])


def test_whitespace_in_a_term_is_collapsed() -> None:
    assert_blocks("  blood \t  bath ", ["blood bath"])


def test_punctuation_inside_a_term_is_literal() -> None:
    assert_blocks("f*ck", ["what the f*ck"])
    assert_allows("f*ck", ["fuck", "f ck"])
    assert_blocks("c++", ["written in C++ today"])
    assert_allows("c++", ["c"])


def test_emoji_terms_match_anywhere() -> None:
    assert_blocks("🍆", ["an eggplant🍆", "🍆\ufe0f", "🍆🍆"])
    assert_allows("🍆", ["an eggplant"])


def test_scripts_without_spaces_have_no_word_boundaries() -> None:
    assert_blocks("猫", ["黒猫です"])
    assert_blocks("cat", ["画一只cat"])
    assert_allows("猫", ["犬です"])


def test_the_term_found_earliest_in_the_prompt_is_reported() -> None:
    blocklist = Blocklist([Term("dog"), Term("cat")])
    assert blocklist.first_match("a cat and a dog") == Term("cat")
    assert blocklist.first_match("a dog and a cat") == Term("dog")


def test_a_longer_term_is_found_when_a_shorter_one_fails_its_boundary() -> None:
    blocklist = Blocklist([Term("cat"), Term("cats")])
    assert blocklist.first_match("three cats") == Term("cats")
    assert blocklist.first_match("one cat") == Term("cat")


def test_nothing_blocks_without_terms() -> None:
    assert Blocklist([]).first_match("anything at all") is None
    assert Blocklist([Term("cat")]).first_match("") is None


# --- folding -------------------------------------------------------------------------------


def test_look_alike_letters_match() -> None:
    assert_blocks(
        "cat",
        [
            "с\u0430t",  # Cyrillic с and а
            "ｃａｔ",  # fullwidth
            "cát",  # accented
            "ĈÀŢ",  # accented capitals
            "ca\u0301t",  # a combining accent
            "𝐜𝐚𝐭",  # mathematical bold
            "𝒸𝒶𝓉",  # mathematical script
            "ⓒⓐⓣ",  # circled
        ],
    )
    assert_blocks("toxic", ["ΤΟΧΙC"])  # Greek capitals Τ Ο Χ Ι
    assert_blocks("pose", ["ροѕе"])  # Greek ρ ο, Cyrillic ѕ е
    assert_blocks("strasse", ["STRAẞE"])


def test_look_alike_terms_match_plain_prompts() -> None:
    assert_blocks("саt", ["cat"])


def test_non_latin_terms_match_in_any_case() -> None:
    assert_blocks("кот", ["КОТ", "кот", "Кот"])
    assert_blocks("ηλιος", ["ΗΛΙΟΣ", "ήλιος"])


def test_typographic_apostrophes_fold_to_ascii() -> None:
    assert_blocks("don't", ["don’t do it"])


@pytest.mark.parametrize(
    "invisible",
    [
        "\u200b",  # zero-width space
        "\u200c",  # zero-width non-joiner
        "\u200d",  # zero-width joiner
        "\u200e",  # left-to-right mark
        "\u202e",  # right-to-left override
        "\u2060",  # word joiner
        "\u2064",  # invisible plus
        "\ufeff",  # byte order mark
        "\u00ad",  # soft hyphen
        "\ufe0f",  # variation selector 16
        "\U000e0041",  # tag character
        "\u034f",  # combining grapheme joiner
        "\x00",  # control character
    ],
)
def test_invisible_characters_inside_a_word_are_ignored(invisible: str) -> None:
    assert_blocks(
        "cat", [f"c{invisible}at", f"{invisible}cat{invisible}", f"c{invisible}a{invisible}t"]
    )


def test_blank_looking_letters_separate_words() -> None:
    assert_blocks("cat", ["a\u3164cat"])  # Hangul filler


# --- spelled-out words ---------------------------------------------------------------------


def test_a_word_spelled_out_letter_by_letter_matches() -> None:
    assert_blocks("cat", ["c.a.t", "c-a-t", "c_a_t", "c a t", "C . A . T", "c/a/t"])
    assert_blocks("blood", ["b.l.o.o.d", "b l o o d", "a b-l-o-o-d bath"])


def test_only_every_letter_spelled_out_counts() -> None:
    assert_allows("acat", ["a cat", "ac at", "a ca t"])
    assert_allows("blood", ["bl ood", "b lood", "blo-od"])


def test_short_terms_are_not_matched_spelled_out() -> None:
    assert_allows("ab", ["Plan A, B or C", "a b"])
    assert_blocks("ab", ["ab"])


def test_phrases_and_terms_with_punctuation_are_not_matched_spelled_out() -> None:
    assert_allows("blood bath", ["b l o o d b a t h"])
    assert_allows("f*ck", ["f * c k"])


# --- leetspeak -----------------------------------------------------------------------------


def test_leetspeak_matches() -> None:
    assert_blocks("cat", ["c4t", "C@T", "(c47)", "c 4 t"])
    assert_blocks("blood", ["bl00d", "BL0OD"])
    assert_blocks("ass", ["a$$", "4ss"])
    assert_blocks("toxic", ["70x1c"])


def test_terms_with_digits_match_as_written() -> None:
    assert_blocks("a1", ["A1 sauce"])
    assert_allows("a1", ["ai art", "an ai"])
    assert_blocks("b52", ["a B52 bomber"])
    assert_blocks("c4t", ["c4t"])
    assert_allows("c4t", ["cat"])


def test_leetspeak_leaves_numbers_and_short_words_alone() -> None:
    assert_allows("iota", ["page 1074"])  # 1074 is a number, not "iota"
    assert_allows("toss", ["model 7055"])
    assert_allows("ak", ["4k wallpaper"])  # too short for the leet pass
    assert_allows("ed", ["a 3d render"])


# --- patterns ------------------------------------------------------------------------------


def test_patterns_match_case_insensitively() -> None:
    assert_blocks(r"/cat\d+/", ["CAT42", "cat7"])
    assert_blocks(r"/CAT\d+/", ["cat42"])
    assert_blocks(r"/c[a@]ts?/i", ["C@TS"])
    assert_allows(r"/cat\d+/", ["cat", "cats"])


def test_patterns_have_no_implicit_word_boundaries() -> None:
    assert_blocks("/cat/", ["concatenate"])
    assert_allows(r"/\bcat\b/", ["concatenate"])


def test_patterns_see_the_folded_prompt_before_leet_decoding() -> None:
    assert_blocks("/cafe/", ["CAFÉ", "ｃａｆｅ", "c\u200bafe"])
    assert_allows("/cat/", ["c4t"])
    assert_blocks("/кот+/", ["КОТТТ"])  # non-ASCII letters in a pattern are folded too


def test_patterns_come_after_words_then_in_blocklist_order() -> None:
    blocklist = Blocklist([Term("/dog/"), Term("/cat/"), Term("cat")])
    assert blocklist.first_match("dog cat") == Term("cat")
    assert blocklist.first_match("dog") == Term("/dog/")


def test_nested_repetition_from_the_issue_finishes_quickly() -> None:
    term = Term("/(a+)+$/")  # parse_term refuses it; a stored one must not stall the bot either
    blocklist = Blocklist([term])
    started = time.monotonic()
    assert blocklist.check("a" * 37 + "!") is None  # the regex engine copes with short runs
    assert time.monotonic() - started < 1.0
    started = time.monotonic()
    assert blocklist.check("a" * 1999 + "!") == BlockHit(term, timed_out=True)  # not long ones
    assert time.monotonic() - started < 1.0


def test_a_pattern_that_runs_out_of_time_counts_as_a_match(
    caplog: pytest.LogCaptureFixture,
) -> None:
    term = Term("/(a|aa)+$/")  # exponential backtracking on a run of a's
    blocklist = Blocklist([term])
    started = time.monotonic()
    with caplog.at_level(logging.WARNING, logger="bot.moderation.blocklist"):
        hit = blocklist.check("a" * 40 + "!")
    assert time.monotonic() - started < 1.0
    assert hit is not None
    assert (hit.term, hit.timed_out) == (term, True)
    assert blocklist.first_match("a" * 40 + "!") == term
    assert "timed out" in caplog.text and "(a|aa)+$" in caplog.text
    assert blocklist.check("aaaa") == BlockHit(term, timed_out=False)
    assert blocklist.check("b") is None


def test_an_invalid_stored_pattern_is_skipped(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="bot.moderation.blocklist"):
        blocklist = Blocklist([Term("/(/"), Term("/x*/"), Term("cat")])
    assert blocklist.first_match("a cat") == Term("cat")
    assert blocklist.first_match("a dog") is None
    assert "skipping '/(/'" in caplog.text


# --- parse_term ----------------------------------------------------------------------------


def test_parse_term_strips_and_keeps_what_was_typed() -> None:
    assert parse_term("  Blood Bath ") == Term("Blood Bath")
    assert parse_term("x" * MAX_TERM_LENGTH).text == "x" * MAX_TERM_LENGTH


@pytest.mark.parametrize(
    ("text", "pattern"),
    [
        ("/cat/", "cat"),
        ("/cat/i", "cat"),
        ("/cat/I", "cat"),
        ("/a/b/", "a/b"),
        ("cat", None),
        ("/r/nsfw", None),
        ("/", None),
        ("blood bath", None),
    ],
)
def test_which_terms_are_patterns(text: str, pattern: str | None) -> None:
    term = Term(text)
    assert term.pattern == pattern
    assert term.is_regex is (pattern is not None)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "cannot be empty"),
        ("   \n", "cannot be empty"),
        ("x" * (MAX_TERM_LENGTH + 1), "at most 200 characters; this one has 201"),
        ("/" + "a" * MAX_TERM_LENGTH + "/", "at most 200 characters"),
        ("/(/", "not a valid regular expression"),
        ("/[a-/", "not a valid regular expression"),
        ("/a**/", "not a valid regular expression"),
        ("/a*/", "matches an empty prompt"),
        ("/cat|/", "matches an empty prompt"),
        ("/\u200b/", "matches an empty prompt"),
        ("/(a|aa)+$/", "too complex"),
        ("/(a+)+$/", "too complex"),
        (r"/(\s|\s\s)+$/", "too complex"),
        ("...", "at least one letter, digit or symbol"),
        ("\u200b\u200d", "at least one letter, digit or symbol"),
        ("//", "at least one letter, digit or symbol"),
    ],
)
def test_parse_term_rejects(text: str, message: str) -> None:
    with pytest.raises(InvalidInput) as raised:
        parse_term(text)
    assert message in raised.value.public_message


def test_parse_term_accepts_ordinary_patterns_quickly() -> None:
    started = time.monotonic()
    for text in [r"/c[a4@]t+s?/", r"/(kill|murder)\s+\w+/", r"/\bnud(e|ity)\b/", "/(ab+)+c/"]:
        assert parse_term(text).is_regex
    assert time.monotonic() - started < 1.0


# --- folding properties --------------------------------------------------------------------


@given(st.text(max_size=50))
def test_folding_is_idempotent(text: str) -> None:
    assert fold(fold(text)) == fold(text)


@given(st.text(alphabet=st.characters(codec="utf-8"), max_size=30))
def test_a_term_blocks_itself_inside_a_sentence(text: str) -> None:
    try:
        term = parse_term(text)
    except InvalidInput:
        return
    if not term.is_regex:
        assert Blocklist([term]).first_match(f"say {text} now") == term
