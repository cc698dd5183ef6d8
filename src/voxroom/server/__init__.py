"""The aiohttp app: signaling, tokens, the static web client, health."""
