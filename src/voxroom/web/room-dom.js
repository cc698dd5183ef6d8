// Small DOM helpers shared by the room page's modules (the playground's app.js has its own).

export const $ = (id) => document.getElementById(id);

export function el(tag, className = '', text = '') {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text) node.textContent = text;
  return node;
}

// Text plus a data-state attribute, which the stylesheet colours.
export function setLabel(node, state, text = state) {
  node.textContent = text;
  node.dataset.state = state;
}

// The status line under the header (shared with the playground; its × button hides it).
export function showStatus(message, kind = 'error') {
  $('status-text').textContent = message;
  $('status').dataset.kind = kind;
  $('status').hidden = false;
}

export function clearStatus() {
  $('status').hidden = true;
}

// A hue per name (FNV-1a), the same on every page: a person's avatar and captions share it.
export function hueOf(text) {
  let hash = 2166136261;
  for (const ch of text) hash = Math.imul(hash ^ ch.codePointAt(0), 16777619) >>> 0;
  return hash % 360;
}
