// The WebhookService API driven by the official @google/genai SDK (pinned in
// package-lock.json) and by the source document's REST examples.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { GoogleGenAI } from '@google/genai';
import { startWebhookd, rest, API_KEY } from './harness.mjs';

let srv;
let ai;

before(async () => {
  srv = await startWebhookd();
  ai = new GoogleGenAI({ apiKey: API_KEY, httpOptions: { baseUrl: srv.baseUrl } });
});
after(async () => { await srv?.stop(); });

const WEBHOOK_KEYS = ['create_time', 'id', 'name', 'signing_secrets', 'state', 'subscribed_events', 'update_time', 'uri'];
const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/;
const SECRET = /^whsec_[A-Za-z0-9+/]{43}=$/;

/** Asserts the exact Webhook shape of the wire contract (keys, types, formats). */
function assertWebhook(w, { created = false } = {}) {
  // name is optional (omitted when the user gave none); every other field
  // of the wire contract's Webhook type is always present, and nothing else.
  const keys = Object.keys(w).filter((k) => k !== 'sdkHttpResponse' && (k !== 'name' || w.name !== undefined));
  const want = (created ? [...WEBHOOK_KEYS, 'new_signing_secret'] : WEBHOOK_KEYS).filter((k) => k !== 'name' || 'name' in w);
  assert.deepEqual(keys.sort(), want.sort(), 'Webhook keys');
  assert.match(w.id, /^\S+$/);
  if ('name' in w) assert.equal(typeof w.name, 'string');
  assert.equal(typeof w.uri, 'string');
  assert.ok(Array.isArray(w.subscribed_events) && w.subscribed_events.length > 0);
  assert.ok(['enabled', 'disabled', 'disabled_due_to_failed_deliveries'].includes(w.state), `state ${w.state}`);
  assert.match(w.create_time, RFC3339);
  assert.match(w.update_time, RFC3339);
  assert.ok(Array.isArray(w.signing_secrets) && w.signing_secrets.length >= 1);
  for (const s of w.signing_secrets) {
    const sk = Object.keys(s);
    assert.ok(sk.includes('truncated_secret'), 'signing_secrets[].truncated_secret');
    assert.ok(sk.every((k) => k === 'truncated_secret' || k === 'expire_time'), `signing secret keys ${sk}`);
    assert.match(s.truncated_secret, /^whsec_.{1,8}\.\.\.$/);
    if (s.expire_time !== undefined) assert.match(s.expire_time, RFC3339);
  }
  if (created) assert.match(w.new_signing_secret, SECRET);
}

async function expectError(promise, status, googleStatus, messagePart) {
  await assert.rejects(promise, (err) => {
    assert.equal(err.status, status, `HTTP status of ${err.message}`);
    const body = err.error;
    assert.equal(body?.error?.code, status);
    assert.equal(body?.error?.status, googleStatus);
    if (messagePart) assert.match(body.error.message, messagePart);
    return true;
  });
}

test('create returns the webhook and its signing secret once', async () => {
  const w = await ai.webhooks.create({
    name: 'MyBatchWebhook',
    subscribed_events: ['batch.completed', 'batch.failed'],
    uri: 'https://my-api.example/gemini-callback',
  });
  assertWebhook(w, { created: true });
  assert.equal(w.name, 'MyBatchWebhook');
  assert.equal(w.uri, 'https://my-api.example/gemini-callback');
  assert.deepEqual(w.subscribed_events, ['batch.succeeded', 'batch.failed'], 'batch.completed is stored as batch.succeeded');
  assert.equal(w.state, 'enabled');
  assert.equal(w.signing_secrets.length, 1);
  assert.ok(w.new_signing_secret.startsWith(w.signing_secrets[0].truncated_secret.replace('...', '')));

  const got = await ai.webhooks.get(w.id);
  assertWebhook(got);
  assert.equal(got.id, w.id);
  assert.equal(got.new_signing_secret, undefined, 'the secret is returned only on create');
});

test('list pages through every webhook with page_size and page_token', async () => {
  const ids = new Set();
  for (let i = 0; i < 5; i++) {
    const w = await ai.webhooks.create({ name: `page-${i}`, uri: `https://hooks.example/p${i}`, subscribed_events: ['batch.succeeded'] });
    ids.add(w.id);
  }
  const seen = [];
  let token;
  let pages = 0;
  do {
    const page = await ai.webhooks.list({ page_size: 2, page_token: token });
    assert.ok(Array.isArray(page.webhooks));
    assert.ok(page.webhooks.length <= 2);
    page.webhooks.forEach((w) => assertWebhook(w));
    seen.push(...page.webhooks.map((w) => w.id));
    token = page.next_page_token;
    if (token !== undefined) assert.equal(typeof token, 'string');
    pages++;
  } while (token && pages < 100);
  assert.equal(new Set(seen).size, seen.length, 'no webhook listed twice');
  for (const id of ids) assert.ok(seen.includes(id), `${id} listed`);

  const all = await ai.webhooks.list();
  assert.ok(all.webhooks.length >= 5);
});

test('a tampered page token is refused', async () => {
  await ai.webhooks.create({ uri: 'https://hooks.example/t1', subscribed_events: ['batch.failed'] });
  await ai.webhooks.create({ uri: 'https://hooks.example/t2', subscribed_events: ['batch.failed'] });
  const page = await ai.webhooks.list({ page_size: 1 });
  assert.ok(page.next_page_token);
  const t = page.next_page_token;
  const tampered = t.slice(0, -2) + (t.at(-2) === 'A' ? 'B' : 'A') + t.at(-1);
  await expectError(ai.webhooks.list({ page_size: 1, page_token: tampered }), 400, 'INVALID_ARGUMENT', /page_token/);
});

test('update with update_mask changes only the masked fields', async () => {
  const w = await ai.webhooks.create({ name: 'masked', uri: 'https://hooks.example/a', subscribed_events: ['batch.succeeded'] });
  const u = await ai.webhooks.update(w.id, {
    update_mask: 'uri,state,subscribed_events',
    uri: 'https://hooks.example/b',
    state: 'disabled',
    subscribed_events: ['batch.failed', 'interaction.completed'],
    name: 'not-in-mask',
  });
  assertWebhook(u);
  assert.equal(u.uri, 'https://hooks.example/b');
  assert.equal(u.state, 'disabled');
  assert.deepEqual(u.subscribed_events, ['batch.failed', 'interaction.completed']);
  assert.equal(u.name, 'masked', 'a field outside the mask is left alone');

  const again = await ai.webhooks.update(w.id, { update_mask: 'state', state: 'enabled' });
  assert.equal(again.state, 'enabled');
});

test('update without a mask changes the fields present', async () => {
  const w = await ai.webhooks.create({ name: 'before', uri: 'https://hooks.example/c', subscribed_events: ['video.generated'] });
  const u = await ai.webhooks.update(w.id, { name: 'renamed' });
  assertWebhook(u);
  assert.equal(u.name, 'renamed');
  assert.equal(u.uri, 'https://hooks.example/c');
  assert.deepEqual(u.subscribed_events, ['video.generated']);
  assert.equal(u.state, 'enabled');
});

test('rotate keeps the previous secret for 24 h by default, or revokes it at once', async () => {
  const w = await ai.webhooks.create({ uri: 'https://hooks.example/r', subscribed_events: ['batch.succeeded'] });
  const r1 = await ai.webhooks.rotateSigningSecret(w.id);
  assert.deepEqual(Object.keys(r1).filter((k) => k !== 'sdkHttpResponse'), ['secret']);
  assert.match(r1.secret, SECRET);
  assert.notEqual(r1.secret, w.new_signing_secret);

  let got = await ai.webhooks.get(w.id);
  assertWebhook(got);
  assert.equal(got.signing_secrets.length, 2, 'old and new secret both live during the grace');
  const expiring = got.signing_secrets.filter((s) => s.expire_time !== undefined && Date.parse(s.expire_time) < Date.now() + 25 * 3600e3);
  assert.equal(expiring.length, 1, 'exactly the previous secret expires within the grace');
  const hours = (Date.parse(expiring[0].expire_time) - Date.now()) / 3600e3;
  assert.ok(hours > 23.9 && hours <= 24.01, `grace ${hours} h`);

  const r2 = await ai.webhooks.rotateSigningSecret(w.id, { revocation_behavior: 'revoke_previous_secrets_immediately' });
  assert.match(r2.secret, SECRET);
  got = await ai.webhooks.get(w.id);
  assert.equal(got.signing_secrets.length, 1, 'immediate revocation leaves only the new secret');
  assert.ok(r2.secret.startsWith(got.signing_secrets[0].truncated_secret.replace('...', '')));

  const r3 = await ai.webhooks.rotateSigningSecret(w.id, { revocation_behavior: 'revoke_previous_secrets_after_h24' });
  assert.match(r3.secret, SECRET);
  got = await ai.webhooks.get(w.id);
  assert.equal(got.signing_secrets.length, 2);
});

test('delete answers {} and the webhook is gone', async () => {
  const w = await ai.webhooks.create({ uri: 'https://hooks.example/d', subscribed_events: ['batch.expired'] });
  const res = await ai.webhooks.delete(w.id);
  assert.deepEqual(Object.keys(res).filter((k) => k !== 'sdkHttpResponse'), []);
  await expectError(ai.webhooks.get(w.id), 404, 'NOT_FOUND');
  await expectError(ai.webhooks.delete(w.id), 404, 'NOT_FOUND');
});

test('ping answers {} with and without a body', async () => {
  const w = await ai.webhooks.create({ uri: 'https://hooks.example/ping', subscribed_events: ['batch.succeeded'] });
  const a = await ai.webhooks.ping(w.id);
  assert.deepEqual(Object.keys(a).filter((k) => k !== 'sdkHttpResponse'), []);
  const b = await ai.webhooks.ping(w.id, { body: {} });
  assert.deepEqual(Object.keys(b).filter((k) => k !== 'sdkHttpResponse'), []);
});

test('ping of a disabled webhook answers 400 FAILED_PRECONDITION', async () => {
  const w = await ai.webhooks.create({ uri: 'https://hooks.example/ping-off', subscribed_events: ['batch.succeeded'] });
  await ai.webhooks.update(w.id, { update_mask: 'state', state: 'disabled' });
  await expectError(ai.webhooks.ping(w.id), 400, 'FAILED_PRECONDITION', /is disabled/);
});

test('unknown ids answer 404 NOT_FOUND on every method', async () => {
  const id = 'wh_doesnotexist';
  await expectError(ai.webhooks.get(id), 404, 'NOT_FOUND');
  await expectError(ai.webhooks.update(id, { name: 'x' }), 404, 'NOT_FOUND');
  await expectError(ai.webhooks.delete(id), 404, 'NOT_FOUND');
  await expectError(ai.webhooks.rotateSigningSecret(id), 404, 'NOT_FOUND');
  await expectError(ai.webhooks.ping(id), 404, 'NOT_FOUND');
  await expectError(ai.webhooks.get('webhooks/a b'), 404, 'NOT_FOUND');
});

test('bad input answers 400 INVALID_ARGUMENT naming the field', async () => {
  await expectError(ai.webhooks.create({ uri: 'ftp://hooks.example/x', subscribed_events: ['batch.succeeded'] }), 400, 'INVALID_ARGUMENT', /uri/);
  await expectError(ai.webhooks.create({ uri: 'not a url', subscribed_events: ['batch.succeeded'] }), 400, 'INVALID_ARGUMENT', /uri/);
  await expectError(ai.webhooks.create({ uri: 'https://user:pw@hooks.example/x', subscribed_events: ['batch.succeeded'] }), 400, 'INVALID_ARGUMENT', /uri/);
  await expectError(ai.webhooks.create({ subscribed_events: ['batch.succeeded'] }), 400, 'INVALID_ARGUMENT', /uri/);
  await expectError(ai.webhooks.create({ uri: 'https://hooks.example/x', subscribed_events: [] }), 400, 'INVALID_ARGUMENT', /subscribed_events/);
  await expectError(ai.webhooks.create({ uri: 'https://hooks.example/x', subscribed_events: ['batch.exploded'] }), 400, 'INVALID_ARGUMENT', /batch\.exploded.*batch\.succeeded/s);
  await expectError(ai.webhooks.create({ uri: 'https://hooks.example/x', subscribed_events: 'batch.succeeded' }), 400, 'INVALID_ARGUMENT', /subscribed_events/);
  await expectError(ai.webhooks.create({ uri: 'https://hooks.example/x', subscribed_events: ['batch.succeeded'], colour: 'red' }), 400, 'INVALID_ARGUMENT', /colour/);
  await expectError(ai.webhooks.create({ uri: 'https://hooks.example/x', subscribed_events: ['batch.succeeded'], name: 'n'.repeat(300) }), 400, 'INVALID_ARGUMENT', /name/);
  const w = await ai.webhooks.create({ uri: 'https://hooks.example/v', subscribed_events: ['batch.succeeded'] });
  await expectError(ai.webhooks.update(w.id, { update_mask: 'colour', name: 'x' }), 400, 'INVALID_ARGUMENT', /colour/);
  await expectError(ai.webhooks.update(w.id, { state: 'paused' }), 400, 'INVALID_ARGUMENT', /state/);
  await expectError(ai.webhooks.rotateSigningSecret(w.id, { revocation_behavior: 'sometimes' }), 400, 'INVALID_ARGUMENT', /revocation_behavior/);
  await expectError(ai.webhooks.list({ page_size: -1 }), 400, 'INVALID_ARGUMENT', /page_size/);
  // Nothing was created by the failed calls.
  const after = await ai.webhooks.get(w.id);
  assertWebhook(after);
});

test('a wrong API key answers 401 UNAUTHENTICATED', async () => {
  const bad = new GoogleGenAI({ apiKey: 'wrong-key-0123456789abcdef', httpOptions: { baseUrl: srv.baseUrl } });
  await expectError(bad.webhooks.list(), 401, 'UNAUTHENTICATED');
});

test('v1beta and v1alpha serve the same resources as v1', async () => {
  const w = await ai.webhooks.create({ uri: 'https://hooks.example/ver', subscribed_events: ['batch.succeeded'] });
  const beta = new GoogleGenAI({ apiKey: API_KEY, apiVersion: 'v1beta', httpOptions: { baseUrl: srv.baseUrl } });
  const gotBeta = await beta.webhooks.get(w.id);
  assert.equal(gotBeta.id, w.id);
  const gotAlpha = await ai.webhooks.get(w.id, { api_version: 'v1alpha' });
  assert.equal(gotAlpha.id, w.id);
});

test("the source document's REST examples work as written", async () => {
  const created = await rest(srv.baseUrl, 'POST', '/v1/webhooks', {
    name: 'MyBatchWebhook',
    uri: 'https://my-api.example/gemini-callback',
    subscribed_events: ['batch.completed', 'batch.failed'],
  });
  assert.equal(created.status, 200, created.text);
  assert.match(created.contentType, /^application\/json/);
  assertWebhook(created.json, { created: true });
  const id = created.json.id;

  const got = await rest(srv.baseUrl, 'GET', `/v1/webhooks/${id}`);
  assert.equal(got.status, 200);
  assertWebhook(got.json);

  const list = await rest(srv.baseUrl, 'GET', '/v1/webhooks');
  assert.equal(list.status, 200);
  assert.ok(list.json.webhooks.some((w) => w.id === id));

  const patched = await rest(srv.baseUrl, 'PATCH', `/v1/webhooks/${id}`, {
    subscribed_events: ['batch.completed', 'batch.failed', 'batch.cancelled'],
  });
  assert.equal(patched.status, 200, patched.text);
  assert.deepEqual(patched.json.subscribed_events, ['batch.succeeded', 'batch.failed', 'batch.cancelled']);

  const rotated = await rest(srv.baseUrl, 'POST', `/v1/webhooks/${id}/rotate_secret`, {
    revocation_behavior: 'REVOKE_PREVIOUS_SECRETS_AFTER_H24',
  });
  assert.equal(rotated.status, 200, rotated.text);
  assert.match(rotated.json.secret, SECRET);
  const afterRotate = await rest(srv.baseUrl, 'GET', `/v1/webhooks/${id}`);
  assert.equal(afterRotate.json.signing_secrets.length, 2);

  const immediate = await rest(srv.baseUrl, 'POST', `/v1/webhooks/${id}/rotate_secret`, {
    revocation_behavior: 'REVOKE_PREVIOUS_SECRETS_IMMEDIATELY',
  });
  assert.equal(immediate.status, 200, immediate.text);
  assert.equal((await rest(srv.baseUrl, 'GET', `/v1/webhooks/${id}`)).json.signing_secrets.length, 1);

  const camel = await rest(srv.baseUrl, 'POST', '/v1/webhooks', {
    uri: 'https://my-api.example/camel', subscribedEvents: ['interaction.completed'],
  });
  assert.equal(camel.status, 200, camel.text);
  assert.deepEqual(camel.json.subscribed_events, ['interaction.completed']);

  const malformed = await rest(srv.baseUrl, 'POST', '/v1/webhooks', '{"uri": ');
  assert.equal(malformed.status, 400);
  assert.equal(malformed.json.error.status, 'INVALID_ARGUMENT');
  assert.match(malformed.contentType, /^application\/json/);

  const deleted = await rest(srv.baseUrl, 'DELETE', `/v1/webhooks/${id}`);
  assert.equal(deleted.status, 200);
  assert.deepEqual(deleted.json, {});
  assert.match(deleted.contentType, /^application\/json/);
  assert.equal((await rest(srv.baseUrl, 'GET', `/v1/webhooks/${id}`)).status, 404);
});
