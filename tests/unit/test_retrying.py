"""The one retry policy (citycredit/retrying.py) and a poller's fetch on it: it retries what
another try may fix, as often as configured and no more."""
from __future__ import annotations

import asyncio

import httpx
import pytest
from tenacity import RetryCallState

from citycredit.retrying import backoff
from streams.exceptions import FetchError
from streams.fetch import Fetcher, FetchPolicy

PAGE = "<html><body>第1条新闻标题足够长的一条</body></html>".encode()


def after(failures: int) -> RetryCallState:
    """The state tenacity asks a wait strategy about after the ``failures``-th failed try."""
    state = RetryCallState(retry_object=None, fn=None, args=(), kwargs={})  # type: ignore[arg-type]
    state.attempt_number = failures
    return state


@pytest.mark.parametrize("failures,expected", [(1, 0.5), (2, 1.0), (3, 2.0), (4, 4.0), (5, 8.0), (6, 10.0), (20, 10.0)])
def test_backoff_doubles_up_to_the_cap(failures, expected):
    assert backoff(0.5, 10.0)(after(failures)) == expected


def test_backoff_is_steady_from_the_try_that_marks_a_receiver_down():
    # the webhook defaults: 6 tries, 1 s doubling, 60 s cap; the 6th failure starts the 60 s probes
    wait = backoff(1.0, 60.0, steady_after=6)
    assert [wait(after(n)) for n in range(1, 10)] == [1, 2, 4, 8, 16, 60, 60, 60, 60]
    assert [backoff(1.0, 60.0, steady_after=1)(after(n)) for n in (1, 2)] == [60, 60]


def test_jittered_backoff_draws_anywhere_up_to_the_capped_exponential():
    wait = Fetcher(FetchPolicy(backoff_s=1.0, backoff_max_s=3.0)).wait
    for failures, cap in [(1, 1.0), (2, 2.0), (3, 3.0), (9, 3.0)]:
        draws = [wait(after(failures)) for _ in range(300)]
        assert all(0.0 <= d <= cap for d in draws)
        assert min(draws) < cap * 0.25 and max(draws) > cap * 0.75  # full jitter, not a fixed wait


def _fetch(statuses: list[int], retries: int) -> tuple[list[int], FetchError | int]:
    """Fetch once from a server answering ``statuses`` in turn (200 from then on); the
    statuses it was asked for, and the error raised or the attempts the result counts."""
    answers = iter(statuses)
    asked: list[int] = []

    def handler(request: httpx.Request) -> httpx.Response:
        asked.append(status := next(answers, 200))
        return httpx.Response(status, stream=httpx.ByteStream(PAGE), headers={"Content-Type": "text/html"})

    fetcher = Fetcher(FetchPolicy(politeness_delay_s=0, retries=retries, backoff_s=0.001, backoff_max_s=0.005),
                      transport=httpx.MockTransport(handler))

    async def run() -> FetchError | int:
        try:
            return (await fetcher.fetch("http://www.people.com.cn/", "www.people.com.cn")).attempts
        except FetchError as exc:
            return exc
        finally:
            await fetcher.aclose()
    return asked, asyncio.run(run())


@pytest.mark.parametrize("status", [500, 502, 503, 504, 429])
def test_a_transient_status_is_tried_retries_plus_one_times_then_reported(status):
    asked, err = _fetch([status] * 10, retries=3)
    assert asked == [status] * 4
    assert isinstance(err, FetchError) and err.reason == f"http_{status}" and err.retryable
    assert err.message == f"server answered {status} (after 4 attempts)"


@pytest.mark.parametrize("status", [400, 401, 403, 404, 410])
def test_a_client_error_is_not_retried(status):
    asked, err = _fetch([status] * 10, retries=3)
    assert asked == [status]
    assert isinstance(err, FetchError) and err.reason == f"http_{status}" and not err.retryable
    assert err.message == f"server answered {status}"


def test_a_transient_failure_then_success_counts_the_attempts():
    assert _fetch([503, 429], retries=2) == ([503, 429, 200], 3)
    asked, err = _fetch([503, 404], retries=5)  # the 404 ends it
    assert asked == [503, 404]
    assert isinstance(err, FetchError) and err.message == "server answered 404 (after 2 attempts)"

