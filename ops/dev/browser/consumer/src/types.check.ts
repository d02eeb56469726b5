// Type tests of @invigil/sdk's declarations: `tsc -p .` must pass. Each
// `@ts-expect-error` line must fail to compile (tsc reports one that does
// not), and `expectType` pins what a listener receives.
import invigil, { invigil as named } from '@invigil/sdk';
import type {
  BlockNotice, ErrorNotice, IdentityNotice, Invigil, InvigilStatus, StatusNotice, UploadsNotice,
} from '@invigil/sdk';

type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends (<T>() => T extends B ? 1 : 2) ? true : false;
function expectType<T extends true>(): void {}

const same: Invigil = named;
expectType<Equal<typeof invigil, Invigil>>();
expectType<Equal<typeof invigil.status, InvigilStatus>>();
expectType<Equal<typeof invigil.ready, Promise<Invigil>>>();

invigil.on('status', (n) => {
  expectType<Equal<typeof n, StatusNotice>>();
  const state: InvigilStatus = n.state;
  if (n.state === 'stopped' && n.shutdown === 'candidate_bypassed') void state;
});
invigil.on('block', (n) => expectType<Equal<typeof n, BlockNotice>>());
invigil.on('unblock', (n) => expectType<Equal<typeof n, BlockNotice>>());
invigil.on('uploads', (n) => expectType<Equal<typeof n, UploadsNotice>>());
invigil.on('identity', (n) => expectType<Equal<typeof n, IdentityNotice>>());
invigil.on('error', (e) => {
  expectType<Equal<typeof e, ErrorNotice>>();
  if (e.code === 'unauthorized') invigil.setToken(`renewed-${e.http_status ?? 401}`);
});
const onBlock = (n: BlockNotice) => void n.reason;
invigil.on('block', onBlock);
invigil.off('block', onBlock);

// @ts-expect-error an event the SDK does not send
invigil.on('blocked', () => {});
// @ts-expect-error a status notice carries no block reason
invigil.on('status', (n) => n.reason);
// @ts-expect-error a block listener cannot be handed a status listener
invigil.on('block', (n: StatusNotice) => void n);
// @ts-expect-error the token is a string
void invigil.start({ endpoint: 'https://proctor.example.com', token: 42 });
// The candidate's words: a language, and the host's own strings by key.
void invigil.start({ endpoint: 'https://proctor.example.com', token: 't', locale: 'ar', messages: { help: 'Call 555-0100' } });
// @ts-expect-error a message key the SDK does not have
void invigil.start({ endpoint: 'https://proctor.example.com', token: 't', messages: { helpp: 'Call 555-0100' } });
// @ts-expect-error error codes are a closed set
invigil.on('error', (e) => e.code === 'timeout');
// @ts-expect-error a block reason is one of the SDK's
const reason: BlockNotice['reason'] = 'camera_broken';

void same;
void reason;
