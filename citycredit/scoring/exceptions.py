"""Errors of the city index, under the project's root exception (``citycredit.exceptions``).

Most of what the index rejects is plain ``InputError`` or ``ConfigError``; a class lives
here only when a caller must tell it apart from them.
"""
from __future__ import annotations

from citycredit.exceptions import InputError


class UnknownEvent(InputError):
    """The response names a story that is not a major dishonesty event of that city.

    Its own class because the API answers it 422 (the body is well formed, the event is
    not ours to respond to), not the 400 of any other ``InputError``.
    """
