"""Garden Club: three forms the server validates (a newsletter, a support message, an
account with a password), each re-shown with its errors until it is right."""

from __future__ import annotations

import re

from aiohttp import web

from voxroom.browser.sites.server import esc, field_errors, options, page, visitor

HEADER = (
    "<a href='/signup/'><b>Garden Club</b></a><a href='/signup/newsletter'>Newsletter</a>"
    "<a href='/signup/contact'>Contact support</a><a href='/signup/account'>Create an account</a>"
)
TOPICS = [("", "Choose…"), ("gardening", "Gardening"), ("cooking", "Cooking"),
          ("travel", "Travel")]  # fmt: skip
REASONS = [("", "Choose…"), ("missing", "Missing parcel"), ("damaged", "Damaged item"),
           ("other", "Other")]  # fmt: skip
EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[a-z]{2,}", re.I)


def text_input(
    name: str, label: str, values: dict[str, str], errors: dict[str, str], kind: str = "text"
) -> str:
    value = "" if kind == "password" else values.get(name, "")
    return (
        f"<label for={name}>{label}</label>"
        f"<input id={name} name={name} type={kind} value='{esc(value)}'>"
        f"{field_errors(errors, name)}"
    )


def select(name: str, label: str, choices: list[tuple[str, str]], values: dict[str, str],
           errors: dict[str, str]) -> str:  # fmt: skip
    return (
        f"<label for={name}>{label}</label><select id={name} name={name}>"
        f"{options(choices, values.get(name, ''))}</select>{field_errors(errors, name)}"
    )


async def _form(request: web.Request) -> dict[str, str]:
    return {k: str(v).strip() for k, v in (await request.post()).items()}


async def home(request: web.Request) -> web.Response:
    body = (
        "<h1>Garden Club</h1><p>Tips, seeds and friendly people.</p><ul>"
        "<li><a href='/signup/newsletter'>Get our newsletter</a></li>"
        "<li><a href='/signup/contact'>Write to support</a></li>"
        "<li><a href='/signup/account'>Join the club</a></li></ul>"
    )
    return page("Garden Club", body, header=HEADER)


def newsletter_form(values: dict[str, str], errors: dict[str, str]) -> str:
    agreed = " checked" if values.get("agree") else ""
    return (
        "<h1>Newsletter</h1><form method=post action='/signup/newsletter' novalidate>"
        f"{text_input('name', 'Your name', values, errors)}"
        f"{text_input('email', 'Email', values, errors, 'email')}"
        f"{select('topic', 'Topic', TOPICS, values, errors)}"
        f"<label><input type=checkbox name=agree id=agree value=yes{agreed}> "
        f"I agree to the privacy policy</label>{field_errors(errors, 'agree')}"
        "<p><button id=subscribe>Subscribe</button></p></form>"
    )


async def newsletter(request: web.Request) -> web.Response:
    if request.method == "GET":
        return page("Newsletter", newsletter_form({}, {}), header=HEADER)
    form = await _form(request)
    errors = {}
    if not form.get("name"):
        errors["name"] = "Your name is required."
    if not EMAIL.fullmatch(form.get("email", "")):
        errors["email"] = "Enter a valid email address."
    if form.get("topic") not in ("gardening", "cooking", "travel"):
        errors["topic"] = "Choose a topic."
    if not form.get("agree"):
        errors["agree"] = "You must agree to the privacy policy."
    if errors:
        return page("Newsletter", newsletter_form(form, errors), header=HEADER)
    visitor(request).signups.append({k: form[k] for k in ("name", "email", "topic")})
    body = f"<h1>Thanks, {esc(form['name'])}!</h1><p id=done>You are subscribed.</p>"
    return page("Subscribed", body, header=HEADER)


def contact_form(values: dict[str, str], errors: dict[str, str]) -> str:
    return (
        "<h1>Contact support</h1><form method=post action='/signup/contact' novalidate>"
        f"{text_input('order', 'Order number', values, errors)}"
        f"{select('reason', 'Reason', REASONS, values, errors)}"
        "<label for=message>Message</label>"
        f"<textarea id=message name=message rows=4>{esc(values.get('message', ''))}</textarea>"
        f"{field_errors(errors, 'message')}<p><button id=send>Send</button></p></form>"
    )


async def contact(request: web.Request) -> web.Response:
    if request.method == "GET":
        return page("Contact support", contact_form({}, {}), header=HEADER)
    form = await _form(request)
    errors = {}
    if not re.fullmatch(r"\d{4}", form.get("order", "")):
        errors["order"] = "The order number has 4 digits."
    if form.get("reason") not in ("missing", "damaged", "other"):
        errors["reason"] = "Choose a reason."
    if len(form.get("message", "")) < 10:
        errors["message"] = "Tell us a little more (at least 10 characters)."
    if errors:
        return page("Contact support", contact_form(form, errors), header=HEADER)
    visitor(request).messages.append({k: form[k] for k in ("order", "reason", "message")})
    body = "<h1>Message sent</h1><p id=done>We will answer within a day.</p>"
    return page("Message sent", body, header=HEADER)


def account_form(values: dict[str, str], errors: dict[str, str]) -> str:
    return (
        "<h1>Create an account</h1><form method=post action='/signup/account' novalidate>"
        f"{text_input('username', 'Username', values, errors)}"
        f"{text_input('password', 'Password', values, errors, 'password')}"
        f"{text_input('repeat', 'Repeat password', values, errors, 'password')}"
        "<p><button id=create>Create account</button></p></form>"
    )


async def account(request: web.Request) -> web.Response:
    if request.method == "GET":
        return page("Create an account", account_form({}, {}), header=HEADER)
    form = await _form(request)
    errors = {}
    if not re.fullmatch(r"[a-z0-9]{3,12}", form.get("username", "")):
        errors["username"] = "3 to 12 lower-case letters or digits."
    password = form.get("password", "")
    if len(password) < 8 or not re.search(r"\d", password):
        errors["password"] = "At least 8 characters, one of them a digit."
    elif form.get("repeat") != password:
        errors["repeat"] = "The passwords differ."
    if errors:
        return page("Create an account", account_form(form, errors), header=HEADER)
    visitor(request).accounts.append({"username": form["username"], "password": password})
    body = f"<h1>Welcome, {esc(form['username'])}!</h1><p id=done>Your account is ready.</p>"
    return page("Welcome", body, header=HEADER)


def add_routes(app: web.Application) -> None:
    app.router.add_get("/signup/", home)
    for path, handler in (
        ("/signup/newsletter", newsletter),
        ("/signup/contact", contact),
        ("/signup/account", account),
    ):
        app.router.add_get(path, handler)
        app.router.add_post(path, handler)
