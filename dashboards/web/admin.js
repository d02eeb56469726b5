// Admin: the configuration document (SPEC §7) — edit and validate, see and
// restore earlier versions — and candidate bypasses with their reason.
// Nothing changes unless the server accepted the whole document.
import { ApiError, api, el, header, say } from './common.js';

const me = await header('Admin');
if (me && me.role !== 'admin') say('This page needs an admin token.', 'error');
else if (me) start().catch((error) => say(error.message, 'error'));

async function start() {
  const main = document.getElementById('main');
  const editor = el('textarea', { id: 'config', spellcheck: 'false', 'aria-describedby': 'config-problems', 'aria-label': 'Configuration document (JSON)' });
  const problems = el('ul', { class: 'problems', id: 'config-problems', role: 'alert' });
  const version = el('span', { class: 'current', id: 'version' });
  const history = el('ol', { id: 'history', reversed: true });
  const preview = el('pre', { class: 'preview', id: 'preview', hidden: true });
  const bypasses = el('tbody', { id: 'bypasses' });
  let current = null;

  /** Selects the line of `field` (a path like `tests.exam.capture_intervals.face_ms`)
   * in the editor, following its segments through the text. */
  const reveal = (field) => {
    let at = 0;
    for (const segment of field.split('.').filter(Boolean)) {
      const name = segment.replace(/\[\d+\]$/, '');
      const found = editor.value.indexOf(`"${name}"`, at);
      if (found < 0) break;
      at = found;
    }
    const end = editor.value.indexOf('\n', at);
    editor.focus();
    editor.setSelectionRange(at, end < 0 ? editor.value.length : end);
  };

  const showProblems = (list) => {
    problems.replaceChildren(...list.map((p) => el('li', { dataset: { field: p.field } },
      el('button', { type: 'button', class: 'link', title: 'Show in the editor', onclick: () => reveal(p.field) }, el('code', {}, p.field || '(document)')),
      ` ${p.message}`)));
    editor.setAttribute('aria-invalid', list.length ? 'true' : 'false');
    if (list[0]?.field) reveal(list[0].field);
  };

  /** Sends a whole document; on 400 shows every field problem inline and
   * leaves the editor as typed. */
  async function save(document, what) {
    try {
      const saved = await api('/api/v1/admin/config', { method: 'PUT', body: document });
      showProblems([]);
      say(`${what}: version ${saved.version} is in force.`);
      await load();
      return true;
    } catch (error) {
      if (error instanceof ApiError && error.status === 400) {
        showProblems(error.problems.length ? error.problems : [{ field: '', message: error.message }]);
        say(`Not saved: ${error.problems.length || 1} problem(s). Nothing changed.`, 'error');
      } else say(`Not saved: ${error.message}`, 'error');
      return false;
    }
  }

  async function load() {
    current = await api('/api/v1/admin/config');
    editor.value = JSON.stringify(current.document, null, 2);
    version.textContent = `version ${current.version}`;
    const { versions } = await api('/api/v1/admin/config/history');
    history.replaceChildren(...[...versions].reverse().map((v) => el('li', { dataset: { version: String(v) } },
      `version ${v}`, v === current.version ? el('span', { class: 'current' }, ' (in force)') : ' ',
      el('button', { type: 'button', class: 'link', onclick: () => view(v) }, 'view'),
      v === current.version ? null : el('button', { type: 'button', class: 'danger', dataset: { rollback: String(v) }, onclick: () => rollback(v) }, `Roll back to ${v}`))));
    drawBypasses();
  }

  async function view(v) {
    const stored = await api(`/api/v1/admin/config/history/${v}`);
    preview.hidden = false;
    preview.textContent = `version ${v}\n${JSON.stringify(stored.document, null, 2)}`;
  }

  async function rollback(v) {
    try {
      const result = await api(`/api/v1/admin/config/rollback?version=${v}`, { method: 'POST' });
      say(`Rolled back: the document of version ${v} is now version ${result.version}.`);
      showProblems([]);
      await load();
    } catch (error) {
      say(`Rollback failed: ${error.message}`, 'error');
    }
  }

  function drawBypasses() {
    const rows = [];
    for (const [test, candidates] of Object.entries(current.document.bypasses || {})) {
      for (const [candidate, { reason }] of Object.entries(candidates)) {
        rows.push(el('tr', { dataset: { test, candidate } }, el('td', {}, test), el('td', {}, candidate), el('td', {}, reason),
          el('td', {}, el('button', { type: 'button', class: 'link', onclick: () => removeBypass(test, candidate) }, 'remove'))));
      }
    }
    bypasses.replaceChildren(...(rows.length ? rows : [el('tr', {}, el('td', { colspan: '4', class: 'legend' }, 'No bypasses.'))]));
  }

  async function removeBypass(test, candidate) {
    const document = structuredClone(current.document);
    delete document.bypasses[test][candidate];
    if (Object.keys(document.bypasses[test]).length === 0) delete document.bypasses[test];
    await save(document, `Bypass of ${candidate} removed`);
  }

  const field = (id, label, attributes = {}) => el('label', { for: id }, label, el('input', { id, name: id, required: true, ...attributes }));
  const bypassForm = el('form', { id: 'bypass-form', class: 'row', onsubmit: async (event) => {
    event.preventDefault();
    const data = new FormData(bypassForm);
    const [test, candidate, reason] = ['bypass-test', 'bypass-candidate', 'bypass-reason'].map((k) => String(data.get(k)).trim());
    const document = structuredClone(current.document);
    document.bypasses = document.bypasses || {};
    document.bypasses[test] = { ...(document.bypasses[test] || {}), [candidate]: { reason } };
    if (await save(document, `${candidate} of ${test} bypassed`)) bypassForm.reset();
  } }, field('bypass-test', 'Test'), field('bypass-candidate', 'Candidate'), field('bypass-reason', 'Reason (kept for the audit trail)', { minlength: '3' }),
  el('button', { type: 'submit', class: 'primary' }, 'Bypass proctoring'));

  main.append(
    el('section', { class: 'panel editor', 'aria-labelledby': 'editor-title' },
      el('h2', { id: 'editor-title' }, 'Configuration ', version),
      el('p', { class: 'hint' }, 'defaults → tests.{test} overrides (only what changes) → bypasses.{test}.{candidate}; duty.{test} = {proctors, capacity} splits the live wall. Candidates get a change on their next events call.'),
      editor, problems,
      el('div', { class: 'row' },
        el('button', { type: 'button', class: 'primary', id: 'save', onclick: () => {
          let document;
          try {
            document = JSON.parse(editor.value);
          } catch (error) {
            showProblems([{ field: '', message: `not JSON: ${error.message}` }]);
            say('Not saved: the document is not valid JSON. Nothing changed.', 'error');
            return;
          }
          save(document, 'Saved');
        } }, 'Validate and save'),
        el('button', { type: 'button', onclick: () => { showProblems([]); load(); } }, 'Discard edits'))),
    el('section', { class: 'panel', 'aria-labelledby': 'history-title' }, el('h2', { id: 'history-title' }, 'Version history'), history, preview),
    el('section', { class: 'panel', 'aria-labelledby': 'bypass-title' }, el('h2', { id: 'bypass-title' }, 'Candidate bypasses'),
      el('table', {}, el('thead', {}, el('tr', {}, ['Test', 'Candidate', 'Reason', ''].map((h) => el('th', {}, h)))), bypasses), bypassForm),
  );
  await load();
}
