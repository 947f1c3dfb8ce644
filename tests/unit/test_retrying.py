"""The one retry policy (citycredit/retrying.py) and its two callers: a poller's fetch retries
what another try may fix, as often as configured and no more; an alert's sender never gives
up, writes one dead letter at the configured try and then probes every ``most`` seconds."""
from __future__ import annotations

import asyncio
import time

import httpx
import pytest
from tenacity import RetryCallState

from citycredit.alerting.delivery import Outbox, Pending
from citycredit.alerting.subscriptions import Subscription
from citycredit.retrying import backoff
from citycredit.secretbox import SecretBox
from citycredit.settings import Settings
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


def test_a_sender_dead_letters_once_probes_and_backs_off_afresh_after_a_delivery():
    """Alert a fails 4 tries and goes; b, after it, fails 3 tries and goes.

    tries:  a✗  a✗  a✗ dead,down  a✗  a✓ up  b✗  b✗  b✗ dead,down  b✓ up
    waits:    .01 .02     .1     .1         .01 .02     .1
    (steady from the 3rd failure on; doubling on, those .1 would be .04 and .08)
    """
    settings = Settings(webhook_max_attempts=3, webhook_backoff_base=0.01, webhook_backoff_max=0.1)
    box = SecretBox.from_settings(settings)
    outbox = Outbox(settings, box=box)
    sub = Subscription(id="sub-0123456789", sealed_secret=box.seal(""), url="http://127.0.0.1:9/hook")
    outbox.add(sub.id, Pending("a", 0, {"triggered_at": "2026-12-01T01:00:00+08:00"}))
    outbox.add(sub.id, Pending("b", 1, {"triggered_at": "2026-12-01T02:00:00+08:00"}))
    answers = iter([False] * 4 + [True] + [False] * 3 + [True])
    events: list[str] = []

    async def post(client, sub, entry):
        ok = next(answers)
        events.append(f"{entry.key}{'✓' if ok else '✗'}")
        return ok, "" if ok else "HTTP 503"

    async def done(sub_id, entry, status):
        events.append(f"{entry.key}:{status}")
        outbox.remove(sub_id, entry.key)

    async def dead(sub_id, entry, reason):
        events.append(f"dead:{entry.key}:{reason}")

    def dead_letter(key: str, kept: int) -> str:
        return (f"dead:{key}:webhook {sub.id} failed 3 tries, last: HTTP 503; subscription marked down, "
                f"{kept} alert(s) kept and retried every 0.1s")

    outbox.post = post  # type: ignore[method-assign]
    started = time.monotonic()
    asyncio.run(asyncio.wait_for(outbox.drain(sub.id, lambda _id: sub, done, dead), 10))
    elapsed = time.monotonic() - started
    # the second dead letter shows the count of failures started afresh after a's delivery
    assert events == ["a✗", "a✗", "a✗", dead_letter("a", 2), "a✗", "a✓", "a:delivered",
                      "b✗", "b✗", "b✗", dead_letter("b", 1), "b✓", "b:delivered"]
    assert not outbox.down
    assert elapsed >= (0.01 + 0.02 + 0.1 + 0.1) + (0.01 + 0.02 + 0.1) - 0.005  # less: sleep's clock resolution
