"""RailGo: a booking flow over several pages: search (stations, date, passengers) → trains →
details → passenger → review → confirmation. The draft booking lives on the server."""

from __future__ import annotations

from urllib.parse import urlencode

from aiohttp import web

from voxroom.browser.sites.server import (
    esc,
    field_errors,
    options,
    page,
    redirect,
    visitor,
)

HEADER = "<a href='/travel/'><b>RailGo</b></a><span>Trains across Portugal</span>"
STATIONS = ["Lisbon", "Porto", "Coimbra", "Faro"]
DEPARTURES = ["07:00", "08:15", "09:30", "12:15", "17:45"]
PRICE_STEPS = [1.0, 1.3, 1.15, 0.85, 1.4]  # by departure: the 12:15 is the cheapest
MINUTES = {frozenset(("Lisbon", "Porto")): 170, frozenset(("Lisbon", "Coimbra")): 105,
           frozenset(("Lisbon", "Faro")): 180, frozenset(("Porto", "Coimbra")): 65,
           frozenset(("Porto", "Faro")): 330, frozenset(("Coimbra", "Faro")): 260}  # fmt: skip
SEATS = [("any", "No preference"), ("window", "Window"), ("aisle", "Aisle")]
TRIP_KEYS = ("from", "to", "date", "pax")


def train_id(origin: str, destination: str, departure: str) -> str:
    return f"{origin[:3]}{destination[:3]}{departure.replace(':', '')}".upper()


def trains(origin: str, destination: str) -> list[dict[str, str]]:
    minutes = MINUTES[frozenset((origin, destination))]
    found = []
    for departure, step in zip(DEPARTURES, PRICE_STEPS, strict=True):
        hours, mins = map(int, departure.split(":"))
        end = hours * 60 + mins + minutes
        found.append(
            {
                "id": train_id(origin, destination, departure),
                "departs": departure,
                "arrives": f"{end // 60 % 24:02d}:{end % 60:02d}",
                "duration": f"{minutes // 60} h {minutes % 60:02d}",
                "price": f"{minutes * 0.16 * step:.2f} €",
            }
        )
    return found


def search_form(values: dict[str, str], errors: dict[str, str]) -> str:
    stations = [("", "Choose…")] + [(s, s) for s in STATIONS]
    passengers = [(str(n), str(n)) for n in range(1, 5)]
    return (
        "<h1>Find a train</h1><form method=get action='/travel/trains'>"
        f"<label for=from>From</label><select id=from name=from>"
        f"{options(stations, values.get('from', ''))}</select>{field_errors(errors, 'from')}"
        f"<label for=to>To</label><select id=to name=to>"
        f"{options(stations, values.get('to', ''))}</select>{field_errors(errors, 'to')}"
        f"<label for=date>Date</label><input id=date name=date type=date "
        f"value='{esc(values.get('date', ''))}'>{field_errors(errors, 'date')}"
        f"<label for=pax>Passengers</label><select id=pax name=pax>"
        f"{options(passengers, values.get('pax', '1'))}</select>"
        "<p><button id=find>Find trains</button></p></form>"
    )


def trip_errors(trip: dict[str, str]) -> dict[str, str]:
    errors = {}
    if trip.get("from") not in STATIONS:
        errors["from"] = "Choose where you leave from."
    if trip.get("to") not in STATIONS:
        errors["to"] = "Choose where you are going."
    elif trip.get("to") == trip.get("from"):
        errors["to"] = "Choose a different station."
    if len(trip.get("date", "")) != 10:
        errors["date"] = "Choose a date."
    return errors


async def home(request: web.Request) -> web.Response:
    return page("RailGo", search_form({}, {}), header=HEADER)


async def listing(request: web.Request) -> web.Response:
    trip = {k: request.query.get(k, "") for k in TRIP_KEYS}
    if errors := trip_errors(trip):
        return page("RailGo", search_form(trip, errors), header=HEADER)
    query = urlencode(trip)
    hidden = "".join(f"<input type=hidden name={k} value='{esc(v)}'>" for k, v in trip.items())
    rows = "".join(
        f"<tr data-train={t['id']}><td>{t['departs']}</td><td>{t['arrives']}</td>"
        f"<td>{t['duration']}</td><td>{t['price']}</td>"
        f"<td><a href='/travel/train/{t['id']}?{esc(query)}'>Details</a></td>"
        "<td><form method=post action='/travel/select'>"
        f"<input type=hidden name=train value={t['id']}>{hidden}<button>Select</button></form></td>"
        "</tr>"
        for t in trains(trip["from"], trip["to"])
    )
    body = (
        f"<h1>{esc(trip['from'])} → {esc(trip['to'])}</h1><p>{esc(trip['date'])}, "
        f"{esc(trip['pax'] or '1')} passenger(s). <a href='/travel/'>Change search</a></p>"
        "<table><tr><th>Departs</th><th>Arrives</th><th>Duration</th><th>Price</th><th></th>"
        f"<th></th></tr>{rows}</table>"
    )
    return page("Trains", body, header=HEADER)


def find_train(train: str, trip: dict[str, str]) -> dict[str, str] | None:
    if trip_errors(trip):
        return None
    return next((t for t in trains(trip["from"], trip["to"]) if t["id"] == train), None)


async def details(request: web.Request) -> web.Response:
    trip = {k: request.query.get(k, "") for k in TRIP_KEYS}
    found = find_train(request.match_info["id"], trip)
    if found is None:
        raise web.HTTPNotFound()
    hidden = "".join(f"<input type=hidden name={k} value='{esc(v)}'>" for k, v in trip.items())
    body = (
        f"<h1>Train {found['id']}</h1><p>{esc(trip['from'])} {found['departs']} → "
        f"{esc(trip['to'])} {found['arrives']} ({found['duration']})</p>"
        f"<p class=price>{found['price']} per passenger</p><p>Bar coach, power sockets, wifi.</p>"
        "<form method=post action='/travel/select'>"
        f"<input type=hidden name=train value={found['id']}>{hidden}"
        "<button id=select-this>Select this train</button></form>"
    )
    return page(f"Train {found['id']}", body, header=HEADER)


async def choose(request: web.Request) -> web.Response:
    form = {k: str(v) for k, v in (await request.post()).items()}
    trip = {k: form.get(k, "") for k in TRIP_KEYS}
    found = find_train(form.get("train", ""), trip)
    if found is None:
        raise web.HTTPBadRequest(text="no such train")
    visitor(request).booking = {**trip, "train": found["id"], "departs": found["departs"],
                                "price": found["price"]}  # fmt: skip
    raise redirect("/travel/passenger")


def passenger_form(values: dict[str, str], errors: dict[str, str]) -> str:
    def text(name: str, label: str) -> str:
        return (
            f"<label for={name}>{label}</label>"
            f"<input id={name} name={name} value='{esc(values.get(name, ''))}'>"
            f"{field_errors(errors, name)}"
        )

    return (
        "<h1>Passenger</h1><form method=post action='/travel/passenger'>"
        f"{text('first', 'First name')}{text('last', 'Last name')}"
        f"<label for=seat>Seat</label><select id=seat name=seat>"
        f"{options(SEATS, values.get('seat', 'any'))}</select>"
        "<p><button id=continue>Continue</button></p></form>"
    )


async def passenger(request: web.Request) -> web.Response:
    booking = visitor(request).booking
    if not booking:
        raise redirect("/travel/")
    if request.method == "GET":
        return page("Passenger", passenger_form(booking, {}), header=HEADER)
    form = {k: str(v).strip() for k, v in (await request.post()).items()}
    errors = {n: "Required." for n in ("first", "last") if not form.get(n)}
    if errors:
        return page("Passenger", passenger_form(form, errors), header=HEADER)
    booking.update({"first": form["first"], "last": form["last"],
                    "seat": form.get("seat", "any")})  # fmt: skip
    raise redirect("/travel/review")


async def review(request: web.Request) -> web.Response:
    b = visitor(request).booking
    if not b.get("first"):
        raise redirect("/travel/passenger" if b else "/travel/")
    seat = dict(SEATS).get(b["seat"], b["seat"])
    body = (
        "<h1>Review your booking</h1><table>"
        f"<tr><th>Train</th><td>{b['train']}, {esc(b['from'])} {b['departs']} → "
        f"{esc(b['to'])}</td></tr><tr><th>Date</th><td>{esc(b['date'])}</td></tr>"
        f"<tr><th>Passenger</th><td>{esc(b['first'])} {esc(b['last'])}</td></tr>"
        f"<tr><th>Seat</th><td>{esc(seat)}</td></tr><tr><th>Price</th><td>{b['price']}</td></tr>"
        "</table><p><a href='/travel/passenger'>Change passenger details</a></p>"
        "<form method=post action='/travel/confirm'><button id=confirm>Confirm booking</button>"
        "</form>"
    )
    return page("Review", body, header=HEADER)


async def confirm(request: web.Request) -> web.Response:
    who = visitor(request)
    if not who.booking.get("first"):
        raise redirect("/travel/")
    reference = f"RG-{1001 + len(who.bookings)}"
    who.bookings.append({**who.booking, "reference": reference})
    who.booking = {}
    raise redirect(f"/travel/booked/{reference}")


async def booked(request: web.Request) -> web.Response:
    reference = request.match_info["reference"]
    body = f"<h1>Booking confirmed</h1><p id=reference>Your reference is {esc(reference)}.</p>"
    return page("Booked", body, header=HEADER)


def add_routes(app: web.Application) -> None:
    app.router.add_get("/travel/", home)
    app.router.add_get("/travel/trains", listing)
    app.router.add_get("/travel/train/{id}", details)
    app.router.add_post("/travel/select", choose)
    app.router.add_get("/travel/passenger", passenger)
    app.router.add_post("/travel/passenger", passenger)
    app.router.add_get("/travel/review", review)
    app.router.add_post("/travel/confirm", confirm)
    app.router.add_get("/travel/booked/{reference}", booked)
