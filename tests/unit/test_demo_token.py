"""``citycredit demo`` gives its worker an API token, so the desk can file a government response.

With no CITYCREDIT_API_TOKEN the worker answers every write with 503; the demo makes a
random token for the run, hands it to the worker in its environment and prints it once
on the desk line. No broker: the settings and the worker's environment are built here.
"""
from __future__ import annotations

from citycredit.settings import Settings
from demo.run import desk_line, with_demo_token
from streams.runner import worker_env


def test_a_demo_without_a_token_makes_one_and_the_worker_gets_it(monkeypatch):
    monkeypatch.delenv("CITYCREDIT_API_TOKEN", raising=False)
    demo, generated = with_demo_token(Settings(api_token=""))
    token = demo.api_token
    assert generated and len(token) >= 40  # token_urlsafe(32): 256 random bits
    assert with_demo_token(Settings(api_token=""))[0].api_token != token  # a new one each run
    env = worker_env(demo)
    assert env["CITYCREDIT_API_TOKEN"] == token
    assert token not in repr(demo)  # out of repr, so out of any logged Settings
    line = desk_line(demo, generated)
    assert line.startswith(f"  desk:        http://{demo.web_host}:{demo.web_port}/desk/  API token for this demo: {token}")


def test_a_configured_token_is_kept_and_not_printed(monkeypatch):
    monkeypatch.setenv("CITYCREDIT_API_TOKEN", "operator-token-0123456789")
    demo, generated = with_demo_token(Settings(api_token="operator-token-0123456789"))
    assert not generated and demo.api_token == "operator-token-0123456789"
    assert worker_env(demo)["CITYCREDIT_API_TOKEN"] == "operator-token-0123456789"
    line = desk_line(demo, generated)
    assert "operator-token" not in line and "CITYCREDIT_API_TOKEN" in line


def test_a_worker_without_a_token_gets_none_from_its_parent(monkeypatch):
    """``citycredit run`` with no token configured: writes stay disabled, as configured."""
    monkeypatch.delenv("CITYCREDIT_API_TOKEN", raising=False)
    assert "CITYCREDIT_API_TOKEN" not in worker_env(Settings(api_token=""))
