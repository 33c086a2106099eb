"""Test helper: a headless Chromium tab driven step by step over the DevTools protocol.

The experience map's adapter (grafana.experience_map.browser) loads one page and takes a
screenshot; the beacon's test needs a visit: open a page, then another, run script in it, then
close the tab as a reader would. Same Chromium, flags and clean-up, steps of its own.
"""

from __future__ import annotations

import asyncio
import subprocess
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import aiohttp

from grafana.experience_map.browser import CHROMIUM_FLAGS, _devtools_url, _Session, _stop_group, chromium_path

LOAD_TIMEOUT_S = 30.0
# After a tab is closed, what its page sent as it went away (sendBeacon) leaves from the browser
# process: give it this long before the browser is stopped.
CLOSE_GRACE_S = 1.5


class Tab:
    """One tab: navigate, evaluate (promises awaited), close."""

    def __init__(self, cdp: _Session, target: str, session: str) -> None:
        self.cdp, self.target, self.session = cdp, target, session

    async def open(self, url: str, referrer: str = "") -> None:
        self.cdp.events.clear()  # a load event of the page before must not count as this one's
        await self.cdp.call("Page.navigate", self.session, url=url, referrer=referrer)
        await asyncio.wait_for(self.cdp.wait_event("Page.loadEventFired"), LOAD_TIMEOUT_S)

    async def pose_as(self, user_agent: str, width: int, height: int, mobile: bool) -> None:
        """From the next page on, the tab shows this user agent and viewport."""
        await self.cdp.call("Emulation.setUserAgentOverride", self.session, userAgent=user_agent)
        await self.cdp.call("Emulation.setDeviceMetricsOverride", self.session, width=width, height=height,
                            deviceScaleFactor=1, mobile=mobile)

    async def evaluate(self, expression: str) -> Any:
        answer = await self.cdp.call("Runtime.evaluate", self.session, expression=expression, awaitPromise=True,
                                     returnByValue=True)
        return answer["result"]["result"].get("value")

    async def close(self) -> None:
        await self.cdp.call("Target.closeTarget", targetId=self.target)
        await asyncio.sleep(CLOSE_GRACE_S)


@asynccontextmanager
async def chromium_tab() -> AsyncIterator[Tab]:
    """A fresh headless Chromium (throw-away profile) with one tab; stopped, helpers and all, after."""
    with tempfile.TemporaryDirectory(prefix="journeys-chromium-") as profile:
        process = subprocess.Popen([chromium_path(), *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "about:blank"],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                                   start_new_session=True)
        try:
            browser_ws = _devtools_url(process)
            async with aiohttp.ClientSession() as http, http.ws_connect(browser_ws, max_msg_size=0) as ws:
                cdp = _Session(ws)
                target = (await cdp.call("Target.createTarget", url="about:blank"))["result"]["targetId"]
                sid = (await cdp.call("Target.attachToTarget", targetId=target, flatten=True))["result"]["sessionId"]
                for domain in ("Page", "Runtime"):
                    await cdp.call(f"{domain}.enable", sid)
                yield Tab(cdp, target, sid)
        finally:
            _stop_group(process)
