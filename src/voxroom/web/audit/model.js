// The flat event list of a session, arranged for the views: turns with their lines, calls and
// usage; speech segments for the recording strip; latency segments.
import { num } from './util.js';

// Latency stages, in the order they happen after the user stops speaking (as the playground).
export const STAGES = [
  { key: 'eot', label: 'end-of-turn wait' },
  { key: 'stt', label: 'STT' },
  { key: 'llm', label: 'LLM first token' },
  { key: 'sentence', label: 'first sentence' },
  { key: 'tts', label: 'TTS first chunk' },
];

// Events the timeline leaves to the full event list: they are progress, not outcomes.
const QUIET = new Set(['state_changed', 'track_started']);

// Turn the flat event list into what the views need, in one pass.
export function buildModel(events) {
  const turns = new Map(); // turn_id → {id, items: [], firstSeq}
  const order = [];        // timeline entries in seq order: {kind:'turn', turn} | {kind:'event', e}
  const metrics = [];
  const llmCalls = [];
  const pendingCalls = new Map(); // turn_id → [call awaiting its response]
  const agentStart = new Map();   // turn_id → t of the first agent_speech progress
  const speech = [];              // strip segments {role, start, end, text}
  let errors = 0;
  let tools = 0;
  let lastT = 0;
  let openTurn = null; // the turn whose reply has not ended yet

  const turnOf = (id) => {
    if (!turns.has(id)) {
      const turn = { id, items: [], firstSeq: Infinity, metrics: null };
      turns.set(id, turn);
      order.push({ kind: 'turn', turn });
    }
    return turns.get(id);
  };

  for (const e of events) {
    lastT = Math.max(lastT, num(e.t) ?? 0);
    const id = Number.isInteger(e.turn_id) ? e.turn_id : null;
    if (e.type === 'error') errors += 1;
    if (e.type === 'turn_metrics') { metrics.push(e); if (id !== null) turnOf(id).metrics = e; }
    if (e.type === 'agent_speech' && id !== null && !e.final && !agentStart.has(id)) agentStart.set(id, e.t);
    if (QUIET.has(e.type)) continue;
    if (id === null && e.type === 'error' && openTurn !== null) {
      turnOf(openTurn).items.push({ kind: 'event', e }); // it happened during that turn
      continue;
    }
    if (id === null) { order.push({ kind: 'event', e }); continue; }
    const turn = turnOf(id);
    openTurn = id;
    if (e.type === 'llm_request') {
      const call = { request: e, response: null, turn: id };
      llmCalls.push(call);
      turn.items.push({ kind: 'llm', call });
      if (!pendingCalls.has(id)) pendingCalls.set(id, []);
      pendingCalls.get(id).push(call);
    } else if (e.type === 'llm_response') {
      const waiting = pendingCalls.get(id);
      const call = waiting && waiting.length ? waiting.shift() : null;
      if (call) call.response = e;
      else {
        const orphan = { request: null, response: e, turn: id };
        llmCalls.push(orphan);
        turn.items.push({ kind: 'llm', call: orphan });
      }
    } else if (e.type === 'user_transcript') {
      if (!e.final) continue;
      const voice = num(e.audio_start) !== null && num(e.audio_end) !== null;
      const start = voice ? e.audio_start : e.t;
      const end = voice ? e.audio_end : e.t + 1.0;
      turn.items.push({ kind: 'line', role: 'user', e, start, end, voice });
      if (voice) speech.push({ role: 'user', start, end, text: e.text });
    } else if (e.type === 'agent_speech') {
      if (!e.final) continue;
      const start = agentStart.has(id) ? agentStart.get(id) : e.t;
      turn.items.push({ kind: 'line', role: 'agent', e, start, end: Math.max(e.t, start + 0.2) });
      openTurn = null; // the reply is over
      speech.push({ role: 'agent', start, end: e.t, text: e.played_text });
    } else if (e.type === 'turn_metrics') {
      continue; // drawn in the turn header and the latency panel
    } else {
      if (e.type === 'tool_call') tools += 1;
      turn.items.push({ kind: 'event', e });
    }
  }
  return { turns, order, metrics, llmCalls, speech, errors, tools, lastT };
}

// The stage values overlap (stt_ms and first_sentence_ms both count from end of turn), so lay
// them on one timeline starting at the end of user speech, as the playground does.
export function latencySegments(m) {
  const v = (k) => (num(m[k]) === null ? null : Math.max(0, m[k]));
  const [eot, stt, llm, sentence, tts] = ['eot_wait_ms', 'stt_ms', 'llm_first_token_ms',
    'first_sentence_ms', 'tts_first_chunk_ms'].map(v);
  const base = eot || 0;
  const segs = [];
  let t = 0;
  const mark = (key, end) => {
    if (end === null) return;
    segs.push({ key, ms: Math.max(0, end - t) });
    t = Math.max(t, end);
  };
  mark('eot', eot);
  mark('stt', stt === null ? null : base + stt);
  mark('llm', llm === null ? null : base + (stt || 0) + llm);
  mark('sentence', sentence === null ? null : base + sentence);
  mark('tts', tts === null ? null : t + tts);
  return { segs, end: t };
}
