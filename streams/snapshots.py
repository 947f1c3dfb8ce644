"""The raw snapshot store: every fetched body, gzip-compressed, with its headers.

Layout: ``<root>/<site>/<surface-id>/<YYYYMMDD>/<HHMMSS.ffffff>-<sha8>.gz`` plus a ``.json``
beside it (url, status, headers, seen_at). Retention is bounded twice: by age (days) and
by total size (oldest days go first), so a long-running poller cannot fill the disk.
``citycredit reparse`` walks the store in time order and re-runs today's parsers.
"""
from __future__ import annotations

import gzip
import hashlib
import json
import shutil
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Iterator


@dataclass(frozen=True)
class Snapshot:
    site: str
    surface: str
    seen_at: str  # ISO-8601 with offset: the event time the poller used
    url: str
    headers: dict[str, str]
    path: Path

    def body(self) -> bytes:
        with gzip.open(self.path, "rb") as fh:
            return fh.read()


class SnapshotStore:
    def __init__(self, root: Path, retention_days: float = 7.0, max_bytes: int = 500 * 1024 * 1024) -> None:
        self.root = root
        self.retention_days = retention_days
        self.max_bytes = max_bytes

    def put(self, site: str, surface: str, seen_at: datetime, url: str, headers: dict[str, str], body: bytes) -> Path:
        day = seen_at.astimezone(timezone.utc)
        folder = self.root / site / surface / day.strftime("%Y%m%d")
        folder.mkdir(parents=True, exist_ok=True)
        stem = f"{day.strftime('%H%M%S.%f')}-{hashlib.sha1(body).hexdigest()[:8]}"
        path = folder / f"{stem}.gz"
        meta_path = folder / f"{stem}.json"
        meta = {"site": site, "surface": surface, "seen_at": seen_at.isoformat(), "url": url, "headers": headers}
        try:
            # level 6: ~10x on HTML at a fraction of level 9's CPU
            path.write_bytes(gzip.compress(body, compresslevel=6, mtime=0))
            meta_path.write_text(json.dumps(meta, ensure_ascii=False), encoding="utf-8")
        except OSError:
            # a full disk leaves truncated files; remove them so reparse never reads half a page
            path.unlink(missing_ok=True)
            meta_path.unlink(missing_ok=True)
            raise
        return path

    def iter(self, site: str | None = None, surface: str | None = None, since: datetime | None = None) -> Iterator[Snapshot]:
        """Snapshots in time order (per surface), optionally filtered."""
        if not self.root.exists():
            return
        for site_dir in sorted(p for p in self.root.iterdir() if p.is_dir()):
            if site and site_dir.name != site:
                continue
            for surf_dir in sorted(p for p in site_dir.iterdir() if p.is_dir()):
                if surface and surf_dir.name != surface:
                    continue
                for meta_path in sorted(surf_dir.glob("*/*.json")):
                    meta = json.loads(meta_path.read_text(encoding="utf-8"))
                    seen = datetime.fromisoformat(meta["seen_at"])
                    if since and seen < since:
                        continue
                    yield Snapshot(meta["site"], meta["surface"], meta["seen_at"], meta["url"], meta["headers"],
                                   meta_path.with_suffix(".gz"))

    def prune(self, now: datetime) -> int:
        """Drop days older than the retention, then oldest days until under the size cap; returns files removed."""
        if not self.root.exists():
            return 0
        cutoff = (now - timedelta(days=self.retention_days)).astimezone(timezone.utc).strftime("%Y%m%d")
        days = sorted(self.root.glob("*/*/*"), key=lambda p: p.name)
        removed = 0
        for d in days:
            if d.name < cutoff:
                removed += sum(1 for _ in d.iterdir())
                shutil.rmtree(d, ignore_errors=True)
        days = [d for d in days if d.exists()]
        total = sum(f.stat().st_size for d in days for f in d.iterdir())
        for d in days:
            if total <= self.max_bytes:
                break
            size = sum(f.stat().st_size for f in d.iterdir())
            removed += sum(1 for _ in d.iterdir())
            shutil.rmtree(d, ignore_errors=True)
            total -= size
        return removed
