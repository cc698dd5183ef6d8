"""The browser agent's plumbing on the local test sites, in real headless Chromium (Debian's,
through Playwright): with a scripted chooser that picks the gold step's letter, the agent's own
task loop (observe → rank → ask → check → act) completes every benchmark task, and the sites'
state shows it; the safety policy holds in the real browser; `voxroom bench browser --oracle`
scores 1.0 everywhere; and with the packaged Gemma the benchmark runs end to end.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
import urllib.request
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from voxroom.bench.browser import Oracle, run
from voxroom.bench.browser_tasks import TASKS, GoldStep, TaskSpec
from voxroom.bench.harness import free_port
from voxroom.browser.controller import BrowserController, BrowserOptions
from voxroom.browser.decide import ChoiceSettings
from voxroom.browser.ranking import default_ranker
from voxroom.browser.safety import AllowList, SafetyPolicy
from voxroom.browser.sites import DemoSites
from voxroom.browser.task import BrowserTask, TaskLimits
from voxroom.config import ModelsConfig
from voxroom.providers.models import ModelCache

pytestmark = pytest.mark.browser

# The oracle goes on asking until the gold element is among the options: plumbing, not ranking.
SCRIPTED = TaskLimits(max_steps=20, choice=ChoiceSettings(top_k=8, max_rounds=8))
ONE_STEP = TaskLimits(max_steps=1)


@dataclass
class Sites:
    url: str
    other: str  # a second copy on another port: not on the allow-list
    controller: BrowserController

    async def state(self) -> dict[str, Any]:
        script = "() => fetch('/__state').then((r) => r.json())"
        found: dict[str, Any] = await self.controller.evaluate(script)
        return found


def _host(url: str) -> str:
    return url.split("//", 1)[1]


async def _sites(open_browsing: bool = False) -> AsyncIterator[Sites]:
    main, other = DemoSites(), DemoSites()
    url, other_url = await main.start(), await other.start()
    policy = SafetyPolicy(AllowList([_host(url)]), open_browsing=open_browsing)
    controller = BrowserController(policy, BrowserOptions(resolve_hostnames=False))
    try:
        await controller.start()
        yield Sites(url, other_url, controller)
    finally:
        await controller.close()
        await main.close()
        await other.close()


@pytest.fixture
async def sites() -> AsyncIterator[Sites]:
    async for made in _sites():
        yield made


@pytest.fixture
async def open_sites() -> AsyncIterator[Sites]:
    async for made in _sites(open_browsing=True):
        yield made


def test_the_tasks_cover_the_three_sites() -> None:
    assert len(TASKS) >= 12
    assert {t.start.split("/")[1] for t in TASKS} == {"shop", "signup", "travel"}
    assert len({t.id for t in TASKS}) == len(TASKS)
    assert all(t.steps[-1] == GoldStep("TERMINATE") for t in TASKS)


@pytest.mark.parametrize("spec", TASKS, ids=[t.id for t in TASKS])
async def test_a_scripted_chooser_completes_the_task(sites: Sites, spec: TaskSpec) -> None:
    controller = sites.controller
    oracle = Oracle(controller, spec.steps)  # follows the agent's own history
    task = BrowserTask(spec.task, controller, default_ranker(), oracle.chooser, limits=SCRIPTED)
    outcome = await task.run(sites.url + spec.start)
    done = [(s.action.kind if s.action else None, s.result, s.detail) for s in outcome.steps]
    assert outcome.status == "done", done
    assert [kind for kind, _, _ in done] == [g.kind for g in spec.steps], done
    assert all(result in ("done", "finished") for _, result, _ in done), done
    assert spec.check(await sites.state(), controller.page.url), await sites.state()


async def test_navigation_off_the_allow_list_is_refused(sites: Sites) -> None:
    controller = sites.controller
    refused = await controller.goto(sites.other + "/shop/")
    assert not refused.ok and refused.refused and "allow-list" in refused.detail
    assert (await controller.goto(sites.url + "/shop/")).ok
    # A link to it, and an image from it, in a page on the list: neither request leaves.
    blocked = controller.blocked_requests
    await controller.page.evaluate(
        """([href, src]) => { document.querySelector('main').insertAdjacentHTML('afterbegin',
             `<a id=away href="${href}">Elsewhere</a><img src="${src}">`); }""",
        [f"{sites.other}/shop/cart", f"{sites.other}/shop/pixel.png"],
    )
    for _ in range(50):
        if controller.blocked_requests > blocked:
            break
        await asyncio.sleep(0.05)
    assert controller.blocked_requests == blocked + 1  # the image
    link = next(e for e in (await controller.observe()).elements if e.text == "Elsewhere")
    task = BrowserTask(
        "go elsewhere", controller, default_ranker(), _says("CLICK", link.id), limits=ONE_STEP
    )
    outcome = await task.run()
    step = outcome.steps[0]
    assert step.result == "refused" and "allow-list" in step.detail, step.detail
    assert controller.page.url == sites.url + "/shop/"


async def test_no_the_other_one_takes_that_element_off_the_page(sites: Sites) -> None:
    """People's words during a task reach the chooser, and the element they refused is not
    offered again while its page stays."""
    from voxroom.browser.chooser import ScriptedChooser
    from voxroom.browser.prompt import Question
    from voxroom.browser.task import Step, TaskHooks

    asked: list[Question] = []

    def first_link(question: Question) -> str:
        asked.append(question)
        letter = next(x for x, e in question.lettered() if e.kind == "link")
        return f"{letter}. CLICK"

    class SayNo(TaskHooks):
        async def step_done(self, step: Step) -> None:
            task.correct("no, the other one", not_that=True)
            await sites.controller.goto(sites.url + "/")  # as if the click had been undone

    limits = TaskLimits(max_steps=2)
    task = BrowserTask(
        "open a site", sites.controller, default_ranker(), ScriptedChooser(first_link),
        SayNo(), limits,
    )  # fmt: skip
    outcome = await task.run(sites.url + "/")
    first, second = (s.element for s in outcome.steps)
    assert first is not None and second is not None and first.id != second.id
    assert all(e.id != first.id for e in asked[1].options)
    assert "The user said: no, the other one" in asked[1].text()


async def test_secrets_are_typed_only_on_allowed_sites(open_sites: Sites) -> None:
    """Open browsing reaches the second site, but its password field gets nothing."""
    spec = next(t for t in TASKS if t.id == "signup-account")
    controller = open_sites.controller
    oracle = Oracle(controller, spec.steps)
    task = BrowserTask(spec.task, controller, default_ranker(), oracle.chooser, limits=SCRIPTED)
    outcome = await task.run(open_sites.other + spec.start)
    results = [(s.action.kind if s.action else None, s.result, s.detail) for s in outcome.steps]
    assert results[0][:2] == ("TYPE", "done"), results  # the username: not a secret
    assert results[1][:2] == ("TYPE", "refused"), results
    assert "secret" in results[1][2], results
    assert outcome.status != "done"
    typed = await controller.evaluate("() => document.querySelector('#password').value")
    assert typed == ""
    assert (await open_sites.state())["accounts"] == []
    # On the allowed site the same task goes through.
    task = BrowserTask(spec.task, controller, default_ranker(), oracle.chooser, limits=SCRIPTED)
    assert (await task.run(open_sites.url + spec.start)).status == "done"


def _says(kind: str, element: int) -> Any:
    from voxroom.browser.chooser import ScriptedChooser

    def answer(question: Any) -> str:
        letter = next(x for x, e in question.lettered() if e.id == element)
        return f"{letter}. {kind}"

    return ScriptedChooser(answer)


async def test_the_oracle_bench_scores_everything_right() -> None:
    result = await run(True)
    assert result["tasks"] >= 12 and result["gold_replay_ok"], result
    for key in ("element_accuracy", "step_success_rate", "task_success_rate"):
        assert result[key] == 1.0, (key, result)
    assert result["steps"] == sum(len(t.steps) for t in TASKS)
    assert result["step_ms"]["p50"] > 0 and result["llm_tokens_per_task"] == 0


@pytest.mark.slow
async def test_the_bench_runs_with_the_packaged_gemma() -> None:
    result = await run(False, only=["shop-remove-toaster", "signup-newsletter"])
    assert result["llm"] == "gemma3-270m" and result["tasks"] == 2, result
    assert result["steps"] == 2 + 6 and result["gold_replay_ok"], result
    assert result["llm_errors"] == 0, result
    assert result["llm_tokens_per_task"] > 500, result  # the model really was asked
    for key in ("element_accuracy", "step_success_rate", "task_success_rate"):
        assert 0.0 <= result[key] <= 1.0
    assert result["cost_per_task"] == 0.0  # a local model: priced at zero


@pytest.fixture
def openai_server(tmp_path: Path) -> Iterator[str]:
    """`python -m llama_cpp.server` serving the packaged Gemma on loopback: a real
    OpenAI-compatible endpoint."""
    model = ModelCache(ModelsConfig().cache_dir).resolve_llm("gemma3-270m")
    port = free_port()
    log = tmp_path / "llama-server.log"
    command = [sys.executable, "-m", "llama_cpp.server", "--model", str(model),
               "--host", "127.0.0.1", "--port", str(port), "--n_ctx", "4096",
               "--n_threads", "2", "--model_alias", "gemma"]  # fmt: skip
    with log.open("wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/v1"
    deadline = time.monotonic() + 90
    try:
        while True:
            try:
                with urllib.request.urlopen(f"{url}/models", timeout=1):
                    break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"llama_cpp.server did not start:\n{log.read_text()}")
                time.sleep(0.3)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=15)


@pytest.mark.slow
async def test_the_bench_runs_with_an_openai_compatible_model(
    openai_server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VOXROOM_MODELS__LLM", openai_server)
    monkeypatch.setenv("VOXROOM_MODELS__LLM_MODEL_NAME", "gemma")
    result = await run(False, only=["shop-remove-toaster"])
    assert result["llm"] == f"{openai_server} (gemma)", result
    assert result["steps"] == 2 and result["llm_errors"] == 0, result
    # Asked for real, and answered every time (llama.cpp's server streams no token counts).
    assert result["llm_calls"] >= 2, result
    assert result["llm_tokens_per_task"] > 200 or (
        result["llm_calls_without_usage"] == result["llm_calls"]
    ), result
