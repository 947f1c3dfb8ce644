"""Credit classification: domain, subfield, polarity and aspect of a headline, with evidence.

Rules and lexicons live in ``config/credit.toml`` (commented, desk-tunable); this
module only applies them. One Aho-Corasick pass finds every term; terms inside a
longer matched term or inside a recognised place name are dropped, then:

1. polarity  - dishonesty vs trustworthiness signals (conditional terms need a
   workplace nearby; tips/campaign words neutralise unless a case happened; events
   abroad are neutral);
2. aspect    - the first [[aspect]] rule whose groups all match (credit policy,
   blacklist, government response, disclosure, task), else ``credit_event`` for a
   dishonest or trustworthy item;
3. subfield  - highest summed weight over the matched terms;
4. domain    - the subfield's domain, else the strongest actor, else a default.

Only items that are credit-relevant (non-neutral polarity or an aspect) get a
domain and subfield, so the index never counts a headline it cannot explain.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Iterable

import ahocorasick

from citycredit.configfiles import packaged_toml
from citycredit.exceptions import ConfigError
from citycredit.ids import ASPECTS, DOMAINS, POLARITIES, SUBFIELDS

from .text import frequent_first

_BOOK_TITLE = re.compile("《[^》]{1,60}》")


def _only_inside(text: str, term: str, spans: list[tuple[int, int]]) -> bool:
    """True when every occurrence of ``term`` lies inside one of ``spans``."""
    i = text.find(term)
    while i >= 0:
        if not any(a <= i and i + len(term) <= b for a, b in spans):
            return False
        i = text.find(term, i + 1)
    return True


_ACTOR_ORDER = ("government", "judicial", "business", "social")  # first reading kept when a word is listed twice


@dataclass(frozen=True)
class Classification:
    domain: str | None
    subfield: str | None
    polarity: str
    aspect: str | None
    evidence: dict[str, list[str]] = field(default_factory=dict)
    polarity_p: float | None = None  # the trained reader's probability of `polarity`; None from the lexicon alone

    @property
    def relevant(self) -> bool:
        return self.polarity != "neutral" or self.aspect is not None


@dataclass(frozen=True)
class _AspectRule:
    aspect: str
    groups: tuple[frozenset[str], ...]
    polarity: str | None
    needs_dishonest: bool
    passive: tuple[str, ...] = ()   # words that make the first group's term passive (被立案调查): no match
    passive_chars: int = 6
    needs_wrongdoing: bool = False  # a core dishonesty term matched, though the title is about it in general


def _weighted(table: dict, section: str) -> dict[str, tuple[str, float]]:
    out: dict[str, tuple[str, float]] = {}
    for term, value in table.items():
        if isinstance(value, str):
            sub, weight = value, 2.0
        elif isinstance(value, list) and len(value) == 2:
            sub, weight = str(value[0]), float(value[1])
        else:
            raise ConfigError(f"credit.toml [{section}] {term!r}: expected \"subfield\" or [\"subfield\", weight]")
        if sub and sub not in SUBFIELDS:
            raise ConfigError(f"credit.toml [{section}] {term!r}: unknown subfield {sub!r}")
        out[term] = (sub, weight)
    return out


class CreditClassifier:
    def __init__(self, config: dict) -> None:
        try:
            self.subfield_domain: dict[str, str] = dict(config["subfield_domain"])
            self.dishonest = _weighted(config["dishonest"], "dishonest")
            self.trustworthy = _weighted(config["trustworthy"], "trustworthy")
            self.topics = _weighted(config["topics"], "topics")
            self.conditional = _weighted(config["conditional"]["terms"], "conditional")
            self.context = frozenset(config["conditional"]["context"])
            self.actors: dict[str, str] = {}
            for domain in _ACTOR_ORDER:
                for word in config["actors"][domain]:
                    self.actors.setdefault(word, domain)
            self.masks = frozenset(config["masks"]["words"])
            self.neutralizers = frozenset(config["neutralizers"]["words"])
            self.event_markers = frozenset(config["neutralizers"]["event_markers"])
            self.foreign = frozenset(config["foreign"]["words"])
            self.foreign_initial: dict[str, str] = dict(config["foreign"]["initial"])
            self.china_markers = frozenset(config["foreign"]["china_markers"])
            self.aspect_rules = tuple(self._aspect_rule(r) for r in config["aspect"])
        except KeyError as exc:
            raise ConfigError(f"credit.toml: missing section or key {exc}") from exc
        for sub, domain in self.subfield_domain.items():
            if sub not in SUBFIELDS or domain not in DOMAINS:
                raise ConfigError(f"credit.toml [subfield_domain] {sub} = {domain!r}: unknown id")
        self._automaton = self._build()
        self._aspect_terms = frozenset(t for r in self.aspect_rules for g in r.groups for t in g)

    @staticmethod
    def _aspect_rule(raw: dict) -> _AspectRule:
        aspect = raw.get("id")
        if aspect not in ASPECTS:
            raise ConfigError(f"credit.toml [[aspect]]: unknown aspect id {aspect!r}")
        polarity = raw.get("polarity")
        if polarity is not None and polarity not in POLARITIES:
            raise ConfigError(f"credit.toml [[aspect]] {aspect}: unknown polarity {polarity!r}")
        groups = tuple(frozenset(g) for g in raw.get("all_of", []))
        if not groups:
            raise ConfigError(f"credit.toml [[aspect]] {aspect}: all_of is empty")
        return _AspectRule(aspect, groups, polarity, bool(raw.get("needs_dishonest", False)),
                           tuple(raw.get("passive", ())), int(raw.get("passive_chars", 6)),
                           bool(raw.get("needs_wrongdoing", False)))

    def _build(self) -> ahocorasick.Automaton:
        terms: set[str] = set()
        for table in (self.dishonest, self.trustworthy, self.topics, self.conditional):
            terms.update(table)
        terms.update(self.actors, self.masks, self.neutralizers, self.event_markers, self.foreign, self.china_markers,
                     self.context)
        for rule in self.aspect_rules:
            for group in rule.groups:
                terms.update(group)
        automaton = ahocorasick.Automaton()
        for term in frequent_first(terms):  # common characters first: a faster scan, the same matches
            automaton.add_word(term, term)
        automaton.make_automaton()
        return automaton

    # --- matching ---------------------------------------------------------------
    @property
    def automaton(self) -> ahocorasick.Automaton:
        """Every term of every list -> the term."""
        return self._automaton

    def _matches(self, text: str, blocked: Iterable[tuple[int, int]],
                 found: Iterable[tuple[int, str]] | None = None) -> tuple[set[str], set[str]]:
        """(terms that count, every term seen) after dropping terms inside longer terms, masks or places.
        ``found``: this automaton's matches in ``text`` when already scanned (scan.TitleScan)."""
        blocked = list(blocked)
        spans = []
        for end, term in self._automaton.iter(text) if found is None else found:
            start = end - len(term) + 1
            spans.append((start, -end, term))
            if term in self.masks:
                blocked.append((start, end + 1))
        spans.sort()
        seen: set[str] = set()
        kept: set[str] = set()
        reach = -1
        for start, neg_end, term in spans:
            end = -neg_end
            if term in self.masks or (blocked and any(bs <= start and end < be for bs, be in blocked)):
                continue
            seen.add(term)
            # a term inside a longer matched term is part of that term's meaning
            if end > reach:
                kept.add(term)
                reach = end
        return kept, seen

    def classify(self, text: str, place_spans: Iterable[tuple[int, int]] = (), has_city: bool = False,
                 found: Iterable[tuple[int, str]] | None = None) -> Classification:
        kept, seen = self._matches(text, place_spans, found)
        if not seen:
            # no term of any list (most titles): every rule below needs one, so the title is neutral
            # with no evidence, without building the empty sets and sums that say so
            return Classification(None, None, "neutral", None, {})
        evidence: dict[str, list[str]] = {}

        dis = {t: self.dishonest[t] for t in kept if t in self.dishonest}
        if "《" in text:
            # A term only inside a document's title (《生产安全事故罚款处罚规定》施行) names the rule,
            # not an event; aspect rules still see it (a credit rule is a credit_policy item).
            titles = [m.span() for m in _BOOK_TITLE.finditer(text)]
            dis = {t: v for t, v in dis.items() if not _only_inside(text, t, titles)}
        if kept & self.conditional.keys():
            context = sorted(seen & self.context)
            if context:
                for t in kept & self.conditional.keys():
                    dis.setdefault(t, self.conditional[t])
                evidence["context"] = context
        tru = {t: self.trustworthy[t] for t in kept if t in self.trustworthy}
        # Generic words (违法, 罚款, 诚信) only strengthen a core signal (weight >= 2): alone they
        # are everyday vocabulary, not an event.
        d_score = sum(w for _, w in dis.values()) if any(w >= 2 for _, w in dis.values()) else 0.0
        t_score = sum(w for _, w in tru.values()) if any(w >= 2 for _, w in tru.values()) else 0.0

        polarity = "neutral"
        if d_score > 0 and d_score >= t_score:
            polarity = "dishonest"
        elif t_score > 0:
            polarity = "trustworthy"
        polarity_terms = sorted(dis if polarity == "dishonest" else tru if polarity == "trustworthy" else [])

        neutral_why = self._neutralised(text, kept, seen, has_city)
        if polarity != "neutral" and neutral_why:
            evidence["neutralised"] = neutral_why
            polarity = "neutral"

        aspect: str | None = None
        for rule in self.aspect_rules if seen & self._aspect_terms else ():
            if not all(group & seen for group in rule.groups):
                continue
            if rule.passive and not self._active(text, rule.groups[0] & seen, rule):
                continue  # 被证监会立案调查: the event itself reported, not the authorities' response
            hits = [sorted(group & seen) for group in rule.groups]
            if rule.needs_dishonest and polarity != "dishonest":
                continue
            if rule.needs_wrongdoing and (d_score <= 0 or any(
                    not (w.startswith("tip:") and any(w[4:] in g for g in rule.groups)) for w in neutral_why)):
                # the campaign's own words (打击, 部署) may neutralise the title; a tip (谨防, 提醒) or a
                # place abroad (缅方) may not: a warning to consumers is not a credit task
                continue
            if neutral_why and rule.aspect in ("blacklist", "government_response"):
                continue
            aspect = rule.aspect
            evidence["aspect"] = sorted({t for h in hits for t in h})
            if rule.polarity is not None:
                polarity = rule.polarity
            break
        if aspect is None and polarity != "neutral":
            aspect = "credit_event"
            evidence["aspect"] = polarity_terms
        if polarity != "neutral":
            evidence["polarity"] = polarity_terms

        if polarity == "neutral" and aspect is None:
            return Classification(None, None, "neutral", None, evidence)

        scores: dict[str, float] = {}
        why: dict[str, list[str]] = {}
        # a campaign against a wrongdoing (neutral) is of the wrongdoing's subfield
        signal = dis if polarity == "dishonest" or aspect == "task_implementation" else tru if polarity == "trustworthy" else {}
        for table in (signal, {t: self.topics[t] for t in kept if t in self.topics}):
            for term, (sub, weight) in table.items():
                if sub:
                    scores[sub] = scores.get(sub, 0.0) + weight
                    why.setdefault(sub, []).append(term)
        subfield = max(sorted(scores), key=lambda s: scores[s]) if scores else None
        if subfield:
            evidence["subfield"] = sorted(why[subfield])

        domain: str | None = None
        if subfield and self._signal_subfield(subfield, signal):
            domain = self.subfield_domain[subfield]
            evidence["domain"] = [f"subfield:{subfield}"]
        else:
            actor = min(((text.find(t), t) for t in seen if t in self.actors), default=None)
            if actor is not None:
                domain = self.actors[actor[1]]
                evidence["domain"] = [actor[1]]
            elif subfield:
                domain = self.subfield_domain[subfield]
                evidence["domain"] = [f"subfield:{subfield}"]
            else:
                # Nobody named: a wrongdoer is most often a business, a good deed a person,
                # a credit rule or task is about market (business) credit.
                domain = {"trustworthy": "social"}.get(polarity, "business")
                evidence["domain"] = [f"default:{polarity}"]
        return Classification(domain, subfield, polarity, aspect, evidence)

    @staticmethod
    def _active(text: str, terms: set[str] | frozenset[str], rule: _AspectRule) -> bool:
        """True when some occurrence of the terms is not preceded (within passive_chars) by a passive word."""
        for term in terms:
            i = text.find(term)
            while i >= 0:
                before = text[max(0, i - rule.passive_chars):i]
                if not any(p in before for p in rule.passive):
                    return True
                i = text.find(term, i + 1)
        return False

    @staticmethod
    def _signal_subfield(subfield: str, signal: dict[str, tuple[str, float]]) -> bool:
        """True when the polarity terms themselves name the subfield (not only a topic word)."""
        return any(sub == subfield for sub, _ in signal.values())

    def _neutralised(self, text: str, kept: set[str], seen: set[str], has_city: bool) -> list[str]:
        why: list[str] = []
        tips = sorted(kept & self.neutralizers)
        if tips and not (seen & self.event_markers):
            why.extend(f"tip:{t}" for t in tips)
        if not has_city and not (seen & self.china_markers):
            abroad = sorted(seen & self.foreign)
            head = text[:1]
            if not abroad and head in self.foreign_initial and text[1:2] not in self.foreign_initial[head]:
                abroad = [head]
            why.extend(f"abroad:{t}" for t in abroad)
        return why


@lru_cache(maxsize=1)
def load_classifier() -> CreditClassifier:
    """The process-wide classifier built from config/credit.toml."""
    return CreditClassifier(packaged_toml("credit.toml"))
