// Type tests of the script tag's window.invigil (`@invigil/sdk/global`).
/// <reference types="@invigil/sdk/global" />
import type { StatusNotice } from '@invigil/sdk';

type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends (<T>() => T extends B ? 1 : 2) ? true : false;
function expectType<T extends true>(): void {}

window.invigil.on('status', (n) => expectType<Equal<typeof n, StatusNotice>>());
window.addEventListener('invigil:loaded', (event) => event.detail.on('error', (e) => void e.code));
// @ts-expect-error window.invigil's events are typed too
window.invigil.on('bogus', () => {});
