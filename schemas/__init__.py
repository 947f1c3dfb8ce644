"""Typed records that cross topic boundaries; the JSON on each topic is exactly design.md §3."""
from .records import (  # noqa: F401
    Alert,
    CityIndexEntry,
    CreditRecord,
    Item,
    Observation,
    Response,
    SourceHealth,
    parse_ts,
)
