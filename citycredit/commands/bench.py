"""citycredit bench: every speed benchmark of bench/ and one table of figures, baselines and targets.

This module only reads the command line; the work is ``run`` of ``bench/run_benchmarks.py``,
a plain function whatever parses the arguments. The benchmarks are scripts of the checkout,
not of the installed package, so the runner is loaded from there when the command runs (never
while the parser is built: no other command depends on bench/).
"""
from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import click

from ..exceptions import ConfigError
from ..settings import PROJECT_ROOT

RUNNER = PROJECT_ROOT / "bench" / "run_benchmarks.py"


def register(cli: click.Group) -> None:
    cli.add_command(bench_command)


def load_runner():
    if not RUNNER.exists():
        raise ConfigError(f"citycredit bench runs the scripts of a checkout's bench/; there is no {RUNNER}")
    spec = importlib.util.spec_from_file_location("run_benchmarks", RUNNER)
    module = importlib.util.module_from_spec(spec)
    sys.modules["run_benchmarks"] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


@click.command("bench", epilog="""\b
examples:
  citycredit bench --quick                          # seconds: the runner works, no figures to quote
  citycredit bench --only bench_index.py --only desk_readmodel.py
  citycredit bench --base main --write docs/benchmarks.md
""")
@click.option("--quick", is_flag=True, help="Small sizes: seconds, for the runner's test; not figures to quote.")
@click.option("--only", multiple=True, metavar="SCRIPT", help="Run only this script (repeatable), e.g. bench_index.py.")
@click.option("--base", metavar="REV", help="Revision whose clusterer compare_clusterer.py times against this checkout's.")
@click.option("--write", type=click.Path(path_type=Path), metavar="FILE",
              help="Also write the table, the machine and the command to FILE.")
@click.option("--verbose", is_flag=True, help="Also print each script's own report (stderr).")
def bench_command(quick: bool, only: tuple[str, ...], base: str | None, write: Path | None, verbose: bool) -> int:
    """Run every benchmark of bench/ and print one table of figures, same-run baselines, ratios
    and targets (make bench also writes docs/benchmarks.md)."""
    # the command as typed, for the written document (however the CLI was reached: make, a script)
    words = ["citycredit bench", "--quick" * quick, *[w for s in only for w in ("--only", s)],
             *(["--base", base] if base else []), *(["--write", str(write)] if write else [])]
    return load_runner().run(quick=quick, only=list(only) or None, base=base, write=write, verbose=verbose,
                             command=" ".join(w for w in words if w))
