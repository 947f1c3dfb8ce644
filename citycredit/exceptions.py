"""One root exception; each subsystem derives its own from it.

Errors from dependencies (aiokafka, httpx, subprocess) are translated into these
once, at the edge, so the CLI can print one clear message naming the fix instead
of a stack trace.

This module holds the root, its three broad kinds and the errors of the top-level
modules; a subpackage with errors of its own keeps them in its ``exceptions.py``
(``streams``, ``citycredit.scoring``, ``citycredit.alerting``, ``citycredit.web``).
tests/unit/test_exception_hierarchy.py holds every package to this.
"""
from __future__ import annotations


class CityCreditError(Exception):
    """Root of every error this project raises on purpose."""


class ConfigError(CityCreditError):
    """A setting or a desk-tunable data file is invalid."""


class BrokerError(CityCreditError):
    """The local Kafka broker cannot be fetched, started, reached or stopped."""


class InputError(CityCreditError):
    """A record from outside (observation, filing, CSV row, API payload) is invalid."""


class SecretKeyError(ConfigError):
    """A sealed secret cannot be opened with the configured key(s), or the key is unusable (``secretbox``)."""
