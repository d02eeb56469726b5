// AWS Signature Version 4 for the core's `put` command: one request shape,
// a path-style PUT of an object to S3 with temporary keys, the payload
// UNSIGNED-PAYLOAD (allowed over TLS, so the blob is never hashed) and
// host and the x-amz-* headers signed. The core builds the URL and chooses
// the keys (sdk/src/s3.rs); SHA-256 and HMAC are the browser's own
// (WebCrypto), which is why the signing happens here and not in the wasm.
// crypto.subtle exists wherever the SDK can run at all: like getUserMedia,
// it needs a secure context (HTTPS, or localhost).
// sdk/js/test/sigv4.test.js holds it to aws-sigv4's signatures.

const SIGNED = 'host;x-amz-content-sha256;x-amz-date;x-amz-security-token';
const UNSIGNED = 'UNSIGNED-PAYLOAD';
const utf8 = (text) => new TextEncoder().encode(text);
const hex = (bytes) => Array.from(new Uint8Array(bytes), (b) => b.toString(16).padStart(2, '0')).join('');

async function hmac(key, text) {
  const imported = await crypto.subtle.importKey('raw', key, { name: 'HMAC', hash: 'SHA-256' }, false, ['sign']);
  return crypto.subtle.sign('HMAC', imported, utf8(text));
}

/**
 * The headers of a signed PUT of `url` (already in S3's URI encoding, as
 * the core writes it) with `sign` = `{ access_key_id, secret_access_key,
 * session_token, region }`, at `now` (ms): `[[name, value], …]`, the
 * names of `PUT_HEADERS` in sdk/src/s3.rs.
 */
export async function signPut(url, sign, now = Date.now()) {
  const { host, pathname } = new URL(url);
  const stamp = new Date(now).toISOString().replace(/[-:]|\.\d+/g, '');
  const date = stamp.slice(0, 8);
  const scope = `${date}/${sign.region}/s3/aws4_request`;
  const token = sign.session_token;
  const canonical = `PUT\n${pathname}\n\nhost:${host}\nx-amz-content-sha256:${UNSIGNED}\nx-amz-date:${stamp}\nx-amz-security-token:${token.trim()}\n\n${SIGNED}\n${UNSIGNED}`;
  const toSign = `AWS4-HMAC-SHA256\n${stamp}\n${scope}\n${hex(await crypto.subtle.digest('SHA-256', utf8(canonical)))}`;
  let key = utf8(`AWS4${sign.secret_access_key}`);
  for (const part of [date, sign.region, 's3', 'aws4_request']) key = await hmac(key, part);
  return [
    ['x-amz-content-sha256', UNSIGNED],
    ['x-amz-date', stamp],
    ['x-amz-security-token', token],
    ['authorization', `AWS4-HMAC-SHA256 Credential=${sign.access_key_id}/${scope}, SignedHeaders=${SIGNED}, Signature=${hex(await hmac(key, toSign))}`],
  ];
}
