"""What the browser may do: where it may go (a domain allow-list, enforced on every request
the page makes, not only on the agent's own navigations) and where it may type secrets.

- `AllowList`: entries `example.com` (that host and its subdomains), `*.example.com` (the
  subdomains only), `127.0.0.1:8123` (that host on that port only), `localhost`. Only http(s).
- Navigation off the list is refused (the request never leaves the browser), unless the
  policy is `open_browsing` (then any http(s) page may be visited).
- Secrets are typed only into pages on the list, whatever the navigation policy: a value that
  looks like one (`looks_secret`: a card number, an API key or token, a password-like word)
  or any value for a field meant for one (a password, a card, a one-time code).
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

from voxroom.browser.elements import PageElement

ALWAYS_ALLOWED_SCHEMES = ("about:", "data:", "blob:")
_KEY_PATTERNS = [
    re.compile(r"\bsk-[A-Za-z0-9_-]{16,}"),  # OpenAI-style keys
    re.compile(r"\b(?:ghp|gho|ghs|github_pat)_[A-Za-z0-9_]{20,}"),  # GitHub tokens
    re.compile(r"\bAKIA[0-9A-Z]{16}\b"),  # AWS access key ids
    re.compile(r"\bxox[abprs]-[A-Za-z0-9-]{10,}"),  # Slack tokens
    re.compile(r"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\."),  # JWTs
    re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----"),
]
_CARD = re.compile(r"(?<!\d)(?:\d[ -]?){12,18}\d(?!\d)")
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[A-Za-z]{2,}")


def _luhn(digits: str) -> bool:
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = int(char)
        if index % 2:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0


def _entropy(word: str) -> float:
    counts = Counter(word)
    return -sum(n / len(word) * math.log2(n / len(word)) for n in counts.values())


def looks_secret(value: str) -> str | None:
    """Why `value` looks like a secret (None: it does not)."""
    for pattern in _KEY_PATTERNS:
        if pattern.search(value):
            return "an API key or token"
    for match in _CARD.finditer(value):
        digits = re.sub(r"\D", "", match.group())
        if 13 <= len(digits) <= 19 and _luhn(digits):
            return "a card number"
    for word in value.split():
        if _EMAIL.fullmatch(word) or word.startswith(("http://", "https://")):
            continue
        has_letters = any(c.isalpha() for c in word)
        has_digits = any(c.isdigit() for c in word)
        if len(word) >= 20 and _entropy(word) >= 3.5:
            return "a long random-looking token"
        dated = re.fullmatch(r"\d{4}-\d{2}-\d{2}", word)
        if len(word) >= 8 and has_letters and has_digits and not dated:
            return "a password-like word (letters and digits)"
    return None


def _host_port(url: str) -> tuple[str, int | None, str]:
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        port = -1  # malformed: matches no entry
    return (parts.hostname or "").lower().rstrip("."), port, parts.scheme.lower()


@dataclass(frozen=True, slots=True)
class _Entry:
    host: str
    port: int | None
    subdomains_only: bool

    def matches(self, host: str, port: int | None, scheme: str) -> bool:
        if self.port is not None:
            effective = port if port is not None else (443 if scheme == "https" else 80)
            if effective != self.port:
                return False
        if self.subdomains_only:
            return host.endswith("." + self.host)
        return host == self.host or (not _is_ip(self.host) and host.endswith("." + self.host))


def _is_ip(host: str) -> bool:
    return bool(re.fullmatch(r"[\d.]+|\[?[0-9a-f:]+\]?", host))


class AllowList:
    def __init__(self, entries: Iterable[str]) -> None:
        self.entries = tuple(e.strip() for e in entries if e.strip())
        self._parsed = [self._parse(e) for e in self.entries]

    @staticmethod
    def _parse(entry: str) -> _Entry:
        text = entry.lower()
        if "://" in text:
            host, port, _ = _host_port(text)
            return _Entry(host, port, False)
        subdomains = text.startswith("*.")
        text = text[2:] if subdomains else text
        name, _, number = text.partition(":")
        return _Entry(name.rstrip("."), int(number) if number else None, subdomains)

    @property
    def hosts(self) -> list[str]:
        """The hosts named, as host-resolver patterns (`*.example.com` for subdomains)."""
        found = []
        for entry in self._parsed:
            found.append(f"*.{entry.host}" if entry.subdomains_only else entry.host)
            if not entry.subdomains_only and not _is_ip(entry.host):
                found.append(f"*.{entry.host}")
        return found

    def allows(self, url: str) -> bool:
        host, port, scheme = _host_port(url)
        if scheme not in ("http", "https") or not host:
            return False
        return any(entry.matches(host, port, scheme) for entry in self._parsed)

    def __bool__(self) -> bool:
        return bool(self._parsed)


@dataclass(frozen=True, slots=True)
class Refusal:
    reason: str


class SafetyPolicy:
    def __init__(self, allow: AllowList, *, open_browsing: bool = False) -> None:
        self.allow = allow
        self.open_browsing = open_browsing

    def request(self, url: str) -> Refusal | None:
        """May the page load `url` (a navigation, a script, an image, a form post)?"""
        if url.startswith(ALWAYS_ALLOWED_SCHEMES):
            return None
        host, _, scheme = _host_port(url)
        if scheme not in ("http", "https"):
            return Refusal(f"{scheme or 'this'} URLs are not allowed")
        if self.open_browsing or self.allow.allows(url):
            return None
        return Refusal(f"{host or url} is not on the allow-list")

    def typing(self, page_url: str, element: PageElement | None, value: str) -> Refusal | None:
        """May `value` be typed into `element` on the page at `page_url`?"""
        if self.allow.allows(page_url):
            return None
        if element is not None and element.sensitive:
            return Refusal("this field is for a secret and this site is not on the allow-list")
        if (why := looks_secret(value)) is not None:
            return Refusal(f"the text looks like {why} and this site is not on the allow-list")
        return None
