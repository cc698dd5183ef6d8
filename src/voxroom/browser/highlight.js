// Draws a box and a label around the element the browser agent is about to act on (fixed
// position, no pointer events, outside <body> so it changes neither clicks nor page text).
({ id, label, color }) => {
  document.querySelectorAll('[data-vx-overlay]').forEach((e) => e.remove());
  const el = document.querySelector(`[data-vx-id="${id}"]`);
  if (!el) return false;
  el.scrollIntoView({ block: 'center', inline: 'nearest' });
  const r = el.getBoundingClientRect();
  const box = document.createElement('div');
  box.dataset.vxOverlay = '1';
  Object.assign(box.style, {
    position: 'fixed', left: `${r.left - 5}px`, top: `${r.top - 5}px`, width: `${r.width + 10}px`,
    height: `${r.height + 10}px`, border: `4px solid ${color}`, borderRadius: '4px',
    zIndex: '2147483647', pointerEvents: 'none', boxSizing: 'border-box',
  });
  const tag = document.createElement('div');
  tag.textContent = label;
  Object.assign(tag.style, {
    position: 'absolute', left: '-4px', top: r.top > 30 ? '-26px' : `${r.height + 6}px`,
    background: color, color: '#fff', font: 'bold 13px sans-serif', padding: '2px 6px',
    whiteSpace: 'nowrap',
  });
  box.appendChild(tag);
  document.documentElement.appendChild(box);
  return true;
}
