"""Event frames: what happened, to whom and how much, read from one title.

A frame is the part of a headline that survives rewording: the event type (a desk-tunable
taxonomy in config/event_types.toml), the kind of subject (a factory, a restaurant, a
school), and the quantities it names as ranges (30余名 -> [30, 40), 数十名 -> [20, 99],
近300万元 -> [200万, 300万], 八百万元 -> 8,000,000元). Place comes from the gazetteer, not from
here. Story clustering compares frames (``frames_conflict``) so that "南通一纺织厂30余名工人午餐后腹痛送医" and
"海安市某企业食堂疑似食物中毒" are one story, and explains the decision either way.

Chinese numerals are read by cn2an (二零二五 -> 2025, 两千 -> 2000, 八百万 -> 8000000); the
multipliers 万/亿, the approximations (数/几/上 and 近/约/逾/超 before a number, 余/多 after it)
and the units are read here, because they are what make a quantity a range.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Iterable

import ahocorasick
import cn2an

from citycredit.configfiles import packaged_toml
from citycredit.exceptions import ConfigError
from citycredit.ids import POLARITIES, SUBFIELDS

from .text import frequent_first, pairs_within

_CN_NUM = "零〇一二两三四五六七八九十百千"
_HAS_NUMERAL = re.compile(f"[0-9{_CN_NUM}]")
# Words before a number that make it a range, and which side of the number the range lies on.
_NEAR = {"近": "under", "将近": "under", "接近": "under", "约": "around", "大约": "around",
         "逾": "over", "超": "over", "超过": "over"}


@dataclass(frozen=True)
class Quantity:
    unit: str
    low: float
    high: float   # inclusive
    text: str
    # a penalty (罚款20万元): the authorities' answer, compared only with other penalties, never
    # with the event's own amounts (a bill of 8000元, a loss of 300万元)
    sanction: bool = False

    def overlaps(self, other: "Quantity") -> bool:
        return self.low <= other.high and other.low <= self.high

    def comparable(self, other: "Quantity") -> bool:
        """The same unit and the same role (both penalties or neither)."""
        return self.unit == other.unit and self.sanction == other.sanction

    def __str__(self) -> str:
        value = f"{self.low:g}" if self.low == self.high else f"{self.low:g}–{self.high:g}"
        return f"{self.text} = {value}{self.unit}" + (", a penalty" if self.sanction else "")


@dataclass(frozen=True)
class EventType:
    id: str
    name: str
    subfield: str | None
    polarity: str
    join: bool          # may items of this type join on the frame alone (not only on wording)


@dataclass(frozen=True)
class Frame:
    type: EventType | None
    cue: str | None
    subject: str | None        # a subject kind of config/event_types.toml [subjects]
    subject_word: str | None
    quantities: tuple[Quantity, ...]
    object: str | None = None  # the thing that failed ([objects]: 脚手架, 塔吊, 电梯 …)

    def evidence(self) -> list[str]:
        """Human-readable lines for the item's evidence."""
        out = []
        if self.type is not None:
            out.append(f"event type {self.type.id} ({self.type.name}: {self.cue})")
        if self.subject is not None:
            out.append(f"subject {self.subject} ({self.subject_word})")
        out.extend(f"quantity {q}" for q in self.quantities)
        if self.object is not None:
            out.append(f"object {self.object}")
        return out


NO_FRAME = Frame(None, None, None, None, ())


def _alternation(words) -> str:
    return "|".join(re.escape(w) for w in sorted(set(words), key=len, reverse=True)) or "(?!)"


@lru_cache(maxsize=4096)
def numeral(text: str) -> float | None:
    """An Arabic or Chinese numeral (with 万/亿 inside: 1.2万, 八百万) as a number, or None."""
    try:
        return float(text)
    except ValueError:
        pass
    try:
        return float(cn2an.cn2an(text, "smart"))
    except (ValueError, KeyError, IndexError):
        return None


class FrameReader:
    """Reads frames with one compiled taxonomy (built once per process: ``load_frame_reader``)."""

    def __init__(self, config: dict) -> None:
        types = config.get("type", [])
        if not types:
            raise ConfigError("config/event_types.toml: no [[type]] entries")
        self.types: dict[str, EventType] = {}
        self.reader_min_support = int(config.get("reader_min_support", 0))
        if self.reader_min_support < 0:
            raise ConfigError("config/event_types.toml: reader_min_support must be 0 or more")
        cue_type: dict[str, str] = {}
        cue_subjects: dict[str, frozenset[str]] = {}
        pairs: list[tuple[str, frozenset[str], frozenset[str], int]] = []
        for entry in types:
            tid = entry["id"]
            subfield = entry.get("subfield") or None
            if subfield is not None and subfield not in SUBFIELDS:
                raise ConfigError(f"config/event_types.toml: type {tid}: unknown subfield {subfield!r}")
            if entry.get("polarity") not in POLARITIES:
                raise ConfigError(f"config/event_types.toml: type {tid}: polarity must be one of {POLARITIES}")
            self.types[tid] = EventType(tid, entry.get("name", tid), subfield, entry["polarity"], bool(entry.get("join", True)))
            for cue in entry.get("cues", []):
                cue_type.setdefault(cue, tid)
            for cue, kinds in entry.get("cue_subjects", {}).items():
                # 被查 is an official's investigation, not a factory's inspection (湛江一水产加工厂…被查):
                # the cue types the title only when its subject is of these kinds, or unknown
                if cue not in entry.get("cues", []):
                    raise ConfigError(f"config/event_types.toml: type {tid}: cue_subjects names {cue!r}, not one of its cues")
                cue_subjects[cue] = frozenset(kinds)
            for pair in entry.get("pairs", []):
                if not pair.get("first") or not pair.get("then"):
                    raise ConfigError(f"config/event_types.toml: type {tid}: a pair needs `first` and `then` words")
                pairs.append((tid, frozenset(pair["first"]), frozenset(pair["then"]), int(pair.get("within", 12))))
        self._cue_type = cue_type
        self._cue_subjects = cue_subjects
        # words that hold a cue and mean something else (被查封: sealed up, not 被查: investigated);
        # a cue inside one of them is no cue
        self._traps = frozenset(config.get("cue_traps", {}).get("words", []))
        # A cue in two parts (培训机构…跑路, 捡到…送还): a word of `first`, then one of `then` starting
        # at most `within` characters after the first word ends. Found by the same automaton pass.
        self._pairs = tuple(pairs)
        parts = {w for _, first, then, _ in pairs for w in first | then}
        objects = config.get("objects", {})
        self._objects = frozenset(objects.get("words", []))
        # (object, object) pairs one thing may be called by on two sites (塔吊 / 塔机)
        self._same_object = pairs_within(objects.get("compatible", []))
        subjects = config.get("subjects", {})
        self._generic = frozenset(subjects.get("generic", []))
        # a subject word the enforcer's verb follows is the enforcer (交警查获, 警方通报) or the place
        # goods were seized (仓库查获), not the subject
        self._agent_verbs = tuple(subjects.get("agent_verbs", []))
        self._subject_kind = {w: kind for kind, words in subjects.items() if kind != "agent_verbs" for w in words}
        unknown = {k for kinds in cue_subjects.values() for k in kinds} - set(self._subject_kind.values())
        if unknown:
            raise ConfigError(f"config/event_types.toml: cue_subjects names no subject kind of [subjects]: {sorted(unknown)}")
        self._words = ahocorasick.Automaton()
        for w in [*self._subject_kind, *parts, *self._objects, *self._traps]:
            roles = ((w in cue_type) + (w in self._subject_kind) + (w in parts) + (w in self._objects)
                     + (w in self._traps))
            if roles > 1:  # one automaton value holds one role
                raise ConfigError(f"config/event_types.toml: {w!r} is more than one of a cue, a pair's word, "
                                  "an object, a cue trap and a subject word")
        for w in frequent_first([*cue_type, *self._subject_kind, *parts, *self._objects, *self._traps]):  # common first
            self._words.add_word(w, ("cue" if w in cue_type else "part" if w in parts else
                                     "object" if w in self._objects else "trap" if w in self._traps else "", w))
        self._words.make_automaton()
        q = config.get("quantities", {})
        self.rising = frozenset(q.get("rising", []))
        # an amount this close after a penalty word, or right before one, is a penalty (罚款20万元,
        # 被罚5万元, 被处120万元罚款)
        self._sanction_word = q.get("sanction_word", "罚")
        self._sanction_within = int(q.get("sanction_within", 4))
        units = _alternation(q.get("units", []))
        # Every group before the unit is optional, so the regex engine tries them all at every
        # position of a title; a match can only start with a character one of the groups starts
        # with, and the lookahead rejects every other position at once (the same matches).
        unit_words = list(q.get("units", []))
        starts = "".join(sorted({*"数几上余多万亿", *"".join(_NEAR), *_CN_NUM, *(u[0] for u in unit_words if u)}))
        # (an empty unit, a config slip, would match anywhere: then no lookahead)
        ahead = rf"(?=[\d{re.escape(starts)}])" if all(unit_words) else ""
        # (近|约|逾|超…)? (数|几|上)? numeral (余|多|几)? (万|亿)? (余|多)? unit: 30余名, 130万元, 数十名,
        # 两千余名, 1.2万件, 近300万元
        near = "|".join(sorted(_NEAR, key=len, reverse=True))
        self._quantity = re.compile(
            rf"{ahead}({near})?(数|几|上)?(\d+(?:\.\d+)?|[{_CN_NUM}]+)?(余|多|几)?([万亿])?(余|多)?({units})")

    @property
    def automaton(self) -> ahocorasick.Automaton:
        """Cues, pairs' words, subject words and objects -> (role, word)."""
        return self._words

    def read(self, text: str, found: Iterable[tuple[int, tuple[str, str]]] | None = None) -> Frame:
        """The frame of one normalised title. ``found``: this automaton's matches in ``text`` when
        already scanned (scan.TitleScan)."""
        # One automaton pass finds every cue and subject word; the choice is a regex scan's:
        # the leftmost (then longest) cue; subject words scanned leftmost-longest without
        # overlap, the first that is not generic.
        cues, words, parts, objects, traps = [], [], [], [], []
        for end, (role, w) in self._words.iter(text) if found is None else found:
            if role == "cue":
                cues.append((end - len(w) + 1, -len(w), w, self._cue_type[w]))
            else:
                (parts if role == "part" else objects if role == "object" else traps if role == "trap"
                 else words).append((end - len(w) + 1, -len(w), w))
        subject = word = None
        if words:
            words.sort()
            until = -1
            for start, neg_len, w in words:
                if start < until:
                    continue  # inside a word already read (a longer one at the same start came first)
                until = start - neg_len
                if w not in self._generic and not (self._agent_verbs and text.startswith(self._agent_verbs, until)):
                    subject, word = self._subject_kind[w], w
                    break
        etype = cue = None
        if parts:
            cues += self._pair_cues(text, parts)
        if traps:  # (start, -length, ...): a cue from start to start - (-length), inside a trap's span
            cues = [c for c in cues if not any(t <= c[0] and c[0] - c[1] <= t - n for t, n, _ in traps)]
        if subject is not None and self._cue_subjects:
            cues = [c for c in cues if subject in self._cue_subjects.get(c[2], (subject,))]
        if cues:
            _, _, cue, tid = min(cues)
            etype = self.types[tid]
        quantities = self._quantities(text)
        thing = min(objects)[2] if objects else None  # the first named, the longest at one place
        if etype is None and subject is None and not quantities and thing is None:
            return NO_FRAME
        return Frame(etype, cue, subject, word, quantities, thing)

    def same_object(self, a: str, b: str) -> bool:
        """One thing: the same word, one inside the other (鞋 / 运动鞋), or a listed pair (塔吊 / 塔机)."""
        return a in b or b in a or (a, b) in self._same_object

    def _pair_cues(self, text: str, parts: list[tuple[int, int, str]]) -> list[tuple[int, int, str, str]]:
        """Two-part cues found, as plain cues are listed: (start, -length, the text from the first
        word to the end of the second, type id)."""
        found = []
        for tid, first, then, within in self._pairs:
            for start, neg_len, w in parts:
                if w not in first:
                    continue
                end = start - neg_len
                for s2, n2, w2 in parts:
                    if w2 in then and end <= s2 <= end + within:
                        cue = text[start:s2 - n2]
                        found.append((start, -len(cue), cue, tid))
                        break
        return found

    def _quantities(self, text: str) -> tuple[Quantity, ...]:
        if not _HAS_NUMERAL.search(text):
            return ()  # most titles: one C-level scan, no regex over every position
        out = []
        for m in self._quantity.finditer(text):
            near, vague, number, approx, mult, approx2, unit = m.groups()
            if number is None and vague is None:
                continue
            if number is not None and number in "一两" and vague is None and approx is None and mult is None:
                continue  # 一家企业, 两名男子: an article, not a count the story turns on
            if vague is not None and number is None:
                continue  # 数名, 几人: no magnitude at all
            value = numeral(number)
            if value is None:
                continue
            scale = {"万": 1e4, "亿": 1e8}.get(mult or "", 1.0)
            low = value * scale
            if vague in ("数", "几"):           # 数十 = 20..99, 几百 = 200..999
                low, high = 2 * low, 10 * low - 1
            elif vague == "上":                  # 上百 = 100..199
                high = 2 * low - 1
            elif approx or approx2 or _NEAR.get(near or "") == "over":
                # 30余 = 30..39, 130万余 = 130万..140万, 逾30 = 30..39
                step = _step(value) * scale
                high = low + step - (1 if step >= 1 else 0)
            elif near:
                # 近300万 (nearly) = 200万..300万, 约300万 (about) = 250万..350万: one site's 近300万元
                # is another's 286万元, and read as exactly 300万 it vetoed the join
                step = _step(value) * scale
                low, high = (low - step, low) if _NEAR[near] == "under" else (low - step / 2, low + step / 2)
            else:
                high = low
            # 罚款20万元 / 被罚5万元 (the word before) or 被处120万元罚款 / 120万元的罚款 (right after)
            sanction = bool(self._sanction_word) and (
                self._sanction_word in text[max(0, m.start() - self._sanction_within):m.start()]
                or self._sanction_word in text[m.end():m.end() + 2])
            out.append(Quantity(unit, low, high, m.group(), sanction))
        return tuple(out)


def _step(value: float) -> float:
    """The unit of the last significant digit: 30 -> 10, 130 -> 10, 2000 -> 1000, 1.2 -> 0.1."""
    if value != int(value):
        return 10 ** -len(f"{value:g}".split(".")[1])
    n, step = int(value), 1
    while n and n % 10 == 0:
        n //= 10
        step *= 10
    return float(step)


def frames_conflict(a: Frame, b: Frame, rising: frozenset[str], types: bool = True) -> str | None:
    """Why two frames are two events (a sentence for the evidence), or None when compatible.
    ``types=False`` leaves the event types out: for titles that already share their wording,
    where 化工厂爆炸起火 and 化工厂起火 are one event read as two types."""
    if types and a.type is not None and b.type is not None and a.type.id != b.type.id:
        return f"event type {a.type.id} ≠ {b.type.id}"
    if types and a.object is not None and b.object is not None and not load_frame_reader().same_object(a.object, b.object):
        # joined on the frame alone (no wording in common): a scaffold's collapse and a tower
        # crane's are two accidents (with wording in common, one may name the part of the other)
        return f"object {a.object} ≠ {b.object}"
    if a.subject is not None and b.subject is not None and a.subject != b.subject:
        return f"subject {a.subject_word} ({a.subject}) ≠ {b.subject_word} ({b.subject})"
    for qa in a.quantities:
        if qa.unit in rising:
            continue
        same_unit = [qb for qb in b.quantities if qa.comparable(qb)]
        if same_unit and not any(qa.overlaps(qb) for qb in same_unit):
            return f"quantity {qa.text} ≠ {same_unit[0].text}"
    return None


@lru_cache(maxsize=1)
def load_frame_reader() -> FrameReader:
    return FrameReader(packaged_toml("event_types.toml"))
