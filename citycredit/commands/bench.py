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

from ..exceptions import ConfigError
from ..settings import PROJECT_ROOT

RUNNER = PROJECT_ROOT / "bench" / "run_benchmarks.py"


def register(sub) -> None:
    p = sub.add_parser("bench", help="run every benchmark of bench/ and print one table (make bench also writes "
                                     "docs/benchmarks.md)")
    p.add_argument("--quick", action="store_true", help="small sizes: seconds, for the runner's test; not figures to quote")
    p.add_argument("--only", nargs="+", metavar="SCRIPT", help="run only these (e.g. bench_index.py desk_readmodel.py)")
    p.add_argument("--base", metavar="REV", help="revision whose clusterer compare_clusterer.py times against this checkout's")
    p.add_argument("--write", type=Path, metavar="FILE", help="also write the table, the machine and the command to FILE")
    p.add_argument("--verbose", action="store_true", help="also print each script's own report (stderr)")
    p.set_defaults(func=_bench)


def load_runner():
    if not RUNNER.exists():
        raise ConfigError(f"citycredit bench runs the scripts of a checkout's bench/; there is no {RUNNER}")
    spec = importlib.util.spec_from_file_location("run_benchmarks", RUNNER)
    module = importlib.util.module_from_spec(spec)
    sys.modules["run_benchmarks"] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


def _bench(args) -> int:
    # the command as typed, for the written document (however the CLI was reached: make, a script)
    words = ["citycredit bench", "--quick" * args.quick, *(["--only", *args.only] if args.only else []),
             *(["--base", args.base] if args.base else []), *(["--write", str(args.write)] if args.write else [])]
    return load_runner().run(quick=args.quick, only=args.only, base=args.base, write=args.write, verbose=args.verbose,
                             command=" ".join(w for w in words if w))
