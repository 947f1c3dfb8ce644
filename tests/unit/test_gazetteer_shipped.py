"""The product stands on its own: the gazetteer ships in the package, and is what the build makes."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from citycredit.settings import PROJECT_ROOT, Settings

SHIPPED = PROJECT_ROOT / "citycredit" / "data" / "gazetteer"
SHARED = PROJECT_ROOT.parent / "shared" / "data" / "gazetteer"


def test_default_gazetteer_is_inside_the_package():
    assert Settings().gazetteer_dir == SHIPPED
    assert "shared" not in Settings().gazetteer_dir.relative_to(PROJECT_ROOT).parts


def test_a_clone_without_shared_classifies_cities(tmp_path):
    """Run from a copy of the package with no ../shared beside it (a fresh clone's view)."""
    code = (
        "import json,sys\n"
        "from citycredit.understanding import Understanding\n"
        "from citycredit.scoring.cities import CityRegistry\n"
        "from schemas.records import Observation\n"
        "u = Understanding(story_state={})\n"
        "out = []\n"
        "for t in ['苏州一食品厂使用过期原料被查处', '江阴一企业拖欠工资被立案', '新星闪耀！青年歌手获奖']:\n"
        "    a = u.gazetteer.attribute(t)\n"
        "    out.append([a.city, a.county])\n"
        "out.append(len(CityRegistry.from_gazetteer().by_code))\n"
        "print(json.dumps(out, ensure_ascii=False))\n"
    )
    work = tmp_path / "clone"
    for part in ("citycredit", "schemas", "streams", "agents"):
        shutil.copytree(PROJECT_ROOT / part, work / part, ignore=shutil.ignore_patterns("__pycache__"))
    assert not (work.parent / "shared").exists()
    res = subprocess.run([sys.executable, "-c", code], cwd=work, capture_output=True, text=True,
                         env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(work)}, timeout=120)
    assert res.returncode == 0, res.stderr
    (suzhou, jiangyin, xinxing, n_cities) = json.loads(res.stdout.strip().splitlines()[-1])
    assert suzhou[0] == "苏州市"
    assert jiangyin == ["无锡市", "江阴市"]
    assert xinxing == [None, None]
    assert n_cities > 600


@pytest.mark.skipif(not SHARED.exists(), reason="../shared/data/gazetteer absent: cannot rebuild the shipped gazetteer")
def test_shipped_gazetteer_is_what_the_build_script_makes(tmp_path):
    subprocess.run([sys.executable, str(PROJECT_ROOT / "ops" / "build_gazetteer.py"), "--shared", str(SHARED),
                    "--out", str(tmp_path)], check=True, capture_output=True)
    for made in sorted(p for p in tmp_path.rglob("*") if p.is_file()):
        rel = made.relative_to(tmp_path)
        assert (SHIPPED / rel).read_bytes() == made.read_bytes(), f"{rel} differs: rerun ops/build_gazetteer.py"


def test_a_province_name_does_not_yield_to_a_city_across_a_word_boundary():
    """海南通报 is 海南 + 通报: the province's name must not give way to the 南通 inside it."""
    from citycredit.understanding import Understanding

    place = Understanding(story_state={}, model=False).analyse_text("海南通报：一派出所教导员敲诈勒索").place
    assert place.city is None and place.province is not None and "南通" not in place.evidence
