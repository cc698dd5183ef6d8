"""What every OpenAI-compatible provider shares: base URL, auth header, timeouts, errors."""

from __future__ import annotations

import aiohttp

from voxroom.providers.base import ProviderError


class OpenAIEndpoint:
    def __init__(self, base_url: str, *, api_key: str | None, timeout_s: float) -> None:
        self.base_url = base_url.rstrip("/")
        self.headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self.timeout = aiohttp.ClientTimeout(total=timeout_s, sock_read=timeout_s)

    def url(self, path: str) -> str:
        return f"{self.base_url}/{path.lstrip('/')}"

    def session(self) -> aiohttp.ClientSession:
        return aiohttp.ClientSession(timeout=self.timeout, headers=self.headers)

    @staticmethod
    async def check(response: aiohttp.ClientResponse) -> None:
        if response.status != 200:
            detail = (await response.text())[:300]
            raise ProviderError(f"{response.url} answered {response.status}: {detail}")
