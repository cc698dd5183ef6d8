// A tile per person in the room, the agent's marked as the AI: their video when they send
// some, their voice playing, and a ring while they speak (the level of their audio, measured
// with WebAudio; our own tile measures the microphone).
import { el, hueOf, setLabel } from './room-dom.js';

const SPEAKING_DB = -45;        // RMS level (dBFS) above which someone counts as speaking
const SPEAKING_HOLD_MS = 400;   // and for this long after, so the ring does not flicker between words
const METER_INTERVAL_MS = 80;   // a timer, not requestAnimationFrame: it keeps going in background tabs

export class Tiles {
  // `onAutoplayBlocked()`: the browser refused to play someone's audio without a user gesture.
  constructor(box, onAutoplayBlocked) {
    this.box = box;
    this.onAutoplayBlocked = onAutoplayBlocked;
    this.tiles = new Map(); // 'self' or a feed id -> {who, node, meter}
    this.audioCtx = null;
    this.timer = 0;
    this.agentState = null;
  }

  // Call from a user gesture (Join), so that the browser lets the audio context run.
  startAudio() {
    if (!this.audioCtx) this.audioCtx = new AudioContext();
    this.resumeAudio();
    if (!this.timer) this.timer = setInterval(() => this.measure(), METER_INTERVAL_MS);
  }

  resumeAudio() {
    if (this.audioCtx) this.audioCtx.resume().catch(() => {});
    for (const { node } of this.tiles.values()) {
      const audio = node.querySelector('audio');
      if (audio && audio.srcObject) audio.play().catch(() => {});
    }
  }

  addSelf(who, mic, camera) {
    const tile = this.add('self', { ...who, self: true });
    this.meter(tile, mic);
    if (camera) this.showVideo(tile, camera.getVideoTracks()[0]);
  }

  add(key, who) {
    this.remove(key);
    const tile = { who, node: tileNode(who), meter: null };
    this.tiles.set(key, tile);
    // The agent first, then us, then everyone else in order of arrival.
    if (who.ai) this.box.prepend(tile.node); else this.box.append(tile.node);
    if (who.ai) this.setAgentState(this.agentState);
    return tile;
  }

  remove(key) {
    const tile = this.tiles.get(key);
    if (!tile) return;
    if (tile.meter) tile.meter.source.disconnect();
    tile.node.querySelectorAll('audio, video').forEach((media) => { media.srcObject = null; });
    tile.node.remove();
    this.tiles.delete(key);
  }

  clear() {
    [...this.tiles.keys()].forEach((key) => this.remove(key));
  }

  // A remote track arrived (on) or went away (janus.js also says so after ~2.5 s without media).
  setTrack(key, track, on) {
    const tile = this.tiles.get(key);
    if (!tile) return;
    if (track.kind === 'video') {
      if (on) this.showVideo(tile, track); else tile.node.dataset.video = 'false';
    } else if (on && track.readyState === 'live') {
      this.play(tile, track);
    }
  }

  play(tile, track) {
    const audio = tile.node.querySelector('audio');
    const stream = new MediaStream([track]);
    audio.srcObject = stream; // Chrome feeds remote WebRTC audio to WebAudio only while it plays
    audio.play().catch((err) => { if (err.name === 'NotAllowedError') this.onAutoplayBlocked(); });
    this.meter(tile, stream);
  }

  showVideo(tile, track) {
    const video = tile.node.querySelector('video');
    video.srcObject = new MediaStream([track]);
    video.onloadeddata = () => { tile.node.dataset.video = 'true'; };
    video.play().catch(() => {});
  }

  setAgentState(state) {
    this.agentState = state;
    const label = this.box.querySelector('.tile[data-kind="agent"] .agent-state');
    if (label) setLabel(label, state || 'idle');
  }

  meter(tile, stream) {
    if (!this.audioCtx) return;
    if (tile.meter) tile.meter.source.disconnect();
    const source = this.audioCtx.createMediaStreamSource(stream);
    const analyser = this.audioCtx.createAnalyser();
    analyser.fftSize = 1024;
    source.connect(analyser);
    tile.meter = { source, analyser, samples: new Float32Array(analyser.fftSize), loudUntil: 0 };
  }

  measure() {
    const now = performance.now();
    for (const { node, meter } of this.tiles.values()) {
      if (!meter) continue;
      if (levelDb(meter) > SPEAKING_DB) meter.loudUntil = now + SPEAKING_HOLD_MS;
      node.classList.toggle('speaking', now < meter.loudUntil);
    }
  }

  // What the page shows, for tests and debugging.
  snapshot() {
    return [...this.tiles.values()].map(({ who, node, meter }) => ({
      identity: who.identity, name: who.name, kind: node.dataset.kind,
      speaking: node.classList.contains('speaking'), video: node.dataset.video === 'true',
      level_db: meter ? Math.round(levelDb(meter)) : null,
    }));
  }
}

function levelDb({ analyser, samples }) {
  analyser.getFloatTimeDomainData(samples);
  let sum = 0;
  for (let i = 0; i < samples.length; i++) sum += samples[i] * samples[i];
  return 20 * Math.log10(Math.sqrt(sum / samples.length) + 1e-9);
}

function tileNode(who) {
  const kind = who.ai ? 'agent' : who.self ? 'self' : 'person';
  const node = el('figure', 'tile');
  Object.assign(node.dataset, { kind, identity: who.identity, name: who.name, video: 'false' });
  node.style.setProperty('--hue', String(hueOf(who.name)));
  const video = el('video');
  Object.assign(video, { autoplay: true, muted: true, playsInline: true }); // voices play via <audio>
  const caption = el('figcaption', 'tile-caption');
  caption.append(el('span', 'tile-name', who.name));
  if (who.ai) caption.append(el('span', 'badge badge-ai', 'AI'));
  if (who.self) caption.append(el('span', 'badge', 'you'));
  node.append(video, el('div', 'avatar', initials(who.name)), caption);
  if (who.ai) node.append(el('span', 'agent-state tile-state'));
  if (!who.self) node.append(el('audio')); // never our own voice: it would echo
  node.querySelectorAll('audio').forEach((audio) => { audio.autoplay = true; });
  return node;
}

function initials(name) {
  const words = name.trim().split(/\s+/).filter(Boolean);
  return words.slice(0, 2).map((w) => [...w][0].toUpperCase()).join('') || '?';
}
