"""One Aho-Corasick pass over a title for the three word lists read from the whole title.

The gazetteer (place names and traps), the credit lexicon and the event-frame words each have
an automaton of their own, and a title was scanned three times. Their words are put in one
automaton whose value is a triple (the gazetteer's value, the lexicon's, the frame reader's;
None where a list lacks the word), so one pass finds every match, handed to each stage as its
own automaton would have yielded them: (end index, value), by end, longest first at one end.

The scan reads the title with every character that no word contains replaced by "\\x00"
(text.foreign_chars): such a character can be part of no match, so the matches are the same,
and the scan finds it at once. The trained reader's n-grams are taken from other text (the
masked title) and keep their own automaton.
"""
from __future__ import annotations

from functools import lru_cache
from typing import Any

import ahocorasick

from .classify import CreditClassifier
from .frames import FrameReader
from .gazetteer import Gazetteer
from .text import foreign_chars, frequent_first

Found = list[tuple[int, Any]]  # (end index, value) pairs, as ahocorasick.Automaton.iter yields them

_DUMMY = "\x00\x01"  # the root's first child: where a character of no word is found (text.foreign_chars)


class TitleScan:
    """The union of several automata's words; ``scan(text)`` is each one's ``iter(text)`` at once."""

    def __init__(self, *automata: ahocorasick.Automaton) -> None:
        values: dict[str, list[Any]] = {}
        for i, automaton in enumerate(automata):
            for word, value in automaton.items():
                if word != _DUMMY:
                    values.setdefault(word, [None] * len(automata))[i] = value
        self._none: tuple[tuple[()], ...] = ((),) * len(automata)
        self._automaton = ahocorasick.Automaton()
        self._automaton.add_word(_DUMMY, (None,) * len(automata))
        for word in frequent_first(values):  # common characters first: a faster scan, the same matches
            self._automaton.add_word(word, tuple(values[word]))
        self._automaton.make_automaton()
        self._foreign = foreign_chars(values)

    def scan(self, text: str) -> tuple[Found, ...]:
        """Per automaton, the (end, value) pairs its ``iter(text)`` yields, in the same order."""
        found: tuple[Found, ...] = tuple(map(list, self._none))  # one empty list per automaton
        for end, values in self._automaton.iter(self._foreign.sub("\x00", text)):
            for out, value in zip(found, values):
                if value is not None:
                    out.append((end, value))
        return found


@lru_cache(maxsize=4)
def load_scan(gazetteer: Gazetteer, classifier: CreditClassifier, frames: FrameReader) -> TitleScan:
    """The process-wide scan of the process-wide gazetteer, lexicon and frame reader (their
    values: what Gazetteer.hits, CreditClassifier.classify and FrameReader.read take as ``found``)."""
    return TitleScan(gazetteer.automaton, classifier.automaton, frames.automaton)
