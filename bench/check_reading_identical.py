"""Dump every reading decision as JSON lines, to diff two revisions of the understanding code.

    python bench/check_reading_identical.py OUT.jsonl            # this checkout
    PYTHONPATH=/path/to/other/checkout python /path/to/other/checkout/bench/check_reading_identical.py REF.jsonl
    cmp OUT.jsonl REF.jsonl

A speed change must not change a single output: this writes, one JSON object a line,

- ``Understanding.analyse_text`` (place, lexicon classification, frame, model decision, evidence)
  of every title of the label files (tests/data/labels/**/*.tsv, read with eval_understanding's
  loaders) and of the first ``--n`` headlines of headlines_all.tsv, with the trained reader and
  with the lexicon alone;
- ``Understanding.classify`` (analyse + assign_story, story ids and story evidence) over the
  story label files, the real timeline of bench_understanding.py, and its worst case (all
  distinct headlines, one every 10 s).

The code under test is whatever ``import citycredit`` resolves to (PYTHONPATH picks the checkout).
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

# the code under test first, from PYTHONPATH (or this checkout): the bench helpers imported
# next put their own checkout first on sys.path, which no longer matters once these are loaded
sys.path.append(str(Path(__file__).resolve().parents[1]))
from citycredit.exceptions import InputError  # noqa: E402
from citycredit.understanding import Understanding  # noqa: E402
import schemas  # noqa: E402,F401

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_understanding import distinct_items, headlines, timeline  # noqa: E402
from eval_understanding import LABELS, _Lines, load_headlines, load_stories  # noqa: E402


def _plain(value: object) -> object:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, float):
        return repr(value)  # every bit of a float, not a rounded print
    return value


def _analysis(u: Understanding, title: str) -> object:
    try:
        a = u.analyse_text(title)
    except InputError as exc:
        return {"error": str(exc)}
    return {"analysis": _plain(a), "evidence": a.evidence()}


def _item(item: object) -> dict:
    return {k: getattr(item, k) for k in ("ts", "site", "title", "city", "city_adcode", "county", "county_adcode",
                                          "province", "domain", "subfield", "polarity", "aspect", "story_id",
                                          "evidence")}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out", type=Path)
    ap.add_argument("--n", type=int, default=20000, help="headlines of headlines_all.tsv")
    args = ap.parse_args()
    import citycredit
    print(f"citycredit from {Path(citycredit.__file__).parent}", file=sys.stderr)
    lines = _Lines()
    label_files = sorted(p for p in LABELS.rglob("*.tsv") if not p.name.startswith("stories"))
    titles = [x.title for p in label_files for x in load_headlines(lines, p)]
    stories = {p.name: load_stories(lines, p) for p in sorted(LABELS.glob("stories*.tsv"))}
    titles += [o.title for s in stories.values() for _, o in s]
    real = headlines(args.n)
    count = 0
    with args.out.open("w", encoding="utf-8") as out:
        def put(kind: str, key: object, value: object) -> None:
            nonlocal count
            out.write(json.dumps({"kind": kind, "key": key, "value": value}, ensure_ascii=False, sort_keys=True) + "\n")
            count += 1

        for model in (True, False):
            u = Understanding(story_state={}, model=model)
            for i, t in enumerate(titles + real):
                put(f"analyse_text model={model}", i, _analysis(u, t))
        for name, observations in list(stories.items()) + [("timeline", timeline())]:
            u = Understanding(story_state={})
            for i, obs in enumerate(o for _, o in observations) if name != "timeline" else enumerate(observations):
                try:
                    put(f"classify {name}", i, _item(u.classify(obs)))
                except InputError as exc:
                    put(f"classify {name}", i, {"error": str(exc)})
        u = Understanding(story_state={})
        for i, item in enumerate(distinct_items(u, real)):
            put("classify worst case", i, _item(u.assign_story(item)))
    print(f"{count} lines -> {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
