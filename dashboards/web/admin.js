// Admin: the configuration document (SPEC §7) — every setting as a form
// per layer (admin-settings.js) or the whole document as JSON, the changes
// listed before they are saved, earlier versions seen and restored —
// candidate accommodations (checks waived) and bypasses with their reason, the learning platforms (LTI 1.3) that may launch invigil, a test's audit
// trail (who did what to which candidate, when, from where) and the webhook
// delivery log with redelivery.
// Nothing changes unless the server accepted the whole document. The
// document's edits are admin-data.js's; this file draws and calls the API.
import { ApiError, api, header, say } from './common.js';
import { WAIVERS, candidateEntries, fieldRange, parseDocument, platformFromForm, platformList, refusalProblems, toolUrls, versionList, withCandidateEntry, withPlatform, withoutCandidateEntry, withoutPlatform } from './admin-data.js';
import { drawSettings, markSettingProblems, refreshSettings, reviewChanges, settingsHeader, settingsLayout } from './admin-settings.js';
import { el } from './dom.js';
import { formatTime } from './format.js';
import { describeStaffAction } from './review-data.js';

const me = await header('Admin');
if (me && me.role !== 'admin') say('This page needs an admin token.', 'error');
else if (me) start().catch((error) => say(error.message, 'error'));

async function start() {
  const page = layout(document.getElementById('main'));
  page.saveButton.addEventListener('click', () => saveEditor(page));
  page.discardButton.addEventListener('click', () => { page.formProblems.clear(); page.diff.hidden = true; showProblems(page, []); load(page); });
  // The JSON view and the forms edit one text: an edit there shows in these.
  page.editor.addEventListener('change', () => refreshSettings(page));
  page.settings = (await api('/api/v1/admin/config/settings')).settings;
  page.bypassForm.addEventListener('submit', (event) => addBypass(page, event));
  page.accommodationForm.addEventListener('submit', (event) => addAccommodation(page, event));
  page.platformForm.addEventListener('submit', (event) => addPlatform(page, event));
  page.auditForm.addEventListener('submit', (event) => showAudit(page, event));
  page.deliveryForm.addEventListener('submit', (event) => { event.preventDefault(); showDeliveries(page); });
  await load(page);
  await showDeliveries(page);
}

/** The page's parts, laid out in `main`; `inForce` will hold the
 * configuration in force ({ version, document }) as last loaded. */
function layout(main) {
  const field = (id, label, attributes = {}) => el('label', { for: id }, label, el('input', { id, name: id, required: true, ...attributes }));
  const page = {
    ...settingsLayout(),
    inForce: null,
    editor: el('textarea', { id: 'config', spellcheck: 'false', 'aria-describedby': 'config-problems', 'aria-label': 'Configuration document (JSON)' }),
    problems: el('ul', { class: 'problems', id: 'config-problems', role: 'alert' }),
    version: el('span', { class: 'current', id: 'version' }),
    history: el('ol', { id: 'history', reversed: true }),
    preview: el('pre', { class: 'preview', id: 'preview', hidden: true }),
    bypasses: el('tbody', { id: 'bypasses' }),
    accommodations: el('tbody', { id: 'accommodations' }),
    accommodationForm: el('form', { id: 'accommodation-form', class: 'row' },
      field('accommodation-test', 'Test'), field('accommodation-candidate', 'Candidate'),
      el('fieldset', {}, el('legend', {}, 'Waive'), WAIVERS.map(([name, label]) =>
        el('label', { class: 'check' }, el('input', { type: 'checkbox', name: 'accommodation-waive', value: name }), ` ${label}`))),
      field('accommodation-reason', 'Reason (shown to reviewers, kept for the audit trail)', { minlength: '3' }),
      el('button', { type: 'submit', class: 'primary' }, 'Waive for this candidate')),
    saveButton: el('button', { type: 'button', class: 'primary', id: 'save' }, 'Review changes'),
    jsonView: null,
    discardButton: el('button', { type: 'button' }, 'Discard edits'),
    bypassForm: el('form', { id: 'bypass-form', class: 'row' },
      field('bypass-test', 'Test'), field('bypass-candidate', 'Candidate'), field('bypass-reason', 'Reason (kept for the audit trail)', { minlength: '3' }),
      el('button', { type: 'submit', class: 'primary' }, 'Bypass proctoring')),
    platforms: el('tbody', { id: 'platforms' }),
    platformForm: el('form', { id: 'platform-form', class: 'row' },
      field('platform-name', 'Name (prefixes its ids)', { pattern: '[A-Za-z0-9_\\-]{1,32}' }),
      field('platform-issuer', 'Issuer'), field('platform-client_id', 'Client id it gave invigil'),
      field('platform-auth_url', 'OIDC auth URL', { type: 'url' }), field('platform-token_url', 'Token URL', { type: 'url' }),
      field('platform-jwks_url', 'Keyset (JWKS) URL', { type: 'url' }), field('platform-deployment_ids', 'Deployment ids (comma-separated)'),
      el('label', { class: 'check' }, el('input', { type: 'checkbox', id: 'platform-settings_from_platform', name: 'platform-settings_from_platform' }), ' The platform sets its tests\' proctoring'),
      el('button', { type: 'submit', class: 'primary' }, 'Register (or update by name)')),
    audit: el('tbody', { id: 'audit' }),
    auditForm: el('form', { id: 'audit-form', class: 'row' }, field('audit-test', 'Test'), el('button', { type: 'submit', class: 'primary' }, 'Show its audit trail')),
    deliveries: el('tbody', { id: 'deliveries' }),
    deliveryForm: el('form', { id: 'delivery-form', class: 'row' },
      field('delivery-endpoint', 'Endpoint', { required: false, pattern: '[A-Za-z0-9_\\-]{0,64}' }),
      el('label', { for: 'delivery-outcome' }, 'Outcome', el('select', { id: 'delivery-outcome', name: 'delivery-outcome' },
        ['', 'delivered', 'retrying', 'gave_up'].map((o) => el('option', { value: o }, o || 'any')))),
      field('delivery-test', 'Test', { required: false }),
      el('button', { type: 'submit', class: 'primary' }, 'Show deliveries')),
  };
  page.jsonView = el('details', { id: 'json-view' }, el('summary', {}, 'JSON view: the whole document'),
    el('p', { class: 'hint' }, 'defaults → tests.{test} overrides (only what changes) → accommodations.{test}.{candidate} → bypasses.{test}.{candidate}; duty.{test} = {proctors, capacity} splits the live wall. The forms above show what you type here once you leave the editor.'),
    page.editor, page.problems);
  main.append(
    el('section', { class: 'panel editor', 'aria-labelledby': 'editor-title' },
      el('h2', { id: 'editor-title' }, 'Configuration ', page.version),
      el('p', { class: 'hint' }, 'Four layers: the defaults, each test\'s override (only what changes), candidate accommodations, then candidate bypasses. Candidates get a change on their next events call. Nothing is saved until you review the changes and confirm.'),
      settingsHeader(page), page.layerHint, page.groups, page.jsonView,
      el('div', { class: 'row' }, page.saveButton, page.discardButton), page.diff),
    el('section', { class: 'panel', 'aria-labelledby': 'history-title' }, el('h2', { id: 'history-title' }, 'Version history'), page.history, page.preview),
    el('section', { class: 'panel', 'aria-labelledby': 'accommodation-title' }, el('h2', { id: 'accommodation-title' }, 'Candidate accommodations'),
      el('p', { class: 'hint' }, 'Checks one candidate is excused from — a disability, an assistive technology, missing hardware — with proctoring still on. Their overlay lists only the checks left; reviewers see the accommodation on the timeline.'),
      el('table', {}, el('thead', {}, el('tr', {}, ['Test', 'Candidate', 'Waived', 'Reason', ''].map((h) => el('th', {}, h)))), page.accommodations), page.accommodationForm),
    el('section', { class: 'panel', 'aria-labelledby': 'bypass-title' }, el('h2', { id: 'bypass-title' }, 'Candidate bypasses'),
      el('table', {}, el('thead', {}, el('tr', {}, ['Test', 'Candidate', 'Reason', ''].map((h) => el('th', {}, h)))), page.bypasses), page.bypassForm),
    el('section', { class: 'panel', 'aria-labelledby': 'platforms-title' }, el('h2', { id: 'platforms-title' }, 'Learning platforms (LTI 1.3)'),
      el('p', { class: 'hint' }, 'Give a platform\'s administrator these, then register the platform with what it gives back:'),
      el('dl', { id: 'tool-urls' }, toolUrls(location.origin).flatMap(([what, url]) => [el('dt', {}, what), el('dd', {}, el('code', {}, url))])),
      el('table', {}, el('thead', {}, el('tr', {}, ['Name', 'Issuer', 'Client id', 'Deployments', 'Sets its tests', ''].map((h) => el('th', {}, h)))), page.platforms),
      page.platformForm),
    el('section', { class: 'panel', 'aria-labelledby': 'audit-title' }, el('h2', { id: 'audit-title' }, 'Audit trail'),
      el('p', { class: 'hint' }, 'Every staff action on a test: timelines opened, media links signed, live watches, messages, verdicts, LMS controls — newest first. Places are keyed hashes of addresses, as candidates\' are.'),
      page.auditForm,
      el('table', {}, el('thead', {}, el('tr', {}, ['When', 'Who', 'Candidate', 'What', 'Place'].map((h) => el('th', {}, h)))), page.audit)),
    el('section', { class: 'panel', 'aria-labelledby': 'deliveries-title' }, el('h2', { id: 'deliveries-title' }, 'Webhook deliveries'),
      el('p', { class: 'hint' }, 'Every attempt to deliver a notice to an endpoint of the webhooks file, newest first. A failed attempt is retried with backoff for 24 hours; Send again queues a notice once more for its endpoint, under the same webhook-id.'),
      page.deliveryForm,
      el('table', {}, el('thead', {}, el('tr', {}, ['When', 'Endpoint', 'Type', 'Test / candidate', 'Attempt', 'Outcome', ''].map((h) => el('th', {}, h)))), page.deliveries)),
  );
  return page;
}

/** Selects the line of `field` in the editor. */
function reveal({ editor }, field) {
  const [start, end] = fieldRange(editor.value, field);
  editor.focus();
  editor.setSelectionRange(start, end);
}

/** Lists field problems under the editor (each a button to its line) and shows the first. */
function showProblems(page, list) {
  page.problems.replaceChildren(...list.map((p) => el('li', { dataset: { field: p.field } },
    el('button', { type: 'button', class: 'link', title: 'Show in the editor', onclick: () => reveal(page, p.field) }, el('code', {}, p.field || '(document)')),
    ` ${p.message}`)));
  page.editor.setAttribute('aria-invalid', list.length ? 'true' : 'false');
  // A problem of a setting shows beside its field; any other opens the JSON view.
  const unplaced = markSettingProblems(page, list);
  if (unplaced.length) {
    page.jsonView.open = true;
    if (unplaced[0].field) reveal(page, unplaced[0].field);
  }
}

/** Loads the configuration in force and its history, and redraws. */
async function load(page) {
  page.inForce = await api('/api/v1/admin/config');
  page.editor.value = JSON.stringify(page.inForce.document, null, 2);
  page.version.textContent = `version ${page.inForce.version}`;
  drawSettings(page);
  const { versions } = await api('/api/v1/admin/config/history');
  drawHistory(page, versions);
  drawBypasses(page);
  drawPlatforms(page);
}

function drawHistory(page, versions) {
  page.history.replaceChildren(...versionList(versions, page.inForce.version).map(({ version, inForce }) => el('li', { dataset: { version: String(version) } },
    `version ${version}`, inForce ? el('span', { class: 'current' }, ' (in force)') : ' ',
    el('button', { type: 'button', class: 'link', onclick: () => view(page, version) }, 'view'),
    inForce ? null : el('button', { type: 'button', class: 'danger', dataset: { rollback: String(version) }, onclick: () => rollback(page, version) }, `Roll back to ${version}`))));
}

function drawBypasses(page) {
  const rows = candidateEntries(page.inForce.document, 'bypasses').map(({ test, candidate, reason }) => el('tr', { dataset: { test, candidate } },
    el('td', {}, test), el('td', {}, candidate), el('td', {}, reason),
    el('td', {}, el('button', { type: 'button', class: 'link', onclick: () => removeEntry(page, 'bypasses', test, candidate) }, 'remove'))));
  page.bypasses.replaceChildren(...(rows.length ? rows : [el('tr', {}, el('td', { colspan: '4', class: 'legend' }, 'No bypasses.'))]));
  const waived = (names) => names.map((name) => (WAIVERS.find(([n]) => n === name) || [name, name])[1]).join('; ');
  const accommodations = candidateEntries(page.inForce.document, 'accommodations').map(({ test, candidate, waive, reason }) => el('tr', { dataset: { test, candidate } },
    el('td', {}, test), el('td', {}, candidate), el('td', {}, waived(waive)), el('td', {}, reason),
    el('td', {}, el('button', { type: 'button', class: 'link', onclick: () => removeEntry(page, 'accommodations', test, candidate) }, 'remove'))));
  page.accommodations.replaceChildren(...(accommodations.length ? accommodations : [el('tr', {}, el('td', { colspan: '5', class: 'legend' }, 'No accommodations.'))]));
}

function drawPlatforms(page) {
  const rows = platformList(page.inForce.document).map((p) => el('tr', { dataset: { platform: p.name } },
    el('td', {}, p.name), el('td', {}, p.issuer), el('td', {}, p.client_id), el('td', {}, (p.deployment_ids || []).join(', ')),
    el('td', {}, p.settings_from_platform ? 'yes' : 'no'),
    el('td', {}, el('button', { type: 'button', class: 'link', 'aria-label': `Remove ${p.name}`, onclick: () => removePlatform(page, p.name) }, 'remove'))));
  page.platforms.replaceChildren(...(rows.length ? rows : [el('tr', {}, el('td', { colspan: '6', class: 'legend' }, 'No platform may launch invigil.'))]));
}

/** Sends a whole document over the version shown; on 400 shows every field
 * problem inline, on 409 (another admin saved first) says so — either way
 * the editor stays as typed. Resolves to whether it was saved. */
async function save(page, config, what) {
  try {
    const saved = await api(`/api/v1/admin/config?if_version=${page.inForce.version}`, { method: 'PUT', body: config });
    showProblems(page, []);
    say(`${what}: version ${saved.version} is in force.`);
    await load(page);
    return true;
  } catch (error) {
    if (error instanceof ApiError && error.status === 400) {
      showProblems(page, refusalProblems(error.problems, error.message));
      say(`Not saved: ${error.problems.length || 1} problem(s). Nothing changed.`, 'error');
    } else if (error instanceof ApiError && error.status === 409) {
      say(`Not saved: someone else changed the configuration since you loaded version ${page.inForce.version}. Your edit is still in the editor: copy it, reload, and apply it again.`, 'error');
    } else say(`Not saved: ${error.message}`, 'error');
    return false;
  }
}

/** "Review changes": the list of what saving changes, and its Save button. */
function saveEditor(page) {
  const { problem } = parseDocument(page.editor.value);
  if (problem) {
    showProblems(page, [problem]);
    say('Not saved: the document is not valid JSON. Nothing changed.', 'error');
    return;
  }
  reviewChanges(page, (document) => save(page, document, 'Saved'), say);
}

async function view(page, version) {
  const stored = await api(`/api/v1/admin/config/history/${version}`);
  page.preview.hidden = false;
  page.preview.textContent = `version ${version}\n${JSON.stringify(stored.document, null, 2)}`;
}

async function rollback(page, version) {
  try {
    const result = await api(`/api/v1/admin/config/rollback?version=${version}&if_version=${page.inForce.version}`, { method: 'POST' });
    say(`Rolled back: the document of version ${version} is now version ${result.version}.`);
    showProblems(page, []);
    await load(page);
  } catch (error) {
    say(`Rollback failed: ${error.message}`, 'error');
  }
}

async function addBypass(page, event) {
  event.preventDefault();
  const data = new FormData(page.bypassForm);
  const [test, candidate, reason] = ['bypass-test', 'bypass-candidate', 'bypass-reason'].map((k) => String(data.get(k)).trim());
  if (await save(page, withCandidateEntry(page.inForce.document, 'bypasses', test, candidate, { reason }), `${candidate} of ${test} bypassed`)) page.bypassForm.reset();
}

async function addAccommodation(page, event) {
  event.preventDefault();
  const data = new FormData(page.accommodationForm);
  const [test, candidate, reason] = ['accommodation-test', 'accommodation-candidate', 'accommodation-reason'].map((k) => String(data.get(k)).trim());
  const waive = data.getAll('accommodation-waive').map(String);
  if (!waive.length) return say('Tick at least one check to waive.', 'error');
  if (await save(page, withCandidateEntry(page.inForce.document, 'accommodations', test, candidate, { waive, reason }), `${candidate} of ${test}: ${waive.length} check(s) waived`)) page.accommodationForm.reset();
}

/** Takes a candidate's bypass or accommodation out of the document. */
async function removeEntry(page, layer, test, candidate) {
  const what = layer === 'bypasses' ? 'Bypass' : 'Accommodation';
  await save(page, withoutCandidateEntry(page.inForce.document, layer, test, candidate), `${what} of ${candidate} removed`);
}

async function addPlatform(page, event) {
  event.preventDefault();
  const data = new FormData(page.platformForm);
  const fields = Object.fromEntries([...data.entries()].map(([key, value]) => [key.replace(/^platform-/, ''), value]));
  const platform = platformFromForm(fields);
  if (await save(page, withPlatform(page.inForce.document, platform), `Platform ${platform.name} registered`)) page.platformForm.reset();
}

async function removePlatform(page, name) {
  await save(page, withoutPlatform(page.inForce.document, name), `Platform ${name} removed`);
}

/** A delivery attempt's outcome in words. */
function describeDelivery(d) {
  const took = `${d.duration_ms} ms`;
  if (d.outcome === 'delivered') return `delivered (HTTP ${d.status}, ${took})`;
  const why = d.error || (d.status ? `HTTP ${d.status}` : 'no answer');
  if (d.outcome === 'gave_up') return `given up: ${why}`;
  return `failed: ${why}; next try ${formatTime(d.next_attempt_at)}`;
}

async function showDeliveries(page) {
  const form = new FormData(page.deliveryForm);
  const query = new URLSearchParams();
  for (const [name, key] of [['delivery-endpoint', 'endpoint'], ['delivery-outcome', 'outcome'], ['delivery-test', 'test']]) {
    const value = String(form.get(name) || '').trim();
    if (value) query.set(key, value);
  }
  try {
    const { deliveries } = await api(`/api/v1/dashboard/webhooks/deliveries?${query}`);
    const rows = deliveries.map((d) => el('tr', { dataset: { notice: d.notice_id, endpoint: d.endpoint, outcome: d.outcome } },
      el('td', {}, formatTime(d.at)), el('td', {}, d.endpoint), el('td', {}, d.event_type),
      el('td', {}, `${d.test_id} / ${d.candidate_id}`), el('td', {}, String(d.attempt) + (d.redelivery ? ' (sent again)' : '')),
      el('td', { class: d.outcome === 'delivered' ? '' : 'error' }, describeDelivery(d)),
      el('td', {}, el('button', { type: 'button', class: 'redeliver', onclick: () => redeliver(page, d) }, 'Send again'))));
    page.deliveries.replaceChildren(...(rows.length ? rows : [el('tr', {}, el('td', { colspan: '7', class: 'legend' }, 'No delivery logged (is the pipeline started with --webhooks?).'))]));
  } catch (error) {
    say(`Webhook deliveries: ${error.message}`, 'error');
  }
}

async function redeliver(page, delivery) {
  try {
    await api('/api/v1/dashboard/webhooks/redeliver', { method: 'POST', body: { endpoint: delivery.endpoint, notice_id: delivery.notice_id } });
    say(`${delivery.event_type} queued again for ${delivery.endpoint}.`);
    setTimeout(() => showDeliveries(page), 1500);
  } catch (error) {
    say(`Sending again: ${error.message}`, 'error');
  }
}

async function showAudit(page, event) {
  event.preventDefault();
  const test = String(new FormData(page.auditForm).get('audit-test')).trim();
  try {
    const { actions } = await api(`/api/v1/dashboard/tests/${encodeURIComponent(test)}/audit`);
    const rows = actions.map((a) => el('tr', { dataset: { action: a.action } },
      el('td', {}, formatTime(a.at)), el('td', {}, `${a.staff} (${a.role})`), el('td', {}, a.candidate_id || '—'),
      el('td', { class: a.outcome === 'done' ? '' : 'error' }, describeStaffAction(a)),
      el('td', {}, el('code', {}, a.place || '—'))));
    page.audit.replaceChildren(...(rows.length ? rows : [el('tr', {}, el('td', { colspan: '5', class: 'legend' }, `No staff action on ${test} yet.`))]));
  } catch (error) {
    say(`Audit trail of ${test}: ${error.message}`, 'error');
  }
}
