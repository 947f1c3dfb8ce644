"""Turning an observation into a classified item: city, credit class, story identity.

Interface used by the agents and by replay (keep it):
    u = Understanding(story_state=None)   # story_state: a MutableMapping (dict in replay, Faust table in the agent)
    item = u.classify(obs)                # Observation -> Item
    items = u.classify_all(obs)           # the item, then earlier no-city sightings its story claimed

The work is two steps so the worker can partition it: ``analyse`` is stateless (city,
domain, subfield, polarity, aspect, evidence; ``story_id`` still empty) and
``assign_story`` clusters the analysed item into a story using ``story_state``; a placed
credit item's story is then echoed into the no-city bucket (``echo``). ``classify`` does
the first two, for the CLI; ``classify_all`` all three, for replay. Heavy data (gazetteer, lexicons,
bigram weights) is built once per process. Same ordered input, same items: nothing
reads the wall clock.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, MutableMapping

from citycredit.exceptions import InputError
from citycredit.ids import DOMAINS
from citycredit.settings import Settings, get_settings
from schemas import Item, Observation, parse_ts

from .classify import Classification, CreditClassifier, load_classifier
from .cluster import ClusterSettings, StoryClusterer
from .frames import Frame, load_frame_reader
from .model import NONE, ReaderModel, Scores, features, load_model, reader_input
from .gazetteer import Attribution, Gazetteer, load_gazetteer
from .scan import TitleScan, load_scan
from .text import has_content, normalize

# Stories are clustered per prefecture: two items can only be one story when their cities
# agree, so a prefecture's stories need no other's state, and the worker partitions the
# clustering by prefecture (``classified`` is keyed by this bucket). Items that name no
# city share one bucket of their own: a national story and its paraphrases. A placed
# credit item also sends an *echo* of its story to that bucket (``echo``), so a wording
# that names only the province or no place (江苏一化工企业环境违法被曝光) joins the city's
# story, whichever came first. Non-credit stories send none: "…在北京举办" and "…在京举办"
# (no city read) stay two stories, which costs the dev story set 0.911 -> 0.891 pairwise F1.
NO_CITY_BUCKET = "none"


def story_bucket(city_adcode: str | None) -> str:
    """The clustering partition of an item: its prefecture's adcode, or NO_CITY_BUCKET."""
    return city_adcode or NO_CITY_BUCKET


_ADCODE = re.compile(r"\b\d{6}\b")

__all__ = ["Analysis", "Understanding", "NO_CITY_BUCKET", "story_bucket"]


@dataclass(frozen=True)
class Analysis:
    """What a title says: where (gazetteer) and what kind of credit event (classifier)."""

    place: Attribution
    credit: Classification
    frame: Frame

    def evidence(self) -> dict[str, list[str]]:
        """The matched terms behind each decision, one list per decision."""
        evidence: dict[str, list[str]] = {"city": list(self.place.evidence)}
        if self.place.note:
            evidence["city_note"] = [self.place.note]
        if self.place.candidates:
            evidence["city_candidates"] = [f"{name} {adcode}" for adcode, name in self.place.candidates]
        for key in ("domain", "subfield", "polarity", "aspect", "context", "neutralised", "model"):
            if key in self.credit.evidence:
                evidence[key] = list(self.credit.evidence[key])
        event = self.frame.evidence()  # built once: its lines are formatted anew at every call
        if event:
            evidence["event"] = event
        return evidence


class Understanding:
    def __init__(self, story_state: MutableMapping[str, Any] | None = None, settings: Settings | None = None,
                 model: ReaderModel | None | bool = True) -> None:
        """``model``: True = the shipped trained reader; False = the lexicon alone (what the
        model is trained on top of); or a ReaderModel to use."""
        settings = settings or get_settings()
        self.story_state: MutableMapping[str, Any] = story_state if story_state is not None else {}
        self.gazetteer: Gazetteer = load_gazetteer(str(settings.gazetteer_dir))
        self.classifier: CreditClassifier = load_classifier()
        self.frames = load_frame_reader()
        self.model: ReaderModel | None = load_model() if model is True else (model or None)
        # the gazetteer's, the lexicon's and the frame words' matches in one pass over a title
        self._scan: TitleScan = load_scan(self.gazetteer, self.classifier, self.frames)
        self._analysed = lru_cache(maxsize=8192)(self._analyse_text)
        self.clusterer = StoryClusterer(self.story_state, ClusterSettings(
            window_s=settings.story_window_hours * 3600.0,
            min_similarity=settings.story_min_similarity,
            min_containment=settings.story_min_containment,
            max_stories_per_bucket=settings.story_max_open,
        ))

    def analyse_text(self, title: str) -> Analysis:
        """City and credit class of one raw title (the classification pipeline, no record).
        A pure function of the title, so repeats are served from a bounded cache: a hot list
        shows the same headline again at every rank change."""
        return self._analysed(title)

    def _analyse_text(self, title: str) -> Analysis:
        text = normalize(title)
        if not has_content(text):
            raise InputError("title: no words left after removing markup, symbols and emoji")
        place, lexicon, frame = self._read(text)
        if self.model is None:
            return Analysis(place, lexicon, frame)
        placed = place.city is not None or place.province is not None
        return Analysis(place, self._decide(lexicon, self._score(text, place, lexicon, frame), frame, placed), frame)

    def scores(self, title: str) -> Scores:
        """The trained reader's scores of a raw title, the ones analyse_text decides from (for tools
        that rank titles by them: Scores.relevance). Needs the model."""
        if self.model is None:
            raise InputError("scores: this Understanding has no reader model")
        text = normalize(title)
        return self._score(text, *self._read(text))

    def _read(self, text: str) -> tuple[Attribution, Classification, Frame]:
        """Place, lexicon and event frame of a normalised title, from one automaton pass."""
        places, terms, words = self._scan.scan(text)
        place = self.gazetteer.attribute(text, places)
        lexicon = self.classifier.classify(text, place.spans, has_city=place.city is not None, found=terms)
        return place, lexicon, self.frames.read(text, words)

    def _score(self, text: str, place: Attribution, lexicon: Classification, frame: Frame) -> Scores:
        return self.model.score_title(*reader_input(  # type: ignore[union-attr]
            text, place.spans, lexicon, frame, place.city is not None, place.county is not None))

    def features(self, text: str, place: Attribution, lexicon: Classification, frame: Frame) -> list[str]:
        """The trained reader's features of a normalised title (ops/train_reader.py trains on these)."""
        return features(text, place.spans, lexicon, frame, place.city is not None, place.county is not None)

    def _type_support(self, frame: Frame) -> int | None:
        """How many training titles of the frame's type the reader saw, when fewer than the
        taxonomy's reader_min_support (else None: the reader weighs the type)."""
        support = self.model.type_support if self.model is not None else None
        if frame.type is None or support is None:
            return None
        seen = support.get(frame.type.id, 0)
        return seen if seen < self.frames.reader_min_support else None

    def _decide(self, lexicon: Classification, scores: Scores, frame: Frame, placed: bool) -> Classification:
        """The trained reader's decision, with the lexicon's terms and the model's largest weights as evidence."""
        evidence = dict(lexicon.evidence)
        # An event type of the taxonomy has a polarity (拾金不昧 is trustworthy, 食物中毒 dishonest):
        # the reader chooses between it and neutral (negated, reported as cleared), never the
        # opposite. Trustworthy deeds are rare in the labels, and their n-grams (出租车, 乘客)
        # pulled 温州出租车司机拾金不昧 to dishonest.
        typed = frame.type.polarity if frame.type is not None and frame.type.polarity != "neutral" else None
        pol = scores.decide("polarity", allowed=[typed, "neutral"] if typed else None)
        polarity = pol.label or "neutral"
        polarity_p: float | None = round(pol.probability, 3)  # rounded: it travels in JSON and into story state
        aspect = scores.label("aspect")
        evidence["model"] = [f"polarity {polarity} p={pol.probability:.2f}: " + ", ".join(pol.because)]
        seen = self._type_support(frame)
        if typed and polarity != typed and seen is not None and placed:
            # a type the reader was trained on too few titles of: the taxonomy's polarity decides
            polarity, polarity_p = typed, None
            evidence["model"] = [f"polarity {typed}: event type {frame.type.id} decides, the reader was trained on "  # type: ignore[union-attr]
                                 f"{seen} titles of it (fewer than {self.frames.reader_min_support})"]
        if polarity == "neutral" and aspect in (None, "credit_event"):
            return Classification(None, None, "neutral", None, evidence, polarity_p)  # most titles: not a credit item
        asp = scores.decide("aspect")
        if aspect is None:
            aspect = "credit_event"  # dishonest or trustworthy: an event, whatever the aspect head thought
        sub = scores.decide("subfield")
        # subfield and domain decided together: the most probable consistent pair (a subfield
        # fixes its domain; no subfield leaves any domain), so a confident domain can overrule
        # a weak subfield and the other way round
        lp_sub, lp_dom = scores.log_probs("subfield"), scores.log_probs("domain")
        pairs = [(lp_sub[s] + lp_dom[self.classifier.subfield_domain[s]], s, self.classifier.subfield_domain[s])
                 for s in lp_sub if s != NONE]
        pairs += [(lp_sub.get(NONE, -math.inf) + lp_dom[d], None, d) for d in DOMAINS if d in lp_dom]
        _, subfield, domain = max(pairs, key=lambda p: (p[0], p[1] or "", p[2]))
        if subfield != sub.label:
            sub = scores.decide("subfield", allowed=[subfield or NONE])
        for name, d, label in (("aspect", asp, aspect), ("subfield", sub, subfield)):
            evidence["model"].append(f"{name} {label or '-'} p={d.probability:.2f}: " + ", ".join(d.because))
        evidence["model"].append(f"domain {domain}" + (f" (of subfield {subfield})" if subfield else ""))
        return Classification(domain, subfield, polarity, aspect, evidence, polarity_p)

    def analyse(self, obs: Observation) -> Item:
        """Stateless part: city, credit class and evidence; story_id is left empty."""
        a = self.analyse_text(obs.title)
        place, cls = a.place, a.credit
        return Item(
            ts=obs.ts, site=obs.site, surface=obs.surface, title=obs.title, url=obs.url, rank=obs.rank,
            summary=obs.summary, change=obs.change,
            city=place.city, city_adcode=place.city_adcode, county=place.county, county_adcode=place.county_adcode,
            province=place.province, domain=cls.domain, subfield=cls.subfield, polarity=cls.polarity,
            aspect=cls.aspect, story_id="", evidence=a.evidence(), polarity_p=cls.polarity_p,
        )

    def assign_story(self, item: Item) -> Item:
        """Stateful part: set the story id of an analysed item (state: ``story_state``); returns the item."""
        ts = parse_ts(item.ts).timestamp()
        # the place names the gazetteer matched: compared as a city, not as similar wording
        places = (item.evidence or {}).get("city") or ()
        # a sighting naming no city is held by its story, for a placed story that claims it later
        sighting = None if item.city_adcode else (item.ts, item.site, item.surface, item.rank, item.url, item.title,
                                                  item.summary, item.change)
        assignment = self.clusterer.assign(story_bucket(item.city_adcode), ts, normalize(item.title), item.subfield, item.city_adcode,
                                           places, item.county_adcode, response=item.aspect == "government_response",
                                           province=item.province, sighting=sighting, credit=item.polarity != "neutral",
                                           candidates=self._candidates(item))
        evidence = dict(item.evidence)
        if assignment.new:
            story = ["new story"]
        elif assignment.echo_city:
            where = item.province or "its place name's cities (" + ", ".join(
                (item.evidence or {}).get("city_candidates", [])) + ")"
            why = (f"same event frame in {where} ({(item.evidence or {}).get('event', ['?'])[0]}), the only such story there"
                   if assignment.how == "frame" else f"wording similarity {assignment.similarity:.3f}")
            story = [f"joined: {assignment.matched_title}",
                     f"a story of {self.gazetteer.name_of(assignment.echo_city) or assignment.echo_city}; this wording names no city: {why}"]
        elif assignment.how == "frame":
            story = [f"joined: {assignment.matched_title}",
                     f"same event frame: {item.city} · {(item.evidence or {}).get('event', ['?'])[0]}, "
                     f"wording similarity {assignment.similarity:.3f}"]
        elif assignment.how.startswith("rare word: "):
            story = [f"joined: {assignment.matched_title}",
                     f"same prefecture {item.city} within 24 h, a credit item on one side at least, the rare word {assignment.how[11:]} in common, "
                     f"wording similarity {assignment.similarity:.3f}"]
        elif assignment.how.startswith("partial: "):
            story = [f"joined: {assignment.matched_title}",
                     f"same prefecture {item.city} within 24 h, no event type named, {assignment.how[9:]}, "
                     f"wording similarity {assignment.similarity:.3f}"]
        elif assignment.how.startswith("response"):
            why = ("the only one open" if not item.subfield else f"wording similarity {assignment.similarity:.3f}"
                   if assignment.similarity > 0 else "the latest such story")
            # "response: <story's subfield>": a story of another subfield, answered on the subject kind or thing
            kind = (f"{assignment.how[10:]} story naming the same kind of subject or thing "
                    f"({'; '.join((item.evidence or {}).get('event', ['?']))})" if assignment.how != "response"
                    else f"{item.subfield or 'credit'} story")
            story = [f"joined: {assignment.matched_title}",
                     f"a response in {item.city} naming no event of its own, to the open {kind} within 24 h ({why})"]
        else:
            story = [f"joined: {assignment.matched_title}", f"similarity {assignment.similarity:.3f}"]
        story += [f"kept apart from {title}: {self._place_names(reason)}" for title, reason in assignment.vetoes]
        evidence["story"] = story
        item.story_id = assignment.story_id
        item.evidence = evidence
        return item

    def _candidates(self, item: Item) -> tuple[tuple[str, str], ...]:
        """(city adcode, province) of each city an item's ambiguous place name may mean
        (evidence ``city_candidates``, "广州市 440100"), for an item naming no city or province."""
        if item.city_adcode or item.province:
            return ()
        out = []
        for line in (item.evidence or {}).get("city_candidates", ()):
            adcode = line.rpartition(" ")[2]
            place = self.gazetteer.places.get(adcode)
            if place is not None:
                out.append((adcode, self.gazetteer.places[place.province].name))
        return tuple(out)

    @staticmethod
    def echoes(item: Item) -> bool:
        """Whether a clustered item's story is echoed to the no-city bucket: a placed credit item."""
        return bool(item.city_adcode) and item.polarity != "neutral" and bool(item.story_id)

    def echo(self, item: Item) -> list[Item]:
        """Echo a placed credit item's story into the no-city bucket (StoryClusterer.echo); returns
        the no-city sightings its story claims there, re-read as items of that story. An item
        that is not one (no city, no story id, read neutral) is an InputError: an echo record
        that did not come from ``cluster_stories``."""
        if not self.echoes(item):
            raise InputError("echo: not a placed credit item with a story id (city, polarity and story_id required)")
        claim = self.clusterer.echo(NO_CITY_BUCKET, item.story_id, parse_ts(item.ts).timestamp(), normalize(item.title),
                                    item.subfield, item.city_adcode or "", (item.evidence or {}).get("city") or (),
                                    item.county_adcode, item.province)
        claimed = []
        because = ("the same event frame, the only such story in " + (item.province or "its province")
                   if claim.how == "frame" else "similar wording")
        for ts, site, surface, rank, url, title, summary, change in claim.sightings:
            again = self.analyse(Observation(ts=ts, site=site, surface=surface, title=title, url=url, rank=rank,
                                             summary=summary, change=change))
            again.story_id = item.story_id
            again.evidence = {**again.evidence, "story": [
                f"joined later: {item.title}",
                f"a story of {item.city} claimed this wording's story ({claim.title}): {because}; first counted as {claim.story_id}"]}
            claimed.append(again)
        return claimed

    def classify_all(self, obs: Observation) -> list[Item]:
        """``classify``, then the echo of its story: the item first, then any earlier no-city
        sightings its story claimed (what the worker sends to ``items`` for this observation)."""
        item = self.classify(obs)
        return [item] + (self.echo(item) if self.echoes(item) else [])

    def _place_names(self, reason: str) -> str:
        """A veto's adcodes as names: "county 320281 ≠ 320282" -> "county 江阴市 ≠ 宜兴市"."""
        return _ADCODE.sub(lambda m: self.gazetteer.name_of(m.group()) or m.group(), reason)

    def classify(self, obs: Observation) -> Item:
        return self.assign_story(self.analyse(obs))
