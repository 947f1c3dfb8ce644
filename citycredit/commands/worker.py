"""citycredit worker: run the Faust worker (all agents) against the configured broker."""
from __future__ import annotations

import sys

from ..admin import changelog_specs, ensure_topics_sync
from ..settings import get_settings


def register(sub) -> None:
    p = sub.add_parser("worker", help="run the Faust worker: every agent, tables, web server")
    p.set_defaults(func=_worker)


def _worker(args) -> int:
    from ..understanding.model import load_model

    load_model()  # a missing or corrupt reader model stops the worker here, before it joins the group
    settings = get_settings()
    ensure_topics_sync(settings)  # fails with a clear message when no broker answers
    from ..app import app

    app.discover()  # imports the agents, so their tables (and changelog topics) are known
    ensure_topics_sync(settings, changelog_specs(app.tables.values()))

    # Faust creates its table directory but not the parents of it.
    (settings.data_dir / "worker").mkdir(parents=True, exist_ok=True)

    sys.argv = ["citycredit", "worker", "--loglevel", settings.log_level, "--web-port", str(settings.web_port),
                "--web-host", settings.web_host]
    app.main()
    return 0
