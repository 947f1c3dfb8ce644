"""The project's one retry policy for network calls, on tenacity.

A failed try is followed by a wait of ``base``, ``2*base``, ``4*base``, ... seconds, capped at
``most``, and by another try while ``retry_if`` accepts the error and ``tries`` allows:

* polling fetches (``streams/fetch.py``): full jitter (a random wait in [0, that]) so the
  retries of many pollers hitting one site do not synchronise; a few tries; only the
  failures that ``FetchError`` marks retryable;
* alert delivery (``citycredit/alerting/delivery.py``): no jitter (one sender per
  subscription, nothing to spread; an operator reads the schedule off the settings); never
  gives up; from the ``steady_after``-th failed try on, one try every ``most`` seconds.

The last error is re-raised as it was, never as tenacity's ``RetryError``: callers translate
their own errors and tenacity stays behind this module.
"""
from __future__ import annotations

from typing import Callable

from tenacity import (AsyncRetrying, retry_if_exception, stop_after_attempt, stop_never, wait_chain, wait_exponential,
                      wait_fixed, wait_random_exponential)
from tenacity.wait import wait_base


def backoff(base: float, most: float, *, jitter: bool = False, steady_after: int | None = None) -> wait_base:
    """The wait after the n-th failed try: ``base * 2**(n-1)`` capped at ``most``; with ``jitter``
    a random wait up to that; from the ``steady_after``-th failed try on, ``most``."""
    exponential = (wait_random_exponential if jitter else wait_exponential)(multiplier=base, max=most)
    if steady_after is None:
        return exponential
    # wait_chain uses its n-th strategy after the n-th failed try, and its last one from then on
    return wait_chain(*[exponential] * (steady_after - 1), wait_fixed(most))


def retrying(retry_if: Callable[[BaseException], bool], wait: wait_base, tries: int | None = None) -> AsyncRetrying:
    """A new run of tries: ``async for attempt in retrying(...): with attempt: ...``.

    New for every run because tenacity keeps a run's state on the object: two fetches
    sharing one would step on each other's attempt count.
    """
    return AsyncRetrying(retry=retry_if_exception(retry_if), wait=wait,
                         stop=stop_never if tries is None else stop_after_attempt(tries), reraise=True)
