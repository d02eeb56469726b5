// The admin page's settings as forms: one layer at a time (the defaults,
// or one test's override), every setting with its explanation, unit,
// bounds and where its value comes from; a typed value checked at once;
// and, before anything is saved, the list of what would change. The forms
// and the JSON view edit the same document: the JSON editor's text is the
// working copy, and a valid form edit rewrites it. settings-data.js holds
// the logic; this file draws.
import { el } from './dom.js';
import { t } from './words.js';
import { documentDiff, newTestLayer, parseSetting, problemSetting, rangeText, readableMs, settingValue, testLayers, withSetting, withoutSetting } from './settings-data.js';

const fieldId = (path) => `setting-${path.replaceAll('.', '-')}`;
const shown = (value) => (value === undefined ? t('settings.not_set') : JSON.stringify(value));
/** Where a value comes from (settingValue's `source`), as the form says it. */
const SOURCES = { 'built-in': t('settings.source_built_in'), defaults: t('settings.source_defaults'), 'this test': t('settings.source_this_test') };

/** The panel's parts; `page.settings` holds the server's list once loaded. */
export function settingsLayout() {
  return {
    layer: 'defaults',
    formProblems: new Map(),
    layerSelect: el('select', { id: 'settings-layer', name: 'settings-layer' }),
    layerHint: el('p', { class: 'hint', id: 'settings-layer-hint' }),
    newTest: el('input', { id: 'settings-new-test', name: 'settings-new-test', placeholder: 'exam-2026-physics', autocomplete: 'off' }),
    addTest: el('button', { type: 'button', id: 'settings-add-test' }, t('settings.add_test')),
    groups: el('div', { id: 'settings', 'aria-live': 'polite' }),
    diff: el('section', { id: 'diff', class: 'diff', hidden: true, 'aria-labelledby': 'diff-title', tabindex: '-1' }),
  };
}

/** The panel's controls above the settings, wired to `page`. */
export function settingsHeader(page, onChange) {
  page.layerSelect.addEventListener('change', () => {
    page.layer = page.layerSelect.value;
    page.formProblems.clear();
    drawSettings(page);
  });
  page.addTest.addEventListener('click', () => {
    const working = workingDocument(page);
    if (!working) return;
    const { layer, problem } = newTestLayer(working, page.newTest.value);
    if (problem && !layer) {
      page.newTest.setAttribute('aria-invalid', 'true');
      page.newTest.setCustomValidity(problem);
      page.newTest.reportValidity();
      return;
    }
    page.newTest.setCustomValidity('');
    page.newTest.removeAttribute('aria-invalid');
    if (!problem) setWorking(page, { ...working, tests: { ...(working.tests || {}), [layer.slice('tests.'.length)]: {} } });
    page.layer = layer;
    page.newTest.value = '';
    drawSettings(page);
    onChange?.();
  });
  return el('div', { class: 'row' },
    el('label', { for: 'settings-layer' }, t('settings.of'), page.layerSelect),
    el('label', { for: 'settings-new-test' }, t('settings.new_test'), page.newTest),
    page.addTest);
}

/** The working copy: the JSON editor's text, when it parses. */
export function workingDocument(page) {
  try {
    return JSON.parse(page.editor.value);
  } catch (_) {
    return null;
  }
}

function setWorking(page, document) {
  page.editor.value = JSON.stringify(document, null, 2);
}

/** Redraws the layer list and the current layer's settings from the working copy. */
export function drawSettings(page) {
  if (!page.settings) return;
  const working = workingDocument(page);
  if (!working) {
    page.groups.replaceChildren(el('p', { class: 'error' }, t('settings.not_json')));
    return;
  }
  const layers = ['defaults', ...testLayers(working)];
  if (!layers.includes(page.layer)) page.layer = 'defaults';
  page.layerSelect.replaceChildren(...layers.map((layer) => el('option', { value: layer, selected: layer === page.layer },
    layer === 'defaults' ? t('settings.defaults') : t('settings.test', { test: layer.slice('tests.'.length) }))));
  page.layerHint.textContent = page.layer === 'defaults'
    ? t('settings.defaults_hint')
    : t('settings.test_hint', { test: page.layer.slice('tests.'.length) });
  const groups = new Map();
  for (const setting of page.settings) {
    if (!groups.has(setting.group)) groups.set(setting.group, []);
    groups.get(setting.group).push(settingRow(page, working, setting));
  }
  page.groups.replaceChildren(...[...groups].map(([group, rows]) => el('fieldset', { class: 'settings-group' }, el('legend', {}, group), rows)));
  for (const [path, message] of page.formProblems) markField(page, path, message);
}

/**
 * Shows the working copy's values in the fields drawn, in place: the JSON
 * view's edit lands without moving the page (a redraw on the editor's
 * blur would shift the button being clicked). A layer list that changed
 * is drawn anew.
 */
export function refreshSettings(page) {
  const working = workingDocument(page);
  const layers = working ? ['defaults', ...testLayers(working)] : [];
  const shownLayers = [...page.layerSelect.options].map((o) => o.value);
  if (!page.settings || !working || shownLayers.join('\n') !== layers.join('\n')) return drawSettings(page);
  for (const setting of page.settings) {
    const control = page.groups.querySelector(`#${fieldId(setting.path)}`);
    if (!control || page.formProblems.has(setting.path)) continue;
    const current = settingValue(working, page.layer, setting);
    if (control.type === 'checkbox') control.checked = current.value === true;
    else control.value = String(current.value);
    showMeta(page, setting, current);
  }
}

/** One setting: its control, unit, source and explanation. */
function settingRow(page, working, setting) {
  const id = fieldId(setting.path);
  const current = settingValue(working, page.layer, setting);
  const { value } = current;
  const described = `${id}-explain ${id}-problem`;
  let control;
  if (setting.kind.type === 'switch') {
    control = el('input', { type: 'checkbox', id, name: id, checked: value === true, 'aria-describedby': described });
    control.addEventListener('change', () => edit(page, setting, control.checked));
  } else if (setting.kind.type === 'choice') {
    control = el('select', { id, name: id, 'aria-describedby': described },
      setting.kind.choices.map((choice) => el('option', { value: choice, selected: choice === value }, choice)));
    control.addEventListener('change', () => edit(page, setting, control.value));
  } else {
    control = el('input', {
      type: 'number', id, name: id, value: String(value), inputmode: setting.kind.type === 'integer' ? 'numeric' : 'decimal',
      step: setting.kind.type === 'integer' ? '1' : 'any', min: setting.kind.min ?? undefined, max: setting.kind.max ?? undefined,
      'aria-describedby': described,
    });
    control.addEventListener('input', () => edit(page, setting, control.value));
  }
  const range = ['integer', 'number'].includes(setting.kind.type) ? ` Range: ${rangeText(setting.kind)}${setting.unit ? ` ${setting.unit}` : ''}.` : '';
  return el('div', { class: 'setting', dataset: { path: setting.path } },
    el('label', { for: id }, setting.label),
    el('div', { class: 'control' }, control, setting.unit ? el('span', { class: 'unit' }, setting.unit) : null, el('span', { class: 'meta' }, rowMeta(page, setting, current))),
    el('p', { class: 'hint', id: `${id}-explain` }, setting.explain, range),
    el('p', { class: 'problem', id: `${id}-problem`, hidden: true }));
}

/** Beside the control: a readable duration, the value's source, and for a
 * test's own value the button back to the defaults'. `current` is
 * settingValue's answer for the layer shown. */
function rowMeta(page, setting, { value, source, inherited }) {
  return [
    setting.unit === 'ms' && typeof value === 'number' ? el('span', { class: 'readable' }, `= ${readableMs(value)}`) : null,
    el('span', { class: `source source-${source.replace(' ', '-')}`, title: t('settings.source') }, SOURCES[source] || source),
    source === 'this test'
      ? el('button', { type: 'button', class: 'link clear', onclick: () => clear(page, setting) }, t('settings.use_defaults', { value: shown(inherited) }))
      : null,
  ];
}

function showMeta(page, setting, current) {
  const row = page.groups.querySelector(`[data-path="${setting.path}"] .meta`);
  if (row) row.replaceChildren(...rowMeta(page, setting, current).filter(Boolean));
}

/** A typed value: checked at once; a valid one goes into the working copy. */
function edit(page, setting, raw) {
  const { value, problem } = parseSetting(setting, raw);
  markField(page, setting.path, problem);
  if (problem) {
    page.formProblems.set(setting.path, problem);
    return;
  }
  page.formProblems.delete(setting.path);
  const working = workingDocument(page);
  if (!working) return;
  const edited = withSetting(working, page.layer, setting.path, value);
  setWorking(page, edited);
  showMeta(page, setting, settingValue(edited, page.layer, setting));
}

function clear(page, setting) {
  const working = workingDocument(page);
  if (!working) return;
  setWorking(page, withoutSetting(working, page.layer, setting.path));
  page.formProblems.delete(setting.path);
  drawSettings(page);
  page.groups.querySelector(`#${fieldId(setting.path)}`)?.focus();
}

/** Shows (or, with no message, clears) a problem beside a setting. */
function markField(page, path, message) {
  const control = page.groups.querySelector(`#${fieldId(path)}`);
  const problem = page.groups.querySelector(`#${fieldId(path)}-problem`);
  if (!control || !problem) return;
  control.setAttribute('aria-invalid', message ? 'true' : 'false');
  problem.hidden = !message;
  problem.textContent = message || '';
  control.closest('.setting').classList.toggle('invalid', !!message);
}

/**
 * A refusal's problems on the forms: the layer of the first one that names
 * a setting is shown, with each of its problems beside its field. Returns
 * the problems no field shows (they stay in the JSON view's list).
 */
export function markSettingProblems(page, problems) {
  if (!page.settings) return problems;
  const working = workingDocument(page);
  const layers = ['defaults', ...(working ? testLayers(working) : [])];
  const first = problems.map((p) => layers.find((layer) => problemSetting(p.field, layer, page.settings))).find(Boolean);
  if (!first) return problems;
  if (page.layer !== first) {
    page.layer = first;
    page.formProblems.clear();
    drawSettings(page);
  }
  const unplaced = [];
  for (const p of problems) {
    const path = problemSetting(p.field, page.layer, page.settings);
    if (path) markField(page, path, p.message);
    else unplaced.push(p);
  }
  page.groups.querySelector('[aria-invalid="true"]')?.focus();
  return unplaced;
}

/**
 * Shows what saving the working copy would change, with the button that
 * saves it; refuses while a setting shows a problem. `save(document)`
 * resolves to whether it was saved.
 */
export function reviewChanges(page, save, say) {
  if (page.formProblems.size) {
    say(t('settings.problems', { count: page.formProblems.size }), 'error');
    page.groups.querySelector('[aria-invalid="true"]')?.focus();
    return null;
  }
  const working = workingDocument(page);
  if (!working) return { notJson: true };
  const changes = documentDiff(page.inForce.document, working);
  if (!changes.length) {
    page.diff.hidden = true;
    say(t('settings.nothing'));
    return null;
  }
  const confirm = el('button', { type: 'button', class: 'primary', id: 'confirm-save' }, t(changes.length === 1 ? 'settings.save_one' : 'settings.save_many', { count: changes.length }));
  const back = el('button', { type: 'button', id: 'cancel-review' }, t('settings.keep_editing'));
  // Saved or refused, this list is spent: a refusal's problems show on
  // the fields, and the next review lists the document as it is then.
  confirm.addEventListener('click', async () => {
    confirm.disabled = true;
    await save(working);
    page.diff.hidden = true;
    page.diff.replaceChildren();
  });
  back.addEventListener('click', () => { page.diff.hidden = true; });
  page.diff.replaceChildren(
    el('h3', { id: 'diff-title' }, t('settings.diff_title', { version: page.inForce.version })),
    el('table', { id: 'diff-table' },
      el('thead', {}, el('tr', {}, t('settings.diff_columns').split('|').map((h) => el('th', { scope: 'col' }, h)))),
      el('tbody', {}, changes.map((c) => el('tr', { dataset: { path: c.path } },
        el('td', {}, el('code', {}, c.path)), el('td', {}, shown(c.before)), el('td', {}, shown(c.after)))))),
    el('div', { class: 'row' }, confirm, back));
  page.diff.hidden = false;
  say(t(changes.length === 1 ? 'settings.review_one' : 'settings.review_many', { count: changes.length }));
  page.diff.focus();
  return { changes };
}
