"""Experience map, browser adapter: headless Chromium driven over the DevTools protocol.

The PNG output is a screenshot of the HTML page taken by headless Chromium (no pure-Python SVG
rasteriser ships in the environment), and the same session reports what a reader's browser would
see: console errors, network requests, and values read from the page. Chromium is started with
its own throw-away profile and no background networking, and stopped when the visit ends.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from schemas.errors import RenderError

CHROMIUM_CANDIDATES = ("/usr/bin/chromium", "chromium", "chromium-browser", "google-chrome")
CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--hide-scrollbars", "--remote-debugging-port=0", "--remote-allow-origins=*",
                  "--window-size=1280,900")  # PNGs of the map at a laptop's width (headless default: 800)
START_TIMEOUT_S = 30.0
LOAD_TIMEOUT_S = 30.0
GROUP_EXIT_S = 5.0  # how long Chromium's helpers may take to exit after it
DEVTOOLS_LINE = re.compile(r"DevTools listening on (ws://\S+)")


@dataclass
class Visit:
    """What one page load showed: console errors, requested URLs, a screenshot, evaluated values."""

    console_errors: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)
    screenshot_png: bytes = b""
    values: Any = None


def chromium_path() -> str:
    for candidate in CHROMIUM_CANDIDATES:
        found = shutil.which(candidate)
        if found:
            return found
    raise RenderError("chromium", "not installed: apt-get install -y chromium")


def visit(page: Path, evaluate: str = "null", timeout_s: float = LOAD_TIMEOUT_S) -> Visit:
    """Load a local page in headless Chromium, take a full-page screenshot, evaluate an expression."""
    with tempfile.TemporaryDirectory(prefix="journeys-chromium-") as profile:
        process = subprocess.Popen([chromium_path(), *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "about:blank"],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                                   start_new_session=True)
        try:
            browser_ws = _devtools_url(process)
            return asyncio.run(asyncio.wait_for(_visit(browser_ws, page.resolve().as_uri(), evaluate), timeout_s))
        except TimeoutError as err:
            raise RenderError("chromium", f"page {page} did not load within {timeout_s} s") from err
        finally:
            _stop_group(process)


def _stop_group(process: subprocess.Popen[str]) -> None:
    """Stop Chromium and its helper processes: helpers that outlive it still write into the profile
    directory, which then cannot be removed ("Directory not empty")."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    process.wait(timeout=10)
    deadline = time.monotonic() + GROUP_EXIT_S
    while time.monotonic() < deadline:
        try:
            os.killpg(process.pid, 0)  # raises once no process of the group is left
        except ProcessLookupError:
            return
        time.sleep(0.05)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)


def screenshot(page: Path, out: Path) -> None:
    """Write a PNG screenshot of a local HTML page."""
    out.write_bytes(visit(page).screenshot_png)


def _devtools_url(process: subprocess.Popen[str]) -> str:
    assert process.stderr is not None
    lines: list[str] = []
    for line in process.stderr:
        lines.append(line)
        found = DEVTOOLS_LINE.search(line)
        if found:
            return found.group(1)
    raise RenderError("chromium", "exited before DevTools was ready: " + "".join(lines[-5:]).strip())


class _Session:
    """One DevTools websocket: numbered commands, and events collected as they arrive."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws, self.next_id = ws, 0
        self.events: list[dict[str, Any]] = []

    async def call(self, method: str, session_id: str | None = None, **params: Any) -> dict[str, Any]:
        self.next_id += 1
        message: dict[str, Any] = {"id": self.next_id, "method": method, "params": params}
        if session_id:
            message["sessionId"] = session_id
        await self.ws.send_str(json.dumps(message))
        return await self._until(lambda m: m.get("id") == self.next_id)

    async def wait_event(self, method: str) -> dict[str, Any]:
        for seen in self.events:
            if seen.get("method") == method:
                return seen
        return await self._until(lambda m: m.get("method") == method)

    async def _until(self, wanted: Any) -> dict[str, Any]:
        while True:
            message = json.loads((await self.ws.receive()).data)
            if "method" in message:
                self.events.append(message)
            if wanted(message):
                if "error" in message:
                    raise RenderError("chromium", f"DevTools: {message['error']}")
                return message


async def _visit(browser_ws: str, url: str, evaluate: str) -> Visit:
    async with aiohttp.ClientSession() as http, http.ws_connect(browser_ws, max_msg_size=0) as ws:
        cdp = _Session(ws)
        target = (await cdp.call("Target.createTarget", url="about:blank"))["result"]["targetId"]
        sid = (await cdp.call("Target.attachToTarget", targetId=target, flatten=True))["result"]["sessionId"]
        for domain in ("Page", "Runtime", "Log", "Network"):
            await cdp.call(f"{domain}.enable", sid)
        await cdp.call("Page.navigate", sid, url=url)
        await cdp.wait_event("Page.loadEventFired")
        values = await cdp.call("Runtime.evaluate", sid, expression=evaluate, returnByValue=True)
        metrics = (await cdp.call("Page.getLayoutMetrics", sid))["result"]["cssContentSize"]
        clip = {"x": 0, "y": 0, "width": metrics["width"], "height": metrics["height"], "scale": 1}
        shot = await cdp.call("Page.captureScreenshot", sid, format="png", clip=clip, captureBeyondViewport=True)
        return _result(cdp.events, shot, values)


def _result(events: list[dict[str, Any]], shot: dict[str, Any], values: dict[str, Any]) -> Visit:
    found = Visit(screenshot_png=base64.b64decode(shot["result"]["data"]),
                  values=values["result"]["result"].get("value"))
    for event in events:
        method, params = event.get("method"), event.get("params", {})
        if method == "Network.requestWillBeSent":
            found.requests.append(params["request"]["url"])
        elif method == "Runtime.exceptionThrown":
            found.console_errors.append(params["exceptionDetails"].get("text", "exception"))
        elif method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
            found.console_errors.append(json.dumps(params.get("args", [])))
        elif method == "Log.entryAdded" and params["entry"].get("level") == "error":
            found.console_errors.append(params["entry"].get("text", ""))
    return found


class Tab:
    """One headless Chromium tab kept open across calls: the live page's tests load a URL at a window
    width, read values from it while it refreshes itself, and take screenshots. Use as a context manager."""

    def __init__(self) -> None:
        self._profile = tempfile.TemporaryDirectory(prefix="journeys-chromium-")
        self._loop = asyncio.new_event_loop()
        self._process: subprocess.Popen[str] | None = None
        self._http: aiohttp.ClientSession | None = None
        self._cdp: _Session | None = None
        self._sid = ""

    def __enter__(self) -> Tab:
        self._process = subprocess.Popen([chromium_path(), *CHROMIUM_FLAGS, f"--user-data-dir={self._profile.name}",
                                          "about:blank"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                         text=True, start_new_session=True)
        self._run(self._attach(_devtools_url(self._process)))
        return self

    def __exit__(self, *_: object) -> None:
        with contextlib.suppress(Exception):
            self._run(self._detach())
        if self._process is not None:
            _stop_group(self._process)
        self._loop.close()
        self._profile.cleanup()

    def open(self, url: str, width: int, height: int = 900) -> None:
        """Load `url` in a window `width` px wide; returns once the page has loaded."""
        cdp = self._session()
        self._run(cdp.call("Emulation.setDeviceMetricsOverride", self._sid, width=width, height=height,
                           deviceScaleFactor=1, mobile=False))
        cdp.events.clear()
        self._run(cdp.call("Page.navigate", self._sid, url=url))
        self._run(cdp.wait_event("Page.loadEventFired"))

    def evaluate(self, expression: str) -> Any:
        answer = self._run(self._session().call("Runtime.evaluate", self._sid, expression=expression,
                                                returnByValue=True))
        return answer["result"]["result"].get("value")

    def screenshot(self) -> bytes:
        """The whole page as PNG, at the window's width."""
        cdp = self._session()
        size = self._run(cdp.call("Page.getLayoutMetrics", self._sid))["result"]["cssContentSize"]
        clip = {"x": 0, "y": 0, "width": size["width"], "height": size["height"], "scale": 1}
        shot = self._run(cdp.call("Page.captureScreenshot", self._sid, format="png", clip=clip,
                                  captureBeyondViewport=True))
        return base64.b64decode(shot["result"]["data"])

    def console_errors(self) -> list[str]:
        return _result(self._session().events, {"result": {"data": ""}}, {"result": {"result": {}}}).console_errors

    def _session(self) -> _Session:
        assert self._cdp is not None, "use Tab as a context manager"
        return self._cdp

    def _run(self, coroutine: Any) -> Any:
        return self._loop.run_until_complete(asyncio.wait_for(coroutine, LOAD_TIMEOUT_S))

    async def _attach(self, browser_ws: str) -> None:
        self._http = aiohttp.ClientSession()
        ws = await self._http.ws_connect(browser_ws, max_msg_size=0)
        self._cdp = _Session(ws)
        target = (await self._cdp.call("Target.createTarget", url="about:blank"))["result"]["targetId"]
        self._sid = (await self._cdp.call("Target.attachToTarget", targetId=target, flatten=True))["result"]["sessionId"]
        for domain in ("Page", "Runtime", "Log", "Network"):
            await self._cdp.call(f"{domain}.enable", self._sid)

    async def _detach(self) -> None:
        if self._cdp is not None:
            await self._cdp.ws.close()
        if self._http is not None:
            await self._http.close()
