// Shared by the dashboard pages: the staff token, API calls, the SSE reader,
// presigned media links, the header and the test picker. Every text reaches
// the page through textContent (never innerHTML, see dom.js), so
// candidate-supplied strings cannot become markup.
import { el } from './dom.js';
import { lang, t } from './words.js';

document.documentElement.lang = lang;

const TOKEN_KEY = 'invigil.staff-token';

/** The staff token: taken once from `#token=…` (then removed from the
 * address bar and history), afterwards from this tab's sessionStorage. */
export function token() {
  const match = location.hash.match(/[#&]token=([^&]+)/);
  if (match) {
    sessionStorage.setItem(TOKEN_KEY, decodeURIComponent(match[1]));
    history.replaceState(null, '', location.pathname + location.search);
  }
  return sessionStorage.getItem(TOKEN_KEY);
}

let session = null;
let csrf = null;

/** The sign-in session the server's cookie holds (`GET /auth/session`:
 * signed in or not, the CSRF token for changes, where to sign in); asked
 * once per page. */
export function staffSession() {
  if (!session) {
    session = fetch('/auth/session', { cache: 'no-store' })
      .then((response) => (response.ok ? response.json() : null))
      .catch(() => null)
      .then((reply) => {
        csrf = reply?.csrf || null;
        return reply;
      });
  }
  return session;
}

/** What proves who the caller is: a pasted token in `Authorization`, or
 * else the session cookie (sent by the browser) with its CSRF token. */
export function authHeaders() {
  const pasted = token();
  if (pasted) return { authorization: `Bearer ${pasted}` };
  return csrf ? { 'x-csrf-token': csrf } : {};
}

export async function signOut() {
  sessionStorage.removeItem(TOKEN_KEY);
  const current = await staffSession();
  if (current?.signed_in) {
    await fetch('/auth/logout', { method: 'POST', headers: { 'x-csrf-token': current.csrf } }).catch(() => {});
  }
  location.href = './';
}

export class ApiError extends Error {
  constructor(status, body) {
    super(body?.error?.message || `HTTP ${status}`);
    this.status = status;
    this.body = body;
  }
  /** Every field problem of a 400, as [{field, message}]. */
  get problems() {
    return this.body?.error?.problems || [];
  }
}

/** Calls the API with the staff token; JSON in, JSON out. */
export async function api(path, { method = 'GET', body, signal } = {}) {
  if (!token()) await staffSession();
  const headers = authHeaders();
  if (body !== undefined) headers['content-type'] = 'application/json';
  const response = await fetch(path, {
    method,
    headers,
    signal,
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await response.text();
  let parsed = null;
  try {
    parsed = text ? JSON.parse(text) : null;
  } catch {
    parsed = null;
  }
  if (!response.ok) throw new ApiError(response.status, parsed);
  return parsed;
}

export const params = new URLSearchParams(location.search);

/** The review page of one candidate (the proctor's drill-down too). */
export const reviewLink = (test, candidate) =>
  `review.html?test=${encodeURIComponent(test)}&candidate=${encodeURIComponent(candidate)}`;

/** Shows a message in the page's status line (role=status, so screen
 * readers hear it). */
export function say(text, kind = 'info') {
  const line = document.getElementById('status');
  if (!line) return;
  line.textContent = text;
  line.dataset.kind = kind;
}

/** Reads a server-sent event stream with fetch (so the token goes in a
 * header, not the URL), calling `onEvent(name, data)` per event; reconnects
 * with growing pauses until `signal` aborts. `onState` hears 'open' and
 * 'retrying'. */
export async function followEvents(path, onEvent, { signal, onState = () => {} } = {}) {
  let pause = 500;
  while (!signal?.aborted) {
    try {
      if (!token()) await staffSession();
      const response = await fetch(path, { headers: authHeaders(), signal });
      if (!response.ok) {
        const body = await response.json().catch(() => null);
        throw new ApiError(response.status, body);
      }
      onState('open');
      pause = 500;
      const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
      let buffer = '';
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += value;
        let end;
        while ((end = buffer.indexOf('\n\n')) >= 0) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          let name = 'message';
          const data = [];
          for (const line of block.split('\n')) {
            if (line.startsWith('event:')) name = line.slice(6).trim();
            else if (line.startsWith('data:')) data.push(line.slice(5).replace(/^ /, ''));
          }
          if (data.length) onEvent(name, JSON.parse(data.join('\n')));
        }
      }
    } catch (error) {
      if (signal?.aborted) return;
      // A refused token will not get better by retrying.
      if (error instanceof ApiError && (error.status === 401 || error.status === 403)) throw error;
    }
    onState('retrying');
    await new Promise((resolve) => setTimeout(resolve, pause));
    pause = Math.min(pause * 2, 10_000);
  }
}

const links = new Map();

/** A presigned link for a media key, reused until shortly before it expires. */
export async function mediaLink(key, type = 'image/jpeg') {
  const cached = links.get(key);
  if (cached && (cached.blob || cached.expires_at - Date.now() > 30_000)) return cached.url;
  const signed = await api(`/api/v1/dashboard/media?key=${encodeURIComponent(key)}`);
  if (!signed.range) {
    links.set(key, signed);
    return signed.url;
  }
  // A part of a bundle object: <img> and <audio> cannot ask for a byte
  // range, so the part is fetched and shown from a blob (kept for the page).
  const response = await fetch(signed.url, { headers: { range: signed.range } });
  if (!response.ok) throw new Error(`media ${response.status}`);
  let body = await response.blob();
  if (response.status === 200) {
    // The store ignored Range and sent the whole object: cut the part out.
    const [first, last] = signed.range.slice('bytes='.length).split('-').map(Number);
    body = body.slice(first, last + 1);
  }
  const url = URL.createObjectURL(new Blob([body], { type }));
  links.set(key, { url, blob: true });
  return url;
}

/** An <img> that loads `key` through a presigned link; a missing object
 * shows as a labelled placeholder instead of a broken image. */
export function thumbnail(key, label) {
  if (!key) return el('figure', { class: 'thumb-frame empty' }, el('figcaption', {}, `no ${label} yet`));
  const image = el('img', { alt: label, class: 'thumb', loading: 'lazy', decoding: 'async' });
  const frame = el('figure', { class: 'thumb-frame' }, image);
  image.dataset.key = key;
  mediaLink(key)
    .then((url) => {
      image.src = url;
    })
    .catch(() => frame.classList.add('empty'));
  return frame;
}

/** The page header: title, the signed-in staff member, navigation. Returns
 * the claims, or shows the sign-in form and returns null. */
export async function header(title) {
  document.title = `${title} · invigil`;
  const bar = document.getElementById('bar');
  const current = token() ? null : await staffSession();
  if (!token() && !current?.signed_in) {
    signInForm(bar, current?.problem, current?.sign_in);
    return null;
  }
  let me;
  try {
    me = await api('/api/v1/dashboard/me');
  } catch (error) {
    signInForm(bar, error.message, current?.sign_in);
    return null;
  }
  const test = params.get('test');
  const suffix = test ? `?test=${encodeURIComponent(test)}` : '';
  const nav = el('nav', { 'aria-label': t('nav.label') });
  if (me.role === 'proctor' || me.role === 'admin') nav.append(el('a', { href: `proctor.html${suffix}` }, t('nav.proctor')));
  if (me.role === 'reviewer' || me.role === 'admin') nav.append(el('a', { href: `review.html${suffix}` }, t('nav.review')));
  if (me.role === 'admin') nav.append(el('a', { href: 'admin.html' }, t('nav.admin')));
  bar.replaceChildren(
    el('h1', {}, 'invigil ', el('span', { class: 'page-title' }, title)),
    nav,
    el('span', { class: 'who' }, `${me.name || me.sub} · ${me.role}`),
    el('button', { type: 'button', class: 'link', onclick: signOut }, t('sign_out')),
  );
  return me;
}

/** The sign-in: the organisation's provider when the server has one
 * (`signIn`: {name, url}), and a pasted staff token beside it. */
function signInForm(bar, problem, signIn) {
  const back = encodeURIComponent(location.pathname + location.search);
  const provider = signIn
    ? el('p', { class: 'sso' }, el('a', { class: 'button', id: 'sso-sign-in', href: `${signIn.url}?next=${back}` }, t('sign_in.with', { provider: signIn.name })))
    : null;
  const input = el('input', { id: 'token-input', type: 'password', autocomplete: 'off', required: true });
  const form = el(
    'form',
    { class: 'sign-in', onsubmit: (event) => {
      event.preventDefault();
      sessionStorage.setItem(TOKEN_KEY, input.value.trim());
      location.reload();
    } },
    el('label', { for: 'token-input' }, t(signIn ? 'sign_in.token_too' : 'sign_in.token')),
    input,
    el('button', { type: 'submit' }, t('sign_in.submit')),
    problem ? el('p', { class: 'error', role: 'alert' }, problem) : null,
    el('p', { class: 'hint' }, t('sign_in.hint')),
  );
  bar.replaceChildren(el('h1', {}, 'invigil'), ...(provider ? [provider] : []), form);
  document.getElementById('main')?.replaceChildren();
}

/** The test a page is about: `?test=`, else the token's only test, else a
 * picker of the token's tests. */
export function chooseTest(me, page) {
  const test = params.get('test');
  if (test) return test;
  if (me.tests.length === 1) return me.tests[0];
  const main = document.getElementById('main');
  const input = el('input', { id: 'test-input', name: 'test', required: true, list: 'tests' });
  main.replaceChildren(
    el(
      'form',
      { class: 'pick-test', onsubmit: (event) => {
        event.preventDefault();
        location.href = `${page}?test=${encodeURIComponent(input.value.trim())}`;
      } },
      el('label', { for: 'test-input' }, t('pick_test.label')),
      input,
      el('datalist', { id: 'tests' }, me.tests.map((t) => el('option', { value: t }))),
      el('button', { type: 'submit' }, t('pick_test.open')),
    ),
  );
  return null;
}
