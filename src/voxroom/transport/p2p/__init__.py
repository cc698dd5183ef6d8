"""Peer-to-peer transport: the agent is one aiortc peer, the client the other."""
