// The landing page: sign in with a staff token, then the pages and tests
// that token opens.
import { header } from './common.js';
import { el } from './dom.js';

const me = await header('Dashboards');
if (me) {
  const pages = [];
  if (me.role === 'proctor' || me.role === 'admin') pages.push(['proctor.html', 'Proctor wall', 'live counters and alerts for your candidates']);
  if (me.role === 'reviewer' || me.role === 'admin') pages.push(['review.html', 'Review', 'candidates by score, timelines, verdicts']);
  if (me.role === 'admin') pages.push(['admin.html', 'Admin', 'configuration, rollback, bypasses']);
  const tests = me.role === 'admin' && me.tests.length === 0 ? ['(any test: add ?test=… to a page)'] : me.tests;
  document.getElementById('main').append(
    el('section', { class: 'panel' }, el('h2', {}, 'Pages'),
      el('ul', {}, pages.map(([href, name, what]) => el('li', {}, el('a', { href }, name), ` — ${what}`)))),
    el('section', { class: 'panel' }, el('h2', {}, 'Your tests'),
      el('ul', { id: 'tests' }, tests.map((test) => el('li', {}, test)))),
  );
}
