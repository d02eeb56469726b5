// The glue's S3 signer (sdk/js/sigv4.js) against aws-sigv4: every vector
// of sigv4_vectors.json (written by ops/tools/src/loadgen/sigv4_vectors.rs
// from what aws-sigv4 signs) is signed again here, in Node's WebCrypto, and
// must give the same headers, value for value.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { signPut } from '../sigv4.js';

const vectors = JSON.parse(readFileSync(new URL('./sigv4_vectors.json', import.meta.url), 'utf8'));

test('signs every vector as aws-sigv4 does', async () => {
  assert.ok(vectors.length >= 30, `${vectors.length} vectors`);
  for (const { url, sign, now_ms: now, headers } of vectors) {
    assert.deepEqual(await signPut(url, sign, now), headers, url);
  }
});

test('a different key, time or path changes the signature', async () => {
  const [{ url, sign, now_ms: now, headers }] = vectors;
  const signature = (h) => h.find(([name]) => name === 'authorization')[1].split('Signature=')[1];
  const ours = signature(headers);
  assert.notEqual(signature(await signPut(url, { ...sign, secret_access_key: `${sign.secret_access_key}x` }, now)), ours);
  assert.notEqual(signature(await signPut(url, sign, now + 1000)), ours);
  assert.notEqual(signature(await signPut(`${url}x`, sign, now)), ours);
});
