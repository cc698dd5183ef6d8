"""The browser the agent drives: Debian's Chromium through Playwright's async API (never a
downloaded browser), one tab, every request checked against the safety policy.

`observe()` extracts the page's interactive elements (see `elements`); `perform()` carries out
one action on one of them and waits for the page to settle; `highlight()` draws a box around
the element about to be acted on, inside the page, so the live view and anyone watching see
it. A link that opens a new tab opens in this one instead (one tab is what people watch).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import tempfile
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from voxroom.browser.actions import Action, closest_option
from voxroom.browser.elements import EXTRACT_JS, PageElement, PageState
from voxroom.browser.safety import SafetyPolicy

log = logging.getLogger(__name__)

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
    "--disable-extensions",
    "--disable-domain-reliability",
    "--disable-client-side-phishing-detection",
    "--no-pings",
    "--disable-features=Translate,OptimizationHints,MediaRouter,AutofillServerCommunication",
)
HIGHLIGHT_COLOR = "#ff00ff"  # magenta: rare on web pages, easy to find in a video frame
HIGHLIGHT_JS = (resources.files("voxroom.browser") / "highlight.js").read_text("utf-8")
CLEAR_HIGHLIGHT_JS = (
    "() => document.querySelectorAll('[data-vx-overlay]').forEach((e) => e.remove())"
)


class BrowserUnavailable(RuntimeError):
    """Chromium or Playwright is missing: say which and how to install it."""


@dataclass(frozen=True, slots=True)
class BrowserOptions:
    executable: str = CHROMIUM
    viewport: tuple[int, int] = (1024, 640)
    extra_args: tuple[str, ...] = ()
    action_timeout_s: float = 5.0
    load_timeout_s: float = 15.0
    settle_s: float = 0.15  # after an action: time for a navigation it caused to start
    scroll_fraction: float = 0.8  # of the viewport's height, per SCROLL
    # False: Chromium resolves no host but the allow-list's (tests and benches: 127.0.0.1).
    resolve_hostnames: bool = True


@dataclass(slots=True)
class ActionResult:
    ok: bool
    detail: str = ""
    refused: bool = False  # the safety policy stopped it
    url: str = ""  # the page's URL after the action


@dataclass(slots=True)
class _Navigations:
    refused: list[str] = field(default_factory=list)  # main-frame URLs the policy blocked
    blocked_requests: int = 0


class BrowserController:
    def __init__(self, policy: SafetyPolicy, options: BrowserOptions | None = None) -> None:
        self.policy = policy
        self.options = options or BrowserOptions()
        self._playwright: Any = None
        self._browser: Any = None
        self.context: Any = None
        self.page: Any = None
        self._profile: tempfile.TemporaryDirectory[str] | None = None
        self._nav = _Navigations()
        self._tasks: set[asyncio.Task[None]] = set()

    # --- lifecycle ---------------------------------------------------------------------------
    async def start(self) -> None:
        try:
            from playwright.async_api import async_playwright
        except ImportError as exc:
            raise BrowserUnavailable(
                "the browser agent needs Playwright: pip install 'voxroom[browser]'"
            ) from exc
        if not await asyncio.to_thread(Path(self.options.executable).exists):
            raise BrowserUnavailable(
                f"{self.options.executable} not found: install Debian's chromium package"
            )
        args = [*CHROMIUM_FLAGS, *self.options.extra_args]
        if not self.options.resolve_hostnames:  # only the allow-list's hosts resolve
            excluded = "".join(f", EXCLUDE {host}" for host in self.policy.allow.hosts)
            args.append(f"--host-resolver-rules=MAP * ~NOTFOUND{excluded}")
        self._playwright = await async_playwright().start()
        try:
            self._browser = await self._playwright.chromium.launch(
                executable_path=self.options.executable, headless=True, args=args
            )
            width, height = self.options.viewport
            self.context = await self._browser.new_context(
                viewport={"width": width, "height": height},
                accept_downloads=False,
                service_workers="block",  # their requests would bypass the route below
            )
            self.context.set_default_timeout(self.options.action_timeout_s * 1000)
            await self.context.route("**/*", self._guard)
            self.context.on("page", self._on_new_page)
            self.page = await self.context.new_page()
        except BaseException:
            await self.close()
            raise

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for closer in (self._browser, self._playwright):
            if closer is not None:
                with contextlib.suppress(Exception):
                    await (closer.close() if closer is self._browser else closer.stop())
        self._browser = self._playwright = self.context = self.page = None

    # --- safety --------------------------------------------------------------------------------
    async def _guard(self, route: Any, request: Any) -> None:
        refusal = self.policy.request(request.url)
        if refusal is None:
            await route.continue_()
            return
        self._nav.blocked_requests += 1
        if request.is_navigation_request() and self.page is not None:
            if request.frame == self.page.main_frame:
                self._nav.refused.append(request.url)
        log.info("browser: blocked %s (%s)", request.url, refusal.reason)
        await route.abort("blockedbyclient")

    def _on_new_page(self, page: Any) -> None:
        if self.page is None or page == self.page:
            return
        task = asyncio.ensure_future(self._adopt(page))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _adopt(self, page: Any) -> None:
        """A new tab: close it and open its address in the one tab people watch."""
        with contextlib.suppress(Exception):
            await page.wait_for_load_state("commit", timeout=self.options.load_timeout_s * 1000)
        url = page.url
        with contextlib.suppress(Exception):
            await page.close()
        if url and url != "about:blank" and self.policy.request(url) is None:
            with contextlib.suppress(Exception):
                await self.page.goto(url, wait_until="load")

    async def reset(self) -> None:
        """A new visitor: no cookies or storage, a blank page (between unrelated tasks)."""
        await self.context.clear_cookies()
        await self.page.goto("about:blank")

    @property
    def blocked_requests(self) -> int:
        return self._nav.blocked_requests

    # --- seeing --------------------------------------------------------------------------------
    async def goto(self, url: str) -> ActionResult:
        if (refusal := self.policy.request(url)) is not None:
            return ActionResult(False, refusal.reason, refused=True, url=self.page.url)
        try:
            await self.page.goto(url, wait_until="load", timeout=self.options.load_timeout_s * 1e3)
        except Exception as exc:
            return ActionResult(False, _short(exc), url=self.page.url)
        return ActionResult(True, url=self.page.url)

    async def observe(self, screenshot: bool = False) -> PageState:
        data: dict[str, Any] = await self.page.evaluate(EXTRACT_JS)
        png = await self.page.screenshot(type="png") if screenshot else None
        _, scroll_y, scroll_height, viewport_height = data["scroll"]
        return PageState(
            url=str(data["url"]),
            title=str(data["title"]),
            elements=tuple(PageElement.from_page(e) for e in data["elements"]),
            fingerprint=str(data["fingerprint"]),
            scroll_y=int(scroll_y),
            scroll_height=int(scroll_height),
            viewport_height=int(viewport_height),
            screenshot=png,
        )

    async def element_id(self, selector: str) -> int | None:
        """The id `observe` gave the element `selector` finds (None: none, or not a target)."""
        script = "(s) => { const e = document.querySelector(s); return e && e.dataset.vxId; }"
        found = await self.page.evaluate(script, selector)
        return int(found) if found else None

    async def evaluate(self, script: str, arg: Any = None) -> Any:
        return await self.page.evaluate(script, arg)

    # --- acting --------------------------------------------------------------------------------
    async def highlight(self, element: PageElement, label: str) -> bool:
        args = {"id": element.id, "label": label, "color": HIGHLIGHT_COLOR}
        try:
            return bool(await self.page.evaluate(HIGHLIGHT_JS, args))
        except Exception:  # the page navigated meanwhile: nothing to draw on
            return False

    async def clear_highlight(self) -> None:
        with contextlib.suppress(Exception):
            await self.page.evaluate(CLEAR_HIGHLIGHT_JS)

    async def perform(self, action: Action, element: PageElement | None) -> ActionResult:
        self._nav.refused.clear()
        before = self.page.url
        try:
            detail = await self._do(action, element)
        except _Refused as refused:
            return ActionResult(False, str(refused), refused=True, url=self.page.url)
        except Exception as exc:  # a stale element, a timeout, a page that went away
            await self.clear_highlight()
            return ActionResult(False, _short(exc), url=self.page.url)
        await self._settle()
        if self._nav.refused:
            blocked = self._nav.refused[0]
            await self._leave_error_page(before)
            reason = self.policy.request(blocked)
            why = reason.reason if reason else "blocked"
            detail = f"navigation refused: {why}"
            return ActionResult(False, detail, refused=True, url=self.page.url)
        await self.clear_highlight()
        return ActionResult(True, detail, url=self.page.url)

    async def _do(self, action: Action, element: PageElement | None) -> str:
        page = self.page
        target = page.locator(f'[data-vx-id="{element.id}"]') if element is not None else None
        kind = action.kind
        if kind == "CLICK":
            assert target is not None and element is not None
            if element.href and (refusal := self.policy.request(element.href)) is not None:
                raise _Refused(f"navigation refused: {refusal.reason}")
            await target.click()
            return ""
        if kind == "TYPE":
            assert target is not None and element is not None
            if element.tag == "select":
                return await self._select(target, element, action.value)
            if not element.typeable:
                raise ValueError(f"cannot type into a {element.kind}")
            await target.fill(action.value)
            return ""
        if kind == "SELECT":
            assert target is not None and element is not None
            if element.tag != "select":
                if element.typeable:  # a combobox typed into
                    await target.fill(action.value)
                    return ""
                raise ValueError(f"a {element.kind} has no options to select")
            return await self._select(target, element, action.value)
        if kind == "PRESS ENTER":
            if target is not None:
                await target.press("Enter")
            else:
                await page.keyboard.press("Enter")
            return ""
        if kind in ("SCROLL DOWN", "SCROLL UP"):
            height = self.options.viewport[1] * self.options.scroll_fraction
            delta = height if kind == "SCROLL DOWN" else -height
            await page.evaluate("(d) => window.scrollBy(0, d)", delta)
            await asyncio.sleep(0.3)  # content that loads on scroll
            return ""
        if kind == "GO BACK":
            before = page.url
            response = await page.go_back(wait_until="load")
            if response is None and page.url == before:
                raise ValueError("there is no page to go back to")
            return ""
        return ""  # TERMINATE: nothing to do in the page

    async def _select(self, target: Any, element: PageElement, wanted: str) -> str:
        index = closest_option(element.options, wanted)
        if index is None:
            raise ValueError(f"no option like {wanted!r} (options: {', '.join(element.options)})")
        await target.select_option(index=index)
        return element.options[index]

    async def _settle(self) -> None:
        await asyncio.sleep(self.options.settle_s)
        with contextlib.suppress(Exception):
            await self.page.wait_for_load_state("load", timeout=self.options.load_timeout_s * 1e3)

    async def _leave_error_page(self, before: str) -> None:
        """A refused navigation may leave Chromium's error page: go back to where it was."""
        url = self.page.url
        if url != before and (url.startswith("chrome-error:") or self.policy.request(url)):
            with contextlib.suppress(Exception):
                await self.page.go_back(wait_until="load")


class _Refused(Exception):
    pass


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return (text[0] if text else type(exc).__name__)[:200]
