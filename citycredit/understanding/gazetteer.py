"""City attribution: which prefecture-level city (and county) a headline is about.

The gazetteer is built once per process from the national division lists in the
shared data (NBS 2023 provinces/cities/areas plus the Ministry of Civil Affairs
code history for renamed divisions) and the desk-tunable ``config/places.toml``
(traps, weak names, aliases). Matching is one Aho-Corasick pass over the
normalised title; overlapping hits are resolved leftmost-longest, so a trap word
(公安部, 重大安全, 长安汽车) swallows the place name hidden inside it.

Precision first: a name that belongs to several places (鼓楼区, 朝阳) is resolved
only through another place named in the same headline, a weak name (a short name
that is also an ordinary word: 合作, 安康, 三明治's 三明) counts only when the
headline also names its province or prefecture, and two different cities in one
headline give no city at all. Nothing is guessed.
"""
from __future__ import annotations

import csv
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterable

import ahocorasick

from citycredit.configfiles import packaged_toml
from citycredit.exceptions import ConfigError
from citycredit.ids import MUNICIPALITY_ADCODES

from .text import foreign_chars, frequent_first

# Ethnic names inside autonomous prefecture/county names; the short name is what precedes them.
_ETHNIC = (
    "朝鲜", "土家", "苗族", "藏族", "羌族", "彝族", "布依", "侗族", "壮族", "傣族", "景颇", "白族", "哈尼", "傈僳",
    "回族", "蒙古", "哈萨克", "柯尔克孜", "维吾尔", "满族", "瑶族", "黎族", "畲族", "水族", "仡佬", "仫佬", "毛南",
    "纳西", "拉祜", "佤族", "普米", "怒族", "独龙", "德昂", "阿昌", "基诺", "布朗", "撒拉", "土族", "保安族",
    "东乡", "裕固", "塔吉克", "锡伯", "达斡尔", "鄂温克", "鄂伦春", "各族", "京族",
)
_COUNTY_SUFFIXES = ("自治县", "自治旗", "林区", "特区", "新区", "矿区", "市", "县", "区", "旗")
_PREFECTURE_SUFFIXES = ("自治州", "地区", "市", "盟")
_PROVINCE_SUFFIXES = ("维吾尔自治区", "壮族自治区", "回族自治区", "自治区", "省", "市")


@dataclass(frozen=True)
class Place:
    """One division: adcode (6 digits), full name, level, and the prefecture/province it belongs to."""

    code: str
    name: str
    level: str  # province | prefecture | county
    prefecture: str | None  # adcode of the prefecture-level unit (itself for prefectures)
    province: str  # 6-digit province adcode


@dataclass(frozen=True)
class Hit:
    """One place name found in a title: where, the text, and every place it may mean."""

    start: int
    end: int
    text: str
    codes: tuple[str, ...]
    weak: bool


@dataclass(frozen=True)
class Attribution:
    city: str | None = None
    city_adcode: str | None = None
    county: str | None = None
    county_adcode: str | None = None
    province: str | None = None
    evidence: tuple[str, ...] = ()
    note: str = ""
    spans: tuple[tuple[int, int], ...] = ()  # where place names are, so credit terms inside them are ignored
    # a title naming no city and no province whose place name is one several prefectures have
    # (白云区: 广州 and 贵阳): those prefectures as (adcode, name); a story of one of them may
    # claim it (clustering), the index never counts it for any
    candidates: tuple[tuple[str, str], ...] = ()


_MAX_CANDIDATES = 3  # a name more prefectures share than this says too little to look for its story
_NOWHERE = Attribution()  # a title that names no place (most): one shared immutable value, not one built per title


@dataclass
class _Names:
    """name -> candidate codes, and which (name, code) pairs are weak."""

    codes: dict[str, set[str]] = field(default_factory=dict)
    weak: set[str] = field(default_factory=set)

    def add(self, name: str, code: str) -> None:
        if len(name) >= 2:
            self.codes.setdefault(name, set()).add(code)


def _strip_ethnic(stem: str) -> str:
    cut = min((i for i in (stem.find(e) for e in _ETHNIC) if i > 0), default=-1)
    return stem[:cut] if cut > 0 else stem


def short_name(name: str, suffixes: tuple[str, ...], ethnic: bool = True) -> str | None:
    """苏州市 -> 苏州, 延边朝鲜族自治州 -> 延边, 长阳土家族自治县 -> 长阳; None when nothing shorter is safe."""
    for suffix in suffixes:
        if name.endswith(suffix) and len(name) > len(suffix):
            stem = name[: -len(suffix)]
            stem = _strip_ethnic(stem) if ethnic else stem
            return stem if len(stem) >= 2 and stem != name else None
    return None


def _is_cjk(ch: str) -> bool:
    return "\u4e00" <= ch <= "\u9fff"


def _read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8-sig", newline="") as fh:
        return list(csv.DictReader(fh))


def names_in(node: object) -> list[str]:
    """Every key and string of a nested JSON place tree ({province: {city: [district, ...]}}), in order."""
    out: list[str] = []
    if isinstance(node, dict):
        for key, value in node.items():
            out.append(key)
            out.extend(names_in(value))
    elif isinstance(node, list):
        for value in node:
            out.extend(names_in(value))
    elif isinstance(node, str):
        out.append(node)
    return out


class Gazetteer:
    """All divisions of mainland China plus traps; ``attribute(title)`` resolves a headline."""

    def __init__(self, gazetteer_dir: Path, config: dict, extra_traps: tuple[str, ...] = ()) -> None:
        if not (gazetteer_dir / "areas.csv").exists():
            raise ConfigError(f"gazetteer not found in {gazetteer_dir} (set CITYCREDIT_GAZETTEER_DIR)")
        self.places: dict[str, Place] = {}
        self._district_shorts: set[str] = set()
        names = _Names()
        self._load_divisions(gazetteer_dir, names)
        self._load_history(gazetteer_dir / "areacodes" / "result.csv", names)
        self._apply_config(config, names)
        word_like = set(names.weak)  # weak because an ordinary word or a brand (平安, 和平, 新华)
        # District short names (天桥, 路北, 长宁) are also people's and streets' names, and national
        # news names the city with them: they need that context unless a prefecture has the name too.
        for short in self._district_shorts:
            if short in names.codes and all(self.places[c].level == "county" for c in names.codes[short]):
                names.weak.add(short)
        names.weak -= self.not_weak
        sar = self._load_sar_names(gazetteer_dir / "HK-MO-TW.json")
        # 大埔 is in Hong Kong and in 梅州: a short name shared with a SAR or Taiwan district needs
        # context; a full mainland name (复兴区, 中正区 exist in Taiwan too) stays strong.
        sar_weak = {n for n in sar if n in names.codes and not n.endswith(("区", "县", "市"))}
        names.weak.update(sar_weak)
        # Weak only as a district's short name (渝北一物业公司): not enough for the city, enough for
        # its province. An ordinary word's weakness (平安回国) names no province either.
        self._district_weak = frozenset(names.weak - word_like - sar_weak)
        self._extra_traps = [n for n in sar if n not in names.codes] + list(extra_traps)
        self._build(names, config)

    def name_of(self, adcode: str) -> str | None:
        """Full name of a division by adcode (None when unknown)."""
        place = self.places.get(adcode)
        return place.name if place else None

    # --- building -----------------------------------------------------------
    def _load_divisions(self, root: Path, names: _Names) -> None:
        provinces = {row["code"]: row["name"] for row in _read_csv(root / "provinces.csv")}
        for code2, name in provinces.items():
            code = code2 + "0000"
            is_muni = code in MUNICIPALITY_ADCODES
            self.places[code] = Place(code, name, "prefecture" if is_muni else "province", code if is_muni else None, code)
            names.add(name, code)
            short = short_name(name, _PROVINCE_SUFFIXES, ethnic=False)
            if short:
                names.add(short, code)
        direct_groups: set[str] = set()
        for row in _read_csv(root / "cities.csv"):
            code4, name, prov = row["code"], row["name"], row["provinceCode"] + "0000"
            if name in ("市辖区", "县"):
                continue  # municipality districts: the municipality itself is the prefecture
            if "直辖县级" in name:
                direct_groups.add(code4)
                continue
            code = code4 + "00"
            self.places[code] = Place(code, name, "prefecture", code, prov)
            names.add(name, code)
            short = short_name(name, _PREFECTURE_SUFFIXES)
            if short:
                names.add(short, code)
                if name.endswith("自治州"):
                    names.add(short + "州", code)  # 恩施州, 延边州: how news names autonomous prefectures
        for row in _read_csv(root / "areas.csv"):
            code, name, city4, prov = row["code"], row["name"], row["cityCode"], row["provinceCode"] + "0000"
            if prov in MUNICIPALITY_ADCODES:
                parent: str | None = prov
            elif city4 in direct_groups:
                parent = code  # 仙桃市, 济源市, 石河子市: county-level, governed by the province itself
            else:
                parent = city4 + "00"
            level = "prefecture" if parent == code else "county"
            self.places[code] = Place(code, name, level, parent, prov)
            if name in ("城区", "郊区", "矿区"):
                continue
            names.add(name, code)
            short = short_name(name, _COUNTY_SUFFIXES)
            if short:
                names.add(short, code)
                if name.endswith("区"):
                    self._district_shorts.add(short)

    def _load_history(self, path: Path, names: _Names) -> None:
        """Old names (襄樊市, 思茅市, 吴江市, 崇文区) pointing at the division that carries them on today."""
        if not path.exists():
            return
        rows = _read_csv(path)
        successors: dict[str, list[str]] = {}
        for row in rows:
            nxt = [c.split("[")[0] for c in (row.get("新代码") or "").split(";") if c.strip()]
            if row["状态"] != "在用":
                successors.setdefault(row["代码"], nxt)

        def current(code: str, depth: int = 0) -> set[str]:
            if code in self.places:
                return {code}
            if depth > 8:
                return set()
            found: set[str] = set()
            for nxt in successors.get(code, []):
                if nxt != code:
                    found |= current(nxt, depth + 1)
            return found

        for row in rows:
            if row["状态"] == "在用" or row["级别"] not in ("地级", "县级"):
                continue
            old = row["名称"]
            if old in names.codes or old in ("城区", "郊区", "矿区") or not old.endswith(("市", "县", "区", "地区", "盟", "自治州")):
                continue  # a name still in use means the current division, not the old one
            targets = current(row["代码"])
            prefectures = {self.places[t].prefecture for t in targets}
            if len(targets) == 1:
                names.add(old, next(iter(targets)))
            elif len(prefectures) == 1 and None not in prefectures:
                names.add(old, next(iter(prefectures)))  # type: ignore[arg-type]

    def _load_sar_names(self, path: Path) -> list[str]:
        """Hong Kong, Macao and Taiwan district names (大埔, 沙田): places, but not mainland cities."""
        if not path.exists():
            return []
        import json

        out = names_in(json.loads(path.read_text(encoding="utf-8")))
        for name in list(out):
            short = short_name(name, ("特别行政区", "区", "市", "县", "岛"), ethnic=False)
            if short:
                out.append(short)
        return sorted(set(out))

    def _apply_config(self, config: dict, names: _Names) -> None:
        for alias, target in config.get("aliases", {}).items():
            code = str(target)
            if code not in self.places:
                raise ConfigError(f"places.toml: alias {alias!r} points at unknown adcode {code}")
            names.codes[alias] = {code}
        for name in config.get("never_places", {}).get("names", []):
            names.codes.pop(name, None)
        weak = config.get("weak_names", {})
        names.weak.update(weak.get("manual", []))
        self.not_weak = frozenset(weak.get("not_weak", []))
        names.weak.update(n for n in weak.get("derived", []) if n not in self.not_weak)

    def _build(self, names: _Names, config: dict) -> None:
        self._weak = frozenset(names.weak)
        self.names: dict[str, tuple[str, ...]] = {n: tuple(sorted(c)) for n, c in names.codes.items()}
        words = {name: (name, tuple(sorted(codes)), name in names.weak) for name, codes in names.codes.items()}
        for trap in list(config.get("traps", {}).get("words", [])) + self._extra_traps:
            # A trap wins over a place name inside it because it is longer or starts earlier.
            if trap not in names.codes:
                words[trap] = (trap, (), False)
        automaton = ahocorasick.Automaton()
        automaton.add_word("\x00\x01", None)  # the root's first child: where a character of no name is found
        for word in frequent_first(words):
            automaton.add_word(word, words[word])
        automaton.make_automaton()
        self._automaton = automaton
        # most characters of a headline are in no name: read as "\x00", each is found at once
        # instead of after a search of the root's thousands of children (text.foreign_chars)
        self._foreign = foreign_chars(words)
        context = config.get("context", {})
        self._road_chars = frozenset(context.get("not_place_after", []))
        self._road_not = tuple(context.get("road_chars_in_words", []))
        self._title_chars = frozenset(context.get("not_place_before", []))
        self._river_chars = frozenset(context.get("not_place_before_river", []))
        self._river_not = tuple(context.get("river_chars_in_words", []))
        self._surnames = frozenset(context.get("surnames", []))
        self._person_titles = tuple(context.get("titles_before_surname", []))

    @property
    def automaton(self) -> ahocorasick.Automaton:
        """Names and traps -> (word, codes, weak); read with foreign characters as "\x00" (``hits``)."""
        return self._automaton

    @property
    def weak_names(self) -> frozenset[str]:
        """Names that count only when the headline confirms them (places.toml and derived)."""
        return self._weak

    # --- lookup ---------------------------------------------------------------
    def hits(self, text: str, found: Iterable[tuple[int, Any]] | None = None) -> list[Hit]:
        """Leftmost-longest non-overlapping names and traps; traps are dropped after they block.
        ``found``: this automaton's matches in ``text`` when already scanned (scan.TitleScan)."""
        if found is None:
            found = self._automaton.iter(self._foreign.sub("\x00", text))
        raw = []
        for end, (word, codes, weak) in found:
            start = end - len(word) + 1
            raw.append((start, -len(word), word, codes, weak))
        if not raw:
            return []
        raw.sort()
        chosen: list[Hit] = []
        cursor = 0
        for i, (start, neg_len, word, codes, weak) in enumerate(raw):
            if start < cursor:
                continue
            end = start - neg_len
            if weak and not any(self.places[c].level == "province" for c in codes) and any(
                    s2 < end and codes2 and not weak2 and -n2 >= -neg_len for s2, n2, _, codes2, weak2 in raw[i + 1:]
                    if s2 > start):
                # 朝阳路北京: the weak 路北 yields to the overlapping 北京; a province's name does
                # not (海南通报 is 海南 + 通报, not 南通)
                continue
            cursor = start - neg_len
            if not codes:
                continue
            # 南京路 / 中山街 are streets named after places, not the places.
            if (cursor < len(text) and text[cursor] in self._road_chars and len(word) <= 3
                    and not word.endswith(("市", "县", "区", "省")) and not text.startswith(self._road_not, cursor)):
                continue
            full = word.endswith(("市", "县", "区", "省", "州", "盟", "旗"))
            # 厅长宁坚, 书记张三: a short name right after an official's title is a person's name.
            if start > 0 and text[start - 1] in self._title_chars and not full:
                continue
            # 干部骆玉林, 书记韩江阴: after a title and a surname, a short name is a given name.
            if (start > 2 and not full and text[start - 1] in self._surnames
                    and text.endswith(self._person_titles, 0, start - 1)):
                continue
            # 嘉陵江, 钱塘江, 永定河: a county's short name before 江/河 names a river; a city's
            # or a province's does not (宁波江北, 浙江江山, 河北河间: the place, then another).
            if (cursor < len(text) and text[cursor] in self._river_chars and not full
                    and not text.startswith(self._river_not, cursor)
                    and all(self.places[c].level == "county" for c in codes)):
                continue
            # A two-character county name in the middle of a word (羊曲水电站 has 曲水) is only
            # a place when the headline confirms it: it is read as weak unless it starts the
            # title or follows punctuation.
            if (not weak and not full and len(word) == 2 and start > 0 and _is_cjk(text[start - 1])
                    and word not in self.not_weak
                    and all(self.places[c].level == "county" for c in codes)):
                weak = True
            chosen.append(Hit(start, cursor, word, codes, weak))
        return chosen

    def attribute(self, text: str, found: Iterable[tuple[int, Any]] | None = None) -> Attribution:
        hits = self.hits(text, found)
        if not hits:
            return _NOWHERE
        places = self.places
        # Only a name that can mean nothing but a province is province context (吉林 and
        # 海南 are also prefectures, and must not confirm themselves).
        provinces_named = {h.codes[0] for h in hits if len(h.codes) == 1 and places[h.codes[0]].level == "province"}
        # 吉林 and 海南 are never read as their city, but they do confirm another place of
        # their province (吉林集安 is 集安市 of 通化).
        provinces_any = {c for h in hits for c in h.codes if places[c].level == "province"}
        strong_prefectures: set[str] = set()
        for h in hits:
            prefs = {places[c].prefecture for c in h.codes if places[c].level != "province"}
            if len(prefs) == 1 and not h.weak and not any(places[c].level == "province" for c in h.codes):
                strong_prefectures.add(next(iter(prefs)))  # type: ignore[arg-type]
        context_provinces = provinces_named | {places[p].province for p in strong_prefectures}

        resolved: list[tuple[Hit, str]] = []  # (hit, code it resolved to)
        unresolved: list[Hit] = []
        for h in hits:
            if any(places[c].level == "province" for c in h.codes):
                continue  # 吉林, 海南: read as the province; the city needs its full name (吉林市)
            cands = list(h.codes)
            own = {places[c].prefecture for c in cands}
            if len(cands) > 1 and not h.weak and len(own) == 1 and next(iter(own)) in cands:
                # 安阳 is 安阳市 and its 安阳县, 兰州 also 兰州新区: a name shared by a city and one of its
                # own divisions means the city (the county needs its full name, 安阳县).
                resolved.append((h, next(iter(own))))  # type: ignore[arg-type]
                continue
            if len(cands) > 1 or h.weak:
                # Ambiguous or weak: keep only readings that agree with the rest of the headline.
                agree = [c for c in cands if places[c].prefecture in strong_prefectures and places[c].prefecture != c]
                agree = agree or [c for c in cands if places[c].prefecture in strong_prefectures]
                if not agree:
                    agree = [c for c in cands if places[c].province in (context_provinces | provinces_any)
                             and not (places[c].level == "prefecture" and c == places[c].province)]
                if not agree:
                    # Two names side by side that share one prefecture confirm each other, as a
                    # province confirms its city (怒江兰坪: 怒江州 and its 兰坪县, both weak alone).
                    agree = [c for c in cands if places[c].prefecture in _chained(h, hits, places)]
                if not agree and not h.weak:
                    # 西安 is 西安市 unless the headline says 辽源 or 牡丹江 (each has a 西安区).
                    agree = [c for c in cands if places[c].level == "prefecture"]
                    agree = agree if len(agree) == 1 else []
                prefs = {places[c].prefecture for c in agree}
                if len(prefs) == 1 and (not h.weak or agree):
                    # Among readings in one prefecture prefer the city itself (辽宁朝阳 is 朝阳市, not 朝阳县).
                    agree.sort(key=lambda c: (places[c].level != "prefecture", c))
                    resolved.append((h, agree[0]))
                else:
                    unresolved.append(h)
                continue
            resolved.append((h, cands[0]))

        prefectures = {places[c].prefecture for _, c in resolved}
        evidence = tuple(h.text for h in hits)
        spans = tuple((h.start, h.end) for h in hits)
        if len(prefectures) == 1:
            pref = next(iter(prefectures))
            assert pref is not None
            county_hits = [(h, c) for h, c in resolved if places[c].level == "county"]
            county = places[county_hits[0][1]] if county_hits else None
            city = places[pref]
            return Attribution(
                city=city.name, city_adcode=city.code,
                county=county.name if county else None, county_adcode=county.code if county else None,
                province=places[city.province].name, evidence=evidence, spans=spans,
            )
        note = "several cities named" if len(prefectures) > 1 else "ambiguous or weak place names only"
        provs = {places[c].province for _, c in resolved} | {
            c for h in hits for c in h.codes if places[c].level == "province"}
        if not provs:
            # an ambiguous name whose readings share a province names it, and so does a district's
            # short name standing alone (渝北一物业公司); an ordinary word (平安回国 is not 青海's
            # 平安区) or a name inside a word (面临安全 has 临安) does not: on the labelled titles
            # such names gave 293 provinces, nearly all wrong (中方 湖南, 合作 甘肃, 阿里 西藏)
            provs = {places[c].province for h in unresolved
                     if not h.weak or (h.text in self._district_weak and (h.start == 0 or not _is_cjk(text[h.start - 1])))
                     for c in h.codes}
            provs = provs if len(provs) == 1 else set()
        province = places[next(iter(provs))].name if len(provs) == 1 else None
        candidates: tuple[tuple[str, str], ...] = ()
        if province is None and not prefectures:
            cands = sorted({places[c].prefecture for h in unresolved if not h.weak for c in h.codes  # type: ignore[misc]
                            if places[c].level != "province"})
            if 2 <= len(cands) <= _MAX_CANDIDATES:
                candidates = tuple((c, places[c].name) for c in cands)
        return Attribution(province=province, evidence=evidence, note=note, spans=spans, candidates=candidates)


def _chained(h: Hit, hits: list[Hit], places: dict) -> set[str]:
    """The prefectures ``h`` shares with a place name right before or right after it."""
    out: set[str] = set()
    mine = {places[c].prefecture for c in h.codes}
    for other in hits:
        if other is not h and (other.end == h.start or other.start == h.end):
            out |= mine & {places[c].prefecture for c in other.codes}
    return out


@lru_cache(maxsize=4)
def load_gazetteer(gazetteer_dir: str) -> Gazetteer:
    """The process-wide gazetteer for a data directory (built once: ~0.5 s)."""
    config, credit = packaged_toml("places.toml"), packaged_toml("credit.toml")
    # Places abroad (马里兰州, 利西昌斯克) hide Chinese names inside them: they are traps too.
    foreign = tuple(credit.get("foreign", {}).get("words", []))
    return Gazetteer(Path(gazetteer_dir), config, extra_traps=foreign)
