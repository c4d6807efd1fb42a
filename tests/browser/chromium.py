"""Headless Chromium driven over the DevTools protocol: a page opened, what it logged, a value
read from it, a screenshot. Only what the browser tests need, over one websocket."""

from __future__ import annotations

import base64
import contextlib
import json
import os
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from websockets.sync.client import ClientConnection, connect

# Everything that would reach out or wait for a desktop switched off: the page is a local file.
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--hide-scrollbars",
    "--remote-debugging-port=0",
)
STARTUP = 30.0


class Page:
    """One tab: commands sent, their answers and the events that came meanwhile kept."""

    def __init__(self, socket: ClientConnection, session: str) -> None:
        self.socket = socket
        self.session = session
        self.events: list[dict[str, Any]] = []
        self._next = 0

    def send(self, method: str, timeout: float = 20.0, **params: Any) -> dict[str, Any]:
        return _call(self, method, params, self.session, timeout)

    def wait_for(self, method: str, timeout: float = 20.0) -> dict[str, Any]:
        """The first event ``method`` of this tab, received now or already."""
        deadline = time.monotonic() + timeout
        while True:
            for event in self.events:
                if event["method"] == method:
                    return event
            self._receive(deadline)

    def _receive(self, deadline: float) -> dict[str, Any]:
        message: dict[str, Any] = json.loads(self.socket.recv(timeout=max(0.1, deadline - time.monotonic())))
        if "method" in message and message.get("sessionId") == self.session:
            self.events.append(message)
        return message

    def errors(self) -> list[str]:
        """What the page reported as errors: console errors, uncaught exceptions, and the
        browser's own log entries (a blocked or failed load, a policy violation)."""
        found = []
        for event in self.events:
            params = event["params"]
            if event["method"] == "Runtime.consoleAPICalled" and params["type"] in ("error", "assert"):
                found.append(
                    " ".join(str(arg.get("value", arg.get("description"))) for arg in params["args"])
                )
            elif event["method"] == "Runtime.exceptionThrown":
                found.append(params["exceptionDetails"].get("text", "exception"))
            elif event["method"] == "Log.entryAdded" and params["entry"]["level"] == "error":
                found.append(f"{params['entry']['source']}: {params['entry']['text']}")
        return found

    def evaluate(self, expression: str) -> Any:
        answer = self.send("Runtime.evaluate", expression=expression, returnByValue=True)
        if "exceptionDetails" in answer:
            raise AssertionError(f"{expression!r} failed: {answer['exceptionDetails']}")
        return answer["result"]["value"]

    def screenshot(self, path: Path) -> None:
        """The whole page, beyond the window, as PNG."""
        size = self.send("Page.getLayoutMetrics")["cssContentSize"]
        clip = {"x": 0, "y": 0, "width": size["width"], "height": size["height"], "scale": 1}
        shot = self.send("Page.captureScreenshot", format="png", captureBeyondViewport=True, clip=clip)
        path.write_bytes(base64.b64decode(shot["data"]))


def _call(
    page: Page, method: str, params: dict[str, Any], session: str | None, timeout: float
) -> dict[str, Any]:
    page._next += 1
    ask: dict[str, Any] = {"id": page._next, "method": method, "params": params}
    if session is not None:
        ask["sessionId"] = session
    page.socket.send(json.dumps(ask))
    deadline = time.monotonic() + timeout
    while True:
        message = page._receive(deadline)
        if message.get("id") == page._next:
            if "error" in message:
                raise AssertionError(f"{method}: {message['error']}")
            result: dict[str, Any] = message["result"]
            return result


def _port(profile: Path, process: subprocess.Popen[bytes]) -> str:
    """The browser's websocket address, from the file Chromium writes once it listens."""
    active = profile / "DevToolsActivePort"
    deadline = time.monotonic() + STARTUP
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"Chromium exited at start with status {process.returncode}")
        lines = active.read_text().split("\n") if active.exists() else []
        if len(lines) >= 2 and lines[1]:
            return f"ws://127.0.0.1:{lines[0]}{lines[1]}"
        time.sleep(0.05)
    raise AssertionError(f"Chromium did not listen within {STARTUP} s")


@contextmanager
def opened(executable: str, url: str, *, width: int = 1200, height: int = 900) -> Iterator[Page]:
    """``url`` loaded in a fresh headless Chromium (a throwaway profile), with the page's
    console, exceptions and browser log recorded from before the load."""
    # Chromium's helpers (renderer, crash handler) may still be writing the profile as the
    # browser exits: they are ended with it, as a process group, and a file one of them left
    # behind does not fail the test (it failed one CI run: "Directory not empty: 'Default'").
    with tempfile.TemporaryDirectory(prefix="loyalty-chromium-", ignore_cleanup_errors=True) as folder:
        profile = Path(folder)
        process = subprocess.Popen(
            [
                executable,
                *FLAGS,
                f"--user-data-dir={profile}",
                f"--window-size={width},{height}",
                "about:blank",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        try:
            with connect(_port(profile, process), max_size=None, open_timeout=STARTUP) as socket:
                browser = Page(socket, "")
                target = _call(browser, "Target.createTarget", {"url": "about:blank"}, None, STARTUP)
                attached = _call(
                    browser,
                    "Target.attachToTarget",
                    {"targetId": target["targetId"], "flatten": True},
                    None,
                    20,
                )
                page = Page(socket, attached["sessionId"])
                page._next = browser._next
                for domain in ("Page", "Runtime", "Log"):
                    page.send(f"{domain}.enable")
                page.send(
                    "Emulation.setDeviceMetricsOverride",
                    width=width,
                    height=height,
                    deviceScaleFactor=1,
                    mobile=False,
                )
                page.send("Page.navigate", url=url)
                page.wait_for("Page.loadEventFired")
                yield page
        finally:
            _end(process)


def _end(process: subprocess.Popen[bytes]) -> None:
    """End the browser and every helper it started (its process group), the browser first."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
