"""Per-client rate limiting (token bucket per remote address) for the expensive endpoints.

Creating a session allocates a peer connection, ports and a decoder thread: a flood of offers
from one client must not starve everyone else.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from aiohttp import web
from aiohttp.typedefs import Middleware

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
MAX_TRACKED_CLIENTS = 10_000


@dataclass(slots=True)
class Bucket:
    tokens: float
    updated: float


class RateLimiter:
    def __init__(self, per_minute: float, burst: int) -> None:
        self.rate = per_minute / 60.0
        self.burst = float(burst)
        self._buckets: dict[str, Bucket] = {}

    def allow(self, client: str, now: float | None = None) -> bool:
        now = time.monotonic() if now is None else now
        bucket = self._buckets.get(client)
        if bucket is None:
            if len(self._buckets) >= MAX_TRACKED_CLIENTS:  # bounded memory under spoofed floods
                self._buckets.clear()
            bucket = self._buckets[client] = Bucket(self.burst, now)
        bucket.tokens = min(self.burst, bucket.tokens + (now - bucket.updated) * self.rate)
        bucket.updated = now
        if bucket.tokens < 1.0:
            return False
        bucket.tokens -= 1.0
        return True


def rate_limit_middleware(
    limiter: RateLimiter, methods: set[str], prefixes: tuple[str, ...]
) -> Middleware:
    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.method in methods and request.path.startswith(prefixes):
            if not limiter.allow(request.remote or "unknown"):
                return web.json_response(
                    {"error": "too many requests; slow down"},
                    status=429,
                    headers={"Retry-After": str(max(1, round(1 / limiter.rate)))},
                )
        return await handler(request)

    return middleware
