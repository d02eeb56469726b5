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
import { t } from './words.js';
import { formatTime } from './format.js';
import { describeStaffAction } from './review-data.js';

const me = await header(t('admin.title'));
if (me && me.role !== 'admin') say(t('admin.needs_admin'), 'error');
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
    editor: el('textarea', { id: 'config', spellcheck: 'false', 'aria-describedby': 'config-problems', 'aria-label': t('admin.editor_label') }),
    problems: el('ul', { class: 'problems', id: 'config-problems', role: 'alert' }),
    version: el('span', { class: 'current', id: 'version' }),
    history: el('ol', { id: 'history', reversed: true }),
    preview: el('pre', { class: 'preview', id: 'preview', hidden: true }),
    bypasses: el('tbody', { id: 'bypasses' }),
    accommodations: el('tbody', { id: 'accommodations' }),
    accommodationForm: el('form', { id: 'accommodation-form', class: 'row' },
      field('accommodation-test', t('admin.test')), field('accommodation-candidate', t('admin.candidate')),
      el('fieldset', {}, el('legend', {}, t('admin.waive')), WAIVERS.map(([name, label]) =>
        el('label', { class: 'check' }, el('input', { type: 'checkbox', name: 'accommodation-waive', value: name }), ` ${label}`))),
      field('accommodation-reason', t('admin.accommodation_reason'), { minlength: '3' }),
      el('button', { type: 'submit', class: 'primary' }, t('admin.accommodation_submit'))),
    saveButton: el('button', { type: 'button', class: 'primary', id: 'save' }, t('admin.review_changes')),
    jsonView: null,
    discardButton: el('button', { type: 'button' }, t('admin.discard')),
    bypassForm: el('form', { id: 'bypass-form', class: 'row' },
      field('bypass-test', t('admin.test')), field('bypass-candidate', t('admin.candidate')), field('bypass-reason', t('admin.bypass_reason'), { minlength: '3' }),
      el('button', { type: 'submit', class: 'primary' }, t('admin.bypass_submit'))),
    platforms: el('tbody', { id: 'platforms' }),
    platformForm: el('form', { id: 'platform-form', class: 'row' },
      field('platform-name', t('admin.platform_name'), { pattern: '[A-Za-z0-9_\\-]{1,32}' }),
      field('platform-issuer', t('admin.platform_issuer')), field('platform-client_id', t('admin.platform_client_id')),
      field('platform-auth_url', t('admin.platform_auth_url'), { type: 'url' }), field('platform-token_url', t('admin.platform_token_url'), { type: 'url' }),
      field('platform-jwks_url', t('admin.platform_jwks_url'), { type: 'url' }), field('platform-deployment_ids', t('admin.platform_deployments')),
      el('label', { class: 'check' }, el('input', { type: 'checkbox', id: 'platform-settings_from_platform', name: 'platform-settings_from_platform' }), t('admin.platform_settings')),
      el('button', { type: 'submit', class: 'primary' }, t('admin.platform_submit'))),
    audit: el('tbody', { id: 'audit' }),
    auditForm: el('form', { id: 'audit-form', class: 'row' }, field('audit-test', t('admin.test')), el('button', { type: 'submit', class: 'primary' }, t('admin.audit_submit'))),
    deliveries: el('tbody', { id: 'deliveries' }),
    deliveryForm: el('form', { id: 'delivery-form', class: 'row' },
      field('delivery-endpoint', t('admin.endpoint'), { required: false, pattern: '[A-Za-z0-9_\\-]{0,64}' }),
      el('label', { for: 'delivery-outcome' }, t('admin.outcome'), el('select', { id: 'delivery-outcome', name: 'delivery-outcome' },
        ['', 'delivered', 'retrying', 'gave_up'].map((o) => el('option', { value: o }, o || t('admin.any'))))),
      field('delivery-test', t('admin.test'), { required: false }),
      el('button', { type: 'submit', class: 'primary' }, t('admin.deliveries_submit'))),
  };
  page.jsonView = el('details', { id: 'json-view' }, el('summary', {}, t('admin.json_view')),
    el('p', { class: 'hint' }, t('admin.layers_hint')),
    page.editor, page.problems);
  main.append(
    el('section', { class: 'panel editor', 'aria-labelledby': 'editor-title' },
      el('h2', { id: 'editor-title' }, `${t('admin.configuration')} `, page.version),
      el('p', { class: 'hint' }, t('admin.editor_hint')),
      settingsHeader(page), page.layerHint, page.groups, page.jsonView,
      el('div', { class: 'row' }, page.saveButton, page.discardButton), page.diff),
    el('section', { class: 'panel', 'aria-labelledby': 'history-title' }, el('h2', { id: 'history-title' }, t('admin.history')), page.history, page.preview),
    el('section', { class: 'panel', 'aria-labelledby': 'accommodation-title' }, el('h2', { id: 'accommodation-title' }, t('admin.accommodations')),
      el('p', { class: 'hint' }, t('admin.accommodations_hint')),
      el('table', {}, el('thead', {}, el('tr', {}, [t('admin.test'), t('admin.candidate'), t('admin.col_waived'), t('admin.col_reason'), ''].map((h) => el('th', {}, h)))), page.accommodations), page.accommodationForm),
    el('section', { class: 'panel', 'aria-labelledby': 'bypass-title' }, el('h2', { id: 'bypass-title' }, t('admin.bypasses')),
      el('table', {}, el('thead', {}, el('tr', {}, [t('admin.test'), t('admin.candidate'), t('admin.col_reason'), ''].map((h) => el('th', {}, h)))), page.bypasses), page.bypassForm),
    el('section', { class: 'panel', 'aria-labelledby': 'platforms-title' }, el('h2', { id: 'platforms-title' }, t('admin.platforms')),
      el('p', { class: 'hint' }, t('admin.platforms_hint')),
      el('dl', { id: 'tool-urls' }, toolUrls(location.origin).flatMap(([what, url]) => [el('dt', {}, what), el('dd', {}, el('code', {}, url))])),
      el('table', {}, el('thead', {}, el('tr', {}, [t('admin.col_name'), t('admin.platform_issuer'), t('admin.col_client_id'), t('admin.col_deployments'), t('admin.col_sets_tests'), ''].map((h) => el('th', {}, h)))), page.platforms),
      page.platformForm),
    el('section', { class: 'panel', 'aria-labelledby': 'audit-title' }, el('h2', { id: 'audit-title' }, t('admin.audit')),
      el('p', { class: 'hint' }, t('admin.audit_hint')),
      page.auditForm,
      el('table', {}, el('thead', {}, el('tr', {}, [t('admin.col_when'), t('admin.col_who'), t('admin.candidate'), t('admin.col_what'), t('admin.col_place')].map((h) => el('th', {}, h)))), page.audit)),
    el('section', { class: 'panel', 'aria-labelledby': 'deliveries-title' }, el('h2', { id: 'deliveries-title' }, t('admin.deliveries')),
      el('p', { class: 'hint' }, t('admin.deliveries_hint')),
      page.deliveryForm,
      el('table', {}, el('thead', {}, el('tr', {}, [t('admin.col_when'), t('admin.endpoint'), t('admin.col_type'), t('admin.col_test_candidate'), t('admin.col_attempt'), t('admin.outcome'), ''].map((h) => el('th', {}, h)))), page.deliveries)),
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
    el('button', { type: 'button', class: 'link', title: t('admin.show_in_editor'), onclick: () => reveal(page, p.field) }, el('code', {}, p.field || t('admin.whole_document'))),
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
  page.version.textContent = t('admin.version', { version: page.inForce.version });
  drawSettings(page);
  const { versions } = await api('/api/v1/admin/config/history');
  drawHistory(page, versions);
  drawBypasses(page);
  drawPlatforms(page);
}

function drawHistory(page, versions) {
  page.history.replaceChildren(...versionList(versions, page.inForce.version).map(({ version, inForce }) => el('li', { dataset: { version: String(version) } },
    t('admin.version', { version }), inForce ? el('span', { class: 'current' }, t('admin.in_force_mark')) : ' ',
    el('button', { type: 'button', class: 'link', onclick: () => view(page, version) }, t('admin.view')),
    inForce ? null : el('button', { type: 'button', class: 'danger', dataset: { rollback: String(version) }, onclick: () => rollback(page, version) }, t('admin.roll_back_to', { version })))));
}

function drawBypasses(page) {
  const rows = candidateEntries(page.inForce.document, 'bypasses').map(({ test, candidate, reason }) => el('tr', { dataset: { test, candidate } },
    el('td', {}, test), el('td', {}, candidate), el('td', {}, reason),
    el('td', {}, el('button', { type: 'button', class: 'link', onclick: () => removeEntry(page, 'bypasses', test, candidate) }, t('admin.remove')))));
  page.bypasses.replaceChildren(...(rows.length ? rows : [el('tr', {}, el('td', { colspan: '4', class: 'legend' }, t('admin.no_bypasses')))]));
  const waived = (names) => names.map((name) => (WAIVERS.find(([n]) => n === name) || [name, name])[1]).join('; ');
  const accommodations = candidateEntries(page.inForce.document, 'accommodations').map(({ test, candidate, waive, reason }) => el('tr', { dataset: { test, candidate } },
    el('td', {}, test), el('td', {}, candidate), el('td', {}, waived(waive)), el('td', {}, reason),
    el('td', {}, el('button', { type: 'button', class: 'link', onclick: () => removeEntry(page, 'accommodations', test, candidate) }, t('admin.remove')))));
  page.accommodations.replaceChildren(...(accommodations.length ? accommodations : [el('tr', {}, el('td', { colspan: '5', class: 'legend' }, t('admin.no_accommodations')))]));
}

function drawPlatforms(page) {
  const rows = platformList(page.inForce.document).map((p) => el('tr', { dataset: { platform: p.name } },
    el('td', {}, p.name), el('td', {}, p.issuer), el('td', {}, p.client_id), el('td', {}, (p.deployment_ids || []).join(', ')),
    el('td', {}, p.settings_from_platform ? t('admin.yes') : t('admin.no')),
    el('td', {}, el('button', { type: 'button', class: 'link', 'aria-label': t('admin.remove_platform', { name: p.name }), onclick: () => removePlatform(page, p.name) }, t('admin.remove')))));
  page.platforms.replaceChildren(...(rows.length ? rows : [el('tr', {}, el('td', { colspan: '6', class: 'legend' }, t('admin.no_platforms')))]));
}

/** Sends a whole document over the version shown; on 400 shows every field
 * problem inline, on 409 (another admin saved first) says so — either way
 * the editor stays as typed. Resolves to whether it was saved. */
async function save(page, config, what) {
  try {
    const saved = await api(`/api/v1/admin/config?if_version=${page.inForce.version}`, { method: 'PUT', body: config });
    showProblems(page, []);
    say(t('admin.in_force', { what, version: saved.version }));
    await load(page);
    return true;
  } catch (error) {
    if (error instanceof ApiError && error.status === 400) {
      showProblems(page, refusalProblems(error.problems, error.message));
      say(t('admin.not_saved_problems', { count: error.problems.length || 1 }), 'error');
    } else if (error instanceof ApiError && error.status === 409) {
      say(t('admin.not_saved_conflict', { version: page.inForce.version }), 'error');
    } else say(t('admin.not_saved', { message: error.message }), 'error');
    return false;
  }
}

/** "Review changes": the list of what saving changes, and its Save button. */
function saveEditor(page) {
  const { problem } = parseDocument(page.editor.value);
  if (problem) {
    showProblems(page, [problem]);
    say(t('admin.not_json'), 'error');
    return;
  }
  reviewChanges(page, (document) => save(page, document, t('admin.saved')), say);
}

async function view(page, version) {
  const stored = await api(`/api/v1/admin/config/history/${version}`);
  page.preview.hidden = false;
  page.preview.textContent = `${t('admin.version', { version })}\n${JSON.stringify(stored.document, null, 2)}`;
}

async function rollback(page, version) {
  try {
    const result = await api(`/api/v1/admin/config/rollback?version=${version}&if_version=${page.inForce.version}`, { method: 'POST' });
    say(t('admin.rolled_back', { version, now: result.version }));
    showProblems(page, []);
    await load(page);
  } catch (error) {
    say(t('admin.rollback_failed', { message: error.message }), 'error');
  }
}

async function addBypass(page, event) {
  event.preventDefault();
  const data = new FormData(page.bypassForm);
  const [test, candidate, reason] = ['bypass-test', 'bypass-candidate', 'bypass-reason'].map((k) => String(data.get(k)).trim());
  if (await save(page, withCandidateEntry(page.inForce.document, 'bypasses', test, candidate, { reason }), t('admin.bypassed', { candidate, test }))) page.bypassForm.reset();
}

async function addAccommodation(page, event) {
  event.preventDefault();
  const data = new FormData(page.accommodationForm);
  const [test, candidate, reason] = ['accommodation-test', 'accommodation-candidate', 'accommodation-reason'].map((k) => String(data.get(k)).trim());
  const waive = data.getAll('accommodation-waive').map(String);
  if (!waive.length) return say(t('admin.tick_one'), 'error');
  if (await save(page, withCandidateEntry(page.inForce.document, 'accommodations', test, candidate, { waive, reason }), t('admin.waived', { candidate, test, count: waive.length }))) page.accommodationForm.reset();
}

/** Takes a candidate's bypass or accommodation out of the document. */
async function removeEntry(page, layer, test, candidate) {
  const what = t(layer === 'bypasses' ? 'admin.bypass_removed' : 'admin.accommodation_removed', { candidate });
  await save(page, withoutCandidateEntry(page.inForce.document, layer, test, candidate), what);
}

async function addPlatform(page, event) {
  event.preventDefault();
  const data = new FormData(page.platformForm);
  const fields = Object.fromEntries([...data.entries()].map(([key, value]) => [key.replace(/^platform-/, ''), value]));
  const platform = platformFromForm(fields);
  if (await save(page, withPlatform(page.inForce.document, platform), t('admin.platform_registered', { name: platform.name }))) page.platformForm.reset();
}

async function removePlatform(page, name) {
  await save(page, withoutPlatform(page.inForce.document, name), t('admin.platform_removed', { name }));
}

/** A delivery attempt's outcome in words. */
function describeDelivery(d) {
  const took = `${d.duration_ms} ms`;
  if (d.outcome === 'delivered') return t('admin.delivered', { status: d.status, took });
  const why = d.error || (d.status ? `HTTP ${d.status}` : t('admin.no_answer'));
  if (d.outcome === 'gave_up') return t('admin.gave_up', { why });
  return t('admin.failed', { why, next: formatTime(d.next_attempt_at) });
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
      el('td', {}, `${d.test_id} / ${d.candidate_id}`), el('td', {}, String(d.attempt) + (d.redelivery ? t('admin.sent_again_mark') : '')),
      el('td', { class: d.outcome === 'delivered' ? '' : 'error' }, describeDelivery(d)),
      el('td', {}, el('button', { type: 'button', class: 'redeliver', onclick: () => redeliver(page, d) }, t('admin.send_again')))));
    page.deliveries.replaceChildren(...(rows.length ? rows : [el('tr', {}, el('td', { colspan: '7', class: 'legend' }, t('admin.no_deliveries')))]));
  } catch (error) {
    say(t('admin.deliveries_failed', { message: error.message }), 'error');
  }
}

async function redeliver(page, delivery) {
  try {
    await api('/api/v1/dashboard/webhooks/redeliver', { method: 'POST', body: { endpoint: delivery.endpoint, notice_id: delivery.notice_id } });
    say(t('admin.queued_again', { type: delivery.event_type, endpoint: delivery.endpoint }));
    setTimeout(() => showDeliveries(page), 1500);
  } catch (error) {
    say(t('admin.send_again_failed', { message: error.message }), 'error');
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
    page.audit.replaceChildren(...(rows.length ? rows : [el('tr', {}, el('td', { colspan: '5', class: 'legend' }, t('admin.no_actions', { test })))]));
  } catch (error) {
    say(t('admin.audit_failed', { test, message: error.message }), 'error');
  }
}
