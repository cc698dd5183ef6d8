// Messages meant for us only (docs/protocol.md, "Rooms"): a WebSocket to
// /api/v1/rooms/<id>/messages, authenticated with our join token. A listening agent (a
// copilot, a translator) publishes no feed, so everything it says comes this way; any agent's
// messages for some people only (a copilot's suggestions for the human agent) do too.

const RETRY_MS = [500, 1000, 2000, 5000];

export class DirectMessages {
  // `onMessage(msg)` for each message; `onProblem(text)` when the server refuses us.
  constructor(roomId, token, onMessage, onProblem) {
    Object.assign(this, { roomId, token, onMessage, onProblem });
    this.socket = null;
    this.closed = false;
    this.failures = 0;
    this.ready = false;
  }

  open() {
    if (this.closed) return;
    const scheme = location.protocol === 'https:' ? 'wss' : 'ws';
    const socket = new WebSocket(`${scheme}://${location.host}/api/v1/rooms/${encodeURIComponent(this.roomId)}/messages`);
    this.socket = socket;
    socket.onopen = () => socket.send(JSON.stringify({ type: 'auth', token: this.token }));
    socket.onmessage = (event) => this.receive(event.data);
    socket.onclose = () => this.reconnect(socket);
  }

  receive(text) {
    let msg;
    try { msg = JSON.parse(text); } catch (_) { return; }
    if (!msg || typeof msg !== 'object') return;
    if (msg.type === 'ready') {
      this.ready = true;
      this.failures = 0;
      return;
    }
    if (msg.type === 'error' && !this.ready) { // refused: a bad token, or the room is gone
      this.closed = true;
      this.onProblem(msg.message || 'room messages refused');
      return;
    }
    this.onMessage(msg);
  }

  // The server went away or restarted: try again, a little later each time.
  reconnect(socket) {
    if (this.closed || socket !== this.socket) return;
    this.ready = false;
    const delay = RETRY_MS[Math.min(this.failures, RETRY_MS.length - 1)];
    this.failures += 1;
    setTimeout(() => this.open(), delay);
  }

  close() {
    this.closed = true;
    if (this.socket) this.socket.close();
    this.socket = null;
  }
}
