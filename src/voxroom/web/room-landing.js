// The playground's "Rooms" card: create a room (dev tokens: loopback, dev mode) and go to it,
// or go to one from a pasted link or id.
import { $, clearStatus, showStatus } from './room-dom.js';
import { fetchJSON } from './room-http.js';

export const roomUrl = (id) => `/?room=${encodeURIComponent(id)}`;

export function initRoomsCard() {
  $('create-room').addEventListener('click', createRoom);
  $('join-room-form').addEventListener('submit', (event) => {
    event.preventDefault();
    const id = roomIdFrom($('join-room-input').value);
    if (id) window.location.assign(roomUrl(id));
    else showStatus('Paste a room link or a room id to join.');
  });
}

async function createRoom() {
  const button = $('create-room');
  button.disabled = true;
  clearStatus();
  try {
    const { token } = await fetchJSON('/api/v1/tokens', { method: 'POST', body: { scopes: ['rooms'] } });
    const created = await fetchJSON('/api/v1/rooms', { method: 'POST', body: {}, token });
    window.location.assign(created.join_url);
  } catch (err) {
    showStatus(`Could not create a room: ${err.message}`);
    button.disabled = false;
  }
}

// A room id from what was pasted: the id itself, or a link with ?room=<id>.
function roomIdFrom(text) {
  const value = text.trim();
  if (/^[\w-]+$/.test(value)) return value;
  try {
    return new URL(value, window.location.href).searchParams.get('room');
  } catch (_) {
    return null;
  }
}
