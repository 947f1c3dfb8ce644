"""Coverage-guided fuzzing (atheris, libFuzzer) of the code that reads what others send us.

    .venv/bin/python tests/atheris_harness.py TARGET [libFuzzer flags, e.g. -runs=20000 -max_len=4096]

Targets and what each may do with any bytes (anything else is a crash, saved by libFuzzer
as ``crash-<sha1>`` in the working directory, and exit code 1):

- ``parsers``: decode the body and parse it as a homepage, an RSS feed, a JSON and an
  HTML ranking list: headlines with a title and an http(s) URL, or ParseError.
- ``classifier``: analyse the bytes (decoded leniently) as a headline: an Item, or
  InputError for a title with no words.
- ``timeline``: read the bytes as replay JSONL: every non-blank line an entry or an error.
- ``blacklist``: import the bytes as a blacklist CSV and as JSON: rows valid or rejected
  with a reason, or InputError for a file that cannot be read at all.

Seeds: real homepages and article pages from ../shared/data (parsers), a few valid lines
(the rest). ``tests/unit/test_fuzz_atheris.py`` runs every target for a fixed number of
inputs in ``make test``.
"""
from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import atheris

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

with atheris.instrument_imports(include=["streams", "citycredit", "schemas"]):
    from citycredit.exceptions import InputError
    from citycredit.replay import read_timeline
    from citycredit.scoring.filings import read_blacklist_file
    from citycredit.understanding import Understanding
    from schemas import Observation
    from tests.parser_contract import check_parsers

SHARED = ROOT.parent / "shared" / "data"
CONTENT_TYPES = [None, "text/html", "text/html; charset=gbk", "application/json", "text/xml; charset=bogus"]
UNDERSTANDING = Understanding(story_state={})
SCRATCH = Path(tempfile.mkdtemp(prefix="atheris-"))


def fuzz_parsers(data: bytes) -> None:
    check_parsers(data, CONTENT_TYPES[data[0] % len(CONTENT_TYPES)] if data else None)


def fuzz_classifier(data: bytes) -> None:
    title = data.decode("utf-8", errors="replace")
    obs = Observation(ts="2026-03-05T10:00:00+08:00", site="people", surface="homepage", title=title,
                      url="http://people.example.cn/a.html", rank=None, summary=None, change="appeared")
    try:
        item = UNDERSTANDING.analyse(obs)
    except InputError:
        return
    assert item.polarity in ("dishonest", "trustworthy", "neutral")


def fuzz_timeline(data: bytes) -> None:
    lines = data.decode("utf-8", errors="replace").splitlines()
    entries, errors = read_timeline(lines)
    assert len(entries) + len(errors) == sum(1 for line in lines if line.strip())


def fuzz_blacklist(data: bytes) -> None:
    for suffix in (".csv", ".json"):
        path = SCRATCH / f"rows{suffix}"
        path.write_bytes(data)
        try:
            valid, rejected = read_blacklist_file(path)
        except InputError:
            continue
        assert all(isinstance(reason, str) and reason for _, reason in rejected)


TARGETS = {"parsers": fuzz_parsers, "classifier": fuzz_classifier, "timeline": fuzz_timeline, "blacklist": fuzz_blacklist}

SEEDS = {
    "classifier": ["苏州一食品企业使用过期原料被立案调查", "郑州一建筑公司拖欠农民工工资被约谈", "信用卡<b>优惠</b>"],
    "timeline": ['{"ts": "2026-03-05T10:00:00+08:00", "site": "people", "surface": "homepage", "title": "南京一药企虚假宣传被罚",'
                 ' "url": "http://people.example.cn/a.html", "rank": null, "summary": null, "change": "appeared"}'],
    "blacklist": ["city,name,date,list,reason\n苏州,某某公司,2026-03-01,black,拖欠工资\n",
                  '[{"city": "苏州", "name": "某某公司", "date": "2026-03-01"}]'],
}


def seed_corpus(target: str, directory: Path, max_len: int) -> None:
    """Write the seeds of ``target`` into ``directory`` (libFuzzer reads them as its corpus)."""
    directory.mkdir(parents=True, exist_ok=True)
    seeds: list[bytes] = [s.encode("utf-8") for s in SEEDS.get(target, [])]
    if target == "parsers":
        pages = sorted((SHARED / "realsites" / "homepages").rglob("*")) + sorted((SHARED / "html").rglob("*.html"))[:10]
        seeds += [p.read_bytes()[:max_len] for p in pages if p.is_file()]
    for i, seed in enumerate(seeds):
        (directory / f"seed-{i}").write_bytes(seed)


def main() -> None:
    target = sys.argv[1]
    flags = sys.argv[2:]
    max_len = next((int(f.split("=", 1)[1]) for f in flags if f.startswith("-max_len=")), 4096)
    corpus = SCRATCH / f"corpus-{target}"
    seed_corpus(target, corpus, max_len)
    atheris.Setup([sys.argv[0], *flags, str(corpus)], TARGETS[target])
    atheris.Fuzz()


if __name__ == "__main__":
    main()
