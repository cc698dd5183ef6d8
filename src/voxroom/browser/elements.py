"""What the agent sees of a page: its interactive elements, each with a text description and a
box, and the page's state (URL, title, a fingerprint to tell whether an action changed it).

Extraction runs as one script in the page (`EXTRACT_JS`): links, buttons, inputs, selects,
text areas, ARIA widgets, contenteditable and click handlers; only those visible and enabled.
Each element gets a stable `data-vx-id` the actions target; ids survive later extractions of
the same document, so "the element acted on" keeps its id while the page stays.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from typing import Any

EXTRACT_JS = (resources.files("voxroom.browser") / "extract.js").read_text("utf-8")

SENSITIVE_AUTOCOMPLETE = ("password", "cc-", "one-time-code")


@dataclass(frozen=True, slots=True)
class Box:
    """Page coordinates (CSS pixels from the document's top left)."""

    x: int
    y: int
    width: int
    height: int


@dataclass(frozen=True, slots=True)
class PageElement:
    id: int  # data-vx-id in the page
    tag: str
    type: str = ""  # input type
    role: str = ""
    text: str = ""  # its own text (aria-label, inner text, button value, title, image alt)
    label: str = ""  # a <label> or aria-labelledby
    placeholder: str = ""
    name: str = ""
    context: str = ""  # the text around it (a product card, a table row)
    value: str = ""  # current value (a select's chosen option; passwords never)
    checked: bool | None = None
    href: str = ""
    options: tuple[str, ...] = ()
    autocomplete: str = ""
    editable: bool = False  # contenteditable
    box: Box = Box(0, 0, 0, 0)
    in_view: bool = True

    @property
    def kind(self) -> str:
        """What a person would call it: link, button, text input, select, checkbox, …"""
        if self.role in ("button", "link", "checkbox", "radio", "tab", "switch", "option"):
            return self.role
        if self.role in ("textbox", "searchbox", "combobox"):
            return "text input"
        if self.tag == "a":
            return "link"
        if self.tag == "input":
            if self.type in ("submit", "button", "reset", "image"):
                return "button"
            if self.type in ("checkbox", "radio"):
                return self.type
            return "text input" if self.type in ("text", "search", "") else f"{self.type} input"
        if self.tag == "textarea":
            return "text area"
        if self.tag in ("select", "button"):
            return self.tag
        if self.editable:
            return "editable text"
        return "button" if self.tag == "summary" else "clickable"

    @property
    def typeable(self) -> bool:
        return self.kind.endswith("input") or self.kind in ("text area", "editable text")

    @property
    def sensitive(self) -> bool:
        """A field meant for secrets: a password, a card, a one-time code."""
        hints = f"{self.label} {self.name} {self.placeholder} {self.text}".lower()
        return (
            self.type == "password"
            or any(self.autocomplete.startswith(a) for a in SENSITIVE_AUTOCOMPLETE)
            or any(w in hints for w in ("password", "passcode", "cvv", "cvc", "card number"))
        )

    def name_for_people(self) -> str:
        """A short name to narrate: 'Add to cart', 'Search the catalogue'."""
        return self.text or self.label or self.placeholder or self.name or self.kind

    def describe(self) -> str:
        """One line for the ranker and the multiple-choice prompt."""
        parts = [self.kind]
        main = self.text or self.label or self.placeholder or self.name
        if main:
            parts.append(f'"{main}"')
        if self.label and self.label != main:
            parts.append(f'labelled "{self.label}"')
        if self.placeholder and self.placeholder != main:
            parts.append(f'placeholder "{self.placeholder}"')
        if self.options:
            parts.append("options: " + " | ".join(self.options[:12]))
        if self.checked is not None:
            parts.append("(checked)" if self.checked else "(unchecked)")
        elif self.value and self.tag != "select" and self.value != main:
            parts.append(f'value "{self.value}"')
        if self.context and self.context != main:
            parts.append(f"(in: {self.context})")
        return " ".join(parts)

    @classmethod
    def from_page(cls, data: dict[str, Any]) -> PageElement:
        x, y, width, height = data.get("box") or (0, 0, 0, 0)
        checked = data.get("checked")
        return cls(
            id=int(data["id"]),
            tag=str(data.get("tag", "")),
            type=str(data.get("type", "")),
            role=str(data.get("role", "")),
            text=str(data.get("text", "")),
            label=str(data.get("label", "")),
            placeholder=str(data.get("placeholder", "")),
            name=str(data.get("name", "")),
            context=str(data.get("context", "")),
            value=str(data.get("value", "")),
            checked=None if checked is None else bool(checked),
            href=str(data.get("href", "")),
            options=tuple(str(o) for o in data.get("options", ())),
            autocomplete=str(data.get("autocomplete", "")),
            editable=bool(data.get("editable", False)),
            box=Box(int(x), int(y), int(width), int(height)),
            in_view=bool(data.get("in_view", True)),
        )


@dataclass(frozen=True, slots=True)
class PageState:
    url: str
    title: str
    elements: tuple[PageElement, ...]
    fingerprint: str  # URL + visible text + form values: unchanged means no progress
    scroll_y: int = 0
    scroll_height: int = 0
    viewport_height: int = 0
    screenshot: bytes | None = None  # PNG, when asked for

    def element(self, element_id: int) -> PageElement | None:
        return next((e for e in self.elements if e.id == element_id), None)
