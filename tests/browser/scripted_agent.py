"""The browser agent with a scripted chooser (the benchmark's oracle) instead of the LLM, for
tests that need the same actions every run: from the test sites' index, open the shop, then
the gold steps of the first benchmark task (search a blue kettle, add it to the cart). The
highlight stays up longer, so a test can catch it in the video."""

from __future__ import annotations

from voxroom.apps.browser import BrowserAgent
from voxroom.bench.browser import Oracle
from voxroom.bench.browser_tasks import TASKS, GoldStep
from voxroom.browser.chooser import Chooser

STEPS = (GoldStep("CLICK", "a[href='/shop/']"), *TASKS[0].steps)


class ScriptedBrowserAgent(BrowserAgent):
    highlight_s = 1.5

    def chooser(self) -> Chooser:
        assert self.browser is not None
        return Oracle(self.browser, STEPS).chooser
