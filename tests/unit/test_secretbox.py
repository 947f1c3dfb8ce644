"""Webhook secrets at rest: sealed with CITYCREDIT_SECRET_KEY, opened only with it, never shown."""
from __future__ import annotations

import logging

import pytest
from cryptography.fernet import Fernet

from citycredit.exceptions import ConfigError
from citycredit.secretbox import SecretBox, SecretKeyError
from citycredit.settings import Settings
from citycredit.web.desk import DeskView
from citycredit.alerting.subscriptions import Subscription, parse_subscription

KEY, OTHER = Fernet.generate_key().decode(), Fernet.generate_key().decode()


def _sub(box: SecretBox, secret: str = "clear-secret-of-the-receiver") -> Subscription:
    sub, clear = parse_subscription({"secret": secret}, allow_private=False, now_iso="2026-02-03T00:00:00+00:00", box=box)
    assert clear == secret
    return sub


def test_the_record_for_the_topic_holds_no_clear_secret_and_opens_with_the_key():
    box = SecretBox.from_settings(Settings(secret_key=KEY))
    sub = _sub(box)
    record = sub.to_json()
    assert "clear-secret-of-the-receiver" not in repr(record) and "secret" not in record
    assert Subscription.from_json(record).secret(box) == "clear-secret-of-the-receiver"
    # a generated secret is sealed too
    generated, clear = parse_subscription({}, allow_private=False, now_iso="", box=box)
    assert clear not in repr(generated.to_json()) and generated.secret(box) == clear


def test_a_wrong_key_is_a_clear_error():
    sealed = _sub(SecretBox.from_settings(Settings(secret_key=KEY)))
    with pytest.raises(SecretKeyError, match="sealed with another key"):
        sealed.secret(SecretBox.from_settings(Settings(secret_key=OTHER)))


def test_a_rotation_keeps_old_records_readable_and_seals_with_the_new_key():
    old = _sub(SecretBox.from_settings(Settings(secret_key=KEY)))
    rotated = SecretBox.from_settings(Settings(secret_key=f"{OTHER}, {KEY}"))
    assert old.secret(rotated) == "clear-secret-of-the-receiver"
    new = _sub(rotated)
    assert new.secret(SecretBox.from_settings(Settings(secret_key=OTHER))) == "clear-secret-of-the-receiver"


def test_production_without_a_key_refuses_to_start():
    with pytest.raises(SecretKeyError, match="CITYCREDIT_SECRET_KEY is not set"):
        SecretBox.from_settings(Settings(deployment="production"))
    with pytest.raises(ConfigError, match="CITYCREDIT_DEPLOYMENT='prod'"):
        SecretBox.from_settings(Settings(deployment="prod"))


def test_development_without_a_key_uses_one_ephemeral_key_per_process_and_warns(caplog):
    caplog.set_level(logging.WARNING, "citycredit.secretbox")
    a, b = SecretBox.from_settings(Settings()), SecretBox.from_settings(Settings())
    assert b.open(a.seal("x" * 20)) == "x" * 20  # the API's box and the delivery's box agree


def test_a_malformed_key_is_named_but_not_echoed():
    with pytest.raises(SecretKeyError, match="key 1 of 1 is not a Fernet key") as caught:
        SecretBox.from_settings(Settings(secret_key="not-a-key-but-private"))
    assert "not-a-key-but-private" not in str(caught.value)


def test_neither_the_key_nor_the_secret_is_in_a_repr():
    settings = Settings(secret_key=KEY, api_token="TOPSECRET-123")
    box = SecretBox.from_settings(settings)
    sub = _sub(box)
    for shown in (repr(settings), str(settings), repr(box), repr(sub), str(sub)):
        assert KEY not in shown and "TOPSECRET-123" not in shown
        assert sub.sealed_secret not in shown and "clear-secret-of-the-receiver" not in shown


def test_a_record_with_a_clear_secret_from_before_is_refused_with_the_reason(caplog):
    desk = DeskView()
    desk.apply("subscriptions", "sub-0123456789", {"id": "sub-0123456789", "secret": "x" * 32, "url": None})
    assert desk.rejected == 1 and not desk.subscriptions
    assert "holds its webhook secret in clear" in caplog.text
