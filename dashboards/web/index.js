// The landing page: sign in with a staff token, then the pages and tests
// that token opens.
import { header } from './common.js';
import { el } from './dom.js';
import { t } from './words.js';

const me = await header(t('landing.title'));
if (me) {
  const pages = [];
  if (me.role === 'proctor' || me.role === 'admin') pages.push(['proctor.html', t('nav.proctor'), t('landing.proctor')]);
  if (me.role === 'reviewer' || me.role === 'admin') pages.push(['review.html', t('nav.review'), t('landing.review')]);
  if (me.role === 'admin') pages.push(['admin.html', t('nav.admin'), t('landing.admin')]);
  const tests = me.role === 'admin' && me.tests.length === 0 ? [t('landing.any_test')] : me.tests;
  document.getElementById('main').append(
    el('section', { class: 'panel' }, el('h2', {}, t('landing.pages')),
      el('ul', {}, pages.map(([href, name, what]) => el('li', {}, el('a', { href }, name), ` — ${what}`)))),
    el('section', { class: 'panel' }, el('h2', {}, t('landing.tests')),
      el('ul', { id: 'tests' }, tests.map((test) => el('li', {}, test)))),
  );
}
