"""One root exception, one ``exceptions.py`` per package that has errors of its own.

The CLI (``citycredit/cli.py``) and the replay catch ``CityCreditError`` to print one line
naming the fix; an error class outside the root would escape as a stack trace. The test
imports every module of the project and walks ``BaseException``'s subclasses, so a class
is found wherever it is defined or bound, not only where a grep would look.
"""
from __future__ import annotations

import importlib
import pkgutil
from pathlib import Path

import pytest

from citycredit.exceptions import CityCreditError

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("citycredit", "streams", "schemas", "agents")
# Not errors but control flow that never leaves the code that raises it: expat offers no
# other way to stop a parse at the root element (streams/parsers.refuse_xml_entities), and a
# failed delivery try is how the sender tells tenacity's loop to wait and try again
# (alerting/delivery.py; caught by that loop, never raised past it).
SIGNALS = {"streams.parsers._PrologRead", "citycredit.alerting.delivery._FailedTry"}


def _modules() -> list[str]:
    names = []
    for top in PACKAGES:
        package = importlib.import_module(top)
        names.append(top)
        names += [m.name for m in pkgutil.walk_packages(package.__path__, f"{top}.")]
    return names


def _subclasses(cls: type) -> set[type]:
    found = set()
    for sub in cls.__subclasses__():
        found |= {sub} | _subclasses(sub)
    return found


@pytest.fixture(scope="module")
def project_exceptions() -> dict[str, type]:
    for name in _modules():
        importlib.import_module(name)
    return {f"{c.__module__}.{c.__qualname__}": c for c in _subclasses(BaseException)
            if c.__module__.split(".")[0] in PACKAGES}


def test_every_exception_of_the_project_is_under_the_root(project_exceptions):
    outside = sorted(name for name, cls in project_exceptions.items()
                     if not issubclass(cls, CityCreditError) and name not in SIGNALS)
    assert not outside, f"derive these from CityCreditError or one of its kinds (citycredit/exceptions.py): {outside}"


def test_every_error_lives_in_an_exceptions_module(project_exceptions):
    elsewhere = sorted(name for name, cls in project_exceptions.items()
                       if cls.__module__.rpartition(".")[2] != "exceptions" and name not in SIGNALS)
    assert not elsewhere, f"move these to their package's exceptions.py: {elsewhere}"


def test_each_exceptions_module_holds_errors_and_was_walked(project_exceptions):
    """No empty exceptions.py, and the walk above saw every one (so it saw the project)."""
    files = sorted(p for top in PACKAGES for p in (ROOT / top).rglob("exceptions.py"))
    assert len(files) >= 5, files  # citycredit, streams, scoring, alerting, web
    walked = {cls.__module__ for cls in project_exceptions.values()}
    for path in files:
        module = ".".join(path.relative_to(ROOT).with_suffix("").parts)
        assert module in walked, f"{path.relative_to(ROOT)} defines no exception"


def test_signals_named_here_still_exist(project_exceptions):
    assert SIGNALS <= set(project_exceptions), SIGNALS - set(project_exceptions)
