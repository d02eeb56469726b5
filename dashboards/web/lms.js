// The wall's LMS controls for one candidate: pause, resume, extra time, flag
// or terminate the attempt in the learning platform the exam was launched
// from (the LTI Assessment Control Service). The attempt's signed context
// comes from the candidate's timeline (…/lti); the front door sends the
// control, retries it and records it in the timeline; the platform's answer
// or its refusal shows here, never swallowed.
import { api } from './common.js';
import { el } from './dom.js';
import { t } from './words.js';
import { formatTime } from './format.js';
import { controlResult, offeredControls } from './proctor-data.js';

const enc = encodeURIComponent;

/** A panel of controls for `candidate`; `close()` takes it away. */
export function openControls(test, candidate, { onClose = () => {} } = {}) {
  const state = el('p', { class: 'legend', role: 'status' }, t('lms.looking_up'));
  const body = el('div');
  let closed = false;
  const close = () => {
    if (closed) return;
    closed = true;
    panel.remove();
    onClose();
  };
  const panel = el('section', { class: 'panel lms-controls', role: 'dialog', 'aria-label': t('wall.lms_label', { candidate }), dataset: { candidate, state: 'loading' } },
    el('header', {}, el('h2', {}, t('lms.title', { candidate })), el('button', { type: 'button', class: 'close', onclick: close }, t('live.close'))),
    state,
    body);
  api(`/api/v1/dashboard/tests/${enc(test)}/candidates/${enc(candidate)}/lti`).then((attempt) => {
    if (closed) return;
    const offered = offeredControls(attempt.context);
    if (!offered.length) {
      panel.dataset.state = 'none';
      state.textContent = t('lms.none');
      return;
    }
    panel.dataset.state = 'ready';
    state.textContent = t('lms.offered', { at: formatTime(attempt.recorded_at), controls: offered.map(([, label]) => label.toLowerCase()).join(', ') });
    body.append(controlForm(attempt.context, offered));
  }, (error) => {
    panel.dataset.state = error.status === 404 ? 'none' : 'error';
    state.textContent = error.message;
  });
  return { panel, close };
}

/** The form that sends one control; terminating asks twice. */
function controlForm(context, offered) {
  const action = el('select', { name: 'action', 'aria-label': t('lms.control') }, offered.map(([value, label]) => el('option', { value }, label)));
  const minutes = el('input', { type: 'number', name: 'extra_time', min: 1, max: 600, value: 10, 'aria-label': t('lms.extra_minutes') });
  const minutesField = el('label', {}, `${t('lms.minutes')} `, minutes);
  const code = el('input', { type: 'text', name: 'reason_code', maxlength: 100, placeholder: t('lms.reason_code'), 'aria-label': t('lms.reason_code') });
  const reason = el('input', { type: 'text', name: 'reason_msg', maxlength: 500, placeholder: t('lms.reason_placeholder'), 'aria-label': t('lms.reason') });
  const severity = el('input', { type: 'number', name: 'incident_severity', min: 0, max: 1, step: 0.1, placeholder: t('lms.severity_placeholder'), 'aria-label': t('lms.severity') });
  const send = el('button', { type: 'submit' }, t('live.send'));
  const result = el('p', { class: 'legend', role: 'status', 'aria-live': 'polite' });
  const reset = () => {
    minutesField.hidden = action.value !== 'update';
    delete form.dataset.confirm;
    send.textContent = t('live.send');
  };
  const form = el('form', { class: 'lms-form', onsubmit: async (event) => {
    event.preventDefault();
    if (action.value === 'terminate' && form.dataset.confirm !== 'terminate') {
      form.dataset.confirm = 'terminate';
      send.textContent = t('lms.terminate');
      result.className = 'legend';
      result.textContent = t('lms.terminate_confirm');
      return;
    }
    const request = { context, action: action.value };
    if (action.value === 'update') request.extra_time = Number(minutes.value);
    if (code.value.trim()) request.reason_code = code.value.trim();
    if (reason.value.trim()) request.reason_msg = reason.value.trim();
    if (severity.value !== '') request.incident_severity = Number(severity.value);
    send.disabled = true;
    form.dataset.state = 'sending';
    result.className = 'legend';
    result.textContent = t('lms.sending');
    try {
      const reply = await api('/api/v1/lti/control', { method: 'POST', body: request });
      form.dataset.state = 'done';
      form.dataset.status = reply.status;
      result.textContent = controlResult(request.action, reply);
    } catch (error) {
      form.dataset.state = 'failed';
      result.className = 'error';
      result.textContent = error.message;
    } finally {
      send.disabled = false;
      reset();
    }
  } },
  action, minutesField, code, reason, severity, send, result);
  action.addEventListener('change', reset);
  reset();
  return form;
}
