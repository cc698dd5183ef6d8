"""The browser agent's evaluation tasks on the local test sites (`voxroom.browser.sites`), each
with its known correct action sequence (CSS selectors name the gold elements) and a check of
the site's state once the sequence has run. Mind2Web scores each step against the gold one:
the element, then the operation (TYPE/SELECT values compared normalized; SELECT by the option
both values pick); a task succeeds when every step does. The last gold step is TERMINATE.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from voxroom.browser.actions import PAGE_ACTIONS, Action, ActionKind, closest_option, normalize
from voxroom.browser.elements import PageElement

State = dict[str, Any]  # the visitor's state from the sites' /__state


@dataclass(frozen=True, slots=True)
class GoldStep:
    kind: ActionKind
    target: str | None = None  # CSS selector of the element acted on
    value: str = ""
    accept: str | None = None  # TYPE: a regex any acceptable value matches (free text)

    def op_matches(self, action: Action, element: PageElement | None) -> bool:
        if action.kind != self.kind:
            return False
        if self.kind == "SELECT":
            options = element.options if element is not None else ()
            wanted = closest_option(options, self.value)
            return wanted is not None and closest_option(options, action.value) == wanted
        if self.kind == "TYPE":
            if self.accept is not None:
                return re.search(self.accept, action.value) is not None
            return normalize(action.value) == normalize(self.value)
        return True


@dataclass(frozen=True, slots=True)
class TaskSpec:
    id: str
    task: str
    start: str  # path on the test sites
    steps: tuple[GoldStep, ...]
    check: Callable[[State, str], bool]  # (site state, final URL) after the gold sequence

    @property
    def element_steps(self) -> int:
        return sum(1 for s in self.steps if s.kind not in PAGE_ACTIONS)


def _last(state: State, key: str) -> dict[str, Any]:
    items = state.get(key) or [{}]
    return dict(items[-1])


def _has(record: dict[str, Any], **expected: Any) -> bool:
    return all(record.get(k) == v for k, v in expected.items())


END = GoldStep("TERMINATE")
Q = "input[name=q]"

TASKS: tuple[TaskSpec, ...] = (
    TaskSpec(
        "shop-blue-kettle",
        "Search the catalogue for a blue kettle under 40 euros and add it to the cart",
        "/shop/",
        (GoldStep("TYPE", Q, "blue kettle"), GoldStep("PRESS ENTER", Q),
         GoldStep("CLICK", "article[data-id=k1] button"), END),
        lambda s, url: s["cart"] == {"k1": 1},
    ),
    TaskSpec(
        "shop-garden-hose",
        "Open the Garden category and put the garden hose in the cart",
        "/shop/",
        (GoldStep("CLICK", "header a[href='/shop/category/garden']"),
         GoldStep("CLICK", "article[data-id=g1] button"), END),
        lambda s, url: s["cart"] == {"g1": 1},
    ),
    TaskSpec(
        "shop-gnome-scroll",
        "Find the garden gnome further down this page and add it to the cart",
        "/shop/category/garden",
        (GoldStep("SCROLL DOWN"), GoldStep("CLICK", "article[data-id=g8] button"), END),
        lambda s, url: s["cart"] == {"g8": 1},
    ),
    TaskSpec(
        "shop-cheapest-mug",
        "Search for mugs, sort the results by price from low to high and open the cheapest one",
        "/shop/",
        (GoldStep("TYPE", Q, "mugs"), GoldStep("PRESS ENTER", Q),
         GoldStep("SELECT", "#sort", "Price: low to high"), GoldStep("CLICK", "#apply"),
         GoldStep("CLICK", "article[data-id=m2] h2 a"), END),
        lambda s, url: url.endswith("/shop/product/m2"),
    ),
    TaskSpec(
        "shop-two-red-kettles",
        "Add two of the red kettles to the cart",
        "/shop/",
        (GoldStep("CLICK", "article[data-id=k3] h2 a"), GoldStep("SELECT", "#qty", "2"),
         GoldStep("CLICK", "#add"), END),
        lambda s, url: s["cart"] == {"k3": 2},
    ),
    TaskSpec(
        "shop-remove-toaster",
        "Remove the toaster from my cart",
        "/shop/seed?items=t1,k3&next=/shop/cart",
        (GoldStep("CLICK", "tr[data-id=t1] button"), END),
        lambda s, url: s["cart"] == {"k3": 1},
    ),
    TaskSpec(
        "shop-checkout-express",
        "Check out my cart with express delivery to Ana Silva, 12 Rua Nova, Lisbon",
        "/shop/seed?items=k1&next=/shop/cart",
        (GoldStep("CLICK", "#checkout"), GoldStep("TYPE", "#name", "Ana Silva"),
         GoldStep("TYPE", "#address", "12 Rua Nova"), GoldStep("TYPE", "#city", "Lisbon"),
         GoldStep("SELECT", "#delivery", "Express"), GoldStep("CLICK", "#place-order"), END),
        lambda s, url: _has(_last(s, "orders"), name="Ana Silva", city="Lisbon",
                            delivery="express"),
    ),
    TaskSpec(
        "signup-newsletter",
        "Subscribe Maria Lopez, maria@example.org, to the gardening newsletter",
        "/signup/newsletter",
        (GoldStep("TYPE", "#name", "Maria Lopez"), GoldStep("TYPE", "#email", "maria@example.org"),
         GoldStep("SELECT", "#topic", "Gardening"), GoldStep("CLICK", "#agree"),
         GoldStep("CLICK", "#subscribe"), END),
        lambda s, url: _has(_last(s, "signups"), name="Maria Lopez", email="maria@example.org",
                            topic="gardening"),
    ),
    TaskSpec(
        "signup-contact-support",
        "Tell support that my parcel for order 1042 never arrived",
        "/signup/contact",
        (GoldStep("TYPE", "#order", "1042"), GoldStep("SELECT", "#reason", "Missing parcel"),
         GoldStep("TYPE", "#message", "My parcel for order 1042 never arrived.",
                  accept=r"(?i)(arriv|parcel|never).{0,200}$"),
         GoldStep("CLICK", "#send"), END),
        lambda s, url: _has(_last(s, "messages"), order="1042", reason="missing"),
    ),
    TaskSpec(
        "signup-account",
        "Create a club account with the username tomk and the password garden2027",
        "/signup/account",
        (GoldStep("TYPE", "#username", "tomk"), GoldStep("TYPE", "#password", "garden2027"),
         GoldStep("TYPE", "#repeat", "garden2027"), GoldStep("CLICK", "#create"), END),
        lambda s, url: _has(_last(s, "accounts"), username="tomk", password="set"),
    ),
    TaskSpec(
        "travel-book-lisbon-porto",
        "Book the earliest train from Lisbon to Porto on 2027-03-14 for Ana Silva, window seat",
        "/travel/",
        (GoldStep("SELECT", "#from", "Lisbon"), GoldStep("SELECT", "#to", "Porto"),
         GoldStep("TYPE", "#date", "2027-03-14"), GoldStep("CLICK", "#find"),
         GoldStep("CLICK", "tr[data-train=LISPOR0700] button"), GoldStep("TYPE", "#first", "Ana"),
         GoldStep("TYPE", "#last", "Silva"), GoldStep("SELECT", "#seat", "Window"),
         GoldStep("CLICK", "#continue"), GoldStep("CLICK", "#confirm"), END),
        lambda s, url: _has(_last(s, "bookings"), train="LISPOR0700", first="Ana", last="Silva",
                            seat="window", date="2027-03-14"),
    ),
    TaskSpec(
        "travel-cheapest-details",
        "Find trains from Porto to Coimbra on 2027-04-02 and open the details of the cheapest",
        "/travel/",
        (GoldStep("SELECT", "#from", "Porto"), GoldStep("SELECT", "#to", "Coimbra"),
         GoldStep("TYPE", "#date", "2027-04-02"), GoldStep("CLICK", "#find"),
         GoldStep("CLICK", "tr[data-train=PORCOI1215] a"), END),
        lambda s, url: "/travel/train/PORCOI1215" in url,
    ),
    TaskSpec(
        "travel-back-and-choose",
        "Open the details of the 09:30 train, then go back and select the 12:15 train instead",
        "/travel/trains?from=Lisbon&to=Faro&date=2027-05-01&pax=1",
        (GoldStep("CLICK", "tr[data-train=LISFAR0930] a"), GoldStep("GO BACK"),
         GoldStep("CLICK", "tr[data-train=LISFAR1215] button"), END),
        lambda s, url: s["booking"].get("train") == "LISFAR1215",
    ),
)  # fmt: skip
