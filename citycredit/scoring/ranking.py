"""The ranking rule and the ranking file, shared by the index (``CityScorer.ranking``) and
the desk's board, which ranks the index entries it holds exactly as the index ranks cities."""
from __future__ import annotations

import json
from typing import Any, Iterable, Mapping

from .scope import GROUPS, PROVINCE_SETS, Member


def rank_key(tie_break: Iterable[str], score_centi: int, dishonest: int, measured_aspects: int) -> tuple[int, ...]:
    """Sort key of ``[ranking] tie_break`` (smaller first); equal keys share a rank. A function
    of what an index entry carries, so the desk ranks entries exactly as the index ranks cities."""
    value = {"score": -score_centi, "fewer_dishonesty_events": dishonest, "more_measured_aspects": -measured_aspects}
    return tuple(value[k] for k in tie_break)


def rank_peer_sets(sets: Mapping[str, list[tuple[tuple[Any, ...], Member, dict[str, Any]]]],
                   provincial: bool) -> list[dict[str, Any]]:
    """Ranking rows of each peer set, in the order of ``scope.GROUPS`` (``PROVINCE_SETS`` in a
    provincial view): by key, then name and adcode only to list ties in a stable order; equal
    keys share a rank (1, 1, 3). ``fields`` (score, components, ...) are copied into the row.
    The one ranking rule, used by ``CityScorer.ranking`` and by the desk's board."""
    order = list(PROVINCE_SETS if provincial else GROUPS)
    out: list[dict[str, Any]] = []
    for peers in sorted(sets, key=order.index):
        rows = sorted(sets[peers], key=lambda x: (x[0], x[1].name, x[1].adcode))
        rank = 0
        for i, (key, member, fields) in enumerate(rows):
            if i == 0 or key != rows[i - 1][0]:
                rank = i + 1
            out.append({"rank": rank, "of": len(rows), "peers": peers, "group": member.group,
                        "city": member.name, "city_adcode": member.adcode, "province": member.province,
                        **{k: v for k, v in fields.items() if k != "city_adcode"}})
    return out


def ranking_json(rows: list[dict[str, Any]]) -> str:
    """The ranking as written to files: fixed key order, UTF-8 names, two-space indent,
    trailing newline — byte-identical for the same log."""
    return json.dumps(rows, ensure_ascii=False, indent=2) + "\n"
