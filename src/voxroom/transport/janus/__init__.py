"""Janus transport building blocks: the supervised Janus process (`process`, `config`), an
asyncio client for its WebSocket API (`api`) and the VideoRoom plugin's typed requests and
events (`videoroom`)."""
