// The room's Janus side. Janus's own browser library (janus.js, which needs adapter.js; both
// Debian packages that voxroom serves under /static/vendor/) talks to voxroom's gateway at
// /api/v1/janus. The gateway checks our join token on every request, puts us in the token's
// room whatever room number we send, and sets our `display` from the token.
//
// We publish the microphone (and the camera, if asked) with a data channel: chat and
// push-to-talk reach the agent through it. We subscribe to every other publisher, one handle
// per feed; the agent's feed also carries its messages (captions, state).

const PLUGIN = 'janus.plugin.videoroom';
const NO_SUCH_FEED = 428;     // Janus may announce a feed a moment before it can serve it
const SUBSCRIBE_ATTEMPTS = 5;
const VENDOR = [
  { src: '/static/vendor/adapter.js', global: 'adapter' },
  { src: '/static/vendor/janus.js', global: 'Janus' },
];

let loading = null;

// Load janus.js (once) and wait for Janus.init; rejects with the reason, e.g. which Debian
// package is missing.
export function loadJanus() {
  if (!loading) {
    loading = loadVendorScripts().then(() => new Promise((resolve) => {
      window.Janus.init({ debug: ['warn', 'error'], callback: resolve });
    }));
    loading.catch(() => { loading = null; }); // let a later Join try again
  }
  return loading;
}

async function loadVendorScripts() {
  for (const { src, global } of VENDOR) {
    if (!window[global]) await loadScript(src);
  }
}

function loadScript(src) {
  return new Promise((resolve, reject) => {
    const script = document.createElement('script');
    script.src = src;
    script.onload = resolve;
    script.onerror = () => vendorError(src).then(reject);
    document.head.append(script);
  });
}

// The server answers a missing vendor file with a JSON 404 naming the Debian package.
async function vendorError(src) {
  const res = await fetch(src).catch(() => null);
  const body = res ? await res.json().catch(() => null) : null;
  return new Error(body && body.error ? body.error : `Could not load ${src}`);
}

// Who a publisher is, from their display: {"identity", "name", "role"?, "ai"?} as the gateway
// (or the agent) set it; anything else is a guest named by it.
export function parseDisplay(display, feed) {
  let who = null;
  try { who = JSON.parse(display || ''); } catch (_) { /* a plain display name */ }
  if (!who || typeof who !== 'object' || typeof who.identity !== 'string') {
    const name = String(display || '').trim();
    return { identity: `guest-${feed}`, name: name || `Guest ${feed}`, role: 'guest', ai: false };
  }
  return {
    identity: who.identity,
    name: typeof who.name === 'string' && who.name ? who.name : who.identity,
    role: typeof who.role === 'string' ? who.role : 'user',
    ai: who.ai === true,
  };
}

const gatewayUrl = () => `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/api/v1/janus`;
const reasonOf = (err) => String((err && err.message) || err || 'unknown error');

// One participant's call: `start()` joins and publishes; events go to `on`:
//   publisher(feed, who), gone(feed), track(feed, track, on), data(feed, text),
//   connected(), lost(reason), ended(), warning(message).
export class RoomCall {
  constructor({ token, iceServers, mic, camera, on }) {
    Object.assign(this, { token, iceServers, mic, camera, on });
    this.janus = null;
    this.publisher = null;
    this.feed = null;        // our own feed id
    this.privateId = null;   // ties our subscriptions to our publisher, for Janus
    this.subscribers = new Map(); // feed id -> {feed, who, handle, attempts}
    this.pending = null;     // start()'s {resolve, reject} until Janus answers our offer
    this.closed = false;
  }

  // Resolves once Janus has answered our offer; rejects with why we could not join.
  start() {
    return new Promise((resolve, reject) => {
      this.pending = { resolve, reject };
      this.janus = new window.Janus({
        server: gatewayUrl(),
        token: this.token,
        iceServers: this.iceServers,
        success: () => this.attachPublisher(),
        error: (reason) => this.fail(reason),
      });
    });
  }

  // Resolve or reject start() (once).
  settle(error = null) {
    const pending = this.pending;
    this.pending = null;
    if (!pending) return false;
    if (error) pending.reject(error); else pending.resolve();
    return true;
  }

  // Janus's error callback: could not join, or, later, the WebSocket closed.
  fail(reason) {
    if (this.closed) return;
    this.close();
    if (!this.settle(new Error(reasonOf(reason)))) this.on.lost(reasonOf(reason));
  }

  attachPublisher() {
    if (this.closed) { this.janus.destroy(); return; } // left while connecting
    this.janus.attach({
      plugin: PLUGIN,
      success: (handle) => {
        this.publisher = handle;
        handle.send({
          message: { request: 'join', ptype: 'publisher', room: 0 }, // the gateway sets room
          error: (err) => this.settle(new Error(reasonOf(err))),
        });
      },
      error: (err) => this.fail(err),
      onmessage: (msg, jsep) => this.onPublisherMessage(msg, jsep),
      webrtcState: (up, reason) => this.onMediaState(up, reason),
    });
  }

  onPublisherMessage(msg, jsep) {
    if (this.closed) return;
    if (jsep) this.publisher.handleRemoteJsep({ jsep });
    if (msg.videoroom === 'joined') { this.joined(msg); return; }
    if (msg.videoroom === 'destroyed') { this.close(); this.on.ended(); return; }
    if (msg.error) {
      if (!this.settle(new Error(msg.error))) this.on.warning(msg.error);
      return;
    }
    if (msg.configured === 'ok') this.settle();
    (msg.publishers || []).forEach((p) => this.follow(p));
    // Others' feeds end with "unpublished"/"leaving" and their id; ours with "ok".
    const gone = typeof msg.unpublished === 'number' ? msg.unpublished : msg.leaving;
    if (typeof gone === 'number') this.unfollow(gone);
  }

  joined(msg) {
    this.feed = msg.id;
    this.privateId = msg.private_id;
    this.publish();
    (msg.publishers || []).forEach((p) => this.follow(p));
  }

  publish() {
    const tracks = [{ type: 'audio', capture: this.mic }];
    if (this.camera) tracks.push({ type: 'video', capture: this.camera });
    tracks.push({ type: 'data' });
    this.publisher.createOffer({
      tracks,
      success: (jsep) => this.publisher.send({ message: { request: 'publish' }, jsep }),
      error: (err) => this.settle(new Error(`could not publish: ${reasonOf(err)}`)),
    });
  }

  onMediaState(up, reason) {
    if (this.closed) return;
    if (up) { this.on.connected(); return; }
    this.close(); // Janus hung up our publisher (ICE or DTLS failed, or it was kicked)
    this.on.lost(reason || 'the media connection closed');
  }

  // A message to the agent, on our published data channel.
  send(message) {
    if (this.closed || !this.publisher) return false;
    this.publisher.data({ text: JSON.stringify(message) });
    return true;
  }

  // --- subscriptions: one handle per feed ---------------------------------------------------
  follow(publisher) {
    if (publisher.id === this.feed || this.subscribers.has(publisher.id)) return;
    const sub = { feed: publisher.id, who: parseDisplay(publisher.display, publisher.id), handle: null, attempts: 0 };
    this.subscribers.set(sub.feed, sub);
    this.on.publisher(sub.feed, sub.who);
    this.janus.attach({
      plugin: PLUGIN,
      success: (handle) => this.subscribe(sub, handle),
      error: (err) => this.on.warning(`Cannot receive ${sub.who.name}: ${reasonOf(err)}`),
      onmessage: (msg, jsep) => this.onSubscriberMessage(sub, msg, jsep),
      onremotetrack: (track, mid, on) => this.on.track(sub.feed, track, on),
      ondata: (text) => this.on.data(sub.feed, text),
    });
  }

  subscribe(sub, handle) {
    sub.handle = handle;
    if (this.subscribers.get(sub.feed) !== sub) { handle.detach(); return; } // gone meanwhile
    this.requestFeed(sub);
  }

  requestFeed(sub) {
    sub.handle.send({
      message: { request: 'join', ptype: 'subscriber', room: 0, streams: [{ feed: sub.feed }], private_id: this.privateId },
    });
  }

  onSubscriberMessage(sub, msg, jsep) {
    if (this.subscribers.get(sub.feed) !== sub) return;
    if (msg.error_code === NO_SUCH_FEED && ++sub.attempts < SUBSCRIBE_ATTEMPTS) {
      setTimeout(() => this.requestFeed(sub), 200 * sub.attempts);
      return;
    }
    if (msg.error) { this.on.warning(`Cannot receive ${sub.who.name}: ${msg.error}`); return; }
    if (jsep) this.answer(sub, jsep);
  }

  // Janus relays a publisher's data to a subscriber only once the subscriber has opened a data
  // channel itself (janus.js does for a {type: 'data'} track); the messages then arrive on a
  // channel labelled with the feed id. Only the agent's data matters to this page.
  answer(sub, jsep) {
    sub.handle.createAnswer({
      jsep,
      tracks: sub.who.ai ? [{ type: 'data' }] : [],
      success: (answer) => sub.handle.send({ message: { request: 'start' }, jsep: answer }),
      error: (err) => this.on.warning(`Cannot receive ${sub.who.name}: ${reasonOf(err)}`),
    });
  }

  unfollow(feed) {
    const sub = this.subscribers.get(feed);
    if (!sub) return;
    this.subscribers.delete(feed);
    if (sub.handle) sub.handle.detach();
    this.on.gone(feed);
  }

  // Leave: destroying the Janus session ends our feed and subscriptions; janus.js closes the
  // peer connections (and the WebSocket) itself.
  close() {
    if (this.closed) return;
    this.closed = true;
    this.subscribers.clear();
    if (this.janus) this.janus.destroy({ cleanupHandles: true, notifyDestroyed: false });
  }
}
