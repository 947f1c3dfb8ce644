"""citycredit worker: run the Faust worker (all agents) against the configured broker."""
from __future__ import annotations

import shutil
import sys
from pathlib import Path

import click

from ..admin import changelog_specs, ensure_topics_sync
from ..settings import get_settings


def register(cli: click.Group) -> None:
    cli.add_command(worker_command)


# Written when the worker stops by itself (Faust has flushed its producer by then); absent
# after a SIGKILL, an OOM kill or a power cut.
CLEAN_STOP = "clean-stop"


def discard_state_after_unclean_stop(datadir: Path, tabledir: Path) -> bool:
    """Remove the local table stores (RocksDB) when the last run did not stop cleanly.

    A RocksDB table keeps each write at once, while the outputs of the same input wait in
    the producer's buffer: after a SIGKILL the reopened store can hold state whose outputs
    were lost (an alert marked emitted that never left), and the inputs read again after
    the last commit would then send nothing. Rebuilt from the changelogs, the state is what
    the broker holds. (Kafka Streams does the same under exactly-once: no checkpoint, wipe.)
    Costs a full changelog read after a crash; a clean restart still reads on from the
    offsets stored with the tables. Returns whether anything was removed."""
    mark = datadir / CLEAN_STOP
    dirty = tabledir.is_dir() and any(tabledir.iterdir()) and not mark.exists()
    if dirty:
        shutil.rmtree(tabledir)
    mark.unlink(missing_ok=True)
    return dirty


@click.command("worker")
def worker_command() -> int:
    """Run the Faust worker: every agent, the tables, the desk's web server."""
    from ..understanding.model import load_model

    load_model()  # a missing or corrupt reader model stops the worker here, before it joins the group
    settings = get_settings()
    ensure_topics_sync(settings)  # fails with a clear message when no broker answers
    from ..app import app

    app.discover()  # imports the agents, so their tables (and changelog topics) are known
    ensure_topics_sync(settings, changelog_specs(app.tables.values()))

    # Faust creates its table directory but not the parents of it.
    (settings.data_dir / "worker").mkdir(parents=True, exist_ok=True)

    datadir, tabledir = Path(app.conf.datadir), Path(app.conf.tabledir)
    if discard_state_after_unclean_stop(datadir, tabledir):
        print(f"citycredit worker: the last run did not stop cleanly; table state in {tabledir} discarded, "
              "rebuilding it from the changelogs", file=sys.stderr, flush=True)
    sys.argv = ["citycredit", "worker", "--loglevel", settings.log_level, "--web-port", str(settings.web_port),
                "--web-host", settings.web_host]
    try:
        app.main()
    finally:  # not reached on SIGKILL: that is the point
        datadir.mkdir(parents=True, exist_ok=True)
        (datadir / CLEAN_STOP).touch()
    return 0
