// The exam page of a host app that installs @invigil/sdk from npm.
// Importing the SDK must leave the page untouched; the test reads
// `window.consumer` to see what it did, and starts proctoring by giving
// the page `?endpoint=…&token=…` (and `&locale=…`, the candidate's language).
import invigil from '@invigil/sdk';
import type { InvigilEvent, InvigilNotice } from '@invigil/sdk';

const seenAtImport = {
  global: 'invigil' in window,
  overlay: document.querySelector('invigil-overlay') !== null,
  status: invigil.status,
};
const notices: Array<{ name: InvigilEvent } & InvigilNotice> = [];
const events: InvigilEvent[] = ['status', 'block', 'unblock', 'uploads', 'error', 'identity'];
for (const name of events) invigil.on(name, (notice) => notices.push({ name, ...notice }));

(window as unknown as { consumer: object }).consumer = { seenAtImport, notices, api: invigil };

const params = new URLSearchParams(location.search);
const endpoint = params.get('endpoint');
const token = params.get('token');
if (endpoint && token) {
  void invigil.start({ endpoint, token, locale: params.get('locale') ?? undefined });
  invigil.ready.then(() => invigil.track('consumer_ready', { bundler: 'vite', version: invigil.version }), () => {});
}
