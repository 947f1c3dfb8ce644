"""Title normalisation before any matching: one canonical form of a headline.

Real titles arrive with full-width forms, HTML entities and tags left by feeds,
traditional characters from Hong Kong/Taiwan mirrors, emoji and stray control
characters. Everything downstream (gazetteer, lexicons, n-grams) matches the
normalised text, so the same words always look the same.
"""
from __future__ import annotations

import html
import re
import unicodedata
from functools import lru_cache
from importlib import resources
from typing import Iterable

from citycredit.configfiles import packaged_toml

_TAG = re.compile(r"<[^>]{0,200}>")
_SPACE = re.compile(r"\s+")
# Characters kept for matching: CJK ideographs, ASCII letters and digits.
_CONTENT = re.compile(r"[\u4e00-\u9fffA-Za-z0-9]")
_NOT_CONTENT = re.compile(r"[^\u4e00-\u9fffA-Za-z0-9]+")


@lru_cache(maxsize=1)
def _trad_table() -> dict[int, str]:
    """Traditional -> simplified character map for words the lexicons and gazetteer use."""
    pairs = packaged_toml("traditional.toml")["pairs"]
    table: dict[int, str] = {}
    for trad, simp in zip(pairs["traditional"], pairs["simplified"], strict=True):
        table[ord(trad)] = simp
    return table


@lru_cache(maxsize=1)
def _trad_chars() -> re.Pattern[str]:
    """Any character ``_trad_table`` maps: one C-level search says whether a title needs translating
    at all (most are simplified already, and str.translate looks every character up in the dict)."""
    return re.compile("[" + "".join(re.escape(chr(c)) for c in sorted(_trad_table())) + "]")


def _drop_char(ch: str) -> bool:
    cat = unicodedata.category(ch)
    # So: emoji and pictographs; Cc/Cf: control and zero-width; Co/Cs: private use and lone surrogates.
    return cat in ("So", "Cc", "Cf", "Co", "Cs", "Sk")


# Characters outside the blocks real headlines use (ASCII, Latin-1, CJK, CJK and full-width
# punctuation): only these are looked at one by one for emoji and control characters.
_UNUSUAL = re.compile("[^\u0020-\u007e\u00a0-\u00ff\u2010-\u2027\u3000-\u303f\u3400-\u4dbf\u4e00-\u9fff\uff01-\uff5e]")


def _drop_unusual(match: re.Match[str]) -> str:
    ch = match.group()
    return " " if _drop_char(ch) else ch


# Full-width ASCII (！ to ～) and the ideographic space: their NFKC forms are their compatibility
# decompositions, the ASCII character and the space.
_WIDE = {**{c: c - 0xFEE0 for c in range(0xFF01, 0xFF5F)}, 0x3000: 0x20}


def nfkc(text: str) -> str:
    """``unicodedata.normalize("NFKC", text)``, cheaper for most headlines: what keeps them from
    being NFKC already is full-width punctuation (，：（）), whose NFKC form is its decomposition.
    Replacing characters by their compatibility decompositions keeps the text compatibility-
    equivalent, and NFKC is one string per equivalence class: when the result is NFKC already
    it is the NFKC form (else, say a combining mark after a full-width letter, NFKC proper)."""
    narrow = text.translate(_WIDE)
    return narrow if unicodedata.is_normalized("NFKC", narrow) else unicodedata.normalize("NFKC", text)


def normalize(title: str) -> str:
    """Canonical headline: entities decoded, tags dropped, NFKC, simplified, single spaces."""
    text = html.unescape(title) if "&" in title else title
    if "<" in text:
        text = _TAG.sub(" ", text)
    if not unicodedata.is_normalized("NFKC", text):
        text = nfkc(text)
    if not text.isascii():
        if _trad_chars().search(text):
            text = text.translate(_trad_table())
        if _UNUSUAL.search(text):
            text = _UNUSUAL.sub(_drop_unusual, text)
    return _SPACE.sub(" ", text).strip()


def content_chars(text: str) -> str:
    """Only ideographs, letters and digits (lower-case): the string n-grams are taken from."""
    # the other characters removed in one C pass: the same string as joining the kept ones,
    # without a list of one-character strings (a third of the time)
    return _NOT_CONTENT.sub("", text).lower()


def has_content(text: str) -> bool:
    """True when ``content_chars(text)`` is not empty (one regex search, no string built)."""
    return _CONTENT.search(text) is not None


@lru_cache(maxsize=1)
def _char_frequency() -> dict[str, int]:
    """How often each character occurs in real headlines (summed over the corpus bigram counts
    of config/bigram_df.txt, the table story clustering weighs bigrams with)."""
    freq: dict[str, int] = {}
    text = resources.files("citycredit.config").joinpath("bigram_df.txt").read_text(encoding="utf-8")
    for line in text.splitlines():
        gram, _, count = line.partition("\t")
        if not line or line.startswith("#") or gram == "documents":
            continue
        for ch in gram:
            freq[ch] = freq.get(ch, 0) + int(count)
    return freq


def pairs_within(groups: Iterable[Iterable[str]]) -> frozenset[tuple[str, str]]:
    """Every ordered pair of two different words of one group: the "one thing under several
    names" lists of the config files (subject heads, trades, objects) as a set to test a pair in."""
    return frozenset((a, b) for group in groups for a in group for b in group if a != b)


def frequent_first(words: Iterable[str]) -> list[str]:
    """``words`` in the order to add them to an Aho-Corasick automaton so that it scans fast:
    pyahocorasick finds a node's child by a linear search over the children in the order they
    were added, and the root of a gazetteer has thousands. Words whose characters are common in
    headlines go first, so the common characters are found near the front at every level. The
    order changes no match, only the time to find it."""
    freq = _char_frequency()
    return sorted(words, key=lambda w: [(-freq.get(ch, 0), ch) for ch in w])


def foreign_chars(words: Iterable[str]) -> re.Pattern[str]:
    """A pattern matching any character that occurs in none of ``words``: replaced by a character
    that starts no word ("\\x00", added first as the dummy word "\\x00\\x01"), it is found at the
    front of the root's children instead of after a scan of all of them (see ``frequent_first``).
    The text keeps its length, so match positions do not move."""
    alphabet = sorted(set("".join(words)) - {"\x00", "\x01"})
    return re.compile("[^" + "".join(re.escape(ch) for ch in alphabet) + "]" if alphabet else "(?s:.)")
