// The room page, `/?room=<id>`: several people and the agent in one Janus VideoRoom
// (docs/protocol.md, "Rooms"). Without ?room, the playground shows its "Rooms" card instead.
import { BrowserPanel } from './browser-panel.js';
import { $, clearStatus, setLabel, showStatus } from './room-dom.js';
import { Captions } from './room-captions.js';
import { CopilotPanel } from './room-copilot.js';
import { DirectMessages } from './room-direct.js';
import { HttpError, fetchJSON } from './room-http.js';
import { RoomCall, loadJanus } from './room-janus.js';
import { initRoomsCard, roomUrl } from './room-landing.js';
import { LanguagePicker } from './room-languages.js';
import { Tiles } from './room-tiles.js';

const params = new URLSearchParams(window.location.search);
const ROOM_ID = params.get('room');
const PROCESSING = params.get('processing') !== '0'; // ?processing=0: the raw microphone (tests)
// Dev join tokens: ?role=agent (the human agent of a copilot call), ?lang=es (spoken language).
const ROLE = params.get('role');
const LANG = params.get('lang');
const NAME_KEY = 'voxroom.name';
const CAMERA = { width: { ideal: 640 }, height: { ideal: 480 }, frameRate: { ideal: 15, max: 30 } };
const MEDIA_TIMEOUT_MS = 20000; // our audio must reach Janus within this
const HEARD_POLL_MS = 500;      // how often we ask the room API whether the agent hears us yet

// How the room's policy decides when the agent speaks, for the "Talk to" card.
const POLICY_HINTS = {
  addressed: (a) => `${a} answers when you say its name ("${a}, …"), when you follow up right after it answered you, when you type, or while you hold the button.`,
  always: (a) => `${a} answers everything anyone says.`,
  push_to_talk: (a) => `${a} answers only what is said while holding the button, and typed messages.`,
  silent: (a) => `${a} only listens and keeps the captions.`,
};

const room = {
  conn: 'disconnected', gen: 0, call: null, token: null, me: null, policy: null,
  mic: null, camera: null, heard: false, pttHeld: false, direct: null, role: null,
  agentFeed: null, agentName: 'the agent',
  names: new Map(), // identity -> display name, for "left" notes
};
let tiles = null;
let captions = null;
let copilot = null;
let languages = null;
let browser = null;

const sleep = (ms) => new Promise((resolve) => { setTimeout(resolve, ms); });

// ---------------------------------------------------------------- the room page: set-up
function initRoomPage() {
  $('p2p-view').hidden = true;
  $('conn-state').hidden = true;
  $('room-view').hidden = false;
  $('room-conn').hidden = false;
  setRoomTitle(null);
  tiles = new Tiles($('room-tiles'), onAutoplayBlocked);
  captions = new Captions($('room-captions'));
  copilot = new CopilotPanel(send);
  languages = new LanguagePicker(send);
  browser = new BrowserPanel($('room-browser-panel'), send);
  $('room-link').value = new URL(roomUrl(ROOM_ID), window.location.href).href;
  $('room-name').value = storedName() || guestName();
  $('room-join-form').addEventListener('submit', (event) => { event.preventDefault(); join(); });
  $('room-leave').addEventListener('click', () => teardown('disconnected', 'left'));
  $('room-copy').addEventListener('click', copyLink);
  $('room-chat').addEventListener('submit', sendChat);
  $('room-mode').addEventListener('change', sendMode);
  wirePushToTalk();
  setConn('disconnected', 'not joined');
  renderAgentTexts();
}

const guestName = () => `Guest ${1000 + Math.floor(Math.random() * 9000)}`;

function storedName() {
  try { return window.localStorage.getItem(NAME_KEY); } catch (_) { return null; }
}

// A room created without a name is named by its id.
function setRoomTitle(name) {
  const named = name && name !== ROOM_ID;
  $('room-label').textContent = named ? `room “${name}”` : `room ${ROOM_ID}`;
  $('room-label').hidden = false;
  document.title = `${named ? name : 'Room'} · voxroom playground`;
}

// ---------------------------------------------------------------- join and leave
async function join() {
  if (room.call || room.conn === 'connecting') return;
  const gen = ++room.gen;
  clearStatus();
  setConn('connecting');
  tiles.startAudio(); // now, inside the click: browsers start audio only on a user gesture
  try {
    const me = whoAmI();
    await loadJanus();
    const { token } = await joinToken(me);
    const config = await fetchJSON('/api/v1/config');
    const { mic, camera } = await getMedia();
    if (gen !== room.gen) { stopMedia(mic, camera); return; }
    Object.assign(room, { me, token, mic, camera, role: claimsOf(token).role || null });
    openDirect(gen, token);
    tiles.addSelf(me, mic, camera);
    room.call = new RoomCall({
      token, iceServers: config.ice_servers || [], on: callEvents(gen),
      mic: mic.getAudioTracks()[0], camera: camera && camera.getVideoTracks()[0],
    });
    updateControls();
    await room.call.start();
    if (gen !== room.gen) return;
    watchMedia(gen);
    followRoom(gen);
  } catch (err) {
    if (gen !== room.gen) return;
    showStatus(joinError(err));
    teardown('failed', 'could not join');
  }
}

// Identities are unique per join: two tabs of one person are two participants.
function whoAmI() {
  const name = $('room-name').value.trim().slice(0, 64) || guestName();
  $('room-name').value = name;
  try { window.localStorage.setItem(NAME_KEY, name); } catch (_) { /* private mode */ }
  const slug = name.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-+|-+$/g, '').slice(0, 24);
  return { identity: `${slug || 'guest'}-${Math.random().toString(36).slice(2, 6)}`, name };
}

function joinToken(me) {
  const body = { room: ROOM_ID, identity: me.identity, name: me.name };
  if (ROLE) body.role = ROLE;
  if (LANG) body.language = LANG;
  return fetchJSON('/api/v1/tokens', { method: 'POST', body });
}

// What our join token says of us (role, language): its payload, as the server signed it.
function claimsOf(token) {
  try {
    const payload = token.split('.')[1].replace(/-/g, '+').replace(/_/g, '/');
    return JSON.parse(atob(payload.padEnd(payload.length + ((4 - (payload.length % 4)) % 4), '=')));
  } catch (_) {
    return {};
  }
}

// Before we publish: what the agent sends us alone must find us listening.
function openDirect(gen, token) {
  const live = (handler) => (...args) => { if (gen === room.gen) handler(...args); };
  room.direct = new DirectMessages(ROOM_ID, token, live(onMessage),
    live((reason) => showStatus(`Messages for you cannot reach this page: ${reason}`)));
  room.direct.open();
}

function joinError(err) {
  if (err instanceof HttpError && err.status === 404) {
    return `Room “${ROOM_ID}” was not found: it may have ended. Create a new one on the playground.`;
  }
  return `Could not join: ${err.message || err}`;
}

async function getMedia() {
  const audio = { echoCancellation: PROCESSING, noiseSuppression: PROCESSING, autoGainControl: PROCESSING };
  let mic = null;
  try {
    mic = await navigator.mediaDevices.getUserMedia({ audio });
    const camera = $('room-camera').checked
      ? await navigator.mediaDevices.getUserMedia({ video: CAMERA }) : null;
    return { mic, camera };
  } catch (err) {
    stopMedia(mic, null);
    throw new Error(`${mic ? 'camera' : 'microphone'} unavailable (${err.name}: ${err.message})`);
  }
}

function stopMedia(...streams) {
  streams.forEach((stream) => { if (stream) stream.getTracks().forEach((t) => t.stop()); });
}

// Janus answered our offer; if our audio does not get through (ICE), say so instead of waiting.
function watchMedia(gen) {
  setTimeout(() => {
    if (gen !== room.gen || room.conn !== 'connecting') return;
    showStatus('Could not connect your audio to the room (no ICE connection to the server).');
    teardown('failed', 'no media');
  }, MEDIA_TIMEOUT_MS);
}

// Ask the room API (our join token may) for the room's name and policy, and until the agent
// lists us: from then on our messages and voice reach it.
async function followRoom(gen) {
  while (gen === room.gen && !room.heard) {
    try {
      const info = await fetchJSON(`/api/v1/rooms/${encodeURIComponent(ROOM_ID)}`, { token: room.token });
      if (gen !== room.gen) return;
      setRoomTitle(info.name);
      room.policy = info.policy;
      if (!room.agentFeed && info.agent) room.agentName = info.agent; // a listening agent has no feed
      renderAgentTexts();
      if (info.participants.some((p) => p.identity === room.me.identity)) onHeard();
    } catch (err) {
      console.warn('voxroom: room info unavailable', err); // Janus tells us if the room ended
    }
    await sleep(HEARD_POLL_MS);
  }
}

function onHeard() {
  if (room.heard || !room.call) return;
  room.heard = true;
  sendMode(); // the agent starts each participant in its own default mode
  updateControls();
}

function teardown(state, label = state) {
  room.gen++;
  if (room.pttHeld) pttRelease();
  if (room.call) room.call.close();
  if (room.direct) room.direct.close();
  stopMedia(room.mic, room.camera);
  tiles.clear();
  tiles.setAgentState(null);
  Object.assign(room, { call: null, direct: null, token: null, mic: null, camera: null, heard: false, agentFeed: null });
  setConn(state, label);
}

// ---------------------------------------------------------------- events from the call
function callEvents(gen) {
  const live = (handler) => (...args) => { if (gen === room.gen) handler(...args); };
  return {
    publisher: live(onPublisher),
    gone: live(onGone),
    track: live((feed, track, on) => tiles.setTrack(feed, track, on)),
    data: live(onData),
    connected: live(() => setConn('connected')),
    lost: live((reason) => {
      showStatus(`Disconnected from the room: ${reason.replace(/^\w/, (c) => c.toLowerCase())}. Click Join to rejoin.`);
      teardown('disconnected');
    }),
    ended: live(() => {
      showStatus('This room has ended. Create a new one on the playground.');
      teardown('ended', 'room ended');
    }),
    warning: live((message) => showStatus(message)),
  };
}

function onPublisher(feed, who) {
  room.names.set(who.identity, who.name);
  if (who.ai) {
    room.agentFeed = feed;
    room.agentName = who.name;
    renderAgentTexts();
  }
  tiles.add(feed, who);
}

function onGone(feed) {
  if (feed === room.agentFeed) {
    room.agentFeed = null;
    tiles.setAgentState(null);
  }
  tiles.remove(feed);
}

// Only the agent's feed carries messages for us (docs/protocol.md, "Data channel messages");
// those for us alone come over the direct WebSocket (openDirect), and read the same.
function onData(feed, text) {
  if (feed !== room.agentFeed) return;
  let msg;
  try { msg = JSON.parse(text); } catch (_) { return; }
  if (msg && typeof msg === 'object') onMessage(msg);
}

function onMessage(msg) {
  const speakers = { agent: room.agentName, me: room.me && room.me.identity };
  switch (msg.type) {
    case 'transcript': captions.update(msg, speakers); copilot.transcript(msg); break;
    case 'translation': captions.translation(msg, speakers); break;
    case 'state': tiles.setAgentState(msg.state); break;
    case 'participant': copilot.participant(msg); onParticipant(msg); break;
    case 'error': showStatus(`${room.agentName}: ${msg.message || 'error'}`); break;
    case 'translator': languages.handle(msg); break;
    case 'copilot': case 'suggestion': case 'summary':
      if (room.role === 'agent') copilot.handle(msg); // only ever sent to the human agent
      break;
    case 'browser': // a browser agent: its video is the browser's screen, shown wide
      browser.handle(msg);
      $('room-tiles').classList.add('agent-screen');
      break;
    default: browser.handle(msg); break; // its other messages; turn_metrics; newer types
  }
}

// Someone joined (the agent hears them from now on) or left.
function onParticipant(msg) {
  const identity = String(msg.participant || '');
  if (msg.event === 'joined') {
    room.names.set(identity, msg.name || identity);
    if (room.me && identity === room.me.identity) onHeard();
    else captions.note(`${msg.name || identity} joined`);
  } else if (msg.event === 'left') {
    captions.note(`${room.names.get(identity) || identity} left`);
  }
}

// ---------------------------------------------------------------- controls
function setConn(state, label = state) {
  room.conn = state;
  setLabel($('room-conn'), state, label);
  updateControls();
}

function updateControls() {
  const inCall = !!room.call;
  $('room-join').disabled = inCall;
  $('room-leave').disabled = !inCall;
  $('room-name').disabled = inCall;
  $('room-camera').disabled = inCall;
  $('room-chat-send').disabled = !room.heard;
  $('room-ptt').disabled = !room.heard;
  $('room-hint').textContent = hint();
}

function hint() {
  if (room.heard) return `You are in the room; ${room.agentName} can hear you.`;
  if (room.conn === 'connected') return `Connected. Waiting until ${room.agentName} can hear you…`;
  if (room.conn === 'connecting') return 'Joining…';
  return 'Join to talk with the people here and the AI agent.';
}

// Texts that name the agent, once we know its name (from its display) and the room's policy.
function renderAgentTexts() {
  const agent = room.agentName;
  $('room-talk-title').textContent = `Talk to ${agent}`;
  $('room-ptt').textContent = `Hold to talk to ${agent}`;
  $('room-mode-label').textContent = `${agent.replace(/^\w/, (c) => c.toUpperCase())} listens to me`;
  $('room-policy').textContent = POLICY_HINTS[room.policy] ? POLICY_HINTS[room.policy](agent) : '';
  $('room-hint').textContent = hint();
}

function send(message) {
  return !!room.call && room.heard && room.call.send(message);
}

function sendChat(event) {
  event.preventDefault();
  const input = $('room-chat-input');
  const text = input.value.trim().slice(0, 2000);
  if (!text) return;
  // No local bubble: the agent echoes typed chat to everyone as a final caption.
  if (send({ type: 'chat', text })) input.value = '';
  else showStatus(`Join the room first: ${room.agentName} cannot hear you yet.`);
}

function sendMode() {
  send({ type: 'mode', mode: $('room-mode').value === 'push_to_talk' ? 'push_to_talk' : 'hands_free' });
}

function pttPress() {
  if (!room.heard || room.pttHeld) return;
  room.pttHeld = true;
  $('room-ptt').classList.add('held');
  send({ type: 'push_to_talk', action: 'press' });
}

function pttRelease() {
  if (!room.pttHeld) return;
  room.pttHeld = false;
  $('room-ptt').classList.remove('held');
  send({ type: 'push_to_talk', action: 'release' });
}

// The button, or the space bar anywhere but in a text field.
function wirePushToTalk() {
  const ptt = $('room-ptt');
  ptt.addEventListener('pointerdown', (e) => { e.preventDefault(); pttPress(); });
  ['pointerup', 'pointerleave', 'pointercancel'].forEach((t) => ptt.addEventListener(t, pttRelease));
  ptt.addEventListener('contextmenu', (e) => e.preventDefault()); // long-press menu on touch
  const isSpace = (e) => e.code === 'Space' && room.heard && !isTyping(e.target);
  document.addEventListener('keydown', (e) => { if (isSpace(e)) { e.preventDefault(); if (!e.repeat) pttPress(); } });
  document.addEventListener('keyup', (e) => { if (isSpace(e)) { e.preventDefault(); pttRelease(); } });
  window.addEventListener('blur', pttRelease); // a keyup lost to another window must not stick
}

function isTyping(target) {
  return !!target && (target.isContentEditable || target.tagName === 'TEXTAREA' || target.tagName === 'SELECT'
    || (target.tagName === 'INPUT' && !['checkbox', 'radio', 'button', 'submit'].includes(target.type)));
}

async function copyLink() {
  const input = $('room-link');
  try {
    await navigator.clipboard.writeText(input.value);
  } catch (_) { // no Clipboard API on plain http from another host: select it for the user
    input.select();
    document.execCommand('copy');
  }
  const button = $('room-copy');
  button.textContent = 'Copied';
  setTimeout(() => { button.textContent = 'Copy'; }, 1500);
}

function onAutoplayBlocked() {
  showStatus('Click anywhere to hear the room.', 'info');
  document.addEventListener('pointerdown', () => { tiles.resumeAudio(); clearStatus(); }, { once: true });
}

// Test and debugging hook: what the page shows.
window.voxroomRoom = {
  state: () => ({
    conn: room.conn, heard: room.heard, me: room.me, agent: room.agentName,
    agentState: tiles && tiles.agentState,
    tiles: tiles ? tiles.snapshot() : [], captions: captions ? captions.snapshot() : [],
    role: room.role, copilot: copilot ? copilot.snapshot() : null,
    language: languages ? languages.language : null, direct: !!(room.direct && room.direct.ready),
    browser: browser ? browser.snapshot() : null,
  }),
};

if (ROOM_ID) initRoomPage(); else initRoomsCard();
