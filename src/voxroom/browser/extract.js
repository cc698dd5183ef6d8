// Extracts a page's interactive elements for the browser agent (voxroom.browser.elements):
// visible and enabled ones only, each with its text, label, context and box, and a stable
// data-vx-id the actions target. Nested targets (a span[role=button] inside a button) are
// dropped in favour of the outer one. Evaluated by Playwright as a function expression.
() => {
  const SELECTOR = [
    'a[href]', 'button', 'input', 'select', 'textarea', 'summary',
    '[role=button]', '[role=link]', '[role=checkbox]', '[role=radio]', '[role=tab]',
    '[role=menuitem]', '[role=option]', '[role=combobox]', '[role=textbox]', '[role=switch]',
    '[role=searchbox]', '[contenteditable=""]', '[contenteditable=true]', '[onclick]',
  ].join(',');
  const clean = (s, n) => (s || '').replace(/\s+/g, ' ').trim().slice(0, n);
  const visible = (el) => {
    const r = el.getBoundingClientRect();
    if (r.width < 2 || r.height < 2) return false;
    if (el.checkVisibility && !el.checkVisibility({ opacityProperty: true, visibilityProperty: true })) return false;
    const s = getComputedStyle(el);
    return s.visibility !== 'hidden' && s.display !== 'none';
  };
  const enabled = (el) => !el.disabled && el.getAttribute('aria-disabled') !== 'true'
    && !el.closest('fieldset[disabled]');
  const labelOf = (el) => {
    if (el.labels && el.labels.length) return clean(el.labels[0].innerText, 80);
    const by = el.getAttribute('aria-labelledby');
    if (by) return clean(by.split(/\s+/).map((id) => document.getElementById(id)?.innerText || '').join(' '), 80);
    return '';
  };
  const found = document.querySelectorAll(SELECTOR);
  const chosen = new Set();
  for (const el of found) {
    if (el.closest('[data-vx-overlay]')) continue;
    if (el.tagName === 'INPUT' && el.type === 'hidden') continue;
    if (!visible(el) || !enabled(el)) continue;
    chosen.add(el);
  }
  window.__vxNext = window.__vxNext || 1;
  const out = [];
  for (const el of chosen) {
    let up = el.parentElement, nested = false;
    while (up) { if (chosen.has(up) && up.matches('a,button,[role=button],[role=link]')) { nested = true; break; } up = up.parentElement; }
    if (nested) continue;
    if (!el.dataset.vxId) el.dataset.vxId = String(window.__vxNext++);
    const tag = el.tagName.toLowerCase();
    const type = tag === 'input' ? (el.type || 'text') : '';
    const own = tag === 'select' ? clean(el.getAttribute('aria-label'), 80)
      : clean(el.getAttribute('aria-label') || el.innerText || (type === 'submit' || type === 'button' ? el.value : '')
        || el.getAttribute('title') || el.querySelector('img[alt]')?.alt || '', 80);
    const label = labelOf(el);
    // What surrounds it (a product card, a table row): the nearest ancestor's text that says
    // more than the element, without the element's own words. Not for labelled fields, and
    // never a whole header, navigation bar, table or page.
    let context = '';
    up = el.parentElement;
    for (let depth = 0; !label && up && depth < 5; depth += 1, up = up.parentElement) {
      if (up.matches('body,main,header,nav,footer,table,ul,ol')) break;
      const text = clean(up.innerText, 400);
      if (text.length > 200) break;
      if (text.length > own.length + 3) { context = clean(own ? text.replace(own, ' ') : text, 90); break; }
    }
    const r = el.getBoundingClientRect();
    const options = tag === 'select' ? [...el.options].map((o) => clean(o.text, 40)) : [];
    const password = type === 'password';
    out.push({
      id: Number(el.dataset.vxId), tag, type, role: el.getAttribute('role') || '',
      text: own, label, placeholder: clean(el.getAttribute('placeholder'), 60),
      name: clean(el.getAttribute('name'), 40), context,
      value: password ? (el.value ? '••••' : '') : (tag === 'select' ? clean(el.options[el.selectedIndex]?.text, 40) : clean(el.value, 60)),
      checked: (type === 'checkbox' || type === 'radio') ? el.checked : null,
      href: tag === 'a' ? el.href : '', options,
      autocomplete: clean(el.getAttribute('autocomplete'), 40), editable: el.isContentEditable,
      box: [Math.round(r.left + scrollX), Math.round(r.top + scrollY), Math.round(r.width), Math.round(r.height)],
      in_view: r.bottom > 0 && r.top < innerHeight && r.right > 0 && r.left < innerWidth,
    });
  }
  const values = [...document.querySelectorAll('input,textarea,select')].map((e) => e.type === 'checkbox' || e.type === 'radio' ? String(e.checked) : e.value).join('\u0001');
  return {
    elements: out, title: document.title, url: location.href,
    fingerprint: location.href + '\u0002' + clean(document.body ? document.body.innerText : '', 4000) + '\u0002' + values,
    scroll: [scrollX, scrollY, document.documentElement.scrollHeight, innerHeight],
  };
}
