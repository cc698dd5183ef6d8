// voxroom audit viewer: sessions, their recordings in sync with the transcript, model calls,
// tools, latency and cost — read from the audit API (docs/protocol.md, "Audit API").
// Plain JS modules (no build step, no third-party resources); this one is the entry point:
// the token, the session list with its filters, and routing between list and session.
import { API, AuthNeeded, api, useToken } from './api.js';
import { initPlayer, playerState, seek, stopPlayback } from './player.js';
import { renderSession } from './session.js';
import { $, el, fmtCost, fmtDuration, fmtInt, fmtWhen, setStatus, show } from './util.js';

const viewer = {
  view: null,       // 'list' | 'session'
  sessions: [],     // the list as loaded
  currency: 'USD',
  filters: { agent: '', since: '', until: '', limit: '50' },
  detail: null,     // the open session's detail (API body)
  loadGen: 0,       // bumped per load, so a slow answer never overwrites a newer view
};

function setAuth(state, label) {
  $('auth-state').dataset.state = state;
  $('auth-state').textContent = label;
}

function askForToken(reason) {
  setAuth('failed', 'no access');
  $('token-reason').textContent = reason;
  show($('token-panel'), true);
  show($('list-view'), false);
  show($('session-view'), false);
  $('token-input').focus();
}

function handleError(error) {
  if (error instanceof AuthNeeded) { askForToken(error.message); return; }
  setStatus(error.message || String(error));
}

function route() {
  const params = new URLSearchParams(window.location.hash.slice(1));
  const id = params.get('session');
  if (id) openSession(id); else openList();
}

function showView(name) {
  viewer.view = name;
  show($('token-panel'), false);
  show($('list-view'), name === 'list');
  show($('session-view'), name === 'session');
  if (name !== 'session') stopPlayback();
}

function dayStart(value) { // "YYYY-MM-DD" (local) → unix seconds
  const [y, m, d] = value.split('-').map(Number);
  return new Date(y, m - 1, d).getTime() / 1000;
}

function listQuery() {
  const f = viewer.filters;
  const q = new URLSearchParams({ limit: f.limit || '50' });
  if (f.agent.trim()) q.set('agent', f.agent.trim());
  if (f.since) q.set('since', String(dayStart(f.since)));
  if (f.until) q.set('until', String(dayStart(f.until) + 86400)); // the whole "to" day
  return q;
}

async function openList() {
  showView('list');
  document.title = 'voxroom audit';
  const gen = ++viewer.loadGen;
  $('list-count').textContent = 'loading…';
  try {
    const body = await api(`${API}/sessions?${listQuery()}`);
    if (gen !== viewer.loadGen) return;
    setAuth('ok', 'audit access');
    viewer.sessions = body.sessions || [];
    viewer.currency = body.currency || 'USD';
    renderList();
  } catch (error) {
    if (gen === viewer.loadGen) { $('list-count').textContent = ''; handleError(error); }
  }
}

function renderList() {
  const rows = viewer.sessions.map(sessionRow);
  $('session-list').replaceChildren(...rows);
  show($('list-empty'), rows.length === 0);
  const n = viewer.sessions.length;
  const limit = Number(viewer.filters.limit);
  $('list-count').textContent = n === limit ? `newest ${n} (raise "Show" for more)` : `${n} session${n === 1 ? '' : 's'}`;
  const agents = [...new Set(viewer.sessions.map((s) => s.agent).filter(Boolean))].sort();
  const known = new Set([...$('agent-options').options].map((o) => o.value));
  for (const agent of agents) {
    if (!known.has(agent)) $('agent-options').append(new Option(agent, agent));
  }
}

function sessionRow(s) {
  const row = el('tr', 'session-row');
  row.dataset.sessionId = s.id;
  row.tabIndex = 0;
  const link = el('a', 'session-link', s.id);
  link.href = `#session=${encodeURIComponent(s.id)}`;
  const idCell = el('td', 'mono');
  idCell.append(link);
  const status = el('td');
  const live = s.ended_at === null || s.ended_at === undefined;
  status.append(el('span', `tag ${live ? 'tag-live' : 'tag-ended'}`, live ? 'open' : (s.end_reason || 'ended')));
  row.append(
    idCell,
    el('td', 'agent', s.agent || '–'),
    el('td', 'when', fmtWhen(s.started_at)),
    el('td', 'num', live ? '–' : fmtDuration(s.duration)),
    el('td', 'num', fmtInt(s.turns)),
    el('td', 'num', `${fmtInt(s.prompt_tokens)} + ${fmtInt(s.completion_tokens)}`),
    el('td', 'num', fmtCost(s.cost, viewer.currency)),
    status,
  );
  row.addEventListener('click', (event) => {
    if (event.target.closest('a')) return;
    window.location.hash = link.getAttribute('href');
  });
  row.addEventListener('keydown', (event) => {
    if (event.key === 'Enter') window.location.hash = link.getAttribute('href');
  });
  return row;
}

function readFilters() {
  viewer.filters = {
    agent: $('filter-agent').value,
    since: $('filter-since').value,
    until: $('filter-until').value,
    limit: $('filter-limit').value,
  };
}

async function openSession(id) {
  showView('session');
  const gen = ++viewer.loadGen;
  $('session-id').textContent = id;
  $('session-agent').textContent = '';
  $('session-meta').textContent = 'loading…';
  $('timeline').replaceChildren();
  try {
    const detail = await api(`${API}/sessions/${encodeURIComponent(id)}`);
    if (gen !== viewer.loadGen) return;
    setAuth('ok', 'audit access');
    viewer.detail = detail;
    renderSession(detail);
  } catch (error) {
    if (gen !== viewer.loadGen) return;
    $('session-meta').textContent = '';
    if (error.status === 404) setStatus(`No audited session ${id}.`);
    else handleError(error);
  }
}

function init() {
  $('status-dismiss').addEventListener('click', () => setStatus(''));
  $('token-form').addEventListener('submit', (event) => {
    event.preventDefault();
    const token = $('token-input').value.trim();
    if (!token) return;
    useToken(token);
    $('token-input').value = '';
    setStatus('');
    route();
  });
  $('filters').addEventListener('submit', (event) => {
    event.preventDefault();
    readFilters();
    openList();
  });
  $('filter-reset').addEventListener('click', () => {
    for (const id of ['filter-agent', 'filter-since', 'filter-until']) $(id).value = '';
    $('filter-limit').value = '50';
    readFilters();
    openList();
  });
  $('list-refresh').addEventListener('click', () => openList());
  initPlayer();
  window.addEventListener('hashchange', route);
  route();
}

// For tests and debugging: what the page shows, as data.
window.voxroomAudit = {
  state: () => ({
    view: viewer.view,
    sessions: viewer.sessions.map((s) => s.id),
    session: viewer.detail && viewer.detail.session.id,
    ...playerState(),
  }),
  seek,
};

if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', init);
else init();
