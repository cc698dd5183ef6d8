// voxroom playground: a browser client for the voxroom wire protocol (docs/protocol.md).
// Plain JS, no build step, no third-party resources; it only talks to the voxroom server.
'use strict';

const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(window.location.search);
const RECORD = params.get('record') === '1';
const VIDEO = params.get('video') === '1'; // tick "Send my camera" on load
// What we ask the camera for: small enough for CPU agents to keep up with.
const CAMERA = { width: { ideal: 640 }, height: { ideal: 480 }, frameRate: { ideal: 15, max: 30 } };
const ICE_GATHER_TIMEOUT_MS = 5000;
const MAX_METRIC_ROWS = 12;

// Latency stages, in the order they happen after the user stops speaking.
const STAGES = [
  { key: 'eot', label: 'end-of-turn wait' },
  { key: 'stt', label: 'STT' },
  { key: 'llm', label: 'LLM first token' },
  { key: 'sentence', label: 'first sentence' },
  { key: 'tts', label: 'TTS first chunk' },
];

const app = {
  conn: 'disconnected', agentState: null, agentName: null, sessionId: null,
  token: null, sessionUrl: null, pc: null, dc: null, sender: null, micStream: null,
  camStream: null,     // only with "Send my camera": its track is the offer's video m-line
  videoStats: null,    // the agent's last video_stats message
  browser: null,       // the browser agent's panel (browser-panel.js), once loaded
  gen: 0,              // bumped on connect/teardown so stale async steps can tell they lost
  pttHeld: false,
  transcripts: [],     // {role, turn_id, text, final, interrupted}, in arrival order
  bubbles: new Map(),  // "role:turn_id" -> {rec, el}
  metrics: [],
  audioCtx: null, meter: null,
  recorder: null, recorderDone: null, chunks: [],
};

// ---------------------------------------------------------------- UI helpers
function setConn(state) {
  app.conn = state;
  setLabel($('conn-state'), state);
  const idle = state === 'disconnected' || state === 'failed';
  $('connect-button').textContent = idle ? 'Connect' : 'Disconnect';
  $('connect-button').classList.toggle('primary', idle);
  updateControls();
}

function updateControls() {
  const open = !!app.dc && app.dc.readyState === 'open';
  $('chat-send').disabled = !open;
  $('interrupt-button').disabled = !open;
  $('ptt-button').disabled = !app.pc;
  // The offer carries video or not; changing that needs a new connection.
  $('camera-toggle').disabled = !!app.pc;
}

function setAgentState(state) {
  app.agentState = state;
  setLabel($('agent-state'), state || 'idle');
}

// Text plus a data-state attribute, which the stylesheet colours.
function setLabel(node, state) {
  node.textContent = state;
  node.dataset.state = state;
}

function setAgentName(name) {
  app.agentName = name || null;
  const el = $('agent-name');
  el.textContent = name ? `with ${name}` : '';
  el.hidden = !name;
  document.title = name ? `${name} · voxroom playground` : 'voxroom playground';
}

function showStatus(message, kind = 'error') {
  $('status-text').textContent = message;
  $('status').dataset.kind = kind;
  $('status').hidden = false;
}

function clearStatus() {
  $('status').hidden = true;
}

function el(tag, className = '', text = '') {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text) node.textContent = text;
  return node;
}

const currentMode = () => ($('mode-select').value === 'push_to_talk' ? 'push_to_talk' : 'hands_free');

// ---------------------------------------------------------------- HTTP helpers
// Error bodies are JSON {"error": "..."}; fall back to the raw text or the status line.
async function errorText(res) {
  const body = await res.text().catch(() => '');
  try {
    const parsed = JSON.parse(body);
    if (parsed && parsed.error) return `${res.status}: ${parsed.error}`;
  } catch (_) { /* not JSON */ }
  return `${res.status} ${body.trim() || res.statusText}`;
}

async function fetchJSON(url, init) {
  const res = await fetch(url, init);
  if (!res.ok) throw new Error(await errorText(res));
  return res.json();
}

function deleteSession(url, token, keepalive = false) {
  if (!url || !token) return Promise.resolve();
  return fetch(url, { method: 'DELETE', keepalive, headers: { Authorization: `Bearer ${token}` } })
    .catch(() => {}); // best effort: the server also notices the closed peer connection
}

// ---------------------------------------------------------------- microphone
async function getMic() {
  const processing = $('audio-processing').checked;
  const audio = { echoCancellation: processing, noiseSuppression: processing, autoGainControl: processing };
  const deviceId = $('mic-select').value;
  if (deviceId) audio.deviceId = { exact: deviceId };
  return navigator.mediaDevices.getUserMedia({ audio });
}

const stopStream = (stream) => stream && stream.getTracks().forEach((t) => t.stop());

// ---------------------------------------------------------------- camera (optional)
// A separate stream from the microphone's, so switching microphones never stops the camera.
// No camera, or permission refused: the call goes on audio-only, with a note.
async function getCamera() {
  if (!$('camera-toggle').checked) return null;
  try {
    return await navigator.mediaDevices.getUserMedia({ video: CAMERA });
  } catch (err) {
    showStatus(`Camera unavailable (${err.name || err.message || err}); continuing with audio only.`, 'info');
    return null;
  }
}

// `agentVideo`: the agent publishes video of its own (a browser agent's screen), camera or not.
function showVideo(camStream, agentVideo = false) {
  $('video-panel').hidden = !camStream && !agentVideo;
  $('video-panel').classList.toggle('agent-only', !camStream);
  $('local-tile').hidden = !camStream;
  $('local-video').srcObject = camStream;
  setAgentVideoLive(false);
  $('video-stats').textContent = '';
}

function setAgentVideoLive(live) {
  $('agent-tile').dataset.live = String(live);
}

// The agent's video arrives as its own track; the element shows it once frames decode.
function onAgentVideo(track) {
  const video = $('agent-video');
  video.srcObject = new MediaStream([track]);
  video.onloadeddata = () => setAgentVideoLive(true);
  video.play().catch(() => {});
}

function renderVideoStats(msg) {
  app.videoStats = msg;
  const fps = Number(msg.processed_fps);
  const dropped = Number(msg.dropped_pct);
  $('video-stats').textContent = Number.isFinite(fps)
    ? `· ${fps.toFixed(1)} fps processed · ${Number.isFinite(dropped) ? dropped.toFixed(1) : '–'}% dropped`
    : '';
}

// Test hook: the agent's current video frame as a PNG (base64), drawn through a canvas.
function grabAgentFrame() {
  const video = $('agent-video');
  if (!video.videoWidth) return null;
  const canvas = document.createElement('canvas');
  canvas.width = video.videoWidth;
  canvas.height = video.videoHeight;
  canvas.getContext('2d').drawImage(video, 0, 0);
  return canvas.toDataURL('image/png').split(',', 2)[1];
}

function agentVideoState() {
  const video = $('agent-video');
  const quality = video.getVideoPlaybackQuality ? video.getVideoPlaybackQuality() : null;
  return {
    camera: !!app.camStream,
    width: video.videoWidth, height: video.videoHeight,
    frames: quality ? quality.totalVideoFrames : null,
    stats: app.videoStats ? { ...app.videoStats } : null,
  };
}

// Labels and ids are only available after mic permission, so this runs again after getUserMedia.
async function refreshMicList() {
  if (!navigator.mediaDevices || !navigator.mediaDevices.enumerateDevices) return;
  const devices = (await navigator.mediaDevices.enumerateDevices()).filter((d) => d.kind === 'audioinput');
  const sel = $('mic-select');
  const track = app.micStream && app.micStream.getAudioTracks()[0];
  const wanted = sel.value || (track && track.getSettings().deviceId) || '';
  sel.replaceChildren(new Option('Default microphone', ''));
  devices.forEach((d, i) => {
    if (d.deviceId && d.deviceId !== 'default') sel.add(new Option(d.label || `Microphone ${i + 1}`, d.deviceId));
  });
  sel.value = [...sel.options].some((o) => o.value === wanted) ? wanted : '';
}

// Hands-free sends the mic all the time; push-to-talk only while the button/space is held.
function applyTrackEnabled() {
  const enabled = currentMode() === 'hands_free' || app.pttHeld;
  if (app.micStream) app.micStream.getAudioTracks().forEach((t) => { t.enabled = enabled; });
}

// Re-acquire the mic (new device or new processing setting) and swap it into the live call
// with replaceTrack, which needs no renegotiation.
async function switchMic() {
  if (!app.pc || !app.sender) return; // the new choice is used on the next connect
  const gen = app.gen;
  try {
    const stream = await getMic();
    if (gen !== app.gen) { stopStream(stream); return; }
    await app.sender.replaceTrack(stream.getAudioTracks()[0]);
    stopStream(app.micStream);
    app.micStream = stream;
    applyTrackEnabled();
    startMeter(stream);
  } catch (err) {
    showStatus(`Could not switch microphone: ${err.message || err}`);
  }
}

// Input level meter: RMS of the analyser's time-domain samples, shown on a dB scale.
function startMeter(stream) {
  stopMeter();
  try {
    if (!app.audioCtx) app.audioCtx = new AudioContext();
    app.audioCtx.resume().catch(() => {});
    const source = app.audioCtx.createMediaStreamSource(stream);
    const analyser = app.audioCtx.createAnalyser();
    analyser.fftSize = 1024;
    source.connect(analyser);
    const buf = new Float32Array(analyser.fftSize);
    const meter = { source, analyser, raf: 0, shown: 0 };
    const tick = () => {
      analyser.getFloatTimeDomainData(buf);
      let sum = 0;
      for (let i = 0; i < buf.length; i++) sum += buf[i] * buf[i];
      const db = 20 * Math.log10(Math.sqrt(sum / buf.length) + 1e-9);
      const level = Math.min(1, Math.max(0, (db + 60) / 60)); // -60 dBFS .. 0 dBFS
      meter.shown = Math.max(level, meter.shown * 0.9);        // fast attack, smooth decay
      drawLevel(meter.shown);
      meter.raf = requestAnimationFrame(tick);
    };
    meter.raf = requestAnimationFrame(tick);
    app.meter = meter;
  } catch (err) {
    console.warn('voxroom: level meter unavailable', err);
  }
}

function drawLevel(level) {
  $('mic-level-fill').style.width = `${(level * 100).toFixed(1)}%`;
  $('mic-level').dataset.level = level.toFixed(2);
  $('mic-level').setAttribute('aria-valuenow', level.toFixed(2));
}

function stopMeter() {
  if (!app.meter) return;
  cancelAnimationFrame(app.meter.raf);
  app.meter.source.disconnect();
  app.meter = null;
  drawLevel(0);
}

// ---------------------------------------------------------------- connection
// aiortc takes no trickled candidates, so the offer must carry all of them.
function waitForIceGathering(pc, timeoutMs) {
  if (pc.iceGatheringState === 'complete') return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => { clearTimeout(timer); pc.removeEventListener('icegatheringstatechange', check); resolve(); };
    const check = () => { if (pc.iceGatheringState === 'complete') done(); };
    const timer = setTimeout(done, timeoutMs); // send what we have rather than hang
    pc.addEventListener('icegatheringstatechange', check);
  });
}

async function connect() {
  if (app.pc || app.conn === 'connecting') return;
  const gen = ++app.gen;
  clearStatus();
  setConn('connecting');
  try {
    const { token } = await fetchJSON('/api/v1/tokens', {
      method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ identity: 'playground' }),
    });
    const config = await fetchJSON('/api/v1/config');
    const stream = await getMic();
    if (gen !== app.gen) { stopStream(stream); return; }
    const camStream = await getCamera();
    if (gen !== app.gen) { stopStream(stream); stopStream(camStream); return; }
    app.token = token;
    app.micStream = stream;
    app.camStream = camStream;
    showVideo(camStream, !!config.agent_video);
    startMeter(stream);
    refreshMicList().catch(() => {});
    const pc = new RTCPeerConnection({ iceServers: config.ice_servers || [] });
    app.pc = pc;
    pc.addEventListener('connectionstatechange', () => onPeerState(pc, gen));
    pc.addEventListener('track', onRemoteTrack);
    const track = stream.getAudioTracks()[0];
    app.sender = pc.addTransceiver(track, { direction: 'sendrecv', streams: [stream] }).sender;
    if (camStream) { // a video m-line only with the camera on: audio-only offers stay as they were
      pc.addTransceiver(camStream.getVideoTracks()[0], { direction: 'sendrecv', streams: [camStream] });
    } else if (config.agent_video) { // the agent shows us video of its own: receive only
      pc.addTransceiver('video', { direction: 'recvonly' });
    }
    applyTrackEnabled();
    openDataChannel(pc);
    updateControls();
    await pc.setLocalDescription(await pc.createOffer());
    await waitForIceGathering(pc, ICE_GATHER_TIMEOUT_MS);
    if (gen !== app.gen) return;
    const res = await fetch('/api/v1/sessions', {
      method: 'POST', headers: { 'Content-Type': 'application/sdp', Authorization: `Bearer ${token}` },
      body: pc.localDescription.sdp,
    });
    if (res.status !== 201) throw new Error(await errorText(res));
    const loc = res.headers.get('Location');
    const sessionUrl = loc ? new URL(loc, window.location.href).href : null;
    const answer = await res.text();
    if (gen !== app.gen) { deleteSession(sessionUrl, token); return; } // user gave up meanwhile
    app.sessionUrl = sessionUrl;
    resetConversation(); // turn ids restart with each session, so old bubbles would collide
    await pc.setRemoteDescription({ type: 'answer', sdp: answer });
  } catch (err) {
    if (gen !== app.gen) return;
    showStatus(`Connect failed: ${err.message || err}`);
    await teardown('failed');
  }
}

function onPeerState(pc, gen) {
  if (gen !== app.gen) return;
  switch (pc.connectionState) {
    case 'connected': setConn('connected'); break;
    case 'disconnected': setConn('reconnecting'); break; // often transient; ICE may recover
    case 'failed': showStatus('Connection to the agent failed.'); teardown('failed'); break;
    case 'closed': teardown('disconnected'); break;
    default: break;
  }
}

async function teardown(finalState = 'disconnected') {
  app.gen++;
  const { pc, dc, sessionUrl, token } = app;
  if (app.pttHeld) pttRelease();
  const deleted = deleteSession(sessionUrl, token);
  stopRecorder();
  if (dc) dc.close();
  if (pc) pc.close();
  stopMeter();
  stopStream(app.micStream);
  stopStream(app.camStream);
  $('agent-audio').srcObject = null;
  $('agent-video').srcObject = null;
  showVideo(null);
  Object.assign(app, {
    pc: null, dc: null, sender: null, micStream: null, camStream: null, videoStats: null,
    sessionUrl: null, sessionId: null,
  });
  setAgentState(null);
  setConn(finalState);
  await deleted;
}

function onRemoteTrack(event) {
  if (event.track.kind === 'video') { onAgentVideo(event.track); return; }
  // The agent's audio alone: its stream may also hold its video track.
  const stream = new MediaStream([event.track]);
  const audio = $('agent-audio');
  if (audio.srcObject !== stream) audio.srcObject = stream;
  audio.play().catch(() => {
    // Autoplay blocked: retry on the next user gesture.
    showStatus('Click anywhere to hear the agent.', 'info');
    document.addEventListener('pointerdown', () => { audio.play().catch(() => {}); clearStatus(); }, { once: true });
  });
  if (RECORD) startRecorder(stream);
}

// ---------------------------------------------------------------- data channel
function openDataChannel(pc) {
  const dc = pc.createDataChannel('voxroom');
  app.dc = dc;
  dc.addEventListener('open', () => {
    send({ type: 'mode', mode: currentMode() }); // the server starts in its own default mode
    updateControls();
  });
  dc.addEventListener('close', updateControls);
  dc.addEventListener('message', (event) => {
    let msg;
    try { msg = JSON.parse(event.data); } catch (_) { return; }
    if (msg && typeof msg === 'object') handleMessage(msg);
  });
}

// Returns whether the message went out (the channel is only usable while open).
function send(msg) {
  if (!app.dc || app.dc.readyState !== 'open') return false;
  app.dc.send(JSON.stringify(msg));
  return true;
}

function handleMessage(msg) {
  switch (msg.type) {
    case 'session':
      app.sessionId = msg.session_id || null;
      setAgentName(msg.agent);
      if (msg.llm) $('llm-name').textContent = msg.llm;
      break;
    case 'state': setAgentState(msg.state); break;
    case 'transcript': onTranscript(msg); break;
    case 'turn_metrics': app.metrics.push(msg); renderMetrics(); break;
    case 'video_stats': renderVideoStats(msg); break;
    case 'error': showStatus(msg.message || 'Agent error'); break;
    default: if (app.browser) app.browser.handle(msg); break; // else: a newer server's type
  }
}

// ---------------------------------------------------------------- transcript
function resetConversation() {
  Object.assign(app, { transcripts: [], bubbles: new Map(), metrics: [] });
  $('transcript').replaceChildren();
  renderMetrics();
}

// One bubble per (role, turn_id); later messages for the same key replace its text.
function onTranscript(msg) {
  const role = msg.role === 'agent' ? 'agent' : 'user';
  const key = `${role}:${msg.turn_id}`;
  let bubble = app.bubbles.get(key);
  if (!bubble) {
    const rec = { role, turn_id: msg.turn_id, text: '', final: false, interrupted: false };
    bubble = { rec, el: createBubble(role) };
    app.transcripts.push(rec);
    app.bubbles.set(key, bubble);
    keepScrolled(() => $('transcript').append(bubble.el));
  }
  bubble.rec.text = typeof msg.text === 'string' ? msg.text : '';
  bubble.rec.final = !!msg.final;
  if (msg.interrupted) bubble.rec.interrupted = true;
  renderBubble(bubble);
}

function createBubble(role) {
  const bubble = el('div', `bubble ${role}`);
  bubble.dataset.role = role;
  bubble.append(el('div', 'who'), el('div', 'text'));
  return bubble;
}

function renderBubble({ rec, el: bubble }) {
  keepScrolled(() => {
    bubble.dataset.final = String(rec.final);
    bubble.classList.toggle('interim', !rec.final);
    bubble.querySelector('.who').textContent = rec.role === 'user' ? 'You' : (app.agentName || 'Agent');
    bubble.querySelector('.text').textContent = rec.text || (rec.final ? '' : '…');
    if (rec.interrupted && !bubble.querySelector('.tag')) {
      bubble.querySelector('.who').after(el('span', 'tag', 'interrupted'));
    }
  });
}

// Auto-scroll only when the reader is already at the bottom, so scrolling back is not fought.
function keepScrolled(change) {
  const box = $('transcript');
  const stick = box.scrollHeight - box.scrollTop - box.clientHeight < 60;
  change();
  if (stick) box.scrollTop = box.scrollHeight;
}

// ---------------------------------------------------------------- latency panel
// The protocol's stage values overlap (stt_ms and first_sentence_ms both count from end of
// turn), so lay them on one timeline starting at end of user speech and draw the gaps between
// consecutive marks. llm_first_token_ms is taken as counted from the final transcript.
function metricSegments(m) {
  const v = (k) => (typeof m[k] === 'number' && Number.isFinite(m[k]) ? Math.max(0, m[k]) : null);
  const [eot, stt, llm, sentence, tts] = ['eot_wait_ms', 'stt_ms', 'llm_first_token_ms',
    'first_sentence_ms', 'tts_first_chunk_ms'].map(v);
  const base = eot || 0;
  const segs = [];
  let t = 0;
  const mark = (key, end) => {
    if (end == null) return;
    segs.push({ key, ms: Math.max(0, end - t) });
    t = Math.max(t, end);
  };
  mark('eot', eot);
  mark('stt', stt == null ? null : base + stt);
  mark('llm', llm == null ? null : base + (stt || 0) + llm);
  mark('sentence', sentence == null ? null : base + sentence);
  mark('tts', tts == null ? null : t + tts);
  return { segs, end: t };
}

const fmtMs = (x) => (typeof x === 'number' && Number.isFinite(x) ? `${Math.round(x)} ms` : '–');

function renderMetrics() {
  const rows = app.metrics.slice(-MAX_METRIC_ROWS).reverse(); // newest first
  const laid = rows.map((m) => ({ m, ...metricSegments(m) }));
  // Shared scale so rows compare; at least 1 s so fast turns do not fill the bar.
  const scale = Math.max(1000, ...laid.map((r) => Math.max(r.end, Number(r.m.total_ms) || 0)));
  $('metrics').replaceChildren(...laid.map((r) => metricRow(r, scale)));
}

function metricRow({ m, segs }, scale) {
  const row = el('div', 'metric-row');
  row.dataset.turnId = String(m.turn_id);
  const bar = el('div', 'metric-bar');
  for (const s of segs.filter((x) => x.ms > 0)) {
    const seg = el('span', `seg seg-${s.key}`);
    seg.style.width = `${(100 * s.ms) / scale}%`;
    seg.title = `${STAGES.find((x) => x.key === s.key).label}: ${Math.round(s.ms)} ms`;
    bar.append(seg);
  }
  row.title = ['eot_wait_ms', 'stt_ms', 'llm_first_token_ms', 'first_sentence_ms', 'tts_first_chunk_ms', 'total_ms']
    .map((k) => `${k}: ${fmtMs(m[k])}`).join('\n') + (m.speculative_stt ? '\nspeculative STT' : '');
  row.append(el('span', 'metric-turn', `#${m.turn_id ?? '?'}`), bar, el('span', 'metric-total', fmtMs(m.total_ms)));
  return row;
}

function renderLegend() {
  $('metrics-legend').replaceChildren(...STAGES.map((s) => {
    const item = el('span');
    item.append(el('i', `seg-${s.key}`), s.label);
    return item;
  }));
}

// ---------------------------------------------------------------- push-to-talk
function pttPress() {
  if (currentMode() !== 'push_to_talk' || app.pttHeld || !app.pc) return;
  app.pttHeld = true;
  applyTrackEnabled(); // unmute first so the start of the utterance is not clipped
  $('ptt-button').classList.add('held');
  send({ type: 'push_to_talk', action: 'press' });
}

function pttRelease() {
  if (!app.pttHeld) return;
  app.pttHeld = false;
  send({ type: 'push_to_talk', action: 'release' });
  applyTrackEnabled();
  $('ptt-button').classList.remove('held');
}

function onModeChange() {
  if (app.pttHeld) pttRelease();
  const mode = currentMode();
  $('ptt-panel').hidden = mode !== 'push_to_talk';
  applyTrackEnabled();
  send({ type: 'mode', mode });
}

// Space is push-to-talk everywhere except while typing.
function spaceIsPtt(event) {
  const t = event.target;
  const typing = t && (t.id === 'chat-input' || t.isContentEditable || t.tagName === 'TEXTAREA'
    || (t.tagName === 'INPUT' && !['checkbox', 'radio', 'button'].includes(t.type)));
  return event.code === 'Space' && currentMode() === 'push_to_talk' && !typing;
}

// ---------------------------------------------------------------- recording test hook
function startRecorder(stream) {
  if (typeof MediaRecorder === 'undefined' || (app.recorder && app.recorder.state !== 'inactive')) return;
  const mime = 'audio/webm;codecs=opus';
  const rec = new MediaRecorder(stream, MediaRecorder.isTypeSupported(mime) ? { mimeType: mime } : {});
  app.chunks = [];
  // 'stop' fires after the final 'dataavailable', so this resolves once every chunk is in.
  app.recorderDone = new Promise((resolve) => rec.addEventListener('stop', resolve, { once: true }));
  rec.addEventListener('dataavailable', (e) => { if (e.data && e.data.size) app.chunks.push(e.data); });
  rec.start(1000);
  app.recorder = rec;
}

function stopRecorder() {
  if (app.recorder && app.recorder.state !== 'inactive') app.recorder.stop();
}

async function stopRecording() {
  const rec = app.recorder;
  if (!rec) return null;
  stopRecorder();
  await app.recorderDone;
  const blob = new Blob(app.chunks, { type: rec.mimeType || 'audio/webm' });
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve(String(reader.result).split(',', 2)[1] || '');
    reader.onerror = () => reject(reader.error);
    reader.readAsDataURL(blob);
  });
}

window.voxroom = {
  state: () => ({
    conn: app.conn, agentState: app.agentState, agent: app.agentName, sessionId: app.sessionId,
    transcripts: app.transcripts.map((r) => ({ ...r })),
    metrics: app.metrics.map((m) => ({ ...m })),
    video: agentVideoState(),
    browser: app.browser ? app.browser.snapshot() : null,
  }),
  stopRecording,
  grabAgentFrame,
  connect,
  disconnect: () => teardown('disconnected'),
};

// ---------------------------------------------------------------- wiring
function init() {
  import('/static/browser-panel.js')
    .then(({ BrowserPanel }) => { app.browser = new BrowserPanel($('browser-panel'), send); })
    .catch((err) => console.warn('voxroom: browser panel unavailable', err));
  if (params.get('processing') === '0') $('audio-processing').checked = false;
  if (VIDEO) $('camera-toggle').checked = true;
  renderLegend();
  setConn('disconnected');
  setAgentState(null);
  $('connect-button').addEventListener('click', () => {
    if (app.conn === 'disconnected' || app.conn === 'failed') connect();
    else teardown('disconnected');
  });
  $('interrupt-button').addEventListener('click', () => send({ type: 'interrupt' }));
  $('status-dismiss').addEventListener('click', clearStatus);
  $('mic-select').addEventListener('change', switchMic);
  $('audio-processing').addEventListener('change', switchMic);
  $('mode-select').addEventListener('change', onModeChange);
  $('chat-form').addEventListener('submit', (event) => {
    event.preventDefault();
    const input = $('chat-input');
    const text = input.value.trim().slice(0, 2000);
    if (!text) return;
    // No local bubble: the server echoes typed chat as a final user transcript.
    if (send({ type: 'chat', text })) input.value = '';
    else showStatus('Not connected.');
  });
  const ptt = $('ptt-button');
  ptt.addEventListener('pointerdown', (e) => { e.preventDefault(); pttPress(); });
  ['pointerup', 'pointerleave', 'pointercancel'].forEach((t) => ptt.addEventListener(t, pttRelease));
  ptt.addEventListener('contextmenu', (e) => e.preventDefault()); // long-press menu on touch
  // preventDefault: no page scroll, and no click on whatever button has focus.
  document.addEventListener('keydown', (e) => {
    if (spaceIsPtt(e)) { e.preventDefault(); if (!e.repeat) pttPress(); }
  });
  document.addEventListener('keyup', (e) => { if (spaceIsPtt(e)) { e.preventDefault(); pttRelease(); } });
  window.addEventListener('blur', pttRelease); // a keyup lost to another window must not stick
  if (navigator.mediaDevices) navigator.mediaDevices.ondevicechange = () => refreshMicList().catch(() => {});
  refreshMicList().catch(() => {});
  $('ptt-panel').hidden = currentMode() !== 'push_to_talk'; // browsers may restore the select
  // Free the server-side session promptly when the tab goes away.
  window.addEventListener('pagehide', () => deleteSession(app.sessionUrl, app.token, true));
}

init();
