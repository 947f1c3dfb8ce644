"""The ranking scope: every city the index ranks, and the peer group it is ranked in.

Read from ``citycredit/data/peer_groups.csv`` (built by ``ops/build_peer_groups.py`` from the
shipped gazetteer, sources in that script). A ranking holds a row for every member, news or
not, and ranks each peer group on its own, as the national monitoring does: a county-level
city is not compared with a provincial capital.

A provincial view (Jiangsu's 13 cities) compares a province's prefecture-level cities with
each other, its capital included, and its county-level cities with each other: within one
province the capital is a prefecture-level city among its neighbours.
"""
from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from citycredit.exceptions import ConfigError, InputError
from citycredit.settings import PROJECT_ROOT

from .cities import CityRegistry

DEFAULT_PATH = PROJECT_ROOT / "citycredit" / "data" / "peer_groups.csv"
GROUPS = {"core": "直辖市、省会及副省级城市", "prefecture": "其他地级城市", "county_city": "县级市"}
# The peer sets of a provincial view, and which national groups each holds.
PROVINCE_SETS = {"prefecture_level": ("core", "prefecture"), "county_city": ("county_city",)}
PROVINCE_SET_LABELS = {"prefecture_level": "地级及以上城市", "county_city": "县级市"}


@dataclass(frozen=True)
class Member:
    adcode: str
    name: str
    province: str
    group: str
    division: str  # 直辖市, 省会, 首府, 计划单列市, 地级市, 自治州, 地区, 盟, 县级市

    @property
    def province_set(self) -> str:
        return "county_city" if self.group == "county_city" else "prefecture_level"


class Scope:
    """Members by adcode (in adcode order), each checked against the city registry."""

    def __init__(self, members: list[Member]) -> None:
        self.members: dict[str, Member] = {m.adcode: m for m in sorted(members, key=lambda m: m.adcode)}

    @classmethod
    def from_csv(cls, path: Path, registry: CityRegistry) -> "Scope":
        try:
            lines = [line for line in path.read_text(encoding="utf-8").splitlines() if line and not line.startswith("#")]
        except OSError as exc:
            raise ConfigError(f"peer groups {path}: unreadable ({exc}); rebuild with ops/build_peer_groups.py") from exc
        members = []
        for number, row in enumerate(csv.DictReader(lines), start=2):
            where = f"peer groups {path}: row {number}"
            try:
                m = Member(row["adcode"], row["name"], row["province"], row["group"], row["division"])
            except KeyError as exc:
                raise ConfigError(f"{where}: missing column {exc}") from exc
            if m.group not in GROUPS:
                raise ConfigError(f"{where}: group {m.group!r} is not one of {', '.join(GROUPS)}")
            city = registry.by_code.get(m.adcode)
            if city is None or city.name != m.name:
                # the gazetteer changed under the scope (a city renamed or merged): rebuild, never guess
                raise ConfigError(f"{where}: {m.adcode} {m.name} is not in the gazetteer; rerun ops/build_peer_groups.py")
            members.append(m)
        if len({m.adcode for m in members}) != len(members):
            raise ConfigError(f"peer groups {path}: a city is listed twice")
        return cls(members)

    def __contains__(self, adcode: object) -> bool:
        return adcode in self.members

    def __len__(self) -> int:
        return len(self.members)

    def get(self, adcode: str) -> Member:
        m = self.members.get(adcode)
        if m is None:
            raise InputError(f"city_adcode: {adcode!r} is not in the ranking scope (citycredit/data/peer_groups.csv)")
        return m

    def view(self, registry: CityRegistry, province: str | None = None,
             group: str | None = None) -> list[tuple[Member, str]]:
        """(member, peer set) of each city of a ranking view: national, or one province's, and
        only peer set ``group`` when given. An unknown province or group is an error, never an
        empty view (火星省 is a typo, not a province without cities)."""
        check_peer_set(group, bool(province))
        if province and not any(registry.province_matches(c, province) for c in self.members):
            raise InputError(f"province: {province!r} matches no province of the ranking scope")
        out = []
        for adcode, member in self.members.items():
            if province and not registry.province_matches(adcode, province):
                continue
            peers = member.province_set if province else member.group
            if not group or peers == group:
                out.append((member, peers))
        return out


def check_peer_set(peers: str | None, provincial: bool) -> None:
    """A ``group`` filter of a ranking: a national group, or a provincial view's peer set."""
    valid = PROVINCE_SETS if provincial else GROUPS
    if peers is not None and peers not in valid:
        view = "a provincial view" if provincial else "the national ranking"
        raise InputError(f"group: {peers!r} is not a peer group of {view} ({', '.join(valid)})")


@lru_cache(maxsize=4)
def load_scope(path: str | None = None, registry: CityRegistry | None = None) -> Scope:
    from .cities import load_registry

    return Scope.from_csv(Path(path) if path else DEFAULT_PATH, registry or load_registry())
