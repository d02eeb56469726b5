// The blocking overlay: what the candidate must fix before the test goes
// on (permissions, screen sharing, fullscreen), as a modal dialog.

const TEXT = {
  camera_permission: ['Camera access needed', 'Allow camera access for this site (the camera icon in the address bar), then press Try again.', 'Try again'],
  microphone_permission: ['Microphone access needed', 'Allow microphone access for this site (the icon in the address bar), then press Try again.', 'Try again'],
  screen_permission: ['Share your screen', 'This test records your entire screen. Press the button and choose your whole screen.', 'Share screen'],
  screen_share_stopped: ['Screen sharing stopped', 'Screen sharing must stay on during the test. Press the button and choose your whole screen again.', 'Share screen again'],
  fullscreen_exited: ['Full screen required', 'This test runs in full screen. Press the button to return to it.', 'Enter full screen'],
  unsupported_browser: ['Browser not supported', 'This browser lacks features the test needs. Please use a recent Chrome, Edge or Firefox.', null],
};

/** The blocking overlay: a modal dialog in a shadow root, the page inert behind it. */
export class Overlay {
  constructor(onAction) {
    this.onAction = onAction;
    this.host = null;
  }

  show(reasons, setup) {
    if (!reasons.length) return this.hide();
    if (!this.host) {
      this.host = document.createElement('invigil-overlay');
      this.host.style.cssText = 'position:fixed;inset:0;z-index:2147483647;display:block';
      this.root = this.host.attachShadow({ mode: 'open' });
      document.documentElement.appendChild(this.host);
      this.previousFocus = document.activeElement;
      if (document.body) document.body.inert = true;
      this.host.addEventListener('keydown', (e) => this.trapFocus(e));
    }
    const items = reasons.map((reason) => {
      const [title, help, button] = TEXT[reason] || [reason, '', null];
      return `<li><h3>${title}</h3><p>${help}</p>${button ? `<button data-reason="${reason}">${button}</button>` : ''}</li>`;
    });
    this.root.innerHTML = `<style>
      .backdrop{position:fixed;inset:0;background:rgba(15,23,42,.94);display:flex;align-items:center;justify-content:center;font:16px/1.5 system-ui,sans-serif}
      .dialog{background:#fff;color:#0f172a;max-width:34rem;margin:1rem;padding:1.5rem 2rem;border-radius:12px}
      h2{margin:0 0 .5rem;font-size:1.35rem} h3{margin:.75rem 0 .25rem;font-size:1.05rem} ul{list-style:none;padding:0;margin:0}
      p{margin:0 0 .5rem} button{font:inherit;padding:.5rem 1rem;border-radius:8px;border:0;background:#1d4ed8;color:#fff;cursor:pointer}
      button:focus-visible{outline:3px solid #f59e0b;outline-offset:2px}
    </style>
    <div class="backdrop"><div class="dialog" role="alertdialog" aria-modal="true" aria-labelledby="t" aria-describedby="d">
      <h2 id="t">${setup ? 'Before you start' : 'Your test is paused'}</h2>
      <p id="d">${setup ? 'This test is proctored. Please complete these steps.' : 'Fix the following to continue. Your answers are safe.'}</p>
      <ul>${items.join('')}</ul></div></div>`;
    for (const button of this.root.querySelectorAll('button')) {
      button.addEventListener('click', () => this.onAction(button.dataset.reason));
    }
    const first = this.root.querySelector('button');
    if (first) first.focus();
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
    if (!this.host) return;
    this.host.remove();
    this.host = null;
    if (document.body) document.body.inert = false;
    if (this.previousFocus && this.previousFocus.focus) this.previousFocus.focus();
  }
}
