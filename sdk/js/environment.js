// Environment signals, as evidence for the server's hints, never verdicts:
// the screens the page is shown on, what the page can observe of the
// computer (graphics renderer, cores, memory, sizes, pointer, the share's
// surface), other tabs of the same candidate's test, and where a paste
// landed. Each is reported when it changes, not on a timer.

/**
 * `display` input: `[count, extended, permission]`. With `ask`, the Window
 * Management permission is asked for when not answered yet (a test that
 * blocks on a second screen, from the overlay's button: a user gesture).
 */
async function displayFacts(ask) {
  const extended = !!screen.isExtended;
  let count = extended ? 2 : 1;
  let permission = 'unsupported';
  if (typeof window.getScreenDetails === 'function') {
    // Otherwise only if already granted: a prompt is the test's decision, not ours.
    permission = await navigator.permissions.query({ name: 'window-management' }).then((s) => s.state, () => 'prompt');
    if (permission === 'granted' || (ask && permission === 'prompt')) {
      try {
        count = (await window.getScreenDetails()).screens.length || count;
        permission = 'granted';
      } catch (_) {
        permission = 'denied';
      }
    }
  }
  return [count, extended, permission];
}

/** The primary pointer, as the media features say. */
function pointer() {
  const fine = matchMedia('(pointer: fine)').matches;
  return fine ? 'fine' : matchMedia('(pointer: coarse)').matches ? 'coarse' : 'none';
}

/** What a paste's target is: an answer the host marked, a text field, an editor, or else. */
export function pasteTarget(element) {
  if (!(element instanceof Element)) return 'other';
  if (element.closest('[data-invigil-answer]')) return 'answer';
  if (element.matches('input, textarea')) return 'text';
  return element.isContentEditable ? 'editor' : 'other';
}

/** How long a tab that stopped answering still counts, ms (it says hello every 5 s). */
const TAB_SILENCE_MS = 12000;

/**
 * Watches the environment for a session: `input(name, fields)` reports to
 * the core; `key` (the candidate's `test/id`, null if unknown) is what
 * other tabs compare.
 */
export class EnvironmentWatch {
  constructor(input, key) {
    this.input = input;
    this.key = key;
    this.graphics = null;
    this.share = null;
    // No other tab is the normal case: only a change from it is news.
    this.sent = { other_tabs: '0' };
    this.tabs = new Map();
    this.id = Math.random().toString(36).slice(2);
    this.lastHello = 0;
  }

  /** Starts watching; `on(target, name, handler)` registers a listener the session removes. */
  start(on) {
    this.display();
    // Screen is an EventTarget only where the browser implements its
    // change event (Chromium's Window Management); elsewhere, the report
    // at start is all there is.
    if (typeof screen.addEventListener === 'function') {
      on(screen, 'change', () => {
        this.display();
        this.environment();
      });
    }
    if (this.key && typeof BroadcastChannel === 'function') {
      this.channel = new BroadcastChannel('invigil-sessions');
      this.channel.onmessage = (message) => this.onTab(message.data);
      this.hello('hello');
    }
  }

  /** The Worker's (or the page's) WebGL renderer and vendor strings. */
  setGraphics(renderer, vendor) {
    this.graphics = { renderer: String(renderer || ''), vendor: String(vendor || '') };
    this.environment();
  }

  /** A screen share started (its track) or ended (null). */
  setShare(track) {
    this.share = track;
    this.environment();
  }

  /** Reports the screens if they changed; `ask`: see `displayFacts`. An
   * unchanged answer to a candidate's "check again" is reported all the
   * same, so the core answers with the overlay as it stands. */
  async display(ask = false) {
    const facts = await displayFacts(ask);
    if (ask) this.sent.display = null;
    this.report('display', facts);
  }

  environment() {
    if (!this.graphics) return;
    const share = this.share && this.share.readyState === 'live' ? this.share.getSettings() : null;
    const surface = (share && share.displaySurface) || null;
    // Positional, as the core reads it (protocol.rs, `Input::Environment`).
    this.report('environment', [
      this.graphics.renderer,
      this.graphics.vendor,
      [
        navigator.hardwareConcurrency | 0,
        Math.round((navigator.deviceMemory || 0) * 1024),
        screen.width,
        screen.height,
        outerWidth,
        outerHeight,
        surface ? share.width | 0 : 0,
        surface ? share.height | 0 : 0,
      ],
      pointer(),
      matchMedia('(hover: hover)').matches,
      surface,
    ]);
  }

  /** Sends `fields` as `name` unless they are what was sent last. */
  report(name, fields) {
    const text = JSON.stringify(fields);
    if (this.sent[name] === text) return;
    this.sent[name] = text;
    this.input(name, fields);
  }

  // ------------------------------------------------------------ other tabs

  hello(type) {
    this.lastHello = Date.now();
    this.channel.postMessage({ type, key: this.key, id: this.id });
  }

  onTab(message) {
    if (!message || message.key !== this.key || message.id === this.id) return;
    if (message.type === 'bye') this.tabs.delete(message.id);
    else this.tabs.set(message.id, Date.now());
    // A newcomer learns of this tab at once, not at the next hello.
    if (message.type === 'hello') this.hello('here');
    this.countTabs();
  }

  /** Once a second: say hello every 5 s, forget tabs that went silent. */
  tick() {
    if (!this.channel) return;
    const now = Date.now();
    if (now - this.lastHello >= 5000) this.hello('here');
    for (const [id, seen] of this.tabs) if (now - seen > TAB_SILENCE_MS) this.tabs.delete(id);
    this.countTabs();
  }

  countTabs() {
    this.report('other_tabs', this.tabs.size);
  }

  stop() {
    if (!this.channel) return;
    this.channel.postMessage({ type: 'bye', key: this.key, id: this.id });
    this.channel.close();
    this.channel = null;
  }
}

/** In the Worker (or the page without one): WebGL's unmasked renderer and vendor. */
export function probeGraphics(canvas) {
  try {
    const gl = canvas.getContext('webgl');
    if (!gl) return ['', ''];
    const info = gl.getExtension('WEBGL_debug_renderer_info');
    const names = info
      ? [gl.getParameter(info.UNMASKED_RENDERER_WEBGL), gl.getParameter(info.UNMASKED_VENDOR_WEBGL)]
      : [gl.getParameter(gl.RENDERER), gl.getParameter(gl.VENDOR)];
    const lose = gl.getExtension('WEBGL_lose_context');
    if (lose) lose.loseContext();
    return names;
  } catch (_) {
    return ['', ''];
  }
}
