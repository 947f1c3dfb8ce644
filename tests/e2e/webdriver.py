"""A small W3C WebDriver client for chromedriver (the few commands the desk test needs).

Debian's ``chromium`` and ``chromium-driver`` packages provide the browser and the driver;
``ops/install-test-deps.sh`` installs them. The browser runs headless with a fresh
profile and no background networking, so the test talks to nothing but the desk.
"""
from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

ELEMENT = "element-6066-11e4-a52e-4f735466cecf"
CHROME_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                "--disable-component-update", "--no-first-run", "--disable-sync", "--disable-dev-shm-usage",
                "--window-size=1400,1000"]


class WebDriverError(AssertionError):
    pass


class Browser:
    def __init__(self, driver_port: int, chromium: str = "/usr/bin/chromium", chromedriver: str = "/usr/bin/chromedriver"):
        self.profile = Path(tempfile.mkdtemp(prefix="citycredit-chromium-"))
        self.base = f"http://127.0.0.1:{driver_port}"
        self.driver = subprocess.Popen([chromedriver, f"--port={driver_port}"], stdout=subprocess.DEVNULL,
                                       stderr=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + 20
        while True:
            try:
                self._call("GET", "/status")
                break
            except (OSError, WebDriverError):
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        caps = {"capabilities": {"alwaysMatch": {"browserName": "chrome", "goog:chromeOptions": {
            "binary": chromium, "args": CHROME_FLAGS + [f"--user-data-dir={self.profile}"]}}}}
        self.session = self._call("POST", "/session", caps)["sessionId"]

    def _call(self, method: str, path: str, body: Any = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.base + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"} if data else {})
        try:
            with urllib.request.urlopen(req, timeout=60) as r:
                return json.loads(r.read())["value"]
        except urllib.error.HTTPError as exc:
            raise WebDriverError(f"{method} {path}: {exc.code} {exc.read()[:500]!r}") from exc

    def s(self, method: str, path: str, body: Any = None) -> Any:
        return self._call(method, f"/session/{self.session}{path}", body if body is not None or method == "GET" else {})

    def get(self, url: str) -> None:
        self.s("POST", "/url", {"url": url})

    def find_all(self, css: str) -> list[str]:
        return [e[ELEMENT] for e in self.s("POST", "/elements", {"using": "css selector", "value": css})]

    def wait(self, css: str, timeout: float = 20.0, text: str | None = None) -> str:
        """The first element matching ``css`` (whose text contains ``text``), waiting for it to appear."""
        deadline = time.monotonic() + timeout
        while True:
            for eid in self.find_all(css):
                try:
                    if text is None or text in self.text(eid):
                        return eid
                except WebDriverError as exc:  # the page re-rendered under us: look again
                    if "stale element" not in str(exc):
                        raise
            if time.monotonic() > deadline:
                body = self.script("return document.body.innerText")
                raise WebDriverError(f"no {css!r}{' with ' + repr(text) if text else ''} after {timeout}s; page:\n{body[:3000]}")
            time.sleep(0.25)

    def text(self, eid: str) -> str:
        return self.s("GET", f"/element/{eid}/text")

    def click(self, eid: str) -> None:
        self.s("POST", f"/element/{eid}/click", {})

    def type(self, eid: str, text: str) -> None:
        self.s("POST", f"/element/{eid}/clear", {})
        self.s("POST", f"/element/{eid}/value", {"text": text})

    def script(self, js: str, *args: Any) -> Any:
        return self.s("POST", "/execute/sync", {"script": js, "args": list(args)})

    def quit(self) -> None:
        try:
            self._call("DELETE", f"/session/{self.session}")
        except (OSError, WebDriverError):
            pass
        finally:
            self.driver.terminate()
            try:
                self.driver.wait(10)
            except subprocess.TimeoutExpired:
                self.driver.kill()
            shutil.rmtree(self.profile, ignore_errors=True)
