"""The local test websites: one aiohttp app on 127.0.0.1 serving a shop (`/shop/`), forms with
validation (`/signup/`) and a multi-page booking flow (`/travel/`). The browser agent's demo
browses them, and `voxroom bench browser` and the tests score tasks on them.

Pages are rendered on the server, as plain HTML forms and links (a little JavaScript only
where a real site would need it: the garden category loads more products on scroll). Each
visitor (a cookie) has its own state: cart, orders, sign-ups, bookings; `GET /__state` returns
it as JSON, which is how a task's success is checked. Nothing here is linked to `/__state`.
"""

from __future__ import annotations

import html
import secrets
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

STYLE = """
body{font-family:sans-serif;margin:0;background:#f6f6f4;color:#222}
header{background:#24475e;color:#fff;padding:10px 20px;display:flex;gap:18px;align-items:center}
header a{color:#fff}
main{padding:16px 24px;max-width:860px}
.product{background:#fff;border:1px solid #ddd;border-radius:6px;padding:10px 14px;margin:10px 0}
.product h2{font-size:18px;margin:0 0 4px}
.price{font-weight:bold;margin:4px 0}
label{display:block;margin:10px 0 4px}
.error{color:#b00020;margin:2px 0}
.note{background:#fff;border:1px solid #ddd;padding:10px;margin:10px 0}
table{border-collapse:collapse}td,th{padding:6px 10px;border-bottom:1px solid #ddd;text-align:left}
button{padding:5px 12px}
"""

VisitorKey = web.AppKey("visitors", dict)


@dataclass
class Visitor:
    cart: dict[str, int] = field(default_factory=dict)
    orders: list[dict[str, Any]] = field(default_factory=list)
    signups: list[dict[str, str]] = field(default_factory=list)
    messages: list[dict[str, str]] = field(default_factory=list)
    accounts: list[dict[str, str]] = field(default_factory=list)
    booking: dict[str, str] = field(default_factory=dict)  # the booking being made
    bookings: list[dict[str, str]] = field(default_factory=list)
    seen: list[str] = field(default_factory=list)  # paths visited, in order

    def public(self) -> dict[str, Any]:
        # Passwords never leave the site, not even to the checker: it sees that one was set.
        accounts = [{**a, "password": "set" if a.get("password") else ""} for a in self.accounts]
        return {
            "cart": dict(self.cart),
            "orders": list(self.orders),
            "signups": list(self.signups),
            "messages": list(self.messages),
            "accounts": accounts,
            "booking": dict(self.booking),
            "bookings": list(self.bookings),
            "seen": list(self.seen),
        }


# Typed request storage (aiohttp ≥ 3.12 warns about plain string keys; older ones lack it).
_VISITOR: Any = web.RequestKey("visitor", Visitor) if hasattr(web, "RequestKey") else "visitor"


def visitor(request: web.Request) -> Visitor:
    found: Visitor = request[_VISITOR]
    return found


@web.middleware
async def _visitors(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    visitors: dict[str, Visitor] = request.app[VisitorKey]
    key = request.cookies.get("vx")
    fresh = key is None or key not in visitors
    if fresh:
        key = secrets.token_hex(8)
        visitors[key] = Visitor()
    assert key is not None
    request[_VISITOR] = visitors[key]
    if request.method == "GET" and request.path != "/__state":
        visitors[key].seen.append(request.path_qs)
    try:
        response = await handler(request)
    except web.HTTPException as exc:  # redirects keep the cookie too
        if fresh:
            exc.set_cookie("vx", key, httponly=True, samesite="Lax")
        raise
    if fresh:
        response.set_cookie("vx", key, httponly=True, samesite="Lax")
    return response


def esc(text: object) -> str:
    return html.escape(str(text), quote=True)


def page(title: str, body: str, *, header: str = "", script: str = "") -> web.Response:
    text = (
        f"<!doctype html><html lang=en><head><meta charset=utf-8><title>{esc(title)}</title>"
        f"<link rel=icon href='data:,'><style>{STYLE}</style></head><body>"
        f"<header>{header}</header><main>{body}</main>"
        f"{f'<script>{script}</script>' if script else ''}</body></html>"
    )
    return web.Response(text=text, content_type="text/html")


def redirect(location: str) -> web.HTTPSeeOther:
    return web.HTTPSeeOther(location)


def field_errors(errors: dict[str, str], name: str) -> str:
    return f"<p class=error id='{name}-error'>{esc(errors[name])}</p>" if name in errors else ""


def options(choices: list[tuple[str, str]], chosen: str) -> str:
    return "".join(
        f"<option value='{esc(v)}'{' selected' if v == chosen else ''}>{esc(label)}</option>"
        for v, label in choices
    )


async def _index(request: web.Request) -> web.Response:
    body = (
        "<h1>Test sites</h1><ul>"
        "<li><a href='/shop/'>Kettle &amp; Co shop</a></li>"
        "<li><a href='/signup/'>Garden Club</a></li>"
        "<li><a href='/travel/'>RailGo trains</a></li></ul>"
    )
    return page("Test sites", body, header="<b>voxroom test sites</b>")


async def _state(request: web.Request) -> web.Response:
    return web.json_response(visitor(request).public())


def create_sites_app() -> web.Application:
    from voxroom.browser.sites import forms, shop, travel

    app = web.Application(middlewares=[_visitors])
    app[VisitorKey] = {}
    app.router.add_get("/", _index)
    app.router.add_get("/__state", _state)
    shop.add_routes(app)
    forms.add_routes(app)
    travel.add_routes(app)
    return app


class DemoSites:
    """The test sites on 127.0.0.1 (a free port unless given), in this event loop."""

    def __init__(self, port: int = 0) -> None:
        self._port = port
        self._runner: web.AppRunner | None = None
        self.url = ""

    async def start(self) -> str:
        self._runner = web.AppRunner(create_sites_app(), access_log=None)
        await self._runner.setup()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", self._port))
        await web.SockSite(self._runner, sock).start()
        self.url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        return self.url

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
