// The translator's language picker (docs/protocol.md, `translator`, `language`): shown once
// a translator in the room greets us with the languages it offers and the one it has for us
// (our join token's, else its default). Choosing another tells it: {"type": "language"}.
import { $, el } from './room-dom.js';

export class LanguagePicker {
  // `send(message)`: to the agent over our data channel; false when we cannot yet.
  constructor(send) {
    this.send = send;
    this.card = $('room-language-card');
    this.select = $('room-language');
    this.language = null;
    this.select.addEventListener('change', () => this.choose(this.select.value));
  }

  // A `translator` message; true if `msg` was one.
  handle(msg) {
    if (msg.type !== 'translator') return false;
    const languages = msg.languages && typeof msg.languages === 'object' ? msg.languages : {};
    if (this.select.options.length !== Object.keys(languages).length) {
      this.select.replaceChildren(...Object.entries(languages).map(([code, name]) => {
        const option = el('option', '', `${name} (${code})`);
        option.value = code;
        return option;
      }));
    }
    this.language = msg.language;
    this.select.value = msg.language;
    this.card.hidden = false;
    return true;
  }

  choose(language) {
    if (language === this.language) return;
    if (!this.send({ type: 'language', language })) this.select.value = this.language;
  }
}
