"""Worst-case clustering speed of this checkout's StoryClusterer against another revision's, in one run.

    python bench/compare_clusterer.py [--base REV] [--repeat 3] [--json PATH]

On a shared machine absolute rates move with the neighbours' load; timing the two
clusterers alternately in the same process gives a ratio that does not. The base
revision's ``citycredit/understanding/cluster.py`` is read with ``git show`` into a
temporary module (it must take the same ``assign(bucket, ts, title, subfield, city)``
arguments). Input: the worst case of bench_understanding.py - 20,000 all-distinct real
headlines, one every 10 s of event time. CPU time (process_time), best of ``repeat``.
"""
from __future__ import annotations

import argparse
import importlib.util
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bench_understanding import distinct_items, headlines  # noqa: E402
from citycredit.understanding import Understanding, story_bucket  # noqa: E402
from citycredit.understanding.cluster import ClusterSettings, StoryClusterer  # noqa: E402
from citycredit.understanding.text import normalize  # noqa: E402
from figures import add_json_option, figure, write_json  # noqa: E402
from schemas import parse_ts  # noqa: E402


def load_base(rev: str):
    source = subprocess.run(["git", "show", f"{rev}:citycredit/understanding/cluster.py"], cwd=ROOT, check=True,
                            capture_output=True, text=True).stdout
    # its sibling imports (.text, .frames) are this checkout's: the clusterer is what is compared
    source = re.sub(r"^from \.(\w+) import", r"from citycredit.understanding.\1 import", source, flags=re.M)
    path = Path(tempfile.mkdtemp()) / "base_cluster.py"
    path.write_text(source, encoding="utf-8")
    spec = importlib.util.spec_from_file_location("base_cluster", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules["base_cluster"] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--base", default="HEAD", help="git revision whose clusterer is the baseline")
    ap.add_argument("--repeat", type=int, default=3)
    add_json_option(ap)
    args = ap.parse_args()
    base = load_base(args.base)
    u = Understanding(story_state={})
    work = [(parse_ts(it.ts).timestamp(), normalize(it.title), it.subfield, it.city_adcode)
            for it in distinct_items(u, headlines(20000))]

    def run(clusterer) -> float:
        t0 = time.process_time()
        for ts, title, subfield, city in work:
            clusterer.assign(story_bucket(city), ts, title, subfield, city)
        return time.process_time() - t0

    best_base = best_here = float("inf")
    for _ in range(args.repeat):  # alternate, so both see the same neighbours
        best_base = min(best_base, run(base.StoryClusterer({}, base.ClusterSettings())))
        best_here = min(best_here, run(StoryClusterer({}, ClusterSettings())))
    n = len(work)
    print(f"worst case, {n} distinct headlines, best of {args.repeat} (CPU time)")
    print(f"  {args.base:>12}  {n / best_base:>10,.0f}/s")
    print(f"  {'this checkout':>12}  {n / best_here:>10,.0f}/s   ratio {best_base / best_here:.2f}x")
    write_json(args.json, [figure("clustering worst case, this checkout's StoryClusterer", n / best_here, "items/s",
                                  baseline=n / best_base, note=f"baseline: the StoryClusterer of {args.base}, timed "
                                                               f"alternately in the same process; {n:,} headlines, CPU time")])
    return 0


if __name__ == "__main__":
    sys.exit(main())
