// The agent-assist copilot's panel (docs/protocol.md, `copilot`, `suggestion`, `summary`):
// shown only to a participant whose join token says role "agent", and only once the copilot
// speaks to them (the server sends its messages to that role alone). Suggestions come newest
// first, each with the passages it cites; the summary and a short transcript by role follow;
// the ask box sends {"type": "ask", "text"} to the copilot.
import { $, el } from './room-dom.js';

const TRANSCRIPT_LINES = 12;
const MAX_SUGGESTIONS = 20;

export class CopilotPanel {
  // `send(message)`: to the agent over our data channel; false when we cannot yet.
  constructor(send) {
    this.send = send;
    this.box = $('copilot');
    this.list = $('copilot-suggestions');
    this.roles = new Map(); // identity -> role, from `participant` messages
    this.lines = new Map(); // turn key -> transcript line element
    $('copilot-ask').addEventListener('submit', (event) => { event.preventDefault(); this.ask(); });
  }

  // Messages the panel shows; true if `msg` was one of them.
  handle(msg) {
    switch (msg.type) {
      case 'copilot': this.box.hidden = false; return true;
      case 'suggestion': this.box.hidden = false; this.suggestion(msg); return true;
      case 'summary': this.box.hidden = false; $('copilot-summary').textContent = msg.text || ''; return true;
      default: return false;
    }
  }

  participant(msg) {
    if (msg.event === 'joined' && msg.role) this.roles.set(String(msg.participant), msg.role);
  }

  // A user caption, as a line of the panel's transcript labelled by role (customer / agent).
  transcript(msg) {
    if (this.box.hidden || msg.role !== 'user') return;
    const key = String(msg.turn_id);
    let line = this.lines.get(key);
    if (!line) {
      line = el('div', 'copilot-line');
      line.append(el('span', 'copilot-role'), el('span', 'copilot-said'));
      this.lines.set(key, line);
      $('copilot-transcript').append(line);
      while (this.lines.size > TRANSCRIPT_LINES) {
        const [oldest, node] = this.lines.entries().next().value;
        node.remove();
        this.lines.delete(oldest);
      }
    }
    const role = this.roles.get(String(msg.participant)) || 'user';
    line.dataset.role = role;
    line.classList.toggle('interim', !msg.final);
    line.querySelector('.copilot-role').textContent = `${role} (${msg.name || msg.participant})`;
    line.querySelector('.copilot-said').textContent = msg.text || '…';
  }

  suggestion(msg) {
    const card = el('article', 'suggestion');
    card.dataset.trigger = msg.trigger || '';
    card.dataset.confident = String(!!msg.confident);
    const sources = Array.isArray(msg.sources) ? msg.sources : [];
    card.dataset.document = sources.length ? sources[0].document : '';
    const head = el('div', 'suggestion-question', `“${msg.question || ''}”`);
    head.append(el('span', 'tag', msg.trigger === 'ask' ? 'you asked' : msg.trigger || 'question'));
    card.append(head);
    if (!msg.confident) card.append(el('div', 'suggestion-weak', 'Nothing in the knowledge base matches well; closest:'));
    card.append(el('div', 'suggestion-answer', msg.answer || ''));
    const list = el('ul', 'suggestion-sources');
    for (const source of sources) {
      const item = el('li');
      item.append(el('b', '', source.document));
      if (source.section) item.append(document.createTextNode(` · ${source.section}`));
      item.append(el('span', 'score', Number(source.score).toFixed(2)));
      item.title = source.excerpt || '';
      list.append(item);
    }
    card.append(list);
    this.list.prepend(card);
    while (this.list.children.length > MAX_SUGGESTIONS) this.list.lastElementChild.remove();
  }

  ask() {
    const input = $('copilot-ask-input');
    const text = input.value.trim().slice(0, 500);
    if (text && this.send({ type: 'ask', text })) input.value = '';
  }

  // What the panel shows, for tests and debugging.
  snapshot() {
    return {
      shown: !this.box.hidden,
      suggestions: [...this.list.querySelectorAll('.suggestion')].map((card) => ({
        question: card.querySelector('.suggestion-question').firstChild.textContent,
        answer: card.querySelector('.suggestion-answer').textContent,
        document: card.dataset.document, trigger: card.dataset.trigger,
      })),
      summary: $('copilot-summary').textContent,
      transcript: [...$('copilot-transcript').children].map((line) => line.textContent),
    };
  }
}
