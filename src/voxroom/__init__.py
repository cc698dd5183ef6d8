"""voxroom: server-side, real-time AI agents that join WebRTC calls as participants."""

from voxroom import native_threads  # noqa: F401  (before numpy loads: see the module)
from voxroom.agent.agent import Agent
from voxroom.agent.context import ToolExample, UserTurn
from voxroom.agent.tools import function_tool
from voxroom.runner import run

__all__ = ["Agent", "ToolExample", "UserTurn", "function_tool", "run"]
__version__ = "0.1.0"
