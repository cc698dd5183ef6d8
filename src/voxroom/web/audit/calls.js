// Model calls, tool calls and other events as timeline items (expandable where there is more).
import { chip, el, fmtClock, fmtDuration, fmtInt, fmtMs, kvList, num, prettyJson, section, shortJson } from './util.js';

export function llmCall(call, multi = false) {
  const { request: q, response: r } = call;
  const box = el('details', 'call');
  box.dataset.eventType = q ? 'llm_request' : 'llm_response';
  box.dataset.seq = String((q || r).seq);
  const summary = el('summary', 'call-summary');
  summary.append(el('span', 'kind kind-llm', 'LLM'));
  const model = (q || r).model;
  summary.append(el('span', 'call-title', `${(q || r).provider} · ${model}`));
  if (multi) summary.append(chip(`step ${((q || r).step ?? 0) + 1}`));
  if (q) summary.append(chip(`${(q.messages || []).length} messages`));
  if (r) {
    if (r.prompt_tokens !== null || r.completion_tokens !== null) {
      summary.append(chip(`${fmtInt(r.prompt_tokens)} + ${fmtInt(r.completion_tokens)} tokens`));
    }
    summary.append(chip(`TTFT ${fmtMs(r.ttft_ms)}`));
    summary.append(chip(fmtMs(r.duration_ms)));
    const calls = Array.isArray(r.tool_calls) ? r.tool_calls.length : 0;
    if (calls) summary.append(chip(`${calls} tool call${calls === 1 ? '' : 's'}`, 'chip-tool'));
    if (r.finish_reason !== 'stop') summary.append(chip(r.finish_reason, 'chip-bad'));
  } else {
    summary.append(chip('no response stored', 'chip-bad'));
  }
  const preview = r ? (r.text || '').trim() : '';
  if (preview) summary.append(el('span', 'call-preview', `“${shortJson(preview, 90)}”`));
  box.append(summary);

  const body = el('div', 'call-body');
  if (q) {
    const params = { ...(q.parameters || {}) };
    const tools = q.tools || params.tools;
    delete params.tools;
    body.append(section('Parameters', kvList(params)));
    if (Array.isArray(tools) && tools.length) body.append(section(`Tools offered (${tools.length})`, toolSchemas(tools)));
    body.append(section(`Messages as sent (${(q.messages || []).length})`, messageList(q.messages || [])));
  }
  if (r) {
    const out = el('div', 'response');
    out.append(kvList({
      'finish reason': r.finish_reason,
      'prompt tokens': r.prompt_tokens,
      'completion tokens': r.completion_tokens,
      'time to first token': fmtMs(r.ttft_ms),
      duration: fmtMs(r.duration_ms),
    }));
    const calls = Array.isArray(r.tool_calls) ? r.tool_calls : [];
    if (r.text || !calls.length) out.append(el('pre', 'msg-content', r.text || '(no text)'));
    for (const tc of calls) {
      const fn = tc.function || tc;
      out.append(el('pre', 'msg-tool', `→ ${fn.name}(${typeof fn.arguments === 'string' ? fn.arguments : shortJson(fn.arguments, 400)})${tc.id ? `  [${tc.id}]` : ''}`));
    }
    body.append(section('Response', out));
  }
  box.append(body);
  return box;
}

function toolSchemas(tools) {
  const list = el('div', 'tools');
  for (const tool of tools) {
    const fn = tool.function || tool;
    const item = el('details', 'tool-schema');
    const sum = el('summary');
    sum.append(el('code', null, fn.name || 'tool'), el('span', 'muted', ` ${fn.description || ''}`));
    item.append(sum, el('pre', 'json', prettyJson(fn.parameters || tool)));
    list.append(item);
  }
  return list;
}

function messageList(messages) {
  const list = el('ol', 'messages');
  for (const msg of messages) {
    const item = el('li', `msg msg-${msg.role || 'other'}`);
    const head = el('div', 'msg-head');
    head.append(el('span', 'msg-role', msg.role || '?'));
    if (msg.tool_call_id) head.append(el('span', 'muted', ` for ${msg.tool_call_id}`));
    if (msg.interrupted) head.append(el('span', 'tag tag-bad', 'interrupted'));
    item.append(head);
    const content = typeof msg.content === 'string' ? msg.content : (msg.content == null ? '' : prettyJson(msg.content));
    if (content) item.append(el('pre', 'msg-content', content));
    if (Array.isArray(msg.tool_calls) && msg.tool_calls.length) {
      for (const tc of msg.tool_calls) {
        const fn = tc.function || tc;
        item.append(el('pre', 'msg-tool', `→ ${fn.name}(${typeof fn.arguments === 'string' ? fn.arguments : shortJson(fn.arguments, 400)})`));
      }
    }
    if (!content && !(msg.tool_calls || []).length) item.append(el('div', 'muted small', '(empty)'));
    list.append(item);
  }
  return list;
}

export function eventItem(e) {
  const type = String(e.type);
  if (type === 'tool_call') return toolItem(e);
  const item = el('div', `event event-${type}`);
  item.dataset.eventType = type;
  item.dataset.seq = String(e.seq);
  const time = el('span', 'event-time', fmtClock(e.t));
  let label = type.replace(/_/g, ' ');
  let text = '';
  let kind = 'kind-sys';
  switch (type) {
    case 'session_started':
      label = 'session started';
      text = `${e.agent} over ${e.transport}` + (e.models ? ` · ${Object.entries(e.models).map(([k, v]) => `${k}: ${v}`).join(' · ')}` : '');
      break;
    case 'session_ended': label = 'session ended'; text = e.reason; break;
    case 'recording_saved':
      label = 'recording saved';
      text = `${fmtDuration(e.duration)} at ${e.sample_rate} Hz · ${Object.values(e.files || {}).join(', ')}`;
      break;
    case 'stt_usage':
      label = 'STT'; kind = 'kind-stt';
      text = `${e.provider} · ${e.purpose} · ${num(e.audio_seconds)?.toFixed(2)} s of audio in ${fmtMs(e.duration_ms)}`;
      break;
    case 'tts_usage':
      label = 'TTS'; kind = 'kind-tts';
      text = `${e.provider} · ${fmtInt(e.characters)} chars → ${num(e.audio_seconds)?.toFixed(2)} s of audio in ${fmtMs(e.duration_ms)}`;
      break;
    case 'error': label = 'error'; kind = 'kind-error'; text = `${e.component}: ${e.message}`; break;
    default: {
      const { type: _t, session_id: _s, seq: _q, ts: _ts, t: _tt, turn_id: _id, ...rest } = e;
      text = shortJson(rest, 200);
    }
  }
  item.append(time, el('span', `kind ${kind}`, label), el('span', 'event-text', text));
  if (type === 'error') item.classList.add('event-bad');
  return item;
}

function parseArguments(value) {
  if (typeof value !== 'string') return value ?? {};
  try { return JSON.parse(value); } catch (_) { return value; } // malformed: shown as written
}

function toolItem(e) {
  const box = el('details', 'call tool');
  box.dataset.eventType = String(e.type);
  box.dataset.seq = String(e.seq);
  const name = e.name || e.type;
  const args = parseArguments(e.arguments);
  const summary = el('summary', 'call-summary');
  summary.append(el('span', 'kind kind-tool', 'Tool'));
  const shown = args && typeof args === 'object' && !Array.isArray(args)
    ? Object.entries(args).map(([k, v]) => `${k}: ${typeof v === 'string' ? v : shortJson(v, 40)}`).join(', ')
    : shortJson(args, 80);
  summary.append(el('span', 'call-title', `${name}(${shown})`));
  if (num(e.duration_ms) !== null) summary.append(chip(fmtMs(e.duration_ms)));
  summary.append(e.error ? chip('error', 'chip-bad') : chip('ok', 'chip-ok'));
  if (e.output) summary.append(el('span', 'call-preview', `→ ${shortJson(e.output, 90)}`));
  box.append(summary);
  const body = el('div', 'call-body');
  const facts = { tool: name, 'call id': e.call_id, duration: fmtMs(e.duration_ms), outcome: e.error ? 'error' : 'ok' };
  body.append(kvList(facts));
  body.append(section('Arguments (as the model wrote them)', el('pre', 'json', prettyJson(e.arguments ?? ''))));
  const output = typeof e.output === 'string' ? e.output : prettyJson(e.output ?? '');
  body.append(section(e.error ? 'Error' : 'Output', el('pre', `msg-content${e.error ? ' bad' : ''}`, output || '(empty)')));
  box.append(body);
  return box;
}
