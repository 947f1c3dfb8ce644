"""Alerts for the group chats officers already read: 企业微信 and 钉钉 group robots.

A subscription of kind ``wecom`` or ``dingtalk`` goes through the same outbox as a signed
webhook (order, retries with backoff, idempotency, the SSRF guard, nothing lost across
restarts); only the request differs. Both robots take a markdown message:

* 企业微信 group robot: ``POST <robot URL with its key>`` with
  ``{"msgtype": "markdown", "markdown": {"content": …}}``; the key in the URL is the credential.
* 钉钉 custom robot with 加签 security: ``POST <robot URL>&timestamp=<ms>&sign=<s>`` with
  ``{"msgtype": "markdown", "markdown": {"title": …, "text": …}}``, where ``s`` is the URL-encoded
  base64 of HMAC-SHA256 keyed with the robot's secret over ``"<ms>\\n<secret>"``; 钉钉 refuses a
  timestamp more than an hour away.

Both answer HTTP 200 with ``{"errcode": 0, …}`` when they took the message, and HTTP 200 with
another errcode when they did not (a wrong key or signature, 310000; too many messages, 45009
and 130101): only errcode 0 counts as delivered, anything else is a failed try with the
robot's own errmsg as the reason.

Written here, not taken from a library: the two formats are a few JSON keys and one HMAC,
and the request must leave through the outbox's pinned, SSRF-checked connection.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any, Mapping
from urllib.parse import quote_plus, urlsplit

from citycredit.ids import TRIGGER_NAMES

ROBOT_KINDS = ("wecom", "dingtalk")
TYPE_NAMES = {"major_dishonesty": "重大失信事件", "major_trustworthy": "重要守信事件", "early_warning": "失信高发预警"}
# 企业微信 caps a markdown message at 4,096 bytes, 钉钉 at 20,000; a title is short, but the
# desk text must never make a robot refuse the whole alert
MAX_TITLE_CHARS = 200


def _trigger(alert: Mapping[str, Any]) -> str:
    """Which surfaces raised it, in the desk's words: 多站首页（人民网、新华网、央视网） or 排行榜 sina 第3名."""
    trigger = alert.get("trigger") or ""
    name = TRIGGER_NAMES.get(trigger, trigger or "—")
    evidence = alert.get("evidence") if isinstance(alert.get("evidence"), Mapping) else {}
    if trigger == "hotlist" and evidence.get("rank") is not None:
        return f"{name}（{evidence.get('site', '')} 第{evidence['rank']}名）"
    sites = alert.get("sites") or []
    return f"{name}（{'、'.join(map(str, sites))}）" if sites else name


def _heading(alert: Mapping[str, Any]) -> tuple[str, str, str | None]:
    """(城市·事件类型, the headline, the first report's http(s) link or None) of an alert."""
    city = alert.get("city") or alert.get("province") or "未识别城市"
    kind = TYPE_NAMES.get(str(alert.get("type")), str(alert.get("type")))
    what = str(alert.get("title") or "")[:MAX_TITLE_CHARS]
    urls = [u for u in alert.get("urls") or [] if isinstance(u, str) and u.startswith(("http://", "https://"))]
    return f"{city}·{kind}", what, urls[0] if urls else None


def alert_markdown(alert: Mapping[str, Any], desk_url: str) -> tuple[str, str]:
    """(title, markdown text) of an alert in Chinese: the city, what happened, the trigger,
    the first report's link and the city's page on the desk."""
    title, what, link = _heading(alert)
    lines = [f"### {title}", f"**{what}**", f"- 触发：{_trigger(alert)}",
             f"- 首次发现：{alert.get('first_seen', '—')}", f"- 认定时间：{alert.get('triggered_at', '—')}"]
    if link:
        lines.append(f"- 原文：[{link}]({link})")
    if alert.get("city_adcode"):
        page = f"{desk_url.rstrip('/')}/desk/#/city/{alert['city_adcode']}"
        lines.append(f"- 监测台：[{page}]({page})")
    return title, "\n".join(lines)


def digest_markdown(alerts: list[Mapping[str, Any]], desk_url: str) -> tuple[str, str]:
    """(title, markdown text) of a daily digest: one line per alert, oldest first."""
    title = f"城市信用预警汇总（{len(alerts)} 条）"
    lines = [f"### {title}"]
    for alert in alerts:
        heading, what, link = _heading(alert)
        source = f" [原文]({link})" if link else ""
        lines.append(f"- **{heading}** {what}（{_trigger(alert)}，{alert.get('triggered_at', '—')}）{source}")
    page = f"{desk_url.rstrip('/')}/desk/#/alerts"
    lines.append(f"- 监测台：[{page}]({page})")
    return title, "\n".join(lines)


def message_text(alerts: list[Mapping[str, Any]], desk_url: str, digest: bool) -> tuple[str, str]:
    """(title, markdown text) of one alert, or of a digest of several."""
    return digest_markdown(alerts, desk_url) if digest else alert_markdown(alerts[0], desk_url)


def dingtalk_sign(secret: str, timestamp_ms: int) -> str:
    """钉钉's 加签: URL-encoded base64 HMAC-SHA256(secret, "<timestamp>\\n<secret>")."""
    mac = hmac.new(secret.encode(), f"{timestamp_ms}\n{secret}".encode(), hashlib.sha256)
    return quote_plus(base64.b64encode(mac.digest()).decode())


def robot_request(kind: str, url: str, secret: str, title: str, text: str,
                  now: float) -> tuple[str, bytes, dict[str, str]]:
    """(URL to post to, body, headers) of one message (``message_text``) for a group robot."""
    if kind == "wecom":
        message: dict[str, Any] = {"msgtype": "markdown", "markdown": {"content": text}}
    elif kind == "dingtalk":
        message = {"msgtype": "markdown", "markdown": {"title": title, "text": text}}
        ms = int(now * 1000)
        url = f"{url}{'&' if urlsplit(url).query else '?'}timestamp={ms}&sign={dingtalk_sign(secret, ms)}"
    else:
        raise ValueError(f"not a robot kind: {kind!r}")
    body = json.dumps(message, ensure_ascii=False, separators=(",", ":")).encode()
    return url, body, {"Content-Type": "application/json; charset=utf-8"}


def robot_answer(answer: bytes) -> tuple[bool, str]:
    """Whether a robot's HTTP 200 answer took the message: errcode 0, or its errmsg."""
    try:
        data = json.loads(answer)
    except (ValueError, UnicodeDecodeError):
        return False, f"not the robot's JSON answer: {answer[:80]!r}"
    if not isinstance(data, Mapping) or "errcode" not in data:
        return False, f"no errcode in the robot's answer: {answer[:80]!r}"
    if data.get("errcode") == 0:
        return True, ""
    return False, f"robot errcode {data.get('errcode')}: {str(data.get('errmsg', ''))[:120]}"
