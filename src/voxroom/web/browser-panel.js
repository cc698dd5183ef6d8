// The browser agent's panel (docs/protocol.md, "The browser agent's messages"), on the
// playground and on the room page: the task and its status, each step as the agent takes it,
// and, in confirmation mode, the action waiting for approval with Approve / Reject buttons.
// The browser itself is the agent's video. The panel appears once the agent says hello
// (`browser`); it sends `browser_confirm`, `browser_stop` and `browser_settings`.
const MAX_STEPS = 40;

const node = (tag, className = '', text = '') => {
  const made = document.createElement(tag);
  if (className) made.className = className;
  if (text) made.textContent = text;
  return made;
};

export class BrowserPanel {
  // `root`: an empty element to build the panel in; `send(message)`: to the agent, false when
  // the data channel is not open yet.
  constructor(root, send) {
    this.root = root;
    this.send = send;
    this.state = { shown: false, confirm: false, allowed: [], home: '', task: null, status: 'idle', summary: '', steps: [], pending: null };
    this.build();
  }

  build() {
    const head = node('div', 'browser-head');
    this.statusPill = node('span', 'pill browser-status', 'idle');
    this.statusPill.dataset.state = 'idle';
    this.stopButton = node('button', 'button', 'Stop task');
    this.stopButton.type = 'button';
    this.stopButton.disabled = true;
    this.stopButton.addEventListener('click', () => this.send({ type: 'browser_stop' }));
    head.append(node('h2', '', 'Browser agent'), this.statusPill, this.stopButton);
    this.taskLine = node('p', 'browser-task', 'Say or type a task, e.g. “search the catalogue for a blue kettle under 40 euros and add it to the cart”.');
    this.pendingBox = node('div', 'browser-pending');
    this.pendingBox.hidden = true;
    this.pendingText = node('span', 'browser-pending-text');
    const approve = node('button', 'button primary', 'Approve');
    const reject = node('button', 'button', 'Reject');
    approve.type = reject.type = 'button';
    approve.dataset.verdict = 'approve';
    reject.dataset.verdict = 'reject';
    approve.addEventListener('click', () => this.answer(true));
    reject.addEventListener('click', () => this.answer(false));
    this.pendingBox.append(this.pendingText, approve, reject);
    const label = node('label', 'check browser-confirm');
    this.confirmBox = node('input');
    this.confirmBox.type = 'checkbox';
    this.confirmBox.addEventListener('change', () => {
      if (!this.send({ type: 'browser_settings', confirm: this.confirmBox.checked })) this.confirmBox.checked = this.state.confirm;
    });
    label.append(this.confirmBox, node('span', '', 'Ask me before each action (say yes or no, or use the buttons)'));
    this.allowedLine = node('p', 'browser-allowed');
    this.stepList = node('ol', 'browser-steps');
    this.root.append(head, this.taskLine, this.pendingBox, label, this.allowedLine, this.stepList);
  }

  // Messages the panel shows; true if `msg` was one of them.
  handle(msg) {
    switch (msg.type) {
      case 'browser': this.hello(msg); return true;
      case 'browser_task': this.task(msg); return true;
      case 'browser_step': this.step(msg); return true;
      case 'browser_confirm_request': this.ask(msg); return true;
      default: return false;
    }
  }

  hello(msg) {
    Object.assign(this.state, { shown: true, confirm: !!msg.confirm, allowed: msg.allowed || [], home: msg.home || '' });
    this.root.hidden = false;
    this.confirmBox.checked = this.state.confirm;
    this.allowedLine.textContent = this.state.allowed.length
      ? `Allowed sites: ${this.state.allowed.join(', ')}` : 'Allowed sites: none';
  }

  task(msg) {
    if (msg.status === 'running') {
      Object.assign(this.state, { task: msg.task || '', steps: [], summary: '', pending: null });
      this.stepList.replaceChildren();
      this.taskLine.textContent = `Task: ${this.state.task}`;
    } else {
      this.state.summary = msg.summary || '';
      this.state.pending = null;
      this.pendingBox.hidden = true;
      this.taskLine.textContent = `Task: ${this.state.task || ''} — ${this.state.summary}`;
    }
    this.state.status = msg.status;
    this.statusPill.textContent = msg.status.replace('_', ' ');
    this.statusPill.dataset.state = msg.status;
    this.stopButton.disabled = msg.status !== 'running';
  }

  step(msg) {
    this.state.pending = null;
    this.pendingBox.hidden = true;
    const action = msg.action || null;
    const shown = { step: msg.step, url: msg.url, result: msg.result, detail: msg.detail || '', narration: msg.narration || '', action };
    this.state.steps.push(shown);
    const item = node('li', 'browser-step');
    item.dataset.result = msg.result;
    const what = action ? (msg.narration || action.kind) : 'No usable answer';
    item.append(node('span', 'browser-step-what', what), node('span', 'browser-step-result', msg.result));
    if (msg.detail) item.append(node('span', 'browser-step-detail', msg.detail));
    item.append(node('span', 'browser-step-url', msg.url || ''));
    this.stepList.append(item);
    while (this.stepList.children.length > MAX_STEPS) this.stepList.firstElementChild.remove();
    this.stepList.scrollTop = this.stepList.scrollHeight;
  }

  ask(msg) {
    this.state.pending = { step: msg.step, action: msg.action, element: msg.element, value: msg.value, text: msg.text };
    this.pendingText.textContent = msg.text || 'Approve this action?';
    this.pendingBox.hidden = false;
  }

  answer(approve) {
    if (this.send({ type: 'browser_confirm', approve })) {
      this.pendingBox.hidden = true;
      this.state.pending = null;
    }
  }

  snapshot() {
    return JSON.parse(JSON.stringify(this.state));
  }
}
