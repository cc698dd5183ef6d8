// One session: header, totals, recording, timeline, latency, usage, facts, all events.
import { eventItem, llmCall } from './calls.js';
import { STAGES, buildModel, latencySegments } from './model.js';
import { addLine, clearLines, renderPlayer, seek } from './player.js';
import { $, el, fmtClock, fmtCost, fmtDuration, fmtInt, fmtMs, fmtWhen, median, num, show } from './util.js';

export function renderSession(d) {
  const s = d.session;
  const events = d.events || [];
  document.title = `${s.agent || 'session'} ${s.id} · voxroom audit`;
  $('session-agent').textContent = s.agent || 'session';
  const live = s.ended_at === null || s.ended_at === undefined;
  const meta = [`started ${fmtWhen(s.started_at)}`, live ? 'still open' : `lasted ${fmtDuration(s.duration)}`];
  if (!live) meta.push(`ended: ${s.end_reason || 'ended'}`);
  $('session-meta').textContent = meta.join(' · ');
  renderChain(d.verification);
  $('export-json').href = d.export.json;
  $('export-jsonl').href = d.export.jsonl;
  $('export-json').setAttribute('download', `voxroom-audit-${s.id}.json`);
  $('export-jsonl').setAttribute('download', `voxroom-audit-${s.id}.jsonl`);

  const model = buildModel(events);
  renderTotals(d, model);
  renderPlayer(d, model);
  renderTimeline(model);
  renderLatency(model.metrics);
  renderUsage(d, model);
  renderFacts(d, model);
  renderRaw(events, d.verification);
}

function renderChain(v) {
  const badge = $('chain-status');
  badge.dataset.ok = String(!!v.ok);
  badge.textContent = v.ok
    ? `Chain intact · ${v.checked} events`
    : `Chain broken at seq ${v.first_bad_seq}`;
  badge.title = v.ok ? `head hash ${v.head_hash}` : `${v.reason}\n(last good hash ${v.head_hash})`;
  $('chain-detail').textContent = v.ok ? '' : `The hash chain does not verify: seq ${v.first_bad_seq}: ${v.reason}. `
    + `What follows may have been altered since it was recorded; ${v.checked} events before it verify.`;
  show($('chain-detail'), !v.ok);
}

function renderTotals(d, m) {
  const s = d.session;
  const totals = [
    ['Turns', fmtInt(s.turns), 'agent replies'],
    ['Tokens', fmtInt(s.prompt_tokens + s.completion_tokens), `${fmtInt(s.prompt_tokens)} in · ${fmtInt(s.completion_tokens)} out`],
    ['Cost', fmtCost(s.cost, d.currency), `${d.currency}, priced when logged`],
    ['LLM calls', fmtInt(m.llmCalls.length), m.tools ? `${m.tools} tool call${m.tools === 1 ? '' : 's'}` : 'no tool calls'],
    ['STT audio', `${(num(s.stt_seconds) ?? 0).toFixed(1)} s`, 'transcribed'],
    ['TTS', `${fmtInt(s.tts_characters)} chars`, 'synthesized'],
    ['Reply latency', fmtMs(median(m.metrics.map((x) => x.total_ms))), 'median, speech end → audio'],
    ['Errors', fmtInt(m.errors), m.errors ? 'see the timeline' : 'none'],
  ];
  $('totals').replaceChildren(...totals.map(([label, value, hint]) => {
    const tile = el('div', 'tile');
    tile.dataset.total = label.toLowerCase().replace(/\s+/g, '-');
    if (label === 'Errors' && m.errors) tile.classList.add('tile-bad');
    tile.append(el('span', 'tile-label', label), el('span', 'tile-value', value), el('span', 'tile-hint', hint));
    return tile;
  }));
}

function renderTimeline(m) {
  clearLines();
  const nodes = [];
  for (const entry of m.order) {
    if (entry.kind === 'turn') nodes.push(turnBlock(entry.turn, m));
    else nodes.push(eventItem(entry.e));
  }
  $('timeline').replaceChildren(...nodes);
}

function turnBlock(turn) {
  const block = el('section', 'turn');
  block.dataset.turnId = String(turn.id);
  const head = el('div', 'turn-head');
  head.append(el('span', 'turn-no', `Turn ${turn.id}`));
  const firstLine = turn.items.find((i) => i.kind === 'line');
  if (firstLine) head.append(el('span', 'turn-time', fmtClock(firstLine.start)));
  if (turn.metrics && num(turn.metrics.total_ms) !== null) {
    const latency = el('span', 'turn-latency', `${fmtMs(turn.metrics.total_ms)} to first audio`);
    latency.title = 'end of user speech → first agent audio frame';
    head.append(latency);
  }
  block.append(head);
  const calls = turn.items.filter((i) => i.kind === 'llm').length;
  // Speech lines at the time the words were spoken; everything else when it was logged.
  const at = (i) => (i.kind === 'line' ? i.start : (i.kind === 'llm' ? (i.call.request || i.call.response).t : i.e.t));
  const items = turn.items.map((item, index) => ({ item, index }))
    .sort((a, b) => at(a.item) - at(b.item) || a.index - b.index).map((x) => x.item);
  for (const item of items) {
    if (item.kind === 'line') block.append(transcriptLine(item));
    else if (item.kind === 'llm') block.append(llmCall(item.call, calls > 1));
    else block.append(eventItem(item.e));
  }
  return block;
}

function transcriptLine(item) {
  const { e, role } = item;
  const line = el('div', `line line-${role}`);
  line.dataset.role = role;
  line.dataset.eventType = e.type;
  line.dataset.seq = String(e.seq);
  line.dataset.start = item.start.toFixed(3);
  line.dataset.end = item.end.toFixed(3);
  line.tabIndex = 0;
  line.title = 'Play from here';
  const who = el('div', 'who');
  who.append(el('span', 'who-name', role === 'user' ? 'User' : 'Agent'));
  who.append(el('span', 'who-time', fmtClock(item.start)));
  if (role === 'user' && e.source === 'chat') who.append(el('span', 'tag tag-muted', 'typed'));
  if (role === 'agent' && e.interrupted) who.append(el('span', 'tag tag-bad', 'interrupted'));
  const text = el('div', 'text', role === 'user' ? e.text : e.played_text);
  line.append(who, text);
  if (role === 'agent' && e.interrupted && e.planned_text && e.planned_text.startsWith(e.played_text || '')) {
    const rest = e.planned_text.slice((e.played_text || '').length).trim();
    if (rest) {
      const unplayed = el('div', 'unplayed');
      unplayed.append(el('span', 'label', 'not played:'), el('span', null, rest));
      line.append(unplayed);
    }
  }
  const play = () => seek(item.start);
  line.addEventListener('click', play);
  line.addEventListener('keydown', (ev) => { if (ev.key === 'Enter' || ev.key === ' ') { ev.preventDefault(); play(); } });
  addLine(line, item.start, item.end, role);
  return line;
}

function renderLatency(metrics) {
  $('latency-legend').replaceChildren(...STAGES.map((s) => {
    const item = el('span');
    item.append(el('i', `seg-${s.key}`), s.label);
    return item;
  }));
  const laid = metrics.map((m) => ({ m, ...latencySegments(m) }));
  const scale = Math.max(1000, ...laid.map((r) => Math.max(r.end, num(r.m.total_ms) || 0)));
  const rows = laid.map(({ m, segs }) => {
    const row = el('div', 'latency-row');
    row.dataset.turnId = String(m.turn_id);
    const bar = el('div', 'latency-bar');
    for (const s of segs.filter((x) => x.ms > 0)) {
      const seg = el('span', `seg seg-${s.key}`);
      seg.style.width = `${(100 * s.ms) / scale}%`;
      seg.title = `${STAGES.find((x) => x.key === s.key).label}: ${Math.round(s.ms)} ms`;
      bar.append(seg);
    }
    row.title = ['eot_wait_ms', 'confirm_ms', 'stt_ms', 'llm_first_token_ms', 'first_sentence_ms', 'tts_first_chunk_ms', 'total_ms']
      .map((k) => `${k}: ${fmtMs(m[k])}`).join('\n') + (m.speculative_stt ? '\nspeculative STT' : '');
    row.append(el('span', 'latency-turn', `#${m.turn_id}`), bar, el('span', 'latency-total', fmtMs(m.total_ms)));
    row.addEventListener('click', () => {
      const block = document.querySelector(`.turn[data-turn-id="${m.turn_id}"]`);
      if (block) block.scrollIntoView({ block: 'start', behavior: 'smooth' });
    });
    return row;
  });
  $('latency').replaceChildren(...rows);
  if (!rows.length) $('latency').append(el('p', 'empty', 'No turn metrics recorded.'));
}

function renderUsage(d) {
  const byTurn = Object.entries((d.usage && d.usage.by_turn) || {});
  if (!byTurn.length) { $('usage').replaceChildren(el('p', 'empty', 'No usage recorded.')); return; }
  const table = el('table', 'usage-table');
  const head = el('tr');
  for (const h of ['Turn', 'Tokens', 'STT', 'TTS', 'Cost']) head.append(el('th', h === 'Turn' ? '' : 'num', h));
  table.append(el('thead'));
  table.tHead.append(head);
  const body = el('tbody');
  for (const [turn, u] of byTurn) {
    const row = el('tr');
    row.dataset.turnId = turn;
    row.append(
      el('td', null, `#${turn}`),
      el('td', 'num', `${fmtInt(u.prompt_tokens)}+${fmtInt(u.completion_tokens)}`),
      el('td', 'num', `${(num(u.stt_seconds) ?? 0).toFixed(1)} s`),
      el('td', 'num', `${fmtInt(u.tts_characters)} ch`),
      el('td', 'num', fmtCost(u.cost, d.currency)),
    );
    body.append(row);
  }
  const t = d.usage.total;
  const total = el('tr', 'total-row');
  total.append(el('td', null, 'All'), el('td', 'num', `${fmtInt(t.prompt_tokens)}+${fmtInt(t.completion_tokens)}`),
    el('td', 'num', `${(num(t.stt_seconds) ?? 0).toFixed(1)} s`), el('td', 'num', `${fmtInt(t.tts_characters)} ch`),
    el('td', 'num', fmtCost(t.cost, d.currency)));
  body.append(total);
  table.append(body);
  $('usage').replaceChildren(table);
}

function renderFacts(d, m) {
  const s = d.session;
  const started = (d.events || []).find((e) => e.type === 'session_started');
  const facts = [['Session id', s.id], ['Agent', s.agent]];
  if (started) {
    facts.push(['Transport', started.transport]);
    for (const [k, v] of Object.entries(started.models || {})) facts.push([k.toUpperCase(), v]);
  }
  facts.push(['Events', fmtInt(s.event_count)]);
  facts.push(['Head hash', s.head_hash]);
  facts.push(['Chain', d.verification.ok ? `intact, ${d.verification.checked} events verified`
    : `broken at seq ${d.verification.first_bad_seq}: ${d.verification.reason}`]);
  if (d.recording) facts.push(['Recording', `${fmtDuration(d.recording.duration)}, ${d.recording.sample_rate} Hz, user left · agent right`]);
  $('session-facts').replaceChildren(...facts.flatMap(([k, v]) => {
    const dd = el('dd', k === 'Head hash' || k === 'Session id' ? 'mono' : null, v ?? '–');
    return [el('dt', null, k), dd];
  }));
  void m;
}

function renderRaw(events, verification) {
  $('raw-count').textContent = `(${events.length})`;
  // Built when opened: a long session has thousands of events.
  const details = $('raw-events');
  const build = () => {
    if (details.dataset.built === 'true') return;
    details.dataset.built = 'true';
    $('raw-list').replaceChildren(...events.map((e) => {
      const row = el('details', 'raw');
      row.dataset.eventType = String(e.type);
      row.dataset.seq = String(e.seq);
      const sum = el('summary');
      sum.append(el('span', 'mono muted', `#${e.seq}`), el('span', 'mono', fmtClock(e.t)), el('span', 'raw-type', e.type),
        el('span', 'muted', Number.isInteger(e.turn_id) ? `turn ${e.turn_id}` : ''));
      if (!verification.ok && e.seq === verification.first_bad_seq) {
        row.classList.add('bad-link');
        sum.append(el('span', 'tag tag-bad', 'chain breaks here'));
      }
      row.append(sum, el('pre', 'json', JSON.stringify(e, null, 2)));
      return row;
    }));
  };
  details.dataset.built = 'false';
  $('raw-list').replaceChildren();
  details.ontoggle = () => { if (details.open) build(); };
  if (details.open) build();
}
