"""One root exception; each subsystem derives its own from it.

Errors from dependencies (aiokafka, httpx, subprocess) are translated into these
once, at the edge, so the CLI can print one clear message naming the fix instead
of a stack trace.
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
