// The recording: the <audio> element, the speech strip under it, and the transcript lines it
// highlights while it plays (file position = session clock, so currentTime is the event clock).
import { $, el, fmtBytes, fmtClock, num, setStatus, show } from './util.js';

const player = {
  lines: [],        // transcript lines: {el, start, end, role}
  activeLine: null,
  duration: 1,      // seconds the strip spans
  speech: [],       // strip segments
};

export function renderPlayer(d, m) {
  const audio = $('recording');
  const files = d.files || [];
  const byName = new Map(files.map((f) => [f.name, f]));
  const saved = d.recording && d.recording.files ? d.recording.files : {};
  const stereo = byName.get(saved.stereo) || byName.get('stereo.wav');
  stopPlayback();
  player.duration = Math.max(num(d.recording && d.recording.duration) ?? 0, m.lastT, 1);
  show($('no-recording'), !stereo);
  let missing = 'No recording was saved for this session.';
  if (d.recording) missing = 'The recording files of this session are not on this server (purged or moved).';
  else if (d.session.ended_at === null) missing = 'The session is still open: its recording is saved when it ends.';
  $('no-recording').textContent = missing;
  show(audio, !!stereo);
  $('track').classList.toggle('no-audio', !stereo);
  if (stereo) {
    audio.src = stereo.url;
    audio.dataset.file = stereo.name;
  } else {
    audio.removeAttribute('src');
    delete audio.dataset.file;
    audio.load();
  }
  $('recording-files').replaceChildren(...files.map((f) => {
    const link = el('a', 'file-link', f.name);
    link.href = f.url;
    link.download = f.name;
    link.title = `${fmtBytes(f.bytes)}${f.name === 'stereo.wav' ? ' · left: user, right: agent' : ''}`;
    return link;
  }));
  renderTrack(m.speech);
}

function renderTrack(speech) {
  player.speech = speech;
  for (const lane of document.querySelectorAll('#track .lane')) {
    lane.querySelectorAll('.seg').forEach((s) => s.remove());
  }
  const total = player.duration;
  for (const s of speech) {
    const seg = el('span', `seg seg-${s.role}`);
    seg.style.left = `${(100 * Math.max(0, s.start)) / total}%`;
    seg.style.width = `${Math.max(0.3, (100 * Math.max(0, s.end - s.start)) / total)}%`;
    seg.title = `${fmtClock(s.start)} ${s.text || ''}`;
    seg.dataset.start = String(s.start);
    document.querySelector(`#track .lane[data-lane="${s.role}"]`).append(seg);
  }
  renderAxis(total);
  movePlayhead($('recording').currentTime || 0);
}

function renderAxis(total) {
  const steps = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600];
  const step = steps.find((x) => total / x <= 8) || 3600;
  const ticks = [];
  for (let t = 0; t <= total + 1e-6; t += step) {
    const tick = el('span', 'tick', fmtClock(t).replace(/\.\d$/, ''));
    tick.style.left = `${(100 * t) / total}%`;
    ticks.push(tick);
  }
  $('track-axis').replaceChildren(...ticks);
}

function movePlayhead(t) {
  $('playhead').style.left = `${Math.min(100, (100 * t) / player.duration)}%`;
}

export function seek(t, play = true) {
  const audio = $('recording');
  if (!audio.getAttribute('src')) return;
  audio.currentTime = Math.max(0, t);
  movePlayhead(audio.currentTime);
  highlight(audio.currentTime);
  if (play) audio.play().catch(() => { /* autoplay refused: the user presses play */ });
}

export function stopPlayback() {
  const audio = $('recording');
  if (!audio.paused) audio.pause();
}

function highlight(t) {
  let current = null;
  for (const line of player.lines) {
    if (t >= line.start && t < line.end) current = line; // the latest line that covers t
  }
  if (current === player.activeLine) return;
  if (player.activeLine) player.activeLine.el.classList.remove('active');
  player.activeLine = current;
  if (current) {
    current.el.classList.add('active');
    if (!$('recording').paused && $('follow-playback').checked) {
      current.el.scrollIntoView({ block: 'nearest', behavior: 'smooth' });
    }
  }
}

function onTick() {
  const t = $('recording').currentTime;
  movePlayhead(t);
  highlight(t);
  if (!$('recording').paused) requestAnimationFrame(onTick);
}

// A transcript line the player highlights while its words play.
export function addLine(node, start, end, role) {
  player.lines.push({ el: node, start, end, role });
}

export function clearLines() {
  player.lines = [];
  player.activeLine = null;
}

export function playerState() {
  return {
    lines: player.lines.map((l) => ({ role: l.role, start: l.start, end: l.end, active: l.el.classList.contains('active') })),
    duration: $('recording').duration,
  };
}

export function initPlayer() {
  const audio = $('recording');
  audio.addEventListener('play', () => requestAnimationFrame(onTick));
  audio.addEventListener('seeked', onTick);
  audio.addEventListener('timeupdate', onTick);
  audio.addEventListener('loadedmetadata', () => {
    if (Number.isFinite(audio.duration) && audio.duration > player.duration) {
      player.duration = audio.duration;
      renderTrack(player.speech);
    }
  });
  audio.addEventListener('error', () => {
    if (audio.getAttribute('src')) setStatus('The recording could not be loaded (its link may have expired: reload the page).');
  });
  $('track').addEventListener('click', (event) => {
    const box = $('track-inner').getBoundingClientRect();
    const share = Math.min(1, Math.max(0, (event.clientX - box.left) / box.width));
    seek(share * player.duration);
  });
}
