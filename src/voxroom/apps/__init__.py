"""Shipped agents: short files on the public API, meant to be copied."""
