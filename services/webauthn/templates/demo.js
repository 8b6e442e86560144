// The WebAuthn calls of Frontegg's login box and profile page (@frontegg/redux-store), by hand.
// Options arrive with unpadded base64url binaries; the credential goes back converted field by
// field, methods included as {} (docs/frontegg-contract.md section 7), with the raw credential under
// `publicKey` as the store leaves it.
'use strict';

const AUTH = '/resources/auth/v1/user/mfa/webauthn';
const USERS = '/resources/users/v1/mfa/webauthn';
const PASSKEY_AUTH = '/resources/auth/v1/webauthn';
const PASSKEYS = '/resources/users/webauthn/v1/devices';

function b64urlToBuf(s) {
  const b64 = s.replace(/-/g, '+').replace(/_/g, '/') + '==='.slice((s.length + 3) % 4);
  const bin = atob(b64);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out.buffer;
}

function bufToB64url(buf) {
  const bytes = buf instanceof ArrayBuffer ? new Uint8Array(buf)
    : new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
  let bin = '';
  for (let i = 0; i < bytes.length; i++) bin += String.fromCharCode(bytes[i]);
  return btoa(bin).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

// Like the store's helper: every binary to base64url, every other object walked with for..in
// (WebIDL members are enumerable, so methods come out as {}).
function toFronteggJSON(value) {
  if (Array.isArray(value)) return value.map(toFronteggJSON);
  if (value instanceof ArrayBuffer || ArrayBuffer.isView(value)) return bufToB64url(value);
  if (value instanceof Object) {
    const out = {};
    for (const key in value) out[key] = toFronteggJSON(value[key]);
    return out;
  }
  return value;
}

function decodeCreationOptions(o) {
  return {
    ...o,
    challenge: b64urlToBuf(o.challenge),
    user: { ...o.user, id: b64urlToBuf(o.user.id) },
    excludeCredentials: (o.excludeCredentials || []).map((c) => ({ ...c, id: b64urlToBuf(c.id) })),
  };
}

function decodeRequestOptions(o) {
  return {
    ...o,
    challenge: b64urlToBuf(o.challenge),
    allowCredentials: (o.allowCredentials || []).map((c) => ({ ...c, id: b64urlToBuf(c.id) })),
  };
}

async function api(path, body, accessToken) {
  const headers = { 'Content-Type': 'application/json' };
  if (accessToken) headers.Authorization = `Bearer ${accessToken}`;
  const r = await fetch(document.body.dataset.api + path, {
    method: 'POST', headers, body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await r.text();
  let parsed = {};
  try { parsed = text ? JSON.parse(text) : {}; } catch (e) { parsed = { raw: text }; }
  return { status: r.status, body: parsed };
}

// A ceremony with no usable authenticator can hang past publicKey.timeout: always abort it.
// The pre call's answer, then {cred} or, where it stopped, {failed: <the step's result>}.
async function ceremony(kind, pre, decode, opts) {
  if (pre.status !== 200) return { failed: { step: 'pre', ...pre } };
  const signal = AbortSignal.timeout(opts.timeoutMs || 15000);
  try {
    const publicKey = decode(pre.body.options);
    return { cred: await (kind === 'create' ? navigator.credentials.create({ publicKey, signal })
      : navigator.credentials.get({ publicKey, signal })) };
  } catch (e) {
    return { failed: { step: kind, error: `${e.name}: ${e.message}` } };
  }
}

async function enroll(prePath, verifyPath, pre, extra, accessToken, opts) {
  const o = await api(prePath, pre, accessToken);
  const { cred, failed } = await ceremony('create', o, decodeCreationOptions, opts);
  if (failed) return failed;
  const deviceType = cred.authenticatorAttachment === 'platform' ? 'Platform' : 'CrossPlatform';
  const options = toFronteggJSON(cred);
  const body = { ...extra, webauthnToken: o.body.webauthnToken, deviceType, options, publicKey: cred };
  return { step: 'verify', options, ...(await api(verifyPath, body, accessToken)) };
}

async function assert(prePath, verifyPath, pre, extra, accessToken, opts) {
  const o = await api(prePath, pre, accessToken);
  const { cred, failed } = await ceremony('get', o, decodeRequestOptions, opts);
  if (failed) return failed;
  const options = toFronteggJSON(cred);
  if (opts.tamperSignature) {  // negative test: one signature bit flipped after signing
    const sig = new Uint8Array(b64urlToBuf(options.response.signature));
    sig[sig.length - 1] ^= 0x01;
    options.response.signature = bufToB64url(sig.buffer);
  }
  const body = { ...extra, webauthnToken: o.body.webauthnToken, options, publicKey: cred };
  return { step: 'verify', options, ...(await api(verifyPath, body, accessToken)) };
}

// preEnrollMFAWebAuthnForLogin + enrollMFAWebAuthnForLoginV2
function enrollForLogin(mfaToken, opts = {}) {
  return enroll(`${AUTH}/enroll`, `${AUTH}/enroll/verify`, { mfaToken },
    { mfaToken, rememberDevice: !!opts.rememberDevice }, undefined, opts);
}

// preVerifyMFAWebAuthnForLogin + verifyMFAWebAuthnForLoginV2
function verifyForLogin(mfaToken, deviceId, opts = {}) {
  const id = encodeURIComponent(deviceId);
  return assert(`${AUTH}/${id}`, `${AUTH}/${id}/verify`, { mfaToken },
    { mfaToken, rememberDevice: !!opts.rememberDevice }, undefined, opts);
}

// preEnrollMFAWebAuthn + enrollMFAWebAuthn (the profile page; the pre call has no body)
function enrollForUser(accessToken, opts = {}) {
  return enroll(`${USERS}/enroll`, `${USERS}/enroll/verify`, undefined, {}, accessToken, opts);
}

// preDisableMFAWebAuthn + disableMFAWebAuthn
function disableForUser(accessToken, deviceId, opts = {}) {
  const id = encodeURIComponent(deviceId);
  return assert(`${USERS}/${id}/disable`, `${USERS}/${id}/disable/verify`, undefined, {},
    accessToken, opts);
}

// webAuthnCreateNewDeviceSession + verifyNewDeviceSession: the store posts no body, overwrites
// excludeCredentials with [] and sends {id, response, deviceType}.
async function registerPasskey(accessToken, opts = {}) {
  const o = await api(PASSKEYS, undefined, accessToken);
  const decode = (options) => decodeCreationOptions({ ...options, excludeCredentials: [] });
  const { cred, failed } = await ceremony('create', o, decode, opts);
  if (failed) return failed;
  const json = toFronteggJSON(cred);
  const deviceType = cred.authenticatorAttachment === 'platform' ? 'Platform' : 'CrossPlatform';
  const body = { id: json.id, response: json.response, deviceType };
  return { step: 'verify', ...(await api(`${PASSKEYS}/verify`, body, accessToken)) };
}

// webAuthnPreLogin + webAuthnPostLoginV2: the credential spread at the top level, a null
// userHandle dropped, recaptchaToken added when there is one.
async function passkeyLogin(email, opts = {}) {
  const o = await api(`${PASSKEY_AUTH}/prelogin`, { email });
  const { cred, failed } = await ceremony('get', o, decodeRequestOptions, opts);
  if (failed) return failed;
  const json = toFronteggJSON(cred);
  if (json.response.userHandle == null) delete json.response.userHandle;
  const body = { ...json, recaptchaToken: opts.recaptchaToken };
  return { step: 'verify', sent: body, ...(await api(`${PASSKEY_AUTH}/postlogin`, body)) };
}

function show(r) {
  const ok = r.step === 'verify' && r.status === 200;
  const shown = ok ? r.body : (r.error || r.body);
  document.getElementById('status').textContent = `${ok ? 'OK' : 'FAILED'} ${JSON.stringify(shown, null, 2)}`;
}

function field(id) { return document.getElementById(id).value.trim(); }

document.addEventListener('DOMContentLoaded', () => {
  const on = (id, run) => document.getElementById(id).addEventListener('click', async () => {
    document.getElementById('status').textContent = 'working...';
    show(await run());
  });
  on('enroll-login', () => enrollForLogin(field('mfaToken')));
  on('verify-login', () => verifyForLogin(field('mfaToken'), field('deviceId')));
  on('enroll-user', () => enrollForUser(field('accessToken')));
  on('disable-user', () => disableForUser(field('accessToken'), field('deviceId')));
});
