"""Errors of the HTTP surface, under the project's root exception (``citycredit.exceptions``)."""
from __future__ import annotations

from citycredit.exceptions import CityCreditError


class HTTPProblem(CityCreditError):
    """A request the API refuses with this status (401, 413, 429, 503, ...), answered as
    ``{"error": message}`` with ``headers`` by the route wrapper in ``server.py``.

    Under the root, not ``InputError``: a wrong token, a full rate bucket or writes being
    switched off are not bad input, and the wrapper maps every ``InputError`` to 400.
    """

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.headers = status, message, headers or {}
