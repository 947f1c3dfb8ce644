"""City registry: adcode -> name and province, from the shared gazetteer at run time.

Ranked units are prefecture-level cities (``cities.csv``, code + "00"), the four
municipalities (``110000`` ...; ``cities.csv`` lists them as 市辖区) and county-level
cities (``areas.csv`` names ending in 市) where a filing or item names one. Unknown
codes are an ``InputError``: a typo must not create a new city in the ranking.
"""
from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from citycredit.exceptions import ConfigError, InputError
from citycredit.ids import MUNICIPALITY_ADCODES
from citycredit.settings import get_settings

LEVELS = ("municipality", "prefecture", "county_city")


@dataclass(frozen=True)
class City:
    adcode: str
    name: str
    province: str
    province_code: str  # 2 digits
    level: str

    def __post_init__(self) -> None:
        if self.level not in LEVELS:
            raise ValueError(f"level {self.level!r}")


def default_gazetteer_dir() -> Path:
    """``Settings.gazetteer_dir`` (``CITYCREDIT_GAZETTEER_DIR``)."""
    return get_settings().gazetteer_dir


class CityRegistry:
    """Every rankable city, looked up by adcode or name."""

    def __init__(self, cities: list[City]) -> None:
        self.by_code: dict[str, City] = {c.adcode: c for c in cities}
        self._by_name: dict[str, list[City]] = {}
        for c in cities:
            for name in {c.name, c.name.removesuffix("市")}:
                self._by_name.setdefault(name, []).append(c)

    @classmethod
    def from_gazetteer(cls, directory: Path | None = None) -> "CityRegistry":
        d = directory or default_gazetteer_dir()
        try:
            provinces = {r["code"]: r["name"] for r in _rows(d / "provinces.csv")}
            cities: list[City] = []
            for r in _rows(d / "cities.csv"):
                pcode = r["provinceCode"]
                if r["name"] == "市辖区":  # a municipality's own prefecture level
                    code = pcode + "0000"
                    cities.append(City(code, provinces[pcode], provinces[pcode], pcode, "municipality"))
                elif r["name"].endswith("直辖县级行政区划"):
                    continue  # a grouping, not a city; its county-level cities come from areas.csv
                else:
                    cities.append(City(r["code"] + "00", r["name"], provinces[pcode], pcode, "prefecture"))
            for r in _rows(d / "areas.csv"):
                if r["name"].endswith("市"):
                    pcode = r["provinceCode"]
                    cities.append(City(r["code"], r["name"], provinces[pcode], pcode, "county_city"))
        except (OSError, KeyError) as exc:
            raise ConfigError(f"gazetteer at {d} unreadable ({exc}); set CITYCREDIT_GAZETTEER_DIR") from exc
        missing = [m for m in MUNICIPALITY_ADCODES if m not in {c.adcode for c in cities}]
        if missing:
            raise ConfigError(f"gazetteer at {d} lacks municipalities {missing}")
        return cls(cities)

    def get(self, adcode: str) -> City:
        city = self.by_code.get(adcode) if isinstance(adcode, str) else None
        if city is None:
            raise InputError(f"city_adcode: unknown city code {adcode!r} (not a prefecture-level or county-level city)")
        return city

    def __contains__(self, adcode: object) -> bool:
        return adcode in self.by_code

    def __len__(self) -> int:
        return len(self.by_code)

    def resolve(self, text: str) -> City:
        """A 6-digit adcode or a city name (苏州市 or 苏州) -> the City; ambiguous names are errors."""
        text = (text or "").strip()
        if text.isdigit():
            return self.get(text)
        found = self._by_name.get(text) or self._by_name.get(text.removesuffix("市"))
        if not found:
            raise InputError(f"city: unknown city {text!r}")
        if len(found) > 1:
            options = ", ".join(f"{c.adcode} {c.province}{c.name}" for c in found)
            raise InputError(f"city: {text!r} is ambiguous ({options}); give the adcode")
        return found[0]

    def province_matches(self, adcode: str, province: str) -> bool:
        """``province`` as a name (江苏省 / 江苏), a 2-digit code or a 6-digit code."""
        city = self.get(adcode)
        p = province.strip()
        if p.isdigit():
            return city.province_code == p[:2]
        return city.province == p or city.province.startswith(p)


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


@lru_cache(maxsize=4)
def load_registry(directory: str | None = None) -> CityRegistry:
    """The registry, read once per process (the gazetteer is ~3,300 rows)."""
    return CityRegistry.from_gazetteer(Path(directory) if directory else None)
