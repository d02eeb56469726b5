// The blocking overlay: what the candidate must fix before the test goes
// on (permissions, screen sharing, fullscreen), as a modal dialog in the
// page's language (messages.js), light or dark as the system is.
//
// The dialog's frame is built once and its parts are updated in place, so the
// status line is a live region that exists before it changes: a screen
// reader hears "camera: done." when a step is completed, not the whole
// dialog again.

const STYLE = `
.backdrop{position:fixed;inset:0;background:rgba(15,23,42,.94);display:flex;align-items:center;justify-content:center;font:16px/1.5 system-ui,sans-serif;overflow:auto}
.dialog{background:#fff;color:#0f172a;max-width:34rem;margin:1rem;padding:1.5rem 2rem;border-radius:12px}
h2{margin:0 0 .5rem;font-size:1.35rem} h3{margin:.75rem 0 .25rem;font-size:1.05rem} ul{list-style:none;padding:0;margin:0}
p{margin:0 0 .5rem} .done p{color:#166534;margin:.75rem 0 0} .help{margin-top:1rem;font-size:.95rem}
button{font:inherit;padding:.5rem 1rem;border-radius:8px;border:0;background:#1d4ed8;color:#fff;cursor:pointer}
button:focus-visible{outline:3px solid #f59e0b;outline-offset:2px}
.sr{position:absolute;width:1px;height:1px;overflow:hidden;clip-path:inset(50%);white-space:nowrap}
@media (prefers-color-scheme:dark){.dialog{background:#1e293b;color:#f1f5f9}.done p{color:#86efac}}`;

/** `text` safe inside markup: a host's strings are text, never HTML. */
const escape = (text) => text.replace(/[&<>"]/g, (c) => `&#${c.charCodeAt(0)};`);

/**
 * The setup's list: every check the test asks for, a stopped share in
 * place of the share it ends, and anything else blocking (an old browser).
 */
function setupSteps(checks, reasons) {
  const steps = checks.map((check) => (check === 'screen_permission' && reasons.includes('screen_share_stopped') ? 'screen_share_stopped' : check));
  return steps.concat(reasons.filter((reason) => !steps.includes(reason)));
}

/** The blocking overlay: a modal dialog in a shadow root, the page inert behind it. */
export class Overlay {
  constructor(messages, onAction) {
    this.messages = messages;
    this.onAction = onAction;
    this.host = null;
    /** The reasons on screen, to announce the ones that go. */
    this.shown = [];
  }

  /** Builds the dialog's frame; `show` fills it. */
  open() {
    const m = this.messages;
    this.host = document.createElement('invigil-overlay');
    this.host.style.cssText = 'position:fixed;inset:0;z-index:2147483647;display:block';
    this.root = this.host.attachShadow({ mode: 'open' });
    this.root.innerHTML = `<style>${STYLE}</style><div class="backdrop" lang="${escape(m.lang)}" dir="${m.dir}">
      <div class="dialog" role="alertdialog" aria-modal="true" aria-labelledby="t" aria-describedby="d">
      <h2 id="t"></h2><p id="d"></p><ul></ul><p></p><p class="help">${escape(m.text('help'))}</p><p class="sr" role="status"></p></div></div>`;
    [this.title, this.intro, this.list, this.summary, , this.status] = this.root.querySelector('.dialog').children;
    document.documentElement.appendChild(this.host);
    this.previousFocus = document.activeElement;
    if (document.body) document.body.inert = true;
    this.host.addEventListener('keydown', (e) => this.trapFocus(e));
  }

  /**
   * Shows what blocks (`reasons`), or hides the overlay if nothing does.
   * In `setup` every check of the test (`checks`) is a step, done or to
   * do; paused, only what blocks, and a line naming all the checks.
   */
  show(reasons, setup, checks = []) {
    if (!reasons.length) return this.hide();
    const m = this.messages;
    if (!this.host) this.open();
    const name = (reason) => m.text(`${reason}.name`);
    const steps = setup ? setupSteps(checks, reasons) : reasons;
    const done = steps.filter((step) => !reasons.includes(step));
    this.status.textContent = this.shown.filter((r) => !reasons.includes(r)).map((r) => m.text('announce.done', { step: name(r) })).join(' ');
    this.shown = reasons;
    this.title.textContent = m.text(setup ? 'setup.title' : 'paused.title');
    this.intro.textContent = m.text(setup ? 'setup.intro' : 'paused.intro');
    this.summary.textContent = setup
      ? m.text('progress', { done: done.length, total: steps.length })
      : checks.length ? m.text('checks', { checks: m.list(checks.map(name)) }) : '';
    const focused = this.root.activeElement && this.root.activeElement.dataset.reason;
    // A step to do: what, how, and the button that does it (an old browser
    // has none); a step done: a tick for the eye, the words for everyone.
    this.list.innerHTML = steps.map((step) => (reasons.includes(step)
      ? `<li><h3>${escape(m.text(`${step}.title`))}</h3><p>${escape(m.text(`${step}.help`))}</p>${step === 'unsupported_browser' ? '' : `<button data-reason="${step}">${escape(m.text(`${step}.action`))}</button>`}</li>`
      : `<li class="done"><p><span aria-hidden="true">✓ </span>${escape(m.text('announce.done', { step: name(step) }))}</p></li>`)).join('');
    for (const button of this.list.querySelectorAll('button')) {
      button.addEventListener('click', () => this.onAction(button.dataset.reason));
    }
    const button = this.root.querySelector(`button[data-reason="${focused}"]`) || this.root.querySelector('button');
    if (button) button.focus();
  }

  /** Keeps Tab and Shift+Tab inside the dialog. */
  trapFocus(event) {
    if (event.key !== 'Tab') return;
    const buttons = [...this.root.querySelectorAll('button')];
    if (!buttons.length) return event.preventDefault();
    const at = buttons.indexOf(this.root.activeElement);
    const next = event.shiftKey ? (at <= 0 ? buttons.length - 1 : at - 1) : (at + 1) % buttons.length;
    buttons[next].focus();
    event.preventDefault();
  }

  hide() {
    this.shown = [];
    if (!this.host) return;
    this.host.remove();
    this.host = null;
    if (document.body) document.body.inert = false;
    if (this.previousFocus && this.previousFocus.focus) this.previousFocus.focus();
  }
}

/**
 * While the browser is offline, a note in the corner: nothing blocks and
 * nothing is lost (events and captures wait in IndexedDB), and the
 * candidate is told so rather than left to wonder. Its status line is
 * filled once it is on the page, so a screen reader announces it.
 */
export class OfflineNote {
  constructor(messages) {
    this.messages = messages;
    this.host = null;
  }

  show() {
    if (this.host) return;
    const m = this.messages;
    this.host = document.createElement('invigil-offline');
    this.host.style.cssText = 'position:fixed;bottom:12px;inset-inline-start:12px;z-index:2147483646;display:block;max-width:24rem';
    const root = this.host.attachShadow({ mode: 'open' });
    root.innerHTML = `<style>p{margin:0;font:16px/1.5 system-ui,sans-serif;background:#fff;color:#0f172a;border-inline-start:5px solid #d97706;border-radius:8px;box-shadow:0 2px 8px #0006;padding:.5rem 1rem}
@media (prefers-color-scheme:dark){p{background:#1e293b;color:#f1f5f9}}</style><p role="status" lang="${escape(m.lang)}" dir="${m.dir}"></p>`;
    document.documentElement.appendChild(this.host);
    const line = root.querySelector('p');
    setTimeout(() => { line.textContent = m.text('offline'); }, 100);
  }

  hide() {
    if (this.host) this.host.remove();
    this.host = null;
  }
}
