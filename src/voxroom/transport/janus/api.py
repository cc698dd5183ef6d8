"""An asyncio client for the Janus API over its WebSocket transport.

One `JanusConnection` is one WebSocket (subprotocol `janus-protocol`) with a reader task that
owns it: replies are matched to requests by transaction id; everything else (plugin events
without a transaction, `webrtcup`, `hangup`, `media`, `slowlink`, `detached`) is routed by
session and handle id to that handle's event queue.

Lifetimes nest: connection ⊃ sessions ⊃ handles. Janus ties a session to the WebSocket that
created it, so when the socket closes (Janus restarted, network gone) every session and handle
on it is gone too: pending requests fail with `JanusConnectionLost`, and the `closed` event of
the connection and of each of its sessions and handles is set. That event is the signal to
rejoin; nothing here reconnects on its own.

SDPs go whole (`trickle: false`): aiortc gathers all its candidates before it offers or answers.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from voxroom.transport.janus.errors import JanusConnectionLost, JanusError

log = logging.getLogger(__name__)

JSON = dict[str, Any]
KEEPALIVE_INTERVAL_S = 25.0  # Janus destroys a session after session_timeout (60 s) idle
REQUEST_TIMEOUT_S = 15.0  # a reply (or, after an ack, the plugin's event) takes this at most
EVENT_QUEUE_SIZE = 256  # unread handle events kept; the oldest go first beyond this
_FINAL_REPLIES = {"success", "error", "event", "server_info"}


@dataclass(frozen=True)
class JanusEvent:
    """Something Janus told a handle on its own: a plugin event (`kind == "event"`, `data` is
    the plugin's data, `jsep` an SDP it sent) or a core one (`webrtcup`, `hangup`, `media`,
    `slowlink`, `detached`; `data` holds the message's other fields, e.g. `reason`)."""

    kind: str
    data: JSON
    jsep: JSON | None = None
    message: JSON = field(default_factory=dict, repr=False)  # as received


class JanusConnection:
    """One WebSocket to Janus. Use `connect`, then `create_session`; close when done."""

    def __init__(
        self,
        http: aiohttp.ClientSession,
        ws: aiohttp.ClientWebSocketResponse,
        *,
        token: str | None,
        api_secret: str | None,
        request_timeout_s: float,
        keepalive_interval_s: float,
    ) -> None:
        self._http = http
        self._ws = ws
        self._auth: JSON = {}
        if token is not None:
            self._auth["token"] = token
        if api_secret is not None:
            self._auth["apisecret"] = api_secret
        self.request_timeout_s = request_timeout_s
        self.keepalive_interval_s = keepalive_interval_s
        self._pending: dict[str, asyncio.Queue[JSON | None]] = {}
        self._sessions: dict[int, JanusSession] = {}
        self.closed = asyncio.Event()
        self._closing = False
        self._reader = asyncio.ensure_future(self._read())

    @classmethod
    async def connect(
        cls,
        url: str,
        token: str | None = None,
        *,
        api_secret: str | None = None,
        request_timeout_s: float = REQUEST_TIMEOUT_S,
        keepalive_interval_s: float = KEEPALIVE_INTERVAL_S,
    ) -> JanusConnection:
        """Open the WebSocket at `url` (e.g. ws://127.0.0.1:8188). `token` and `api_secret`,
        when given, go in every request (as Janus's `token` and `apisecret`). Sessions send a
        keepalive every `keepalive_interval_s`: keep it well under Janus's session_timeout."""
        http = aiohttp.ClientSession()
        try:
            async with asyncio.timeout(request_timeout_s):
                ws = await http.ws_connect(
                    url, protocols=("janus-protocol",), timeout=aiohttp.ClientWSTimeout(ws_close=2)
                )
        except BaseException:
            await http.close()
            raise
        return cls(
            http,
            ws,
            token=token,
            api_secret=api_secret,
            request_timeout_s=request_timeout_s,
            keepalive_interval_s=keepalive_interval_s,
        )

    async def __aenter__(self) -> JanusConnection:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def info(self) -> JSON:
        """Janus's `server_info` (version, plugins and transports loaded, ...)."""
        return await self.call({"janus": "info"})

    async def create_session(self) -> JanusSession:
        reply = await self.call({"janus": "create"})
        session = JanusSession(self, int(reply["data"]["id"]))
        self._sessions[session.id] = session
        return session

    async def close(self) -> None:
        """Close the socket; Janus then destroys every session created on it."""
        self._closing = True
        await self._ws.close()
        self._reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._reader
        self._lost("closed by us")
        await self._http.close()

    # --- transactions --------------------------------------------------------------------
    async def call(self, request: JSON) -> JSON:
        """Send a Janus API request and return its final reply: `success`/`server_info`, or
        for a plugin's asynchronous request the `event` after the `ack` (either order).
        Raises `JanusError` on an `error` reply, `TimeoutError` after `request_timeout_s`."""
        transaction, replies = await self._start(request)
        try:
            async with asyncio.timeout(self.request_timeout_s):
                while True:
                    reply = await replies.get()
                    if reply is None:
                        raise JanusConnectionLost(f"connection lost during {request['janus']}")
                    if reply.get("janus") in _FINAL_REPLIES:
                        break
        finally:
            self._pending.pop(transaction, None)
        if reply["janus"] == "error":
            error = reply.get("error", {})
            raise JanusError(int(error.get("code", 0)), str(error.get("reason", "")))
        return reply

    async def call_ack(self, request: JSON) -> None:
        """Send a request Janus answers with an `ack` (e.g. `keepalive`); wait for that."""
        transaction, replies = await self._start(request)
        try:
            async with asyncio.timeout(self.request_timeout_s):
                reply = await replies.get()
        finally:
            self._pending.pop(transaction, None)
        if reply is None:
            raise JanusConnectionLost(f"connection lost during {request['janus']}")
        if reply.get("janus") == "error":
            error = reply.get("error", {})
            raise JanusError(int(error.get("code", 0)), str(error.get("reason", "")))

    async def _start(self, request: JSON) -> tuple[str, asyncio.Queue[JSON | None]]:
        if self.closed.is_set():
            raise JanusConnectionLost("the connection to Janus is closed")
        transaction = secrets.token_hex(8)
        request = request | self._auth | {"transaction": transaction}
        replies: asyncio.Queue[JSON | None] = asyncio.Queue()
        self._pending[transaction] = replies  # before sending: the reply may come at once
        try:
            await self._ws.send_json(request)
        except (ConnectionError, RuntimeError) as exc:  # aiohttp: RuntimeError once closing
            self._pending.pop(transaction, None)
            raise JanusConnectionLost(f"cannot send to Janus: {exc}") from exc
        log.debug("→ %s %s", request["janus"], transaction)
        return transaction, replies

    # --- reading -------------------------------------------------------------------------
    async def _read(self) -> None:
        reason = "Janus closed the WebSocket"
        try:
            async for frame in self._ws:
                if frame.type != aiohttp.WSMsgType.TEXT:
                    continue
                try:
                    message = frame.json()
                except ValueError:
                    log.warning("Janus sent a frame that is not JSON: %.200s", frame.data)
                    continue
                if isinstance(message, dict):
                    self._dispatch(message)
        except (ConnectionError, aiohttp.ClientError) as exc:
            reason = f"WebSocket error: {exc}"
        finally:
            self._lost("closed by us" if self._closing else reason)

    def _dispatch(self, message: JSON) -> None:
        transaction = message.get("transaction")
        if isinstance(transaction, str) and transaction in self._pending:
            self._pending[transaction].put_nowait(message)
            return
        session = self._sessions.get(_int(message.get("session_id")))
        if session is None:
            if message.get("janus") not in ("ack", "success"):  # late replies are harmless
                log.debug("Janus message for no known session: %s", message)
            return
        session._dispatch(message)

    def _lost(self, reason: str) -> None:
        if self.closed.is_set():
            return
        log.log(logging.DEBUG if self._closing else logging.INFO, "Janus connection: %s", reason)
        self.closed.set()
        for replies in self._pending.values():
            replies.put_nowait(None)
        for session in list(self._sessions.values()):
            session._mark_closed()
        self._sessions.clear()

    def _forget(self, session: JanusSession) -> None:
        self._sessions.pop(session.id, None)


class JanusSession:
    """A Janus session: attaches handles; sends keepalives (a task it owns) until closed.
    `closed` is set when it is destroyed, times out in Janus, or its connection is lost."""

    def __init__(self, connection: JanusConnection, session_id: int) -> None:
        self.connection = connection
        self.id = session_id
        self.closed = asyncio.Event()
        self._handles: dict[int, JanusHandle] = {}
        self._keepalive = asyncio.ensure_future(self._keep_alive())

    async def attach(self, plugin: str = "janus.plugin.videoroom") -> JanusHandle:
        reply = await self._call({"janus": "attach", "plugin": plugin})
        handle = JanusHandle(self, int(reply["data"]["id"]), plugin)
        self._handles[handle.id] = handle
        return handle

    async def destroy(self) -> None:
        """Destroy the session in Janus (its handles with it); a no-op once closed."""
        if self.closed.is_set():
            return
        try:
            await self._call({"janus": "destroy"})
        except (JanusConnectionLost, JanusError):
            pass  # gone already: what we wanted
        finally:
            self._mark_closed()
            self.connection._forget(self)

    async def _call(self, request: JSON) -> JSON:
        return await self.connection.call(request | {"session_id": self.id})

    async def _keep_alive(self) -> None:
        while not self.closed.is_set():
            await asyncio.sleep(self.connection.keepalive_interval_s)
            try:
                await self.connection.call_ack({"janus": "keepalive", "session_id": self.id})
            except JanusError as exc:  # 458: the session timed out or was destroyed
                log.warning("Janus session %d is gone: %s", self.id, exc)
                self._mark_closed()
            except JanusConnectionLost:
                return
            except TimeoutError:
                log.warning("Janus did not answer a keepalive: closing the connection")
                await self.connection.close()

    def _dispatch(self, message: JSON) -> None:
        handle = self._handles.get(_int(message.get("sender")))
        if handle is not None:
            handle._deliver(message)
        elif message.get("janus") == "timeout":
            log.warning("Janus session %d timed out", self.id)
            self._mark_closed()

    def _mark_closed(self) -> None:
        if self.closed.is_set():
            return
        self.closed.set()
        if self._keepalive is not asyncio.current_task():  # it may be what closes us
            self._keepalive.cancel()
        for handle in list(self._handles.values()):
            handle._mark_closed()
        self._handles.clear()

    def _forget(self, handle: JanusHandle) -> None:
        self._handles.pop(handle.id, None)


class JanusHandle:
    """A handle attached to a plugin: plugin requests, and the events Janus sends it."""

    def __init__(self, session: JanusSession, handle_id: int, plugin: str) -> None:
        self.session = session
        self.id = handle_id
        self.plugin = plugin
        self.closed = asyncio.Event()
        self._events: asyncio.Queue[JanusEvent | None] = asyncio.Queue()

    async def request(self, body: JSON) -> JSON:
        """A synchronous plugin request (VideoRoom: create, exists, listparticipants, ...):
        the plugin's data, or `JanusError` if it carries `error_code`."""
        data, _ = await self.message(body)
        return data

    async def message(self, body: JSON, jsep: JSON | None = None) -> tuple[JSON, JSON | None]:
        """An asynchronous plugin request (VideoRoom: join, publish, start, ...): waits for the
        `ack`, then for the event carrying the same transaction; returns its data and JSEP.
        `JanusError` if Janus or the plugin refused it."""
        request: JSON = {"janus": "message", "body": body}
        if jsep is not None:
            request["jsep"] = jsep
        reply = await self._call(request)
        plugindata = reply.get("plugindata", {})
        data: JSON = plugindata.get("data", {})
        if "error_code" in data:
            raise JanusError(int(data["error_code"]), str(data.get("error", "")))
        return data, reply.get("jsep")

    async def hangup(self) -> None:
        """Close the handle's PeerConnection in Janus, keeping the handle."""
        await self._call({"janus": "hangup"})

    async def detach(self) -> None:
        """Detach from the plugin (Janus tears down its PeerConnection); a no-op once closed."""
        if self.closed.is_set():
            return
        try:
            await self._call({"janus": "detach"})
        except (JanusConnectionLost, JanusError):
            pass
        finally:
            self._mark_closed()
            self.session._forget(self)

    async def events(self) -> AsyncIterator[JanusEvent]:
        """Events Janus sent this handle on its own, in order, until the handle closes
        (detached, its session destroyed or the connection lost). One reader at a time."""
        while True:
            event = await self._events.get()
            if event is None:
                return
            yield event

    async def _call(self, request: JSON) -> JSON:
        return await self.session._call(request | {"handle_id": self.id})

    def _deliver(self, message: JSON) -> None:
        kind = str(message.get("janus", ""))
        plugindata = message.get("plugindata")
        if isinstance(plugindata, dict):
            data = plugindata.get("data", {})
        else:
            data = {k: v for k, v in message.items() if k not in ("janus", "session_id", "sender")}
        if self._events.qsize() >= EVENT_QUEUE_SIZE:
            dropped = self._events.get_nowait()
            log.warning("handle %d: events unread, dropped %s", self.id, dropped)
        self._events.put_nowait(JanusEvent(kind, data, message.get("jsep"), message))
        if kind == "detached":
            self._mark_closed()
            self.session._forget(self)

    def _mark_closed(self) -> None:
        if not self.closed.is_set():
            self.closed.set()
            self._events.put_nowait(None)


def _int(value: object) -> int:
    return value if isinstance(value, int) else -1
