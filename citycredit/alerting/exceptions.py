"""Errors of alert delivery, under the project's root exception (``citycredit.exceptions``).

Both are ``InputError``: the URL or the signed delivery came from outside and is refused.
"""
from __future__ import annotations

from citycredit.exceptions import InputError


class SubscriptionURLRefused(InputError):
    """The webhook URL points somewhere the product must not send requests to."""


class WebhookVerificationError(InputError):
    """A delivery's signature headers do not prove it came from us, now, with this id and body."""
