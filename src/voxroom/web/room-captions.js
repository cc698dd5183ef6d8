// The room's captions, as the agent sends them (docs/protocol.md, `transcript`): one bubble
// per (role, turn_id), labelled by speaker. A later message for the same turn replaces the text:
// interim captions give way to the final one, and the agent's grow as it speaks.
import { el, hueOf } from './room-dom.js';

export class Captions {
  constructor(box) {
    this.box = box;
    this.bubbles = new Map(); // "role:turn_id" -> bubble element
  }

  // `speakers`: {agent: the agent's display name, me: our identity}.
  update(msg, speakers) {
    const role = msg.role === 'agent' ? 'agent' : 'user';
    const key = `${role}:${msg.turn_id}`;
    let bubble = this.bubbles.get(key);
    if (!bubble) {
      bubble = createBubble(role);
      this.bubbles.set(key, bubble);
      this.keepScrolled(() => this.box.append(bubble));
    }
    const identity = role === 'agent' ? 'agent' : String(msg.participant || '');
    const name = role === 'agent' ? speakers.agent : (msg.name || msg.participant || 'Someone');
    this.keepScrolled(() => render(bubble, {
      identity, name, mine: role === 'user' && identity === speakers.me,
      text: typeof msg.text === 'string' ? msg.text : '', final: !!msg.final, interrupted: !!msg.interrupted,
    }));
  }

  // A translator's caption of someone's turn in our language (docs/protocol.md,
  // `translation`): shown under the speaker's own words, replacing an earlier one for the turn.
  translation(msg, speakers) {
    const key = `user:${msg.turn_id}`;
    if (!this.bubbles.has(key)) { // the original caption has not come (or never will)
      this.update({ role: 'user', turn_id: msg.turn_id, participant: msg.participant, name: msg.name,
        text: msg.source_text || '', final: !!msg.final }, speakers);
    }
    const bubble = this.bubbles.get(key);
    let line = bubble.querySelector('.translation');
    if (!line) {
      line = el('div', 'translation');
      line.append(el('span', 'tag'), el('span', 'translated'));
      this.keepScrolled(() => bubble.append(line));
    }
    line.classList.toggle('interim', !msg.final);
    line.dataset.final = String(!!msg.final);
    line.querySelector('.tag').textContent = `${String(msg.source_language || '?')} → ${String(msg.language || '?')}`;
    line.querySelector('.translated').textContent = typeof msg.text === 'string' ? msg.text : '';
  }

  // A line about the room itself ("Bob joined").
  note(text) {
    this.keepScrolled(() => this.box.append(el('div', 'room-note', text)));
  }

  // Auto-scroll only when the reader is already at the bottom, so scrolling back is not fought.
  keepScrolled(change) {
    const box = this.box;
    const stick = box.scrollHeight - box.scrollTop - box.clientHeight < 60;
    change();
    if (stick) box.scrollTop = box.scrollHeight;
  }

  // What the page shows, for tests and debugging.
  snapshot() {
    return [...this.box.querySelectorAll('.bubble')].map((b) => {
      const translated = b.querySelector('.translation');
      return {
        role: b.dataset.role, speaker: b.dataset.speaker, name: b.dataset.name,
        final: b.dataset.final === 'true', text: b.querySelector('.text').textContent,
        translation: translated ? translated.querySelector('.translated').textContent : null,
        translationFinal: translated ? translated.dataset.final === 'true' : null,
      };
    });
  }
}

function createBubble(role) {
  const bubble = el('div', `bubble ${role}`);
  bubble.dataset.role = role;
  bubble.append(el('div', 'who'), el('div', 'text'));
  return bubble;
}

function render(bubble, { identity, name, mine, text, final, interrupted }) {
  Object.assign(bubble.dataset, { speaker: identity, name, final: String(final) });
  bubble.style.setProperty('--hue', String(hueOf(name)));
  bubble.classList.toggle('mine', mine);
  bubble.classList.toggle('interim', !final);
  bubble.querySelector('.who').textContent = mine ? `${name} (you)` : name;
  bubble.querySelector('.text').textContent = text || (final ? '' : '…');
  if (interrupted && !bubble.querySelector('.tag')) {
    bubble.querySelector('.who').after(el('span', 'tag', 'interrupted'));
  }
}
