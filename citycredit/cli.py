"""``citycredit`` command line (click).

Each subsystem adds its commands from its own module under ``citycredit/commands/``
(listed in ``COMMAND_MODULES``); a command returns its exit code. Errors we raise on
purpose (``CityCreditError``) are printed as one line naming the fix, exit 2; a usage
error (unknown option, bad choice) is click's message, exit 2 as well.

Shell completion (bash, zsh, fish), e.g. for bash in ~/.bashrc:
    eval "$(_CITYCREDIT_COMPLETE=bash_source citycredit)"
"""
from __future__ import annotations

import importlib
import sys

import click

from .exceptions import CityCreditError

COMMAND_MODULES = (
    "citycredit.commands.broker",
    "citycredit.commands.worker",
    "citycredit.commands.index",
    "citycredit.commands.sites",
    "citycredit.commands.replay",
    "citycredit.commands.classify",
    "citycredit.commands.report",
    "citycredit.commands.bench",
)


def build_cli() -> click.Group:
    @click.group("citycredit", context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
                 epilog="Run 'citycredit COMMAND --help' for a command's options and examples.")
    def cli() -> None:
        """Real-time city credit monitor: polls 15 national news sites, flags major dishonesty
        events per city, scores and ranks cities, and reports monthly."""

    for name in COMMAND_MODULES:
        importlib.import_module(name).register(cli)
    return cli


def main(argv: list[str] | None = None) -> int:
    cli = build_cli()
    try:
        # standalone_mode=False: the command's return value is the exit code, and our own
        # errors reach the handler below instead of click's generic one
        result = cli.main(args=argv, prog_name="citycredit", standalone_mode=False)
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    except click.Abort:
        return 130
    except CityCreditError as exc:
        print(f"citycredit: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return int(result or 0)


if __name__ == "__main__":
    sys.exit(main())
