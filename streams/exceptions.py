"""Errors of the ingestion subsystem, under the project's root exception.

``reason`` is a short, bounded token (used as a Prometheus label and in source
health); the message says what happened in words a desk can act on.
"""
from __future__ import annotations

from citycredit.exceptions import CityCreditError, ConfigError


class StreamsError(CityCreditError):
    """Root of ingestion errors."""


class RegistryError(ConfigError):
    """The site registry file is invalid."""


class PollError(StreamsError):
    """One poll of one surface failed; ``reason`` is a bounded label such as ``timeout``."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(f"{reason}: {message}")
        self.reason = reason
        self.message = message


class FetchError(PollError):
    """The HTTP fetch failed (network, status, size, type, redirects)."""

    def __init__(self, reason: str, message: str, retryable: bool = False) -> None:
        super().__init__(reason, message)
        self.retryable = retryable


class ParseError(PollError):
    """The body was fetched but could not be turned into headlines."""


class SpoolBusy(StreamsError):
    """Another process holds the publisher's spool journal (two pollers on one data dir)."""
