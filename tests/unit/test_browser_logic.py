"""The browser agent's logic without a browser: reading the model's answers, the action space
and its options, the safety policy, candidate ranking, the prompt, narration and what people
say between steps."""

from __future__ import annotations

import pytest

from voxroom.apps.browser_hooks import mask, says_no, says_stop, says_yes
from voxroom.bench.browser_tasks import GoldStep
from voxroom.browser.actions import Action, closest_option
from voxroom.browser.decide import Decision
from voxroom.browser.elements import PageElement, PageState
from voxroom.browser.parsing import parse_answer
from voxroom.browser.prompt import EXAMPLES, NONE_TEXT, Question, history_line, messages
from voxroom.browser.ranking import LexicalRanker, overlap, rank_query, words
from voxroom.browser.safety import AllowList, SafetyPolicy, looks_secret
from voxroom.browser.task import Step

SEARCH = PageElement(1, "input", "text", text="", label="", placeholder="Search the catalogue")
BUTTON = PageElement(2, "button", text="Search")
ADD = PageElement(3, "button", text="Add to cart", context="Blue kettle 1.7 L 34.90 €")
SIZE = PageElement(4, "select", text="", label="Delivery", options=("Choose…", "Standard (free)",
                   "Express (+5 €)"))  # fmt: skip
PASSWORD = PageElement(5, "input", "password", label="Password")


def question(*options: PageElement) -> Question:
    return Question("buy a blue kettle", [], "http://shop.test/", "Shop", list(options))


Q = question(SEARCH, BUTTON, ADD, SIZE)  # A..D, E = none of these


# --- parsing ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("raw", "kind", "element", "value"),
    [
        ("A. TYPE blue kettle", "TYPE", 1, "blue kettle"),
        ("(A) TYPE: 'blue kettle'", "TYPE", 1, "blue kettle"),
        ('a. type "blue kettle" into the search box.', "TYPE", 1, "blue kettle"),
        ("Answer: C, click", "CLICK", 3, ""),
        ("ELEMENT: A\nACTION: TYPE\nVALUE: blue kettle", "TYPE", 1, "blue kettle"),
        ("B", "CLICK", 2, ""),  # no action: a button is clicked
        ("D. SELECT Express", "SELECT", 4, "Express"),
        ("D", "SELECT", 4, ""),  # a select without an option: unusable (below)
        ("C. CLICK “Add to cart”", "CLICK", 3, ""),
        ("A PRESS ENTER", "PRESS ENTER", 1, ""),
    ],
)
def test_answers_are_read_defensively(raw: str, kind: str, element: int, value: str) -> None:
    answer = parse_answer(raw, Q)
    if raw == "D":
        assert answer.action is None and answer.element is SIZE
        assert any("without a value" in p for p in answer.problems)
        return
    assert answer.action == Action(kind, element, value), (raw, answer)  # type: ignore[arg-type]


def test_page_actions_need_no_element_and_none_asks_for_more() -> None:
    assert parse_answer("E. SCROLL DOWN", Q).action == Action("SCROLL DOWN")
    assert parse_answer("E. GO BACK", Q).action == Action("GO BACK")
    done = parse_answer("E. TERMINATE", Q)
    assert done.action == Action("TERMINATE") and done.none
    more = parse_answer("E.", Q)
    assert more.action is None and more.none and not more.problems
    assert parse_answer("DONE", Q).action == Action("TERMINATE")
    assert parse_answer("done", Q).action is None  # prose "done" is no command


def test_unusable_answers_say_why() -> None:
    assert parse_answer("", Q).problems == ("empty answer",)
    out_of_range = parse_answer("Z. CLICK", Q)
    assert out_of_range.action is None
    assert "Z is not one of the options" in out_of_range.problems
    rambling = parse_answer("I think the user wants a kettle", Q)
    assert rambling.action is None and "no option chosen" in rambling.problems


def test_an_answer_naming_the_option_instead_of_its_letter() -> None:
    answer = parse_answer("Click Add to cart", Q)
    assert answer.action == Action("CLICK", 3)
    assert "no letter: the option was found by its text" in answer.problems


# --- actions and options ---------------------------------------------------------------------
def test_select_takes_the_closest_option() -> None:
    options = SIZE.options
    assert closest_option(options, "Express") == 2
    assert closest_option(options, "standard delivery (free)") == 1
    assert closest_option(options, "expres") == 2
    assert closest_option(options, "by pigeon") is None
    assert closest_option(("1", "2", "3"), "2") == 1


def test_element_actions_need_an_element() -> None:
    with pytest.raises(ValueError):
        Action("CLICK")
    assert Action("TYPE", 1, "Blue Kettle!").op == "TYPE blue kettle"


def test_gold_steps_compare_operations_the_mind2web_way() -> None:
    typed = GoldStep("TYPE", "#q", "blue kettle")
    assert typed.op_matches(Action("TYPE", 1, "Blue kettle"), SEARCH)
    assert not typed.op_matches(Action("TYPE", 1, "kettle"), SEARCH)
    assert not typed.op_matches(Action("CLICK", 1), SEARCH)
    chose = GoldStep("SELECT", "#delivery", "Express")
    assert chose.op_matches(Action("SELECT", 4, "express (+5 €)"), SIZE)
    assert not chose.op_matches(Action("SELECT", 4, "Standard"), SIZE)
    free = GoldStep("TYPE", "#message", "x", accept=r"(?i)arriv")
    assert free.op_matches(Action("TYPE", 9, "It never arrived"), None)


# --- safety ----------------------------------------------------------------------------------
def test_the_allow_list() -> None:
    allow = AllowList(["example.com", "*.shop.test", "127.0.0.1:8123", " "])
    assert allow.allows("https://example.com/a") and allow.allows("http://www.example.com/")
    assert not allow.allows("https://example.com.evil.test/")
    assert not allow.allows("https://notexample.com/")
    assert allow.allows("https://a.shop.test/") and not allow.allows("https://shop.test/")
    assert allow.allows("http://127.0.0.1:8123/x") and not allow.allows("http://127.0.0.1:9/")
    assert not allow.allows("ftp://example.com/") and not allow.allows("file:///etc/passwd")
    assert allow.hosts == ["example.com", "*.example.com", "*.shop.test", "127.0.0.1"]


def test_the_policy_guards_requests_and_typing() -> None:
    policy = SafetyPolicy(AllowList(["shop.test"]))
    assert policy.request("https://shop.test/cart") is None
    assert policy.request("about:blank") is None and policy.request("data:,x") is None
    refused = policy.request("https://elsewhere.test/")
    assert refused is not None and "allow-list" in refused.reason
    assert policy.request("javascript:alert(1)") is not None
    open_policy = SafetyPolicy(AllowList(["shop.test"]), open_browsing=True)
    assert open_policy.request("https://elsewhere.test/") is None
    # Secrets only where the list allows, whatever the navigation policy.
    assert open_policy.typing("https://shop.test/login", PASSWORD, "hunter22") is None
    away = open_policy.typing("https://elsewhere.test/login", PASSWORD, "anything")
    assert away is not None and "secret" in away.reason
    assert open_policy.typing("https://elsewhere.test/", SEARCH, "blue kettle") is None
    card = open_policy.typing("https://elsewhere.test/", SEARCH, "4111 1111 1111 1111")
    assert card is not None and "card number" in card.reason


@pytest.mark.parametrize(
    ("value", "why"),
    [
        ("sk-abcdefghijklmnopqrstuvwx", "an API key or token"),
        ("ghp_abcdefghijklmnopqrstuvwxyz0123", "an API key or token"),
        ("4111-1111-1111-1111", "a card number"),
        ("garden2027", "a password-like word (letters and digits)"),
        ("Zq8vN2kLp0xRt7YwB3mJ5sHd", "a long random-looking token"),
    ],
)
def test_secret_looking_values(value: str, why: str) -> None:
    assert looks_secret(value) == why


@pytest.mark.parametrize(
    "value", ["blue kettle", "1042", "2027-03-14", "maria@example.org", "12 Rua Nova", "4111"]
)
def test_ordinary_values_are_not_secrets(value: str) -> None:
    assert looks_secret(value) is None


def test_sensitive_fields() -> None:
    assert PASSWORD.sensitive
    assert PageElement(6, "input", autocomplete="cc-number").sensitive
    assert PageElement(7, "input", label="Card number").sensitive
    assert not SEARCH.sensitive


# --- ranking and the prompt ------------------------------------------------------------------
async def test_lexical_ranking_puts_the_matching_elements_first() -> None:
    links = [PageElement(10 + i, "a", text=t) for i, t in enumerate(("Office", "Garden", "Cart"))]
    ranked = await LexicalRanker().rank("add the blue kettle to the cart", [*links, ADD, SEARCH])
    assert [r.element.id for r in ranked[:2]] == [12, 3]  # "Cart", then the kettle's button
    assert ranked[0].score == 0.5 and ranked[-1].score == 0.0  # link "Cart": 1 word of 2
    assert words("Add THE kettle, 1.7 L") == {"add", "kettle", "1", "7", "l"}
    assert overlap({"cart"}, "Add to cart") == 0.5


def test_the_rank_query_holds_the_task_what_people_said_and_the_last_actions() -> None:
    query = rank_query("buy a kettle", ["CLICK a", "TYPE b", "PRESS ENTER"], ["the red one"])
    assert query == "buy a kettle the red one Done: TYPE b; PRESS ENTER"


def test_the_question_letters_its_options_and_ends_with_none() -> None:
    text = Q.text()
    assert Q.letters == ["A", "B", "C", "D", "E"] and Q.none_letter == "E"
    assert 'A. text input "Search the catalogue"' in text
    assert 'C. button "Add to cart" (in: Blue kettle 1.7 L 34.90 €)' in text
    assert 'D. select "Delivery" options: Choose… | Standard (free) | Express (+5 €)' in text
    assert text.endswith(f"E. {NONE_TEXT}") and "Done so far: nothing" in text
    built = messages(Q)
    assert built[0].role == "system" and built[-1].text == text
    assert len(built) == 2 + 2 * len(EXAMPLES)
    assert Q.element_of("E") is None and Q.element_of("C") is ADD


def test_history_lines() -> None:
    assert history_line("TYPE", SEARCH, "blue kettle") == (
        'TYPE "blue kettle" into text input "Search the catalogue"'
    )
    assert history_line("CLICK", ADD) == (
        'CLICK button "Add to cart" (in: Blue kettle 1.7 L 34.90 €)'
    )
    assert history_line("GO BACK", None) == "GO BACK"


# --- narration and what people say ------------------------------------------------------------
def _step(action: Action, element: PageElement | None) -> Step:
    state = PageState("http://shop.test/", "Shop", (), "")
    return Step(1, state, Decision(action, element, []))


def test_steps_are_narrated_and_secrets_never_said() -> None:
    typed = _step(Action("TYPE", 1, "blue kettle"), SEARCH)
    assert typed.narration() == "Typing “blue kettle” into “Search the catalogue”."
    assert typed.proposal() == "type “blue kettle” into “Search the catalogue”"
    secret = _step(Action("TYPE", 5, "hunter22"), PASSWORD)
    assert secret.secret and secret.shown_value() == "••••"
    assert "hunter22" not in secret.narration() and "the secret" in secret.narration()
    key = _step(Action("TYPE", 1, "sk-abcdefghijklmnopqrstuvwx"), SEARCH)
    assert key.secret
    assert _step(Action("TERMINATE"), None).narration() == "That's done."
    assert mask("typed hunter22 here", "hunter22") == "typed •••• here"


@pytest.mark.parametrize("text", ["Stop!", "stop please", "Cancel that", "OK, hold on."])
def test_stop_is_heard(text: str) -> None:
    assert says_stop(text)


def test_yes_and_no() -> None:
    assert says_yes("Yes.") and says_yes("okay go ahead") and not says_yes("no")
    assert says_no("No, the other one") and says_no("Don't.") and not says_no("yes")
    assert not says_stop("the shop is nice")


async def test_a_vision_model_gets_the_screenshot_with_the_question() -> None:
    import cv2
    import numpy as np

    from voxroom.browser.task import screenshot_part

    page = np.full((640, 1024, 3), 240, np.uint8)
    png = cv2.imencode(".png", page)[1].tobytes()
    part = await screenshot_part(png)
    assert part is not None and part["type"] == "image_url"
    assert part["image_url"]["url"].startswith("data:image/jpeg;base64,")
    assert await screenshot_part(None) is None
    seen = Question("t", [], "http://shop.test/", "Shop", [SEARCH], screenshot=part)
    content = messages(seen)[-1].content
    assert isinstance(content, list) and content[1] is part
    assert messages(seen)[-1].text == seen.text()  # a text-only model gets the words alone
