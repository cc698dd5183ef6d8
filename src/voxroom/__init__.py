"""voxroom: server-side, real-time AI agents that join WebRTC calls as participants."""

from voxroom.agent.agent import Agent
from voxroom.agent.context import UserTurn
from voxroom.runner import run

__all__ = ["Agent", "UserTurn", "run"]
__version__ = "0.1.0"
