// Small helpers of the audit viewer: DOM building, formatting, the status line.
// Text from the store is always set with textContent, never parsed as HTML.

export const $ = (id) => document.getElementById(id);

export function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined && text !== null) node.textContent = String(text);
  return node;
}

export function show(node, visible) { node.hidden = !visible; }

export function setStatus(text, kind = 'error') {
  $('status-text').textContent = text;
  $('status').dataset.kind = kind;
  show($('status'), !!text);
}

export const num = (x) => (typeof x === 'number' && Number.isFinite(x) ? x : null);

export function fmtClock(seconds) {
  const s = Math.max(0, num(seconds) ?? 0);
  const m = Math.floor(s / 60);
  const rest = s - m * 60;
  return `${m}:${rest < 10 ? '0' : ''}${rest.toFixed(1)}`;
}

export function fmtDuration(seconds) {
  const s = num(seconds);
  if (s === null) return '–';
  if (s < 60) return `${s.toFixed(1)} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ${Math.round(s - m * 60)} s`;
  return `${Math.floor(m / 60)} h ${m % 60} min`;
}

export function fmtMs(ms) {
  const x = num(ms);
  if (x === null) return '–';
  return x >= 1000 ? `${(x / 1000).toFixed(2)} s` : `${Math.round(x)} ms`;
}

export function fmtWhen(unix) {
  const x = num(unix);
  if (x === null) return '–';
  const d = new Date(x * 1000);
  const date = d.toLocaleDateString(undefined, { year: 'numeric', month: 'short', day: 'numeric' });
  const time = d.toLocaleTimeString(undefined, { hour: '2-digit', minute: '2-digit', second: '2-digit' });
  return `${date}, ${time}`;
}

export function fmtInt(x) { return (num(x) ?? 0).toLocaleString('en-US'); }

export function fmtCost(amount, currency) {
  const x = num(amount) ?? 0;
  const code = currency || 'USD';
  const options = x !== 0 && Math.abs(x) < 1
    ? { maximumSignificantDigits: 3 }
    : { minimumFractionDigits: 2, maximumFractionDigits: 2 };
  try {
    return new Intl.NumberFormat('en-US', { style: 'currency', currency: code, ...options }).format(x);
  } catch (_) { // not an ISO currency code: the number and the table's own name
    return `${x.toPrecision(3)} ${code}`;
  }
}

export function fmtBytes(n) {
  const x = num(n) ?? 0;
  if (x < 1024) return `${x} B`;
  if (x < 1024 * 1024) return `${(x / 1024).toFixed(0)} KB`;
  return `${(x / 1024 / 1024).toFixed(1)} MB`;
}

export function shortJson(value, max = 160) {
  let text;
  try { text = typeof value === 'string' ? value : JSON.stringify(value); } catch (_) { text = String(value); }
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

export function prettyJson(value) {
  if (typeof value === 'string') {
    try { return JSON.stringify(JSON.parse(value), null, 2); } catch (_) { return value; }
  }
  return JSON.stringify(value, null, 2);
}

export function median(values) {
  const xs = values.map(num).filter((x) => x !== null).sort((a, b) => a - b);
  if (!xs.length) return null;
  const mid = Math.floor(xs.length / 2);
  return xs.length % 2 ? xs[mid] : (xs[mid - 1] + xs[mid]) / 2;
}

export function chip(text, className = '') {
  return el('span', `chip ${className}`.trim(), text);
}

export function section(title, content) {
  const node = el('div', 'section');
  node.append(el('h3', null, title), content);
  return node;
}

export function kvList(obj) {
  const dl = el('dl', 'kv');
  for (const [k, v] of Object.entries(obj)) {
    dl.append(el('dt', null, k), el('dd', null, v === null || v === undefined ? '–' : (typeof v === 'object' ? shortJson(v, 400) : v)));
  }
  if (!dl.children.length) dl.append(el('dd', 'muted', 'none'));
  return dl;
}
