"""Story clustering: one stable ``story_id`` for the same real-world story across sites.

Two sightings are the same story when they are within the story window in event
time, their cities agree (both the same prefecture, or at least one names none: one
site writes 北京, another 在京), and their titles are near-duplicates over character
bigrams weighted by rarity (idf**3 from the real headline corpus, so names and places
dominate and templates like 接受纪律审查 count little): a weighted Jaccard, or a
weighted containment for a short headline inside a longer one. Numbers that disagree
(银价突破100美元 vs 120美元) and credit subfields that disagree keep stories apart.
Event types (config/clustering.toml [events]) keep the same people apart when the
kind of event differs (被查 vs 开除党籍, 将访华 vs 会谈, 发射 vs 贺电) or a meeting has
another host; the same type and host with a shared name joins at a lower similarity.

A *bucket* is a partition of the state (all stories a match may join must share one):
Understanding uses one per prefecture and one for items naming no city (``story_bucket``),
so workers can split the clustering; a placed credit story is echoed into the no-city
bucket, where a wording naming only its province may join it (``echo``).

State lives in a MutableMapping (a dict in replay, a changelogged Faust table in the
worker) in small records, so a table write is never bigger than one story:

    m:<bucket>             {"hours": [hour, ...], "seq": n}    hours that hold stories
    h:<bucket>:<hour>      [story_id, ...]                       stories registered in that hour (first 256;
    h:<bucket>:<hour>:<k>  [story_id, ...]                       then chunk k, counted in m:'s "chunks")
    s:<story_id>           [first_ts, last_ts, grams, numbers, subfield, title, hour registered, city adcode,
                            members: [[grams, numbers, text, place grams], ...] of up to max_members distinct wordings,
                            county adcode, frame (_frame_state), province, echoed story id or null,
                            held sightings: [[ts, site, surface, rank, url, title, summary, change], ...],
                            credit (a member was a credit item),
                            candidates: [[city adcode, province], ...] an ambiguous place name may mean,
                            for a story naming no city and no province (白云区: 广州 or 贵阳)]
    s:~<story_id>          the echo of a placed credit story in the no-city bucket (``echo``): the same
                            layout, its echoed story id set, no sightings held

A new sighting is compared with every wording a story has collected (single link), so
a story seen as 东京上野动物园两大熊猫启程 and as 旅日大熊猫回国 matches either.

Stories registered more than ``window`` before the newest event of the bucket are
deleted with their hour, so state stays bounded; a story still being seen is
re-registered in the current hour and lives on. Everything is event time: replaying
the same ordered input gives the same ids.
"""
from __future__ import annotations

import hashlib
import math
import re
from collections import defaultdict
from dataclasses import dataclass
from functools import lru_cache
from itertools import repeat
from importlib import resources
from typing import Any, Iterable, Iterator, MutableMapping, Sequence

from citycredit.configfiles import packaged_toml

from .frames import NO_FRAME as _NO_FRAME, Frame, FrameReader, Quantity, frames_conflict, load_frame_reader, numeral
from .text import content_chars, pairs_within

_NUMBER = re.compile(r"\d+(?:\.\d+)?")
_CN_NUMBER = re.compile("[零〇一二两三四五六七八九十百千]+(?=[月日号年人名个家起件万亿元岁])")
_NO_AMOUNTS: tuple[str, ...] = ()
_TEMPLATE_IDF = 4.0  # the weight of a bigram of a set phrase: like a common word
_WEIGHT_SCALE = 1000  # bigram weights in thousandths (StoryClusterer.__init__ says why integers)
# Prefixes that say which column or feed a headline came from, not what happened: any page label
# of a paper's 版面 list (03版综合新闻 -, 12版光明文化周末·美术评论 -), feed names, 【栏目】, X丨.
_PREFIX = re.compile(
    r"^(?:\d+版[^\s\-－—]{0,16}\s*[-－—]\s*|推荐\d?|新华社(?:快讯|消息|权威快报)?[:：丨|｜]\s*|视频[丨|｜]|第一观察[丨|｜]|"
    r"近镜头[丨|｜]|【[^】]{1,12}】|[^\s丨|｜]{1,12}[丨|｜])+"
)

# A trailing column label in brackets (（秒懂体育）, （编辑手记）, （建设体育强国·足球青训观察）): a series
# name that many unrelated stories share, never the event itself.
_SUFFIX = re.compile(r"\s*[（(][^（）()]{2,16}[)）]\s*$")

@dataclass(frozen=True)
class ClusterSettings:
    window_s: float = 48 * 3600.0     # a story is the same story for this long after it was last seen
    idf_power: float = 3.0            # bigram weight = idf ** power: rare bigrams (names, places) dominate
    min_similarity: float = 0.12      # weighted Jaccard of bigram sets
    min_containment: float = 0.5      # weighted share of the shorter title found in the longer one
    number_conflict_similarity: float = 1.01  # titles whose amounts disagree: never the same story
    max_stories_per_bucket: int = 50000
    max_candidates: int = 4
    max_members: int = 8              # distinct wordings remembered per story
    max_postings: int = 100           # a bigram in more open stories than this proposes none (a word of the day)
    min_anchor_idf: float = 8.0       # only bigrams this rare propose candidates (a match must share one)
    min_shared_idf: float = 8.0       # a match must share at least one bigram this rare (a name, not a template)
    # Bigrams of the place names a title names weigh at most this idf: cities must agree anyway,
    # so a shared 毕节 is weak evidence (two officials of one city are two stories), not none
    # (昆山化工厂爆炸 on two sites).
    place_idf: float = 7.0
    # Titles of the same known event type (config/clustering.toml [events]; for meetings the same
    # host) that share a name are one story at a lower similarity: 丁薛祥会见高盛集团董事长 and
    # 丁薛祥与高盛董事长会面 share little wording but the same people and the same kind of event.
    typed_similarity: float = 0.05
    typed_containment: float = 0.15
    # Two items of one credit event type (config/event_types.toml) in one prefecture, counties
    # compatible, subjects and quantities not in conflict, are one story if seen within this
    # long of each other, however differently worded: sites reword an event, they rarely
    # report two food poisonings in one city on one day.
    frame_window_s: float = 24 * 3600.0
    # A credit item whose wording names no event type may still join a typed story of its
    # prefecture within the frame window, on positive evidence beyond the place: the same
    # specific quantity (南京…偷排废水被罚款120万元 / 南京通报一起环境违法案件 涉事公司被处120万元罚款),
    # or the same subject kind and a rare word in common. Quantities this small (money in
    # yuan, other units in their count) are too common to identify an event; counts that grow
    # (死, 伤, 人, 名, 例: config/event_types.toml `rising`) never do.
    join_min_yuan: float = 10000.0
    join_min_count: float = 10.0
    # A no-city story keeps this many of its sightings (a few short fields each), so that when a
    # placed credit story later claims it (StoryClusterer.echo) they can be counted again as the
    # placed story's: a homepage that wrote 江苏一化工企业 is a homepage of the 盐城 story.
    max_held_sightings: int = 16


# bigram -> the open stories that have it: one id, a tuple of a few, a set of many (StoryClusterer._post)
Postings = dict[str, "str | tuple[str, ...] | set[str]"]
# A wording as matching compares it (StoryClusterer._view): bigrams, amounts, total weight, event, subject.
View = tuple[tuple[str, ...], tuple[str, ...], int, tuple, "tuple[str, str] | None"]


@dataclass(frozen=True)
class Assignment:
    story_id: str
    new: bool
    similarity: float
    matched_title: str | None
    # how the sighting joined: "exact", "wording" (bigram similarity) or "frame" (same event frame)
    how: str = "new"
    # (title of a story it was kept apart from, reason) for near matches a rule vetoed
    vetoes: tuple[tuple[str, str], ...] = ()
    # the city adcode of the placed story a no-city sighting joined through its echo, or None
    echo_city: str | None = None


@dataclass(frozen=True)
class Claim:
    """What an echo of a placed story found in the no-city bucket (StoryClusterer.echo)."""

    story_id: str           # the no-city story it claimed and merged, or "" for none
    title: str              # that story's first wording
    how: str                # "wording" or "frame"
    sightings: tuple[tuple, ...]  # its held sightings: (ts, site, surface, rank, url, title, summary, change)


@lru_cache(maxsize=1)
def _idf_table() -> tuple[dict[str, float], float]:
    text = resources.files("citycredit.config").joinpath("bigram_df.txt").read_text(encoding="utf-8")
    df: dict[str, int] = {}
    documents = 1
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        gram, _, count = line.partition("\t")
        if gram == "documents":
            documents = int(count)
        else:
            df[gram] = int(count)
    idf = {g: math.log((documents + 1) / (n + 1)) for g, n in df.items()}
    # Set phrases of official news (config/clustering.toml) weigh as common words.
    config = packaged_toml("clustering.toml")
    # So do the words of the event types: a type is compared as a type (被查 = 被查), so two
    # headlines sharing 被查 have not thereby shared a name.
    events = config.get("events", {})
    event_words = [w for name in events.get("order", []) for w in events.get(name, [])]
    for phrase in config.get("templates", {}).get("phrases", []) + event_words:
        text = content_chars(phrase)
        for i in range(len(text) - 1):
            gram = text[i:i + 2]
            idf[gram] = min(idf.get(gram, _TEMPLATE_IDF), _TEMPLATE_IDF)
    return idf, math.log((documents + 1) / 1.0)


@dataclass(frozen=True)
class EventRules:
    """Event types of config/clustering.toml [events]: titles of different known types never join."""

    words: re.Pattern[str]            # every type word, one alternation: one scan per title
    rank: dict[str, tuple[int, str]]  # word -> (order of its type, type)
    actor_types: frozenset[str]
    actor_before: re.Pattern[str]
    subject: re.Pattern[str]          # an unnamed subject: 一 / 某 + modifier + head ([subjects])
    distinct_heads: frozenset[str]
    subject_markers: tuple[str, ...]
    compatible_heads: frozenset[tuple[str, str]]  # (head, head) pairs that may name one subject
    same_trade: frozenset[tuple[str, str]]        # (modifier, modifier) pairs naming one trade
    complement: re.Pattern[str]                   # a modifier negating its head (一非煤矿山: 非 + 煤矿)
    heads: frozenset[str] = frozenset()           # the heads the subject regex knows
    open_suffixes: frozenset[str] = frozenset()   # last characters of a place or vehicle noun ([subjects])
    max_open: int = 5                             # the longest open subject, in characters
    classifiers: tuple[str, ...] = ()
    set_phrases: re.Pattern[str] | None = None    # [templates] phrases, bureaus and report verbs (_place_grams)
    bureaus: frozenset[str] = frozenset()         # [templates] bureaus

    def heads_compatible(self, a: str, b: str) -> bool:
        """The same head, or two heads one subject may be called by (化工厂 / 化工企业, 学校 / 中学)."""
        return a == b or (a, b) in self.compatible_heads

    def modifiers_compatible(self, a: str, b: str) -> bool:
        """One modifier inside the other (化工 / 化工材料), or one trade named two ways (理财 / 投资)."""
        return a in b or b in a or (a, b) in self.same_trade

    def subject_of(self, text: str, place_grams: Iterable[str] = ()) -> tuple[str, str] | None:
        """(modifier, head) of the title's first unnamed subject (郑州一建筑公司 -> 建筑, 公司), or None.
        With ``place_grams`` (_place_grams: a name's last character and the marker after it), a
        subject whose head the list lacks is read from the place name on: ("", 洗车场) of 包头一洗车场…
        (``open_subject``)."""
        if not any(marker in text for marker in self.subject_markers):
            return None  # most titles: no regex search
        m = self.subject.search(text)
        if m:
            return m.group(1), m.group(2)
        return self.open_subject(text, place_grams) if place_grams else None

    def open_subject(self, text: str, place_grams: Iterable[str]) -> tuple[str, str] | None:
        """("", noun) for a place name, a marker and a noun the [subjects] heads do not hold, read
        as the shortest run of two to ``max_open`` characters ending in a character that ends
        names of places, firms and vehicles (open_suffixes: 场, 店, 车…): 九江一校车严重超载 ->
        校车, 大连一培训机构闭店 -> 培训机构. A head list cannot hold every trade (洗车场, 大排档,
        健身房), and an unlisted head compared nothing: a car wash's discharge joined a steel
        works' of the same city. Only right after a place name, where a first report says whom it
        is about; a person (一快递员, 一外卖小哥) ends in no such character and stays unread."""
        for gram in place_grams:
            if gram[-1] not in self.subject_markers:
                continue
            start = text.find(gram)
            if start < 0:
                continue
            rest = text[start + 2:start + 3 + self.max_open]
            if rest[:1] in self.classifiers:
                rest = rest[1:]
            for end in range(1, min(len(rest), self.max_open)):
                if not "\u4e00" <= rest[end] <= "\u9fff" or not "\u4e00" <= rest[end - 1] <= "\u9fff":
                    break
                if rest[end] in self.open_suffixes:
                    return "", rest[:end + 1]
        return None

    def place_grams(self, places: Iterable[str], text: str) -> tuple[str, ...]:
        """``_place_grams`` with this configuration's markers, set phrases and bureaus."""
        return _place_grams(places, text, self.subject_markers, self.set_phrases, self.bureaus)

    def is_open(self, subject: tuple[str, str]) -> bool:
        """A subject ``open_subject`` read (its head is not one the regex knows)."""
        return not subject[0] and subject[1] not in self.heads

    def event(self, text: str) -> tuple[str | None, str | None]:
        """(event type, actor) of a title's story text; either may be None."""
        found = self.words.findall(text)
        if not found:
            return None, None
        name = min(self.rank[w] for w in found)[1]
        actor = None
        if name in self.actor_types:
            m = self.actor_before.match(text)
            actor = m.group(1) if m else None
        return name, actor


def events_conflict(a: tuple[str | None, str | None], b: tuple[str | None, str | None]) -> bool:
    """Both titles have a known event type and the types differ, or the same type names two different actors."""
    if a[0] is None or b[0] is None:
        return False
    if a[0] != b[0]:
        return True
    return a[1] is not None and b[1] is not None and a[1] != b[1]


def subjects_conflict(a: tuple[str, str] | None, b: tuple[str, str] | None) -> bool:
    """Two different unnamed subjects: the same head with other modifiers (一建筑公司 vs 一物流公司),
    two bare heads naming different kinds of place or person (一医院 vs 一药店), or one head and
    its complement (一煤矿 vs 一非煤矿山)."""
    if a is None or b is None:
        return False
    (ma, ha), (mb, hb) = a, b
    rules = _event_rules()
    if rules.is_open(a) or rules.is_open(b):
        # an open subject is compared as written: 一洗车场 is not 一钢铁企业, nor 一校车 一货车; one
        # inside the other (一洗车 of 一洗车店 and 一洗车场), or a character in common before their
        # last (一养殖场 / 一养猪场, 一农贸市场 / 一菜市场), may be one subject
        wa, wb = ma + ha, mb + hb
        return wa not in wb and wb not in wa and set(wa[:-1]).isdisjoint(wb[:-1])
    if rules.heads_compatible(ha, hb) and bool(rules.complement.match(ma)) != bool(rules.complement.match(mb)):
        return True  # 一非煤矿山 is any mine but a coal mine: never 一煤矿 (nor 一国有煤矿)
    if ma and mb:
        return rules.heads_compatible(ha, hb) and not rules.modifiers_compatible(ma, mb)
    if not ma and not mb:
        return ha in rules.distinct_heads and hb in rules.distinct_heads and not rules.heads_compatible(ha, hb)
    return False


@lru_cache(maxsize=1)
def _event_rules() -> EventRules:
    config = packaged_toml("clustering.toml")
    events = config.get("events", {})
    rank: dict[str, tuple[int, str]] = {}
    for order, name in enumerate(events.get("order", [])):
        for word in events.get(name, []):
            rank.setdefault(word, (order, name))
    # longest words first, so 发表重要讲话 is found whole rather than as a shorter word inside it
    words = re.compile("|".join(re.escape(w) for w in sorted(rank, key=len, reverse=True)) or "(?!)")
    actor = events.get("actor", {})
    before = "|".join(re.escape(w) for w in actor.get("before", [])) or "(?!)"
    most = int(actor.get("max_chars", 4))
    subjects = config.get("subjects", {})
    templates = config.get("templates", {})

    def alt(words: list[str]) -> str:
        if words and all(len(w) == 1 for w in words):
            return "[" + "".join(re.escape(w) for w in words) + "]"  # a character class: re scans for it fast
        return "|".join(re.escape(w) for w in sorted(words, key=len, reverse=True)) or "(?!)"
    subject = re.compile(f"(?:{alt(subjects.get('markers', []))})(?:{alt(subjects.get('classifiers', []))})?"
                         f"([\\u4e00-\\u9fff]{{0,{int(subjects.get('max_modifier', 4))}}}?)({alt(subjects.get('heads', []))})")
    return EventRules(words, rank, frozenset(actor.get("types", [])),
                      re.compile(f"^([\\u4e00-\\u9fff]{{2,{most}}}?)(?:{before})"),
                      subject, frozenset(subjects.get("distinct", [])), tuple(subjects.get("markers", [])),
                      pairs_within(subjects.get("compatible", [])), pairs_within(subjects.get("same_trade", [])),
                      re.compile(subjects.get("complement", "(?!)")), frozenset(subjects.get("heads", [])),
                      frozenset(subjects.get("open_suffixes", "")), int(subjects.get("max_modifier", 4)) + 1,
                      tuple(subjects.get("classifiers", [])),
                      re.compile(alt([w for key in ("phrases", "bureaus", "reports") for w in templates.get(key, [])])),
                      frozenset(templates.get("bureaus", [])))


def _cn_to_arabic(match: re.Match[str]) -> str:
    """二月三日 -> 2月3日, 十三人 -> 13人, 二零二五年 -> 2025年: one site writes numerals in
    characters, another in digits (cn2an reads them; a span it cannot read stays as written)."""
    value = numeral(match.group())
    return match.group() if value is None else f"{value:g}" if value < 1e15 else match.group()


def _amounts(numbers: Sequence[str]) -> tuple[str, ...]:
    """Amounts a title quotes, compared by integer part (50.2 ~ 50); years are not amounts. A
    tuple, not a set: a member's view (``StoryClusterer._view``) holding only tuples, strings and
    numbers drops out of the garbage collector's tracking, and every open story keeps one."""
    if not numbers:
        return _NO_AMOUNTS  # most titles quote none
    return tuple(sorted({n.split(".")[0] for n in numbers if not (len(n) == 4 and n[:2] in ("19", "20"))}))


def _numbers_conflict(a: tuple[str, ...], b: tuple[str, ...]) -> bool:
    """Both titles quote amounts and none agree (100美元 vs 120美元)."""
    return bool(a and b and frozenset(a).isdisjoint(b))


def _common(mine: frozenset[str], other: tuple[str, ...]) -> frozenset[str]:
    """The bigrams two wordings share. Weights are integers, so their sum is the same in any
    order of this set (open stories keep tuples, not sets: see ``StoryClusterer._view``)."""
    return mine.intersection(other)


def _member_grams(record: list) -> set[str]:
    return {g for member in record[8] for g in member[0]}


def _place_conflict(record: list, subfield: str | None, city: str | None, county: str | None,
                    province: str | None = None) -> str | None:
    """Why a story cannot hold this sighting whatever the wording (adcodes in the sentence)."""
    if city and record[7] and city != record[7]:
        return f"city {city} ≠ {record[7]}"
    if province and len(record) > 11 and record[11] and province != record[11]:
        return f"province {province} ≠ {record[11]}"  # 江苏一化工企业 is not a story of 浙江
    if county and len(record) > 9 and record[9] and county != record[9]:
        return f"county {county} ≠ {record[9]}"  # two districts of one city: 东区 vs 仁和区
    if subfield and record[4] and subfield != record[4]:
        return f"subfield {subfield} ≠ {record[4]}"
    return None


def _echo_home(record: list) -> str | None:
    """The placed story a no-city bucket's story echoes (StoryClusterer.echo), or None."""
    return record[12] if len(record) > 12 else None


def _credit_story(record: list) -> bool:
    """Whether any member of the story was read as a credit item (slot 14; a story stored before
    the slot existed is not)."""
    return len(record) > 14 and bool(record[14])


def _frame_keys(record: list) -> list[tuple[str, str]]:
    """Where a typed story is found by its frame: (city adcode, type) in its prefecture's bucket;
    in the no-city bucket an unplaced story or an echo also by ("p:" province, type)."""
    if len(record) <= 10 or record[10] is None:
        return []
    keys = [(record[7], record[10][0])] if record[7] else []
    if len(record) > 12 and record[11] and (record[12] or not record[7]):
        keys.append((f"p:{record[11]}", record[10][0]))
    if len(record) > 15 and record[15] and not record[7] and not record[11] and not record[12]:
        # an unplaced story of an ambiguous name: found by each city it may mean ("c:" adcode, type)
        keys.extend((f"c:{adcode}", record[10][0]) for adcode, _ in record[15])
    return keys


def _place_grams(places: Iterable[str], text: str, markers: tuple[str, ...],
                 phrases: re.Pattern[str] | None = None, bureaus: frozenset[str] = frozenset()) -> tuple[str, ...]:
    """The bigrams of the place names a title names, weighed as places, not as wording; and in
    ``text`` the bigram joining two names (山东济南: 东济) or a name and the subject marker after
    it (济南一银行员工…: 南一, and the marker's with its noun, 一银). Those are as rare in the
    corpus as a name, and every 山东济南… or 济南一… title has them: weighed as wording, they made
    two unrelated 济南 items share "a rare word". A name's edge with wording (新疆外贸: 疆外) stays
    wording. ``markers``: the subject markers ([subjects] markers, 一 / 某). ``phrases``
    (EventRules.set_phrases): the set phrases, bureaus and report verbs of [templates]; the bigram
    joining one to a name or to another (宜宾市生态环境局通报: 市生, 局通) is weighed alike, and so
    are a bureau's own (``bureaus``: 生态, 环境…), for the same reason: one city's bureau reports
    many cases."""
    places = tuple(p for p in places if p)
    out = {p[i:i + 2] for p in places for i in range(len(p) - 1)}
    names = list(_occurrences(places, text)) if places else []
    for start, end in names:
        if end < len(text) and (text[end] in markers or text.startswith(places, end)):
            out.add(text[end - 1:end + 1])
            if text[end] in markers and end + 1 < len(text):
                out.add(text[end:end + 2])
        if start > 0 and text.endswith(places, 0, start):
            out.add(text[start - 1:start + 1])
    if phrases is not None:
        found = [(m.span(), m.group()) for m in phrases.finditer(text)]
        if found:
            spans = [span for span, _ in found]
            out.update(w[i:i + 2] for _, w in found if w in bureaus for i in range(len(w) - 1))
            ends = {end for _, end in names} | {end for _, end in spans}
            starts = {start for start, _ in names} | {start for start, _ in spans}
            out.update(text[i - 1:i + 1] for i in ends & starts if 0 < i < len(text))
    return tuple(sorted(out))


def _occurrences(places: Iterable[str], text: str) -> Iterator[tuple[int, int]]:
    """(start, end) of every occurrence of each (non-empty) place name in ``text``."""
    for p in places:
        start = text.find(p) if p else -1
        while start >= 0:
            yield start, start + len(p)
            start = text.find(p, start + 1)


def _introduces_subject(places: Iterable[str], text: str, markers: tuple[str, ...]) -> bool:
    """A place name followed by a subject marker (泰安一加油站…, 芜湖某公司…): the way a first report
    introduces whom it is about, whatever the noun. [subjects] heads list the nouns whose kind is
    compared; this needs none, for a guard that only has to know a title names a subject of its own."""
    return any(end < len(text) and text[end] in markers for _, end in _occurrences(places, text))


def _frame_state(frame: Frame, subject: tuple[str, str] | None) -> list:
    """A story's frame as stored in state (JSON-able): type, subject kind and word, quantities,
    and the unnamed subject (modifier, head) of config/clustering.toml [subjects]."""
    return [frame.type.id if frame.type else None, frame.subject, frame.subject_word,
            [[q.unit, q.low, q.high, q.text, q.sanction] for q in frame.quantities], list(subject) if subject else None,
            frame.object]


def _frame_from_state(state: list, reader: FrameReader) -> Frame:
    return Frame(reader.types.get(state[0]), None, state[1], state[2],
                 tuple(Quantity(*q[:4], bool(q[4]) if len(q) > 4 else False) for q in state[3]),  # (stored before penalties: 4)
                 state[5] if len(state) > 5 else None)


def _stored_subject(record: list) -> list | None:
    """The unnamed subject (modifier, head) a story's stored frame holds, or None (no frame stored)."""
    stored = record[10] if len(record) > 10 else None
    return stored[4] if stored and len(stored) > 4 else None


def _named_subjects_conflict(a: tuple[str, str] | None, b: list | None) -> str | None:
    """Two unnamed subjects both specified and different (一建筑工地 vs 某电子厂): with no shared
    wording to go on, two specified subjects must be the same one."""
    if a is None or b is None:
        return None
    (ma, ha), (mb, hb) = a, b
    rules = _event_rules()
    if ma and mb and (not rules.heads_compatible(ha, hb) or not rules.modifiers_compatible(ma, mb)):
        return f"subject 一{ma}{ha} ≠ 一{mb}{hb}"
    return subjects_conflict(a, (mb, hb)) and f"subject 一{ma}{ha} ≠ 一{mb}{hb}" or None


def story_text(title: str) -> str:
    """The part of a normalised title that says what happened (feed prefixes removed)."""
    # the same as _PREFIX.sub and _SUFFIX.sub, without a regex attempt at every position:
    # the prefix is anchored at the start, and a suffix ends in a bracket (most titles: none)
    prefix = _PREFIX.match(title)
    stripped = title[prefix.end():] if prefix else title
    if stripped.rstrip().endswith((")", "）")):
        stripped = _SUFFIX.sub("", stripped)
    return stripped if len(stripped) >= 4 else title


class StoryClusterer:
    def __init__(self, state: MutableMapping[str, Any], settings: ClusterSettings | None = None) -> None:
        self.state = state
        self.settings = settings or ClusterSettings()
        idf, max_idf = _idf_table()
        power = self.settings.idf_power

        # Weights are integers (thousandths of idf ** power): a sum of integers is exact in any
        # order, while a sum of floats taken over a set's iteration order - which changes with
        # PYTHONHASHSEED from one process to the next - can differ in its last bit and so
        # decide an exact tie two ways (one replay joining a story another replay kept apart).
        def weight(v: float) -> int:
            return round(v ** power * _WEIGHT_SCALE)

        self._idf = {g: weight(v) for g, v in idf.items()}
        self._max_idf = weight(max_idf)
        self._min_anchor = weight(self.settings.min_anchor_idf)
        self._min_shared = weight(self.settings.min_shared_idf)
        self._place_weight = weight(self.settings.place_idf)
        # a rare word's bigrams weigh more than a place name's (rare_word_match)
        self._rare_word = self._place_weight
        # bucket -> (seq, postings, {story_id: record}); a cache rebuilt from state when seq differs
        self._cache: dict[str, tuple[int, Postings, dict[str, list]]] = {}
        # bucket -> {exact wording: story_id}: a sighting seen before (the common case: the same
        # headline on the next poll or another list) is found without any similarity work.
        self._exact: dict[str, dict[str, str]] = {}
        # story_id -> one _view per wording; derived from state, never stored
        self._members: dict[str, tuple[View, ...]] = {}
        self._events = _event_rules()
        self._frame_reader = load_frame_reader()
        self._frame_of = lru_cache(maxsize=8192)(self._frame_reader.read)  # a repeated wording is read once
        # bucket -> {(city adcode, event type): [story ids]}: the stories a typed sighting may join
        # on its frame; derived from state like the postings, never stored
        self._frame_index: dict[str, dict[tuple[str, str], list[str]]] = {}
        self._frames: dict[str, Frame] = {}  # story id -> its stored frame, rebuilt once
        # bucket -> ids of its open credit stories: the stories a wording read neutral may join on a
        # rare word (_rare_word_match); derived from state like the postings, never stored
        self._credit_ids: dict[str, set[str]] = {}

    # --- signature -------------------------------------------------------------
    @staticmethod
    def _signature(title: str) -> tuple[tuple[str, ...], tuple[str, ...], str, str]:
        said = story_text(title)
        story = _CN_NUMBER.sub(_cn_to_arabic, said) if _CN_NUMBER.search(said) else said
        text = content_chars(story)
        # tuples, not lists: a tuple of strings drops out of the garbage collector's tracking,
        # and every open story keeps these for the whole window
        grams = tuple(sorted({text[i:i + 2] for i in range(len(text) - 1)})) or ((text,) if text else ())
        # numbers read before punctuation goes, so 50.2% stays 50.2 (not 502)
        numbers = tuple(sorted(set(_NUMBER.findall(story))))
        return grams, numbers, text, said

    # --- state ------------------------------------------------------------------
    def _load(self, bucket: str) -> tuple[dict, Postings, dict[str, list]]:
        meta = self.state.get(f"m:{bucket}") or {"hours": [], "seq": 0}
        cached = self._cache.get(bucket)
        if cached is not None and cached[0] == meta["seq"]:
            return meta, cached[1], cached[2]
        postings: Postings = {}
        stories: dict[str, list] = {}
        exact: dict[str, str] = {}
        self._exact[bucket] = exact
        self._frame_index[bucket] = {}
        credit_ids = self._credit_ids[bucket] = set()
        for hour in meta["hours"]:
            for sid in self._hour_ids(bucket, meta, hour):
                record = self.state.get(f"s:{sid}")
                if record is None:
                    continue
                stories[sid] = record
                self._post(postings, self._anchors(self._weights(tuple(_member_grams(record)), ())), sid)
                for member in record[8]:
                    exact.setdefault(member[2], sid)
                self._index_frame(bucket, sid, record)
                if _credit_story(record):
                    credit_ids.add(sid)
        self._cache[bucket] = (meta["seq"], postings, stories)
        return meta, postings, stories

    def _expire(self, bucket: str, meta: dict, postings: Postings, stories: dict[str, list], now: float) -> None:
        cutoff_hour = int((now - self.settings.window_s) // 3600)
        hours = meta["hours"]
        if (not hours or hours[0] >= cutoff_hour) and len(stories) < self.settings.max_stories_per_bucket:
            return  # nothing has expired and the bucket has room: the common case, no work
        keep, drop = [], []
        for hour in meta["hours"]:
            (drop if hour < cutoff_hour else keep).append(hour)
        # Bound the bucket: oldest hours go first once it holds too many stories.
        live = len(stories) - sum(len(self._hour_ids(bucket, meta, h)) for h in drop)
        while keep and live >= self.settings.max_stories_per_bucket:
            hour = keep.pop(0)
            drop.append(hour)
            live -= len(self._hour_ids(bucket, meta, hour))
        for hour in drop:
            for sid in self._hour_ids(bucket, meta, hour):
                self._forget(bucket, postings, stories, sid)
            for key in self._hour_keys(bucket, meta, hour):
                if key in self.state:
                    del self.state[key]
            meta.get("chunks", {}).pop(str(hour), None)
        meta["hours"] = keep

    def _forget(self, bucket: str, postings: Postings, stories: dict[str, list], sid: str) -> None:
        """Remove one story from the bucket's indexes and from state (its hour list is the caller's)."""
        record = stories.pop(sid, None)
        if record is not None:
            exact = self._exact.get(bucket, {})
            for member in record[8]:
                if exact.get(member[2]) == sid:
                    del exact[member[2]]
            self._unpost(postings, _member_grams(record), sid)
            self._unindex_frame(bucket, sid, record)
            self._credit_ids.get(bucket, set()).discard(sid)
        self._members.pop(sid, None)
        if f"s:{sid}" in self.state:
            del self.state[f"s:{sid}"]

    # --- matching ---------------------------------------------------------------
    def _member_view(self, sid: str, record: list) -> tuple[View, ...]:
        view = self._members.get(sid)
        if view is None or len(view) != len(record[8]):
            view = tuple(self._view(m[0], m[1], m[2], m[3] if len(m) > 3 else ()) for m in record[8])
            self._members[sid] = view
        return view

    def _view(self, grams: Sequence[str], numbers: Sequence[str], text: str,
              place_grams: Iterable[str] = ()) -> View:
        """What matching compares of one wording: its bigrams (the sorted tuple of state, not a set:
        tuples of strings are not tracked by the garbage collector, sets are, and each open story
        holds its views for the whole window), amounts, total weight, event and subject."""
        return (tuple(grams), _amounts(numbers), sum(self._weights(grams, place_grams).values()),
                self._events.event(text), self._events.subject_of(text, place_grams))

    def _weights(self, grams: Sequence[str], place_grams: Iterable[str]) -> dict[str, int]:
        """Bigram weights of one title; bigrams of its place names weigh as set phrases: the city is
        compared as a city (agreement required), so 毕节 in two headlines is no evidence of one story."""
        wmap = dict(zip(grams, map(self._idf.get, grams, repeat(self._max_idf))))
        for g in place_grams:
            if g in wmap:
                wmap[g] = min(wmap[g], self._place_weight)
        return wmap

    def _anchors(self, wmap: dict[str, int], place_grams: Iterable[str] = ()) -> list[str]:
        """The bigrams a wording is posted under: those rare enough in the corpus to propose a
        candidate (weight >= min_anchor). ``_similar`` looks up nothing else, and a bigram's corpus
        weight is the same in every sighting, so a commoner one (most of a title's, and most of the
        postings that held several stories) was indexed for nothing. A place name's bigram is
        capped in ``wmap``, in the sighting that names the place only: posted by its corpus weight."""
        anchor = self._min_anchor
        out = [g for g, w in wmap.items() if w >= anchor]
        out += [g for g in place_grams if g in wmap and wmap[g] < anchor <= self._idf.get(g, self._max_idf)]
        return out

    def _similar(self, grams: Sequence[str], my_amounts: tuple[str, ...], wmap: dict[str, int], my_event: tuple,
                 my_subject: tuple[str, str] | None, subfield: str | None, city: str | None, county: str | None,
                 postings: Postings, stories: dict[str, list], now: float,
                 vetoes: list[tuple[str, str]] | None = None, frame: Frame | None = None,
                 province: str | None = None, unplaced_only: bool = False,
                 accepted: list[tuple[str, float]] | None = None) -> tuple[str | None, float]:
        """The open story this wording is most similar to, vetoes permitting; ``unplaced_only``:
        among the no-city bucket's own stories, not the echoes of placed ones. ``accepted``
        collects every (story, score) that would have joined."""
        anchor = self._min_anchor
        rare = frozenset([g for g, w in wmap.items() if w >= anchor])
        if not rare:
            return None, 0.0
        # Rank stories by the weight of the rare bigrams they share with this title.
        shared_weight: defaultdict[str, int] = defaultdict(int)  # += without a Python-level get
        limit = self.settings.max_postings
        for g in rare:
            ids = postings.get(g)
            if ids is None:
                continue
            w = wmap[g]
            if ids.__class__ is str:  # one story has this bigram (the common case)
                shared_weight[ids] += w
                continue
            if len(ids) > limit:
                continue
            for sid in ids:
                shared_weight[sid] += w
        if not shared_weight:
            return None, 0.0
        s = self.settings
        # ties broken by story id, so the choice never depends on set iteration order
        if len(shared_weight) <= s.max_candidates:
            candidates = sorted(shared_weight)  # by id: set iteration order varies between processes
        else:
            ranked = sorted([(-w, k) for k, w in shared_weight.items()])  # tuples compare in C: fast
            candidates = [k for _, k in ranked[:s.max_candidates]]
        mine = frozenset(grams)
        w_mine = sum(wmap.values())
        window = s.window_s
        my_type = my_event[0]
        best, best_sim = None, 0.0
        vetoed: list[tuple[str, str]] = []
        for sid in candidates:
            record = stories[sid]
            if now - record[1] > window or now < record[0] - window:
                continue
            if unplaced_only and (record[7] or _echo_home(record)):
                continue
            reason = _place_conflict(record, subfield, city, county, province)
            if reason is None and frame is not None and frame is not _NO_FRAME and len(record) > 10 and record[10]:
                # a restaurant's poisoning and a school's share their wording, not their subject
                reason = frames_conflict(frame, self._story_frame(sid, record), self._frame_reader.rising, types=False)
            if reason is None and frame is not None and frame.object is not None:
                # 假冒名牌运动鞋 / 假冒名牌化妆品 share their wording, not what was faked
                reason = self._objects_conflict(frame, self._story_frame(sid, record), "")
            if reason is not None:
                if vetoes is not None:
                    vetoed.append((sid, reason))
                continue
            view = self._member_view(sid, record)
            # Vetoes hold against every wording of the story, not only the one that matches: a
            # typeless short title (新闻人物丨英国首相斯塔默) must not link 习近平会见… and
            # 李强同…会谈 into one story through itself.
            if (my_type is not None and any(m[3][0] is not None and events_conflict(my_event, m[3]) for m in view)) or (
                    my_subject is not None and any(subjects_conflict(my_subject, m[4]) for m in view)):
                continue  # a visit announced vs the talks held, 被查 vs 开除党籍; 一建筑公司 vs 一物流公司
            for other, other_amounts, w_other, other_event, other_subject in view:
                if rare.isdisjoint(other) or self._min_shared > self._min_anchor and not any(
                        wmap[g] >= self._min_shared for g in rare.intersection(other)):
                    continue  # only template words in common (接受纪律审查, 全线最长隧道)
                inter = sum(map(wmap.__getitem__, _common(mine, other)))
                union = w_mine + w_other - inter
                jaccard = inter / union if union else 0.0
                smaller = min(w_mine, w_other)
                containment = inter / smaller if smaller else 0.0
                if _numbers_conflict(my_amounts, other_amounts):
                    ok = jaccard >= s.number_conflict_similarity
                elif my_type is not None and my_event == other_event:
                    # the same host (王毅同X通电话, 王毅同Y通电话) must share more than the host's name
                    if not self._shares_beyond_actor(rare.intersection(other), wmap, my_event[1]):
                        continue
                    ok = jaccard >= s.typed_similarity or containment >= s.typed_containment
                else:
                    ok = jaccard >= s.min_similarity or containment >= s.min_containment
                score = max(jaccard, containment)
                if ok and accepted is not None:
                    accepted.append((sid, score))
                if ok and score > best_sim:
                    best, best_sim = sid, score
        if best is None and vetoed and vetoes is not None:
            # Explain near matches kept apart by place or subfield: only those whose wording
            # alone would have joined (a story sharing one rare bigram is not worth a line).
            for sid, reason in vetoed:
                record = stories[sid]
                for other, _, w_other, _, _ in self._member_view(sid, record):
                    inter = sum(map(wmap.__getitem__, _common(mine, other)))
                    smaller = min(w_mine, w_other)
                    jaccard = inter / (w_mine + w_other - inter) if w_mine + w_other - inter else 0.0
                    if jaccard >= s.min_similarity or (smaller and inter / smaller >= s.min_containment):
                        if (record[5], reason) not in vetoes:
                            vetoes.append((record[5], reason))
                        break
        return best, best_sim

    def _frame_match(self, bucket: str, frame: Frame, subject: tuple[str, str] | None, grams: Sequence[str],
                     wmap: dict[str, int], subfield: str | None, city: str, county: str | None,
                     stories: dict[str, list], now: float, vetoes: list[tuple[str, str]]) -> tuple[str | None, float]:
        """The open story of the same event frame (prefecture, event type, compatible county,
        subject and quantities) seen within the frame window; the most similar wording wins.
        Every candidate kept apart is explained in ``vetoes``."""
        ids = self._frame_index.get(bucket, {}).get((city, frame.type.id))  # type: ignore[union-attr]
        if not ids:
            return None, 0.0
        mine, w_mine = frozenset(grams), sum(wmap.values())
        best: tuple[float, float, str] | None = None
        # the subfield is not compared: the event types agree, and they are the finer reading
        for sid, record, _theirs in self._compatible(sorted(ids), frame, subject, city, county, stories, now, vetoes):
            # wording breaks ties between compatible stories: the best-matching member
            sim, _shared = self._wording(sid, record, mine, wmap, w_mine)
            key = (sim, record[1], sid)
            if best is None or key > best:
                best = key
        return (best[2], best[0]) if best is not None else (None, 0.0)

    def _compatible(self, ids: Iterable[str], frame: Frame, subject: tuple[str, str] | None, city: str | None,
                    county: str | None, stories: dict[str, list], now: float, vetoes: list[tuple[str, str]],
                    types: bool = True, province: str | None = None) -> Iterator[tuple[str, list, Frame]]:
        """The open stories among ``ids`` seen within the frame window whose county, frame (its
        event type too unless ``types`` is False) and named subject do not conflict with this
        item's, as (id, record, frame); each one kept apart is explained in ``vetoes``."""
        window = self.settings.frame_window_s
        rising = self._frame_reader.rising
        for sid in ids:
            record = stories.get(sid)
            if record is None or now - record[1] > window or now < record[0] - window:
                continue
            theirs = self._story_frame(sid, record)
            reason = (_place_conflict(record, None, city, county, province) or frames_conflict(frame, theirs, rising, types=types)
                      or _named_subjects_conflict(subject, self._story_subject(sid, record)))
            if reason is not None:
                if (record[5], reason) not in vetoes:
                    vetoes.append((record[5], reason))
                continue
            yield sid, record, theirs

    def _story_subject(self, sid: str, record: list) -> tuple[str, str] | list | None:
        """The unnamed subject (modifier, head) a typed story stored, or an untyped story's first wording names."""
        if len(record) <= 10 or record[10] is None:
            return self._member_view(sid, record)[0][4]
        return _stored_subject(record)

    def _wording(self, sid: str, record: list, mine: frozenset[str], wmap: dict[str, int],
                 w_mine: int) -> tuple[float, set[str]]:
        """This wording against a story's: the best weighted Jaccard with any member, and the
        bigrams it shares with any member."""
        sim, shared = 0.0, set()
        for other, _, w_other, _, _ in self._member_view(sid, record):
            common = _common(mine, other)
            inter = sum(map(wmap.__getitem__, common))
            union = w_mine + w_other - inter
            sim = max(sim, inter / union if union else 0.0)
            shared |= common
        return sim, shared

    def _specific(self, q: Quantity) -> bool:
        """A quantity that identifies an event: not a count that grows, not a common small number."""
        if q.unit in self._frame_reader.rising:
            return False
        return q.low >= (self.settings.join_min_yuan if q.unit == "元" else self.settings.join_min_count)

    def _partial_match(self, bucket: str, frame: Frame, subject: tuple[str, str] | None, grams: Sequence[str],
                       wmap: dict[str, int], city: str, county: str | None, stories: dict[str, list], now: float,
                       vetoes: list[tuple[str, str]]) -> tuple[str | None, float, str]:
        """The typed story of this prefecture an untyped credit item belongs to, or the untyped
        credit story a typed item belongs to (see
        ``ClusterSettings.join_min_yuan``): no conflict of county, subject or quantity, and
        positive evidence, a shared specific quantity or the same subject kind with a rare word
        in common. The story with the strongest evidence, then the most similar wording, wins;
        returns (story id, similarity, the evidence in words)."""
        if frame.type is None:
            index = self._frame_index.get(bucket, {})
            ids = sorted({sid for (c, _), sids in index.items() if c == city for sid in sids})
        else:
            # the mirror case: a typed item whose event was first seen untyped (四川宜宾一煤矿发生瓦斯事故
            # 5人被困, then 宜宾珙县煤矿事故已致4人死亡); the untyped stories' frames are read from their
            # first wording
            ids = sorted(sid for sid, record in stories.items()
                         if record[7] == city and _credit_story(record) and record[10] is None)
        if not ids:
            return None, 0.0, ""
        mine, w_mine = frozenset(grams), sum(wmap.values())
        mine_specific = [q for q in frame.quantities if self._specific(q)]
        best: tuple[int, float, float, str, str] | None = None
        for sid, record, theirs in self._compatible(ids, frame, subject, city, county, stories, now, vetoes, types=False):
            shared_q = [q for q in mine_specific for other in theirs.quantities if q.comparable(other) and q.overlaps(other)]
            sim, shared = self._wording(sid, record, mine, wmap, w_mine)
            if shared_q:
                strength, because = 2, f"the same {shared_q[0].text}"
            elif (frame.subject is not None and frame.subject == theirs.subject
                  and any(wmap[g] >= self._min_shared for g in shared)):
                strength, because = 1, f"the same subject ({frame.subject}) and a rare word in common"
            else:
                continue
            key = (strength, sim, record[1], sid, because)
            if best is None or key > best:
                best = key
        return (best[3], best[1], best[4]) if best is not None else (None, 0.0, "")

    def _rare_word_match(self, bucket: str, frame: Frame, subject: tuple[str, str] | None, grams: Sequence[str],
                         wmap: dict[str, int], text: str, city: str | None, county: str | None, province: str | None,
                         postings: Postings, stories: dict[str, list], now: float,
                         vetoes: list[tuple[str, str]], credit: bool = True) -> tuple[str | None, float, str]:
        """The open credit story of this prefecture (of no city, for an item naming none: a national
        or foreign case worded by two sites), seen within the frame window, that shares a
        rare word with this credit item: three characters or more, none of whose bigrams is a
        common one or a place name's (石家庄一搅拌站扬尘污染严重 / 石家庄藁城一混凝土搅拌站被责令停产整治:
        搅拌站). No event type is needed: sites name the thing that failed (电梯, 营养餐, 搅拌站)
        where the taxonomy has no word for the event. County, subject and quantities must not
        conflict. One side being a credit item is enough: the reader may miss one wording of an
        event (佛山一小区电梯突然下坠 3名居民受伤 read neutral, 小区电梯坠落事故 物业公司被立案调查
        read dishonest), and the story is one event whatever each wording was read as; a story is
        a credit story once any member is. Within one prefecture only: across the country a rare
        word is weaker evidence (侵犯商标权犯罪向…新业态延展 / “冰雪+”如何加出多元新业态), so items
        naming no city join on it only when both are credit items. Returns (story id, similarity,
        the word)."""
        rare = self._rare_word
        if not (credit or city and self._credit_ids.get(bucket)) or sum(1 for g in grams if wmap[g] > rare) < 2:
            return None, 0.0, ""  # nothing to join, or fewer than two rare bigrams: no rare word, nor two, to share
        if credit:
            ids = set()
            for g in grams:
                if wmap[g] > rare:
                    found = postings.get(g)
                    if found is not None:
                        ids.update((found,) if found.__class__ is str else found)
        else:
            ids = self._credit_ids[bucket]  # a wording read neutral joins a credit story only: few are open
        if not ids:
            return None, 0.0, ""
        window = self.settings.frame_window_s
        mine = frozenset(grams)
        w_mine = sum(wmap.values())
        # the event type's own words are compared as a type, not as a name (拖欠…工资 is every wage
        # arrears case's): the rare word is sought outside the cue
        own = text.replace(frame.cue, "\x00") if frame.cue else text
        best: tuple[int, float, str, str] | None = None
        for sid in sorted(ids):
            record = stories.get(sid)
            if record is None or len(record) <= 14:
                continue
            both_credit = credit and record[14]
            if (not (both_credit or city and (credit or record[14])) or record[7] != city
                    or now - record[1] > window or now < record[0] - window):
                continue
            word = max((self._shared_rare_word(own, m[2], wmap) for m in record[8]), key=len)
            theirs: Frame | None = None
            if len(word) < 3:
                # two rare bigrams apart (甲醛…鱿鱼) are evidence too, for two credit items of a
                # prefecture (a wording read neutral shares 小区…物业 with too many: 南宁一小区物业费上涨);
                # so is the thing that failed or was faked, named by both ([objects]: 校车, 化肥 /
                # 肥料), a word the taxonomy knows as specific where two characters are no rare word
                word = (max((self._shared_rare_bigrams(own, m[2], wmap) for m in record[8]), key=len)
                        if city and both_credit else "")
                if not word and city and frame.object is not None:
                    theirs = self._story_frame(sid, record)
                    if theirs.object is not None and self._frame_reader.same_object(frame.object, theirs.object):
                        word = frame.object if frame.object == theirs.object else f"{frame.object}/{theirs.object}"
                if not word:
                    continue  # one rare bigram in common is not a rare word in common
            if theirs is None:
                theirs = self._story_frame(sid, record)  # an untyped story's, read from its first wording
            reason = (_place_conflict(record, None, city, county, province)
                      or frames_conflict(frame, theirs, self._frame_reader.rising, types=False)
                      or self._objects_conflict(frame, theirs, word)
                      or _named_subjects_conflict(subject, _stored_subject(record)))
            if reason is not None:
                if (record[5], reason) not in vetoes:
                    vetoes.append((record[5], f"{reason} (though {word} in common)"))
                continue
            key = (len(word), self._wording(sid, record, mine, wmap, w_mine)[0], sid, word)
            if best is None or key > best:
                best = key
        return (best[2], best[1], best[3]) if best is not None else (None, 0.0, "")

    def _objects_conflict(self, frame: Frame, theirs: Frame, word: str) -> str | None:
        """Two things named (江门…假冒名牌化妆品 / 江门一工厂…假冒名牌运动鞋) and a rare word in common
        that names neither (查获+名牌): two cases. A word naming one of them (电梯) may be a part and
        its whole, as frames_conflict allows when the wording is shared."""
        a, b = frame.object, theirs.object
        if a is None or b is None or self._frame_reader.same_object(a, b) or a in word or b in word:
            return None
        return f"object {a} ≠ {b}"

    def _shared_rare_word(self, text: str, other: str, wmap: dict[str, int]) -> str:
        """The longest run of characters both wordings have whose every bigram is rare (weighs
        more than a place name's bigram), or ""."""
        rare, best, run = self._rare_word, "", ""
        for i in range(len(text) - 1):
            g = text[i:i + 2]
            if wmap.get(g, 0) <= rare:
                run = ""
                continue
            run = run + g[1] if run and run + g[1] in other else (g if g in other else "")
            if len(run) > len(best):
                best = run
        return best

    def _shared_rare_bigrams(self, text: str, other: str, wmap: dict[str, int]) -> str:
        """Two rare bigrams both wordings have, apart (甲醛…鱿鱼), as "甲醛+鱿鱼", or ""."""
        rare = self._rare_word
        found = []
        for i in range(len(text) - 1):
            g = text[i:i + 2]
            if wmap.get(g, 0) > rare and g in other and not any(g[0] in f or g[1] in f for f in found):
                found.append(g)
        return "+".join(found[:2]) if len(found) >= 2 else ""

    def _response_match(self, frame: Frame, subfield: str | None, county: str | None, grams: Sequence[str],
                        wmap: dict[str, int], stories: dict[str, list], now: float,
                        vetoes: list[tuple[str, str]]) -> tuple[str | None, float]:
        """The story a response answers when its wording names no event of its own
        (苏州市市场监管局通报…涉事企业被吊销许可证): the open story of the same prefecture (the
        bucket) and subfield within the frame window, county and subject compatible, whose wording
        it shares most; the most recent when it shares none. Recency alone answered 泰安通报企业食堂集体
        就医事件 with a supermarket's fine seen since, not the canteen's poisoning it names. A
        response the reader gave no subfield (广西柳州：江面现大片污水带 环保部门溯源查处) answers the
        city's one open credit story, of any subfield; with two open it cannot say which."""
        window = self.settings.frame_window_s
        rising = self._frame_reader.rising
        mine, w_mine = frozenset(grams), sum(wmap.values())
        # A response worded with an event type (卫健委介入调查…乱收费) found no story of its type: it
        # answers an untyped one only on the same kind of subject, named by both (医院 / 医院).
        typed = frame.type is not None and frame.type.join
        best: tuple[bool, bool, float, float, str] | None = None
        candidates = 0
        for sid, record in stories.items():
            if now - record[1] > window or now < record[0] - window:
                continue
            same = record[4] == subfield if subfield else _credit_story(record)
            # The subfield is the reader's guess for each wording, and two wordings of one case may
            # be guessed apart (民宿毁约涨价 pricing, 民宿被单方取消 tourism: probe 14): a credit story
            # of another subfield is answered when both name the same kind of subject or the same
            # thing ([objects]: “假化肥坑农”事件 / 一农资店销售假化肥), and the same thing, then the
            # response's own subfield, are preferred.
            if not same and not (subfield and (frame.subject is not None or frame.object is not None)
                                 and _credit_story(record)):
                continue
            story = self._story_frame(sid, record)
            kind = frame.subject is not None and story.subject == frame.subject
            thing = (frame.object is not None and story.object is not None
                     and self._frame_reader.same_object(frame.object, story.object))
            # of its own subfield, any story (a typed response: one of its subject kind); of another,
            # one naming its subject kind or its thing
            if not ((kind or not typed) if same else (kind or thing)):
                continue
            reason = (_place_conflict(record, subfield if same else None, record[7], county)
                      or frames_conflict(frame, story, rising, types=typed))
            if reason is not None:
                vetoes.append((record[5], reason))
                continue
            key = (thing, same, self._wording(sid, record, mine, wmap, w_mine)[0], record[1], sid)
            candidates += 1
            if best is None or key > best:
                best = key
        if best is None or (not subfield and candidates > 1):
            return None, 0.0
        return best[4], best[2]

    def _story_frame(self, sid: str, record: list) -> Frame:
        """The story's stored frame; an untyped story's (none stored) is read from its first wording."""
        frame = self._frames.get(sid)
        if frame is None:
            stored = record[10] if len(record) > 10 else None  # none stored: untyped, or kept before frames were
            frame = self._frames[sid] = (_frame_from_state(stored, self._frame_reader) if stored is not None
                                         else self._frame_of(story_text(record[5])))
        return frame

    def _index_frame(self, bucket: str, sid: str, record: list) -> None:
        if len(record) <= 10 or record[10] is None:
            return  # most stories: no event type
        for key in _frame_keys(record):
            ids = self._frame_index.setdefault(bucket, {}).setdefault(key, [])
            if sid not in ids:
                ids.append(sid)

    def _unindex_frame(self, bucket: str, sid: str, record: list) -> None:
        self._frames.pop(sid, None)
        if len(record) <= 10 or record[10] is None:
            return
        for key in _frame_keys(record):
            ids = self._frame_index.get(bucket, {}).get(key)
            if ids and sid in ids:
                ids.remove(sid)

    def _province_match(self, bucket: str, frame: Frame, subject: tuple[str, str] | None, grams: Sequence[str],
                        wmap: dict[str, int], province: str, city: str | None, stories: dict[str, list], now: float,
                        vetoes: list[tuple[str, str]], echoes: bool) -> tuple[str | None, float]:
        """The one open story of the no-city bucket with this event frame in this province: an echo
        of a placed story (``echoes``) for a sighting naming only the province (山西一煤矿透水致5人被困),
        or a story of such sightings for an echo. Two candidates and the province cannot say which
        city's event it is: none is chosen."""
        found = [(sid, record) for sid, record in self._province_frame_stories(bucket, frame, subject, province, city,
                                                                               stories, now, vetoes)
                 if bool(_echo_home(record)) == echoes]
        return self._the_only(found, grams, wmap)

    def _candidates_match(self, bucket: str, frame: Frame, subject: tuple[str, str] | None, grams: Sequence[str],
                          wmap: dict[str, int], candidates: Sequence[tuple[str, str]], stories: dict[str, list],
                          now: float, vetoes: list[tuple[str, str]]) -> tuple[str | None, float]:
        """The one echo of the no-city bucket with this event frame placed in one of the cities an
        ambiguous place name may mean (白云区一仓库藏匿假冒运动鞋: 广州白云区查获假冒名牌运动鞋 is open,
        贵阳 has no such story). None when no city or two of them have one: the name cannot say."""
        found = [(sid, record) for city, province in candidates
                 for sid, record in self._province_frame_stories(bucket, frame, subject, province, None, stories, now,
                                                                 vetoes)
                 if _echo_home(record) and record[7] == city]
        return self._the_only(found, grams, wmap)

    def _claimable_candidate(self, bucket: str, frame: Frame, subject: tuple[str, str] | None, grams: Sequence[str],
                             wmap: dict[str, int], city: str, county: str | None, stories: dict[str, list],
                             now: float, echo: str) -> tuple[str | None, float]:
        """The one unplaced story with this event frame whose ambiguous place name may mean ``city``,
        for ``echo`` (that city's story, registered) to claim; none when none or two fit, or when
        another of its cities has a story of the frame open too (the name cannot say which)."""
        ids = self._frame_index.get(bucket, {}).get((f"c:{city}", frame.type.id))  # type: ignore[union-attr]
        if not ids:
            return None, 0.0
        found = list(self._compatible(sorted(ids), frame, subject, city, county, stories, now, []))
        if len(found) != 1:
            return None, 0.0
        sid, record, theirs = found[0]
        # as the story's own sighting would have asked on arrival: the one echo among its cities
        only, _ = self._candidates_match(bucket, theirs, _stored_subject(record), grams, wmap,
                                         [tuple(c) for c in record[15]], stories, now, [])
        return self._the_only([(sid, record)] if only == echo else [], grams, wmap)

    def _province_frame_stories(self, bucket: str, frame: Frame, subject: tuple[str, str] | None, province: str,
                                city: str | None, stories: dict[str, list], now: float,
                                vetoes: list[tuple[str, str]]) -> list[tuple[str, list]]:
        """The open stories of the no-city bucket indexed under this province and event type whose
        frame does not conflict with this item's (conflicts explained in ``vetoes``)."""
        ids = self._frame_index.get(bucket, {}).get((f"p:{province}", frame.type.id))  # type: ignore[union-attr]
        if not ids:
            return []
        return [(sid, record) for sid, record, _ in self._compatible(sorted(ids), frame, subject, city, None, stories,
                                                                     now, vetoes, province=province)]

    def _the_only(self, found: list[tuple[str, list]], grams: Sequence[str], wmap: dict[str, int]) -> tuple[str | None, float]:
        """The one story found, with its wording similarity; none when there are none or several."""
        if len(found) != 1:
            return None, 0.0
        sid, record = found[0]
        return sid, self._wording(sid, record, frozenset(grams), wmap, sum(wmap.values()))[0]

    def _shares_beyond_actor(self, shared: frozenset[str], wmap: dict[str, int], actor: str | None) -> bool:
        """A rare bigram in common that is not the host's name (王毅同X会谈 vs 王毅同Y会谈 share only 王毅)."""
        # a bigram starting inside the name (王毅, 毅同) is the name, not the story
        return any(wmap[g] >= self._min_shared and (actor is None or g[0] not in actor) for g in shared)

    def _open(self, bucket: str, ts: float) -> tuple[dict, Postings, dict[str, list]]:
        """The bucket's state for a sighting at ``ts``, with what the window has left behind expired."""
        meta, postings, stories = self._load(bucket)
        newest = max(ts, meta.get("newest", ts))
        meta["newest"] = newest
        self._expire(bucket, meta, postings, stories, newest)
        return meta, postings, stories

    def _close(self, bucket: str, meta: dict, postings: Postings, stories: dict[str, list]) -> None:
        """Count the change in the bucket's meta (its cache is current) and write the meta."""
        meta["seq"] = meta.get("seq", 0) + 1
        self.state[f"m:{bucket}"] = meta
        self._cache[bucket] = (meta["seq"], postings, stories)

    def assign(self, bucket: str, ts: float, title: str, subfield: str | None = None,
               city: str | None = None, places: Iterable[str] = (), county: str | None = None,
               response: bool = False, province: str | None = None, sighting: Sequence | None = None,
               credit: bool = False, candidates: Sequence[tuple[str, str]] = ()) -> Assignment:
        """Story of one sighting at event time ``ts`` (epoch seconds) in ``bucket``. ``response``:
        the sighting reports the authorities' response (通报, 问责, 吊销, 立案查处), which belongs
        to the story of the event it answers. A sighting naming no city may join the echo of a
        placed story (``echo``); else its story holds ``sighting`` (ts, site, surface, rank, url,
        title, summary, change) for a placed story that claims it later. ``candidates``: for a
        sighting naming no city and no province, the (city adcode, province) its place name may
        mean (白云区: 广州 or 贵阳); the one echo with its event frame among them may claim it."""
        meta, postings, stories = self._open(bucket, ts)
        grams, numbers, text, said = self._signature(title)
        exact = self._exact.setdefault(bucket, {})
        sid, sim = exact.get(text), 1.0
        if sid is not None:
            record = stories.get(sid)
            if (record is None or ts - record[1] > self.settings.window_s or ts < record[0] - self.settings.window_s
                    or (city and record[7] and city != record[7]) or (subfield and record[4] and subfield != record[4])
                    or (county and len(record) > 9 and record[9] and county != record[9])):
                sid = None
        # a repeat of a wording its story holds (most sightings) needs no place grams: they are
        # the member's, stored with it
        place_grams = () if sid is not None and any(m[2] == text for m in stories[sid][8]) else \
            self._events.place_grams(places, text)
        wmap: dict[str, int] = {}
        event: tuple = (None, None)
        subject: tuple[str, str] | None = None
        amounts = _NO_AMOUNTS
        frame = self._frame_of(said)
        how = "exact"
        vetoes: list[tuple[str, str]] = []
        if sid is None:
            wmap = self._weights(grams, place_grams)
            event = self._events.event(text)
            subject = self._events.subject_of(text, place_grams)
            amounts = _amounts(numbers)
            accepted: list[tuple[str, float]] | None = None if city else []
            sid, sim = self._similar(grams, amounts, wmap, event, subject, subfield, city, county, postings, stories, ts,
                                     vetoes, frame, province, accepted=accepted)
            if sid is not None and accepted and _echo_home(stories[sid]) and self._echo_cities(accepted, stories) > 1:
                # the wording fits placed stories of two cities (山西一煤矿透水 / 吕梁…, 大同…): it
                # cannot say which city's it is, so it joins none of them
                rest = sorted((score, s) for s, score in accepted if not _echo_home(stories[s]))
                sid, sim = (rest[-1][1], rest[-1][0]) if rest else (None, 0.0)
            how = "wording"
            if sid is None and not city and province and frame.type is not None and frame.type.join:
                sid, sim = self._province_match(bucket, frame, subject, grams, wmap, province, None, stories, ts, vetoes,
                                                echoes=True)
                how = "frame"
            if sid is None and not city and not province and candidates and frame.type is not None and frame.type.join:
                sid, sim = self._candidates_match(bucket, frame, subject, grams, wmap, candidates, stories, ts, vetoes)
                how = "frame"
            if sid is None and frame.type is not None and frame.type.join and city:
                sid, sim = self._frame_match(bucket, frame, subject, grams, wmap, subfield, city, county, stories, ts,
                                             vetoes)
                how = "frame"
            if sid is None and city and ((frame.type is None and (subfield or response))
                                         or (frame.type is not None and frame.type.join and credit)):
                sid, sim, because = self._partial_match(bucket, frame, subject, grams, wmap, city, county, stories, ts,
                                                        vetoes)
                how = f"partial: {because}" if sid is not None else how
            # a response that introduces its own subject (一超市…被罚款: 一/某 + a head) reports a case
            # of its own, not the answer to an open story
            if sid is None and response and city and subfield and subject is None:
                sid, sim = self._response_match(frame, subfield, county, grams, wmap, stories, ts, vetoes)
                # the story's subfield, when it is another (joined on the subject kind or thing)
                how = "response" if sid is None or stories[sid][4] == subfield else f"response: {stories[sid][4] or '-'}"
            if sid is None:
                sid, sim, word = self._rare_word_match(bucket, frame, subject, grams, wmap, text, city, county, province,
                                                       postings, stories, ts, vetoes, credit)
                how = f"rare word: {word}" if sid is not None else how
            # with no subfield, only a response that names nobody of its own answers the one open story:
            # 泰安一加油站加油机作弊被查处 reports a case of its own, though 加油站 is no [subjects] head
            if (sid is None and response and city and not subfield and subject is None
                    and not _introduces_subject(places, text, self._events.subject_markers)):
                sid, sim = self._response_match(frame, None, county, grams, wmap, stories, ts, vetoes)
                how = "response" if sid is not None else how
        hour = int(ts // 3600)
        if sid is not None:
            record = stories[sid]
            if len(record) < 11:
                record.append(None)  # a story stored before frames were read
            if record[10] is None and frame.type is not None:
                record[10] = _frame_state(frame, subject)
                self._frames.pop(sid, None)  # the frame read from its first wording, if any, is superseded
                self._index_frame(bucket, sid, record)
            self._adopt_object(sid, record, frame.object)
            record[1] = max(record[1], ts)
            if not record[4] and subfield:
                record[4] = subfield
            if not record[7] and city:
                record[7] = city
            if county and len(record) > 9 and not record[9]:
                self._unindex_frame(bucket, sid, record)
                record[9] = county
                self._index_frame(bucket, sid, record)
            if province and len(record) > 11 and not record[11]:
                self._unindex_frame(bucket, sid, record)
                record[11] = province
                self._index_frame(bucket, sid, record)
            if credit and len(record) > 14 and not record[14]:
                record[14] = True
                self._credit_ids.setdefault(bucket, set()).add(sid)
            if sighting is not None and len(record) > 13 and not record[12] \
                    and len(record[13]) < self.settings.max_held_sightings:
                record[13] = (*record[13], tuple(sighting))  # a tuple: see _view on the garbage collector
            if len(record[8]) < self.settings.max_members and all(m[2] != text for m in record[8]):
                record[8].append((grams, numbers, text, place_grams))
                self._members.pop(sid, None)  # rebuilt with the new wording on next use
                exact.setdefault(text, sid)
                self._post(postings, self._anchors(wmap or self._weights(grams, ()), place_grams), sid)
            # A story still being seen moves to the current hour so expiry keeps it.
            if record[6] < hour - int(self.settings.window_s // 7200):
                self._register(bucket, meta, hour, sid, move_from=record[6])
                record[6] = hour
            self.state[f"s:{sid}"] = record
            matched_title = record[5]
            new = False
            vetoes = []
            echo_city = record[7] if _echo_home(record) else None
        else:
            digest = hashlib.sha1(f"{bucket}|{ts:.0f}|{content_chars(title)}".encode()).hexdigest()[:16]
            sid = f"s-{digest}"
            # a member is a tuple (stored as a JSON list like any other): a tuple of strings and tuples
            # drops out of the garbage collector's tracking, and each open story keeps its members
            record = [ts, ts, grams, numbers, subfield, title, hour, city, [(grams, numbers, text, place_grams)], county,
                      _frame_state(frame, subject) if frame.type is not None else None, province, None,
                      (tuple(sighting),) if sighting is not None else (), credit,
                      [list(c) for c in candidates] if not city and not province else []]
            # the view of this first wording, from the weights and event already computed above
            self._members[sid] = ((grams, amounts, sum(wmap.values()), event, subject) if wmap
                                  else self._view(grams, numbers, text, place_grams),)
            exact.setdefault(text, sid)
            stories[sid] = record
            self._post(postings, self._anchors(wmap or self._weights(grams, ()), place_grams), sid)
            self._index_frame(bucket, sid, record)
            if credit:
                self._credit_ids.setdefault(bucket, set()).add(sid)
            self.state[f"s:{sid}"] = record
            self._register(bucket, meta, hour, sid)
            matched_title = None
            new = True
            how = "new"
            echo_city = None
        self._close(bucket, meta, postings, stories)
        return Assignment(_echo_home(record) or sid, new, round(sim, 3), matched_title, how, tuple(vetoes[:3]), echo_city)

    def echo(self, bucket: str, story_id: str, ts: float, title: str, subfield: str | None, city: str,
             places: Iterable[str] = (), county: str | None = None, province: str | None = None) -> Claim:
        """Register a placed credit story's wording in ``bucket`` (the no-city bucket) as its echo,
        so that a later sighting naming no city (江苏一化工企业…, 山西一煤矿…) joins the placed
        story, and claim the earlier no-city story this wording matches: it is merged into the
        echo and its held sightings are returned, to be counted again as the placed story's.

        Either order gives one story: the no-city wording first (claimed here) or the placed one
        first (the later sighting joins the echo in ``assign``); the match is the same test both
        ways: the wording, or the event frame within the province when exactly one story fits."""
        meta, postings, stories = self._open(bucket, ts)
        grams, numbers, text, said = self._signature(title)
        place_grams = self._events.place_grams(places, text)
        wmap = self._weights(grams, place_grams)
        frame = self._frame_of(said)
        event, subject, amounts = self._events.event(text), self._events.subject_of(text, place_grams), _amounts(numbers)
        exact = self._exact.setdefault(bucket, {})
        local, hour = f"~{story_id}", int(ts // 3600)
        record = stories.get(local)
        if record is None:
            record = [ts, ts, grams, numbers, subfield, title, hour, city, [(grams, numbers, text, place_grams)], county,
                      _frame_state(frame, subject) if frame.type is not None else None, province, story_id, (), True]
            stories[local] = record
            self._members[local] = ((grams, amounts, sum(wmap.values()), event, subject),)
            self._index_frame(bucket, local, record)
            self._credit_ids.setdefault(bucket, set()).add(local)  # an echo is a credit story's
            self._register(bucket, meta, hour, local)
        else:
            record[0], record[1] = min(record[0], ts), max(record[1], ts)
            if len(record[8]) < self.settings.max_members and all(m[2] != text for m in record[8]):
                record[8].append((grams, numbers, text, place_grams))
                self._members.pop(local, None)
            if record[10] is None and frame.type is not None:
                record[10] = _frame_state(frame, subject)
                self._index_frame(bucket, local, record)
            self._adopt_object(local, record, frame.object)
            if record[6] < hour - int(self.settings.window_s // 7200):  # still being seen: expiry keeps it
                self._register(bucket, meta, hour, local, move_from=record[6])
                record[6] = hour
        exact.setdefault(text, local)
        self._post(postings, self._anchors(wmap, place_grams), local)
        claimed, sim = self._similar(grams, amounts, wmap, event, subject, subfield, city, county, postings, stories, ts,
                                     None, frame, province, unplaced_only=True)
        if claimed is not None and self._fits_other_cities(claimed, city, postings, stories, ts):
            claimed = None  # as in ``assign``: a wording two cities' stories fit is neither's
        how = "wording"
        if claimed is None and province and frame.type is not None and frame.type.join:
            claimed, _ = self._province_match(bucket, frame, subject, grams, wmap, province, city, stories, ts, [],
                                              echoes=False)
            how = "frame"
        if claimed is None and frame.type is not None and frame.type.join:
            # the story of an ambiguous name seen first (白云区一仓库…, then 广州白云区查获…): the
            # other order of _candidates_match, so either order gives one story
            claimed, _ = self._claimable_candidate(bucket, frame, subject, grams, wmap, city, county, stories, ts, local)
            how = "frame"
        claim = Claim("", "", "", ())
        if claimed is not None:
            theirs = stories[claimed]
            claim = Claim(claimed, theirs[5], how, tuple(tuple(x) for x in theirs[13]) if len(theirs) > 13 else ())
            self._merge(bucket, meta, postings, stories, claimed, local)
        self.state[f"s:{local}"] = record
        self._close(bucket, meta, postings, stories)
        return claim

    @staticmethod
    def _echo_cities(accepted: list[tuple[str, float]], stories: dict[str, list]) -> int:
        """How many cities' placed stories (echoes) are among the stories a wording would join."""
        return len({stories[s][7] for s, _ in accepted if _echo_home(stories[s])})

    def _fits_other_cities(self, sid: str, city: str, postings: Postings, stories: dict[str, list], now: float) -> bool:
        """Whether a no-city story's wordings would also join the echo of another city's story."""
        record = stories[sid]
        # each wording's amounts, event and subject as matching already holds them (_member_view)
        for (grams, _, text, *place), (_, amounts, _, event, subject) in zip(record[8], self._member_view(sid, record)):
            wmap = self._weights(grams, place[0] if place else ())
            accepted: list[tuple[str, float]] = []
            self._similar(grams, amounts, wmap, event, subject, record[4], None, None, postings, stories, now, None,
                          self._frame_of(text), record[11] if len(record) > 11 else None, accepted=accepted)
            if any(_echo_home(stories[s]) and stories[s][7] != city for s, _ in accepted):
                return True
        return False

    def _adopt_object(self, sid: str, record: list, thing: str | None) -> None:
        """A typed story whose wordings named no object takes the first one a member names (the
        story of 台州温岭一工地发生坍塌事故 learns 脚手架 from 浙江一在建工地脚手架坍塌), so a frame
        join of another object's accident is vetoed, as a county is once named."""
        if thing is None or len(record) <= 10 or record[10] is None:
            return
        state = record[10]
        if len(state) > 5 and state[5] is not None:
            return
        record[10] = [*state[:5], *([None] * (5 - len(state[:5]))), thing]
        self._frames.pop(sid, None)  # rebuilt from the record on next use

    def _merge(self, bucket: str, meta: dict, postings: Postings, stories: dict[str, list], sid: str, into: str) -> None:
        """Move a no-city story's wordings into the echo ``into`` and forget the story: its later
        sightings then join the echo, so they are the placed story's from the start."""
        theirs, record = stories[sid], stories[into]
        record[0], record[1] = min(record[0], theirs[0]), max(record[1], theirs[1])
        if not record[4] and theirs[4]:
            record[4] = theirs[4]
        members = [tuple(m) for m in theirs[8]]
        if len(theirs) > 10 and theirs[10] and len(theirs[10]) > 5:
            self._adopt_object(into, record, theirs[10][5])
        self._forget(bucket, postings, stories, sid)
        for key in self._hour_keys(bucket, meta, theirs[6]):
            ids = self.state.get(key) or []
            if sid in ids:
                self.state[key] = [s for s in ids if s != sid]
        exact = self._exact.setdefault(bucket, {})
        for member in members:
            if len(record[8]) < self.settings.max_members and all(m[2] != member[2] for m in record[8]):
                record[8].append(member)
            exact.setdefault(member[2], into)
            self._post(postings, self._anchors(self._weights(member[0], ()), member[3] if len(member) > 3 else ()), into)
        self._members.pop(into, None)

    def _post(self, postings: Postings, grams: Iterable[str], sid: str) -> None:
        """Index a story under its bigrams. A bigram of one story maps to the story id itself, of a
        few to a tuple of them, not a set: most bigrams are in one open story, and a set is an
        object the garbage collector walks again and again for as long as the story is open
        (tuples of strings drop out of its tracking). A bigram in more than max_postings stories,
        which proposes none, becomes a set, so a word of the day is not copied at every story."""
        put = postings.setdefault  # one C call indexes a new bigram and returns what was there
        limit = self.settings.max_postings
        for g in grams:
            ids = put(g, sid)
            kind = ids.__class__
            if kind is str:
                if ids != sid:
                    postings[g] = (ids, sid)
            elif kind is tuple:
                if sid not in ids:
                    postings[g] = ids + (sid,) if len(ids) < limit else {*ids, sid}
            else:
                ids.add(sid)

    @staticmethod
    def _unpost(postings: Postings, grams: Iterable[str], sid: str) -> None:
        """Undo ``_post`` of a story (expired): a bigram left with one story maps to its id again."""
        for g in grams:
            ids = postings.get(g)
            if ids is None:
                continue
            kind = ids.__class__
            if kind is str:
                if ids == sid:
                    del postings[g]
                continue
            if kind is tuple:
                if sid not in ids:
                    continue
                ids = postings[g] = tuple([x for x in ids if x != sid])
            else:
                ids.discard(sid)
            if len(ids) == 1:
                postings[g] = next(iter(ids))

    # An hour's story ids are kept in chunks of this many: every new story rewrites the chunk
    # it joins (a table write is the whole value), so one list per hour made each write as
    # long as the hour was busy (200 new stories/s: 10^5 ids rewritten per sighting).
    HOUR_CHUNK = 256

    @staticmethod
    def _hour_keys(bucket: str, meta: dict, hour: int) -> list[str]:
        """State keys of one hour's story ids: h:<bucket>:<hour>, then h:<bucket>:<hour>:<k>."""
        n = meta.get("chunks", {}).get(str(hour), 1)
        return [f"h:{bucket}:{hour}"] + [f"h:{bucket}:{hour}:{k}" for k in range(1, n)]

    def _hour_ids(self, bucket: str, meta: dict, hour: int) -> list[str]:
        return [sid for key in self._hour_keys(bucket, meta, hour) for sid in self.state.get(key) or []]

    def _register(self, bucket: str, meta: dict, hour: int, sid: str, move_from: int | None = None) -> None:
        if move_from is not None:
            for key in self._hour_keys(bucket, meta, move_from):
                ids = self.state.get(key) or []
                if sid in ids:
                    self.state[key] = [s for s in ids if s != sid]
        key = self._hour_keys(bucket, meta, hour)[-1]
        ids = self.state.get(key)
        if ids is None:
            ids = []
        elif len(ids) >= self.HOUR_CHUNK:
            chunks = meta.setdefault("chunks", {})
            n = chunks.get(str(hour), 1)
            chunks[str(hour)] = n + 1
            key, ids = f"h:{bucket}:{hour}:{n}", []
        if sid not in ids[-8:]:
            ids.append(sid)
        self.state[key] = ids  # reassigned so a Faust table writes its changelog
        if hour not in meta["hours"]:
            meta["hours"] = sorted(meta["hours"] + [hour])
