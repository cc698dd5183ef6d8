"""Kettle & Co, a small shop: search with sort and price filters, categories (the garden one
loads more products as you scroll), product pages with a quantity, a cart and a checkout
whose form the server validates."""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web

from voxroom.browser.sites.server import (
    esc,
    field_errors,
    options,
    page,
    redirect,
    visitor,
)

SHOWN_BEFORE_SCROLL = 6  # the garden category shows this many, the rest after scrolling


@dataclass(frozen=True, slots=True)
class Product:
    id: str
    name: str
    category: str
    price: float
    blurb: str


CATALOGUE = [
    Product("k1", "Blue kettle 1.7 L", "kitchen", 34.90, "A cordless kettle in sky blue."),
    Product("k2", "Blue glass kettle deluxe", "kitchen", 59.00, "Glass, blue light, 1.5 L."),
    Product("k3", "Red kettle 1.5 L", "kitchen", 29.50, "A compact kettle in red."),
    Product("k4", "Steel kettle 1.7 L", "kitchen", 44.00, "Brushed steel, quiet boil."),
    Product("t1", "Two-slice toaster", "kitchen", 27.00, "Six browning levels."),
    Product("m1", "Stoneware mug, white", "kitchen", 8.50, "Holds 350 ml."),
    Product("m2", "Enamel camping mug", "kitchen", 6.90, "Light and unbreakable."),
    Product("m3", "Tall latte mug", "kitchen", 11.00, "Holds 450 ml."),
    Product("g1", "Garden hose 20 m", "garden", 24.90, "Kink-free, with a spray gun."),
    Product("g2", "Watering can 10 L", "garden", 15.00, "Galvanised steel."),
    Product("g3", "Pruning shears", "garden", 18.50, "Bypass blades."),
    Product("g4", "Bird feeder", "garden", 12.00, "Hangs from a branch."),
    Product("g5", "Terracotta pot set", "garden", 21.00, "Three sizes."),
    Product("g6", "Garden gloves", "garden", 7.50, "Thorn-proof."),
    Product("g7", "Solar lights (4)", "garden", 19.90, "For paths and borders."),
    Product("g8", "Garden gnome", "garden", 14.00, "He fishes."),
    Product("o1", "Desk lamp", "office", 32.00, "Warm light, dimmable."),
    Product("o2", "Notebook A5", "office", 4.50, "Dotted pages."),
    Product("o3", "Ballpoint pens (10)", "office", 3.90, "Blue ink."),
]
BY_ID = {p.id: p for p in CATALOGUE}
SORTS = [("relevance", "Relevance"), ("price_asc", "Price: low to high"),
         ("price_desc", "Price: high to low")]  # fmt: skip
DELIVERY = [("", "Choose…"), ("standard", "Standard (free)"), ("express", "Express (+5 €)")]
LAZY_SCRIPT = """
const more = () => {
  if (window.scrollY + window.innerHeight < document.body.scrollHeight - 120) return;
  document.querySelectorAll('.product[hidden]').forEach((p) => { p.hidden = false; });
};
window.addEventListener('scroll', more);
"""


def money(value: float) -> str:
    return f"{value:.2f} €"


def header(request: web.Request) -> str:
    count = sum(visitor(request).cart.values())
    return (
        "<a href='/shop/'><b>Kettle &amp; Co</b></a>"
        "<form action='/shop/search' method=get role=search>"
        "<input name=q placeholder='Search the catalogue' aria-label='Search the catalogue'> "
        "<button id=search-button>Search</button></form>"
        "<a href='/shop/category/kitchen'>Kitchen</a><a href='/shop/category/garden'>Garden</a>"
        f"<a href='/shop/category/office'>Office</a><a href='/shop/cart' id=cart-link>"
        f"Cart ({count})</a>"
    )


def card(product: Product, hidden: bool = False) -> str:
    return (
        f"<article class=product data-id={product.id}{' hidden' if hidden else ''}>"
        f"<h2><a href='/shop/product/{product.id}'>{esc(product.name)}</a></h2>"
        f"<p class=price>{money(product.price)}</p>"
        "<form method=post action='/shop/cart/add'>"
        f"<input type=hidden name=id value={product.id}><button>Add to cart</button></form>"
        "</article>"
    )


def search(query: str, sort: str, max_price: float | None) -> list[Product]:
    # "mugs" finds "mug": a plural's s is dropped (a crude stemmer is what small shops have).
    words = [w[:-1] if len(w) > 3 and w.endswith("s") else w for w in query.lower().split()]
    found = [
        p
        for p in CATALOGUE
        if all(w in f"{p.name} {p.category}".lower() for w in words)
        and (max_price is None or p.price <= max_price)
    ]
    if sort == "price_asc":
        found.sort(key=lambda p: p.price)
    elif sort == "price_desc":
        found.sort(key=lambda p: -p.price)
    return found


async def home(request: web.Request) -> web.Response:
    featured = "".join(card(BY_ID[i]) for i in ("k3", "g1", "o1"))
    body = f"<h1>Welcome to Kettle &amp; Co</h1><p>Featured this week:</p>{featured}"
    return page("Kettle & Co", body, header=header(request))


async def results(request: web.Request) -> web.Response:
    query = request.query.get("q", "").strip()
    sort = request.query.get("sort", "relevance")
    raw_max = request.query.get("max", "").replace(",", ".").replace("€", "").strip()
    try:
        max_price = float(raw_max) if raw_max else None
    except ValueError:
        max_price = None
    found = search(query, sort, max_price)
    filters = (
        "<form method=get action='/shop/search' id=filters>"
        f"<input type=hidden name=q value='{esc(query)}'>"
        f"<label for=sort>Sort by</label><select id=sort name=sort>{options(SORTS, sort)}</select>"
        f"<label for=max>Max price (€)</label><input id=max name=max value='{esc(raw_max)}'> "
        "<button id=apply>Apply</button></form>"
    )
    listing = "".join(card(p) for p in found) or "<p>Nothing found.</p>"
    body = f"<h1>Results for “{esc(query)}”</h1>{filters}<p>{len(found)} products</p>{listing}"
    return page(f"Search: {query}", body, header=header(request))


async def category(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    products = [p for p in CATALOGUE if p.category == name]
    if not products:
        raise web.HTTPNotFound()
    listing = "".join(card(p, i >= SHOWN_BEFORE_SCROLL) for i, p in enumerate(products))
    body = f"<h1>{esc(name.title())}</h1>{listing}<p class=note>Scroll for more.</p>"
    script = LAZY_SCRIPT if len(products) > SHOWN_BEFORE_SCROLL else ""
    return page(name.title(), body, header=header(request), script=script)


async def product(request: web.Request) -> web.Response:
    item = BY_ID.get(request.match_info["id"])
    if item is None:
        raise web.HTTPNotFound()
    quantities = [(str(n), str(n)) for n in range(1, 6)]
    body = (
        f"<h1>{esc(item.name)}</h1><p class=price>{money(item.price)}</p><p>{esc(item.blurb)}</p>"
        "<form method=post action='/shop/cart/add'>"
        f"<input type=hidden name=id value={item.id}>"
        f"<label for=qty>Quantity</label><select id=qty name=qty>{options(quantities, '1')}"
        "</select> <button id=add>Add to cart</button></form>"
    )
    return page(item.name, body, header=header(request))


async def add(request: web.Request) -> web.Response:
    form = await request.post()
    item = BY_ID.get(str(form.get("id", "")))
    if item is None:
        raise web.HTTPBadRequest(text="no such product")
    quantity = max(1, min(5, int(str(form.get("qty", "1")) or "1")))
    cart = visitor(request).cart
    cart[item.id] = cart.get(item.id, 0) + quantity
    raise redirect("/shop/cart")


async def remove(request: web.Request) -> web.Response:
    form = await request.post()
    visitor(request).cart.pop(str(form.get("id", "")), None)
    raise redirect("/shop/cart")


async def cart(request: web.Request) -> web.Response:
    items = visitor(request).cart
    rows = "".join(
        f"<tr data-id={pid}><td>{esc(BY_ID[pid].name)}</td><td>{qty}</td>"
        f"<td>{money(BY_ID[pid].price * qty)}</td><td><form method=post action='/shop/cart/remove'>"
        f"<input type=hidden name=id value={pid}><button>Remove</button></form></td></tr>"
        for pid, qty in items.items()
    )
    total = sum(BY_ID[pid].price * qty for pid, qty in items.items())
    if rows:
        body = (
            f"<h1>Your cart</h1><table><tr><th>Product</th><th>Quantity</th><th>Price</th>"
            f"<th></th></tr>{rows}</table><p class=price>Total {money(total)}</p>"
            "<p><a href='/shop/checkout' id=checkout>Checkout</a></p>"
        )
    else:
        body = "<h1>Your cart</h1><p>Your cart is empty.</p>"
    body += "<p><a href='/shop/'>Continue shopping</a></p>"
    return page("Cart", body, header=header(request))


def checkout_form(values: dict[str, str], errors: dict[str, str]) -> str:
    def text(name: str, label: str) -> str:
        return (
            f"<label for={name}>{label}</label>"
            f"<input id={name} name={name} value='{esc(values.get(name, ''))}'>"
            f"{field_errors(errors, name)}"
        )

    return (
        "<h1>Checkout</h1><form method=post action='/shop/order'>"
        f"{text('name', 'Full name')}{text('address', 'Address')}{text('city', 'City')}"
        f"<label for=delivery>Delivery</label><select id=delivery name=delivery>"
        f"{options(DELIVERY, values.get('delivery', ''))}</select>"
        f"{field_errors(errors, 'delivery')}"
        "<p><button id=place-order>Place order</button></p></form>"
    )


async def checkout(request: web.Request) -> web.Response:
    if not visitor(request).cart:
        raise redirect("/shop/cart")
    return page("Checkout", checkout_form({}, {}), header=header(request))


async def order(request: web.Request) -> web.Response:
    form = {k: str(v).strip() for k, v in (await request.post()).items()}
    errors = {
        name: f"{label} is required."
        for name, label in (("name", "Full name"), ("address", "Address"), ("city", "City"))
        if not form.get(name)
    }
    if form.get("delivery") not in ("standard", "express"):
        errors["delivery"] = "Choose a delivery option."
    who = visitor(request)
    if not who.cart:
        raise redirect("/shop/cart")
    if errors:
        return page("Checkout", checkout_form(form, errors), header=header(request))
    number = 1001 + len(who.orders)
    who.orders.append({"number": number, "items": dict(who.cart), **form})
    who.cart.clear()
    raise redirect(f"/shop/order/{number}")


async def placed(request: web.Request) -> web.Response:
    number = request.match_info["number"]
    body = f"<h1>Thank you!</h1><p id=confirmation>Order #{esc(number)} is placed.</p>"
    return page("Order placed", body, header=header(request))


async def seed(request: web.Request) -> web.Response:
    """Test set-up: `?items=t1,k3&next=/shop/cart` fills the cart, then goes on."""
    cart = visitor(request).cart
    cart.clear()
    for pid in request.query.get("items", "").split(","):
        if pid in BY_ID:
            cart[pid] = cart.get(pid, 0) + 1
    target = request.query.get("next", "/shop/")
    raise redirect(target if target.startswith("/shop/") else "/shop/")


def add_routes(app: web.Application) -> None:
    app.router.add_get("/shop/", home)
    app.router.add_get("/shop/search", results)
    app.router.add_get("/shop/category/{name}", category)
    app.router.add_get("/shop/product/{id}", product)
    app.router.add_post("/shop/cart/add", add)
    app.router.add_post("/shop/cart/remove", remove)
    app.router.add_get("/shop/cart", cart)
    app.router.add_get("/shop/checkout", checkout)
    app.router.add_post("/shop/order", order)
    app.router.add_get("/shop/order/{number}", placed)
    app.router.add_get("/shop/seed", seed)
