"""``citycredit`` command line.

Each subsystem registers its subcommands from its own module under
``citycredit/commands/`` (listed in ``COMMAND_MODULES``). Errors we raise on
purpose (``CityCreditError``) are printed as one line naming the fix, exit 2.
"""
from __future__ import annotations

import argparse
import importlib
import sys

from .exceptions import CityCreditError

COMMAND_MODULES = (
    "citycredit.commands.broker",
    "citycredit.commands.worker",
    "citycredit.commands.index",
    "citycredit.commands.sites",
    "citycredit.commands.replay",
    "citycredit.commands.classify",
    "citycredit.commands.bench",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="citycredit", description="Real-time city credit monitor.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except CityCreditError as exc:
        print(f"citycredit: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
