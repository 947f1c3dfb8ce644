"""Daily digests and quiet hours (citycredit/alerting/schedule.py) and a sender that keeps them."""
from __future__ import annotations

import asyncio
from datetime import datetime

import pytest

from citycredit.exceptions import InputError
from citycredit.secretbox import SecretBox
from citycredit.settings import Settings
from citycredit.alerting.delivery import Outbox, Pending
from citycredit.alerting.schedule import CHINA, due, last_boundary, quiet_left
from citycredit.alerting.subscriptions import Subscription, parse_subscription

from .test_robots import ALERT, RobotServer


def at(text: str) -> float:
    return datetime.fromisoformat(text).timestamp()


@pytest.mark.parametrize("quiet, now, left", [
    ("22:00-07:00", "2026-12-06T23:30:00+08:00", 7.5 * 3600),   # across midnight
    ("22:00-07:00", "2026-12-06T06:59:00+08:00", 60),
    ("22:00-07:00", "2026-12-06T07:00:00+08:00", 0),
    ("12:00-13:30", "2026-12-06T12:45:00+08:00", 45 * 60),
    ("12:00-13:30", "2026-12-06T04:45:00+00:00", 45 * 60),       # the same instant in UTC
    ("", "2026-12-06T23:30:00+08:00", 0),
])
def test_quiet_hours_hold_until_they_end(quiet, now, left):
    assert quiet_left(quiet, at(now)) == pytest.approx(left)


def test_a_digest_takes_what_was_triggered_before_the_last_digest_time():
    now = at("2026-12-06T08:05:00+08:00")   # a restart five minutes after the 08:00 digest
    assert datetime.fromtimestamp(last_boundary("08:00", now), CHINA).isoformat() == "2026-12-06T08:00:00+08:00"
    alerts = [("a", {"triggered_at": "2026-12-06T07:59:00+08:00"}), ("b", {"triggered_at": "2026-12-06T08:01:00+08:00"}),
              ("c", {"triggered_at": "2026-12-05T20:00:00+08:00"}), ("d", {"triggered_at": "not a time"})]
    assert due("08:00", alerts, now) == ["a", "c", "d"]   # b waits for tomorrow's 08:00


@pytest.mark.parametrize("body, words", [
    ({"digest_at": "8:00"}, "digest_at: expected HH:MM"),
    ({"digest_at": 8}, "digest_at: expected HH:MM"),
    ({"quiet_hours": "22:00"}, "quiet_hours: expected HH:MM-HH:MM"),
    ({"quiet_hours": "07:00-07:00"}, "the same time"),
])
def test_bad_schedules_are_refused(body, words):
    with pytest.raises(InputError, match=words):
        parse_subscription(body, allow_private=False, now_iso="2026-12-06T00:00:00+00:00", box=SecretBox.from_settings(Settings()))


def _drain(sub: Subscription, alerts: list[dict], box: SecretBox, seconds: float) -> list[tuple[str, str]]:
    """Run the subscription's sender for ``seconds``; returns (key, status) of every done entry."""
    outbox = Outbox(Settings(webhook_allow_private=True), box=box)
    done: list[tuple[str, str]] = []
    for n, a in enumerate(alerts):
        outbox.add(sub.id, Pending(f"key-{n}", n, a))

    async def mark(sub_id, entry, status):
        done.append((entry.key, status))
        outbox.remove(sub_id, entry.key)

    async def go():
        task = asyncio.ensure_future(outbox.drain(sub.id, lambda _id: sub, mark, mark))
        await asyncio.sleep(seconds)
        task.cancel()
    asyncio.run(go())
    return done


def _day_alerts() -> list[dict]:
    return [{**ALERT, "story_id": f"s-{n}", "title": f"第{n}条 徐州企业拖欠工资",
             "triggered_at": f"2026-12-01T0{n}:00:00+08:00"} for n in range(3)]


def test_a_digest_subscription_gets_the_day_s_alerts_as_one_message():
    box = SecretBox.from_settings(Settings())
    robot = RobotServer("wecom")
    try:
        sub = Subscription(id="sub-0123456789", sealed_secret=box.seal(""), url=robot.url, kind="wecom", digest_at="08:00")
        done = _drain(sub, _day_alerts(), box, 1.5)
    finally:
        robot.close()
    assert sorted(done) == [("key-0", "delivered"), ("key-1", "delivered"), ("key-2", "delivered")]
    [(body, _query, headers)] = robot.seen   # one message for the three
    text = body["markdown"]["content"]
    assert "城市信用预警汇总（3 条）" in text and all(f"第{n}条" in text for n in range(3))
    assert headers["Idempotency-Key"].startswith("digest-")


def test_nothing_is_sent_in_quiet_hours():
    box = SecretBox.from_settings(Settings())
    robot = RobotServer("wecom")
    now = datetime.now(CHINA)
    start, end = f"{now.hour:02d}:00", f"{(now.hour + 2) % 24:02d}:00"   # quiet now, for at least an hour
    try:
        sub = Subscription(id="sub-0123456789", sealed_secret=box.seal(""), url=robot.url, kind="wecom",
                           quiet_hours=f"{start}-{end}")
        done = _drain(sub, _day_alerts(), box, 1.0)
    finally:
        robot.close()
    assert done == [] and robot.seen == []
