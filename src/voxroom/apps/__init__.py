"""Shipped agents: short files on the public API, meant to be copied.

`SHIPPED` names them for the rooms API (`POST /api/v1/rooms` with `"agent": "concierge"`): a
room's agent is one of these or the server's own (`voxroom dev --agent`), never an arbitrary
import path from a request."""

SHIPPED = {
    "assistant": "voxroom.apps.assistant:Assistant",
    "assist": "voxroom.apps.assist:Copilot",
    "translate": "voxroom.apps.translate:Translator",
    "interpreter": "voxroom.apps.translate:SpokenTranslator",
    "concierge": "voxroom.apps.concierge:Concierge",
    "faces": "voxroom.apps.faces:FaceAgent",
    "browser": "voxroom.apps.browser:BrowserAgent",
}
