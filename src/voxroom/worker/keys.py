"""Every Redis key and channel the fleet uses, in one place (docs/deploy.md lists them).

`<ns>` is `fleet.namespace` ("voxroom"): several fleets or test runs can share a server.

| key | type | what |
| --- | --- | --- |
| `<ns>:jobs:<agent>` | stream, group `workers` | that agent's jobs; pending while running |
| `<ns>:worker:<id>` | hash, expires | a live worker: agents, capacity, load (heartbeat) |
| `<ns>:workers` | set | worker ids ever seen (the live ones are those whose hash exists) |
| `<ns>:reply:<job>` | list, expires | the worker's answer to a job the API waits for (BLPOP) |
| `<ns>:room:<id>` | hash | the room registry: Janus, worker, session, participants |
| `<ns>:rooms` | sorted set | room ids by creation time |
| `<ns>:janus:<url>:rooms` | set | the rooms placed on that Janus (its load) |
| `<ns>:janus:<url>:down` | string, expires | that Janus did not answer: no new rooms on it |
| `<ns>:janusroom:<url>:<n>` | string | a Janus VideoRoom number → the room id (the webhook) |
| `<ns>:session:<id>` | hash, expires | a peer-to-peer session → its worker (to end it) |
| `<ns>:control:<worker>` | channel | requests to one worker (end a session or a room) |
| `<ns>:direct` | channel | a room's messages for some people only → the API nodes |
"""

from __future__ import annotations

from dataclasses import dataclass

GROUP = "workers"


@dataclass(frozen=True, slots=True)
class Keys:
    ns: str = "voxroom"

    def jobs(self, agent: str) -> str:
        return f"{self.ns}:jobs:{agent}"

    def worker(self, worker_id: str) -> str:
        return f"{self.ns}:worker:{worker_id}"

    @property
    def workers(self) -> str:
        return f"{self.ns}:workers"

    def reply(self, job_id: str) -> str:
        return f"{self.ns}:reply:{job_id}"

    def room(self, room_id: str) -> str:
        return f"{self.ns}:room:{room_id}"

    @property
    def rooms(self) -> str:
        return f"{self.ns}:rooms"

    def janus_rooms(self, url: str) -> str:
        return f"{self.ns}:janus:{url}:rooms"

    def janus_down(self, url: str) -> str:
        return f"{self.ns}:janus:{url}:down"

    def janus_room(self, url: str, janus_id: int) -> str:
        return f"{self.ns}:janusroom:{url}:{janus_id}"

    def session(self, session_id: str) -> str:
        return f"{self.ns}:session:{session_id}"

    def control(self, worker_id: str) -> str:
        return f"{self.ns}:control:{worker_id}"

    @property
    def direct(self) -> str:
        return f"{self.ns}:direct"
