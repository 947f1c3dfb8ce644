"""The cross-site probe scorer (bench/probe_cross_site.py): an expected alert reached through a
decoy's sighting is a hit, but not a clean one."""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
import probe_cross_site  # noqa: E402

_HEADER = "group\texpect\ttime\tsite\tsurface\trank\ttitle\n"
_EVENT = ["X1\tmajor_dishonesty 320600\t08:00\tpeople\thomepage\t\t南通一纺织厂30余名工人午餐后腹痛送医",
          "X1\tmajor_dishonesty 320600\t09:30\txinhua\thomepage\t\t海安市某企业食堂疑似食物中毒 涉事承包商被查"]


def _probe(tmp_path: Path, lines: list[str]) -> Path:
    path = tmp_path / "probe.tsv"
    path.write_text(_HEADER + "\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_an_alert_that_needs_a_decoys_sighting_is_not_a_clean_hit(tmp_path, capsys):
    third = "\t11:00\tcctv\thomepage\t\t江苏海安：30余名职工食物中毒 食堂承包商被立案调查"
    own = probe_cross_site.score(_probe(tmp_path, _EVENT + ["X1\tmajor_dishonesty 320600" + third]))
    assert (own["hits"], own["clean_hits"], own["false_joins"]) == (1, 1, 0)
    # the same third homepage written down as another group's: the alert still fires, through it
    decoy = probe_cross_site.score(_probe(tmp_path, _EVENT + ["Y1\tnone" + third]))
    assert (decoy["hits"], decoy["clean_hits"], decoy["false_joins"]) == (1, 0, 1)
    assert "1 of 1 (0 with no other group's sighting" in capsys.readouterr().out
