"""Subcommands of the ``citycredit`` CLI, one module per subsystem."""
