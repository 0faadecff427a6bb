// Every event type of the catalog, produced by a real flow through the SDK
// (or the REST route where the SDK has none), delivered by a real webhookd to
// loopback receivers, and its data asserted: static deliveries verified by
// the npm standardwebhooks package, a dynamic one (webhook_config.uris) by
// its RS256 JWT against webhookd's JWKS, with user_metadata echoed.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { createServer } from 'node:http';
import { GoogleGenAI, GenerateVideosOperation } from '@google/genai';
import { Webhook } from 'standardwebhooks';
import jwt from 'jsonwebtoken';
import jwksClient from 'jwks-rsa';
import { startWebhookd, rest, freePort, waitFor, API_KEY } from './harness.mjs';

const CATALOG = [
  'batch.succeeded', 'batch.cancelled', 'batch.expired', 'batch.failed',
  'interaction.requires_action', 'interaction.completed', 'interaction.failed', 'interaction.cancelled',
  'video.generated',
];

/** A loopback receiver that records every request (headers, raw body) and answers 204. */
async function receiver() {
  const got = [];
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => { body += c; });
    req.on('end', () => { got.push({ path: req.url, headers: req.headers, body }); res.writeHead(204).end(); });
  });
  const port = await freePort();
  await new Promise((ok) => server.listen(port, '127.0.0.1', ok));
  return { base: `http://127.0.0.1:${port}`, got, close: () => new Promise((ok) => server.close(ok)) };
}

/**
 * A webhookd with a static webhook subscribed to the whole catalog at its
 * own receiver; events() returns what arrived there, each verified.
 */
async function setup(env) {
  const srv = await startWebhookd(env);
  const ai = new GoogleGenAI({ apiKey: API_KEY, httpOptions: { baseUrl: srv.baseUrl } });
  const recv = await receiver();
  const hook = await ai.webhooks.create({ name: 'catalog', uri: `${recv.base}/static`, subscribed_events: CATALOG });
  const verifier = new Webhook(hook.new_signing_secret);
  return {
    srv, ai, recv,
    /** Verified static events, with the webhook-id they came under. */
    events() {
      return recv.got.filter((r) => r.path === '/static').map((r) => ({ id: r.headers['webhook-id'], ...verifier.verify(r.body, r.headers) }));
    },
    /** Waits for the static event of type about resource id, and returns it. */
    async event(type, id) {
      return waitFor(() => this.events().find((e) => e.type === type && e.data.id === id), 15000, `${type} for ${id}`);
    },
    async stop() { await recv.close(); await srv.stop(); },
  };
}

// main runs jobs in 300 ms. slow runs them in 30 s, so that its batches
// expire (after 2 s) and its cancels land while the job still runs,
// however loaded the machine is.
let main;
let slow;
before(async () => {
  main = await setup({ WEBHOOKD_SIM_JOB_DURATION: '300ms' });
  slow = await setup({ WEBHOOKD_SIM_JOB_DURATION: '30s', WEBHOOKD_BATCH_EXPIRY: '2s' });
});
after(async () => { await main?.stop(); await slow?.stop(); });

const id = (name) => name.slice(name.lastIndexOf('/') + 1);
const text = (t) => ({ contents: [{ role: 'user', parts: [{ text: t }] }] });
// The echo model fails a request without a text part.
const noText = { contents: [{ role: 'user', parts: [{ inlineData: { mimeType: 'image/png', data: 'AA==' } }] }] };

/** Fetches a download URL of webhookd with the API key, as ai.files.download does. */
async function download(url) {
  const res = await fetch(url, { headers: { 'x-goog-api-key': API_KEY } });
  return { status: res.status, type: res.headers.get('content-type'), body: Buffer.from(await res.arrayBuffer()) };
}

function assertEnvelope(ev, type) {
  assert.equal(ev.type, type);
  assert.equal(ev.version, 'v1');
  assert.match(ev.timestamp, /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/);
  assert.ok(ev.id, 'webhook-id');
}

test('batch.succeeded: error_count counts failed lines, output_file_uri downloads the results', async () => {
  const b = await main.ai.batches.create({ model: 'gemini-2.5-flash', src: [{ ...text('hello'), metadata: { key: 'ok' } }, noText] });
  const ev = await main.event('batch.succeeded', id(b.name));
  assertEnvelope(ev, 'batch.succeeded');
  assert.deepEqual(Object.keys(ev.data).sort(), ['error_count', 'id', 'output_file_uri']);
  assert.equal(ev.data.error_count, 1);
  const out = await download(ev.data.output_file_uri);
  assert.equal(out.status, 200);
  const lines = out.body.toString().trim().split('\n').map((l) => JSON.parse(l));
  assert.equal(lines.length, 2);
  assert.equal(lines[0].response.candidates[0].content.parts[0].text, 'hello');
  assert.ok(lines[1].error, 'the failed line carries its error');
});

test('batch.failed: every line invalid gives error_code and error_message', async () => {
  const b = await main.ai.batches.create({ model: 'gemini-2.5-flash', src: [noText, noText] });
  const ev = await main.event('batch.failed', id(b.name));
  assertEnvelope(ev, 'batch.failed');
  assert.deepEqual(Object.keys(ev.data).sort(), ['error_code', 'error_message', 'id']);
  assert.ok(ev.data.error_code !== undefined && ev.data.error_code !== '', 'error_code');
  assert.match(ev.data.error_message, /\S/);
  assert.equal((await main.ai.batches.get({ name: b.name })).state, 'JOB_STATE_FAILED');
});

test('batch.cancelled: ai.batches.cancel', async () => {
  const b = await slow.ai.batches.create({ model: 'gemini-2.5-flash', src: [text('x')] });
  await slow.ai.batches.cancel({ name: b.name });
  const ev = await slow.event('batch.cancelled', id(b.name));
  assertEnvelope(ev, 'batch.cancelled');
  assert.deepEqual(ev.data, { id: id(b.name) });
});

test('batch.expired: a batch not finished within WEBHOOKD_BATCH_EXPIRY', async () => {
  const b = await slow.ai.batches.create({ model: 'gemini-2.5-flash', src: [text('late')] });
  const ev = await slow.event('batch.expired', id(b.name));
  assertEnvelope(ev, 'batch.expired');
  assert.deepEqual(ev.data, { id: id(b.name) });
  assert.equal((await slow.ai.batches.get({ name: b.name })).state, 'JOB_STATE_EXPIRED');
});

test('interaction.completed: a background interaction', async () => {
  const i = await main.ai.interactions.create({ model: 'gemini-2.5-flash', input: 'Say hi', background: true });
  const ev = await main.event('interaction.completed', i.id);
  assertEnvelope(ev, 'interaction.completed');
  assert.deepEqual(ev.data, { id: i.id });
  assert.equal((await main.ai.interactions.get(i.id)).output_text, 'Say hi');
});

test('interaction.requires_action with function tools; the follow-up with the result completes it', async () => {
  const i = await main.ai.interactions.create({
    model: 'gemini-2.5-flash', input: 'Weather in Paris?', background: true,
    tools: [{ type: 'function', name: 'get_weather', description: 'Weather of a city' }],
  });
  const ev = await main.event('interaction.requires_action', i.id);
  assertEnvelope(ev, 'interaction.requires_action');
  assert.deepEqual(ev.data, { id: i.id });

  const waiting = await main.ai.interactions.get(i.id);
  const call = waiting.steps.find((s) => s.type === 'function_call');
  assert.equal(call?.name, 'get_weather');
  const follow = await main.ai.interactions.create({
    model: 'gemini-2.5-flash', previous_interaction_id: i.id,
    input: [{ type: 'function_result', call_id: call.id, name: 'get_weather', result: 'sunny' }],
  });
  assert.equal(follow.status, 'completed');
  const done = await main.event('interaction.completed', i.id);
  assert.deepEqual(done.data, { id: i.id });
  assert.equal((await main.ai.interactions.get(i.id)).status, 'completed');
});

test('interaction.failed: an unknown model', async () => {
  const i = await main.ai.interactions.create({ model: 'no-such-model', input: 'x', background: true });
  const ev = await main.event('interaction.failed', i.id);
  assertEnvelope(ev, 'interaction.failed');
  assert.deepEqual(Object.keys(ev.data).sort(), ['error_code', 'error_message', 'id']);
  assert.match(String(ev.data.error_code), /\S/);
  assert.match(ev.data.error_message, /no-such-model/);
});

test('interaction.cancelled: ai.interactions.cancel', async () => {
  const i = await slow.ai.interactions.create({ model: 'gemini-2.5-flash', input: 'x', background: true });
  await slow.ai.interactions.cancel(i.id);
  const ev = await slow.event('interaction.cancelled', i.id);
  assertEnvelope(ev, 'interaction.cancelled');
  assert.deepEqual(ev.data, { id: i.id });
});

test('video.generated: file_id and a downloadable video_uri', async () => {
  // @google/genai 3.1.0 refuses generateVideos in Gemini API mode before
  // sending anything (wire contract §4.3): the route is driven as older SDKs
  // send it, and polled through the SDK.
  const r = await rest(main.srv.baseUrl, 'POST', '/v1beta/models/veo-3.0-generate-001:predictLongRunning', {
    instances: [{ prompt: 'a cat' }], parameters: { sampleCount: 1 },
  });
  assert.equal(r.status, 200, r.text);
  const ev = await main.event('video.generated', id(r.json.name));
  assertEnvelope(ev, 'video.generated');
  assert.deepEqual(Object.keys(ev.data).sort(), ['file_id', 'id', 'video_uri']);
  const video = await download(ev.data.video_uri);
  assert.equal(video.status, 200);
  assert.equal(video.type, 'video/mp4');
  assert.ok(video.body.length > 0);
  const file = await main.ai.files.get({ name: `files/${ev.data.file_id}` });
  assert.equal(file.downloadUri, ev.data.video_uri);
  const polled = Object.assign(new GenerateVideosOperation(), { name: r.json.name });
  const op = await main.ai.operations.getVideosOperation({ operation: polled });
  assert.equal(op.done, true);
  assert.equal(op.response.generatedVideos[0].video.uri, ev.data.video_uri);
});

test('dynamic: webhook_config.uris gets the event alone, signed by JWT, with user_metadata echoed', async () => {
  const dyn = await receiver();
  try {
    const url = `${dyn.base}/gemini-webhook-dynamic`;
    const b = await main.ai.batches.create({
      model: 'gemini-2.5-flash', src: [text('dynamic')],
      config: { webhookConfig: { uris: [url], userMetadata: { job_group: 'nightly-eval', priority: 'high' } } },
    });
    const got = await waitFor(() => dyn.got.find((r) => JSON.parse(r.body).data.id === id(b.name)), 15000, 'dynamic delivery');
    const ev = JSON.parse(got.body);
    assertEnvelope({ ...ev, id: got.headers['webhook-id'] }, 'batch.succeeded');
    assert.deepEqual(ev.data.user_metadata, { job_group: 'nightly-eval', priority: 'high' });
    assert.equal(ev.data.error_count, 0);

    const keys = jwksClient({ jwksUri: `${main.srv.baseUrl}/.well-known/jwks.json` });
    const token = got.headers['webhook-signature'];
    const { header } = jwt.decode(token, { complete: true });
    const key = (await keys.getSigningKey(header.kid)).getPublicKey();
    const claims = jwt.verify(token, key, { algorithms: ['RS256'], audience: url });
    assert.equal(claims.event_type, 'batch.succeeded');
    assert.equal(claims.webhook_id, got.headers['webhook-id']);
    assert.equal(claims.body_sha256, createHash('sha256').update(got.body).digest('base64url'));

    // Dynamic routing replaces the static one for this job.
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(main.events().filter((e) => e.data.id === id(b.name)).length, 0, 'no static delivery of a dynamic job');
  } finally {
    await dyn.close();
  }
});

test('every catalog type was delivered, each event once', () => {
  const events = [...main.events(), ...slow.events()];
  const types = new Set(events.map((e) => e.type));
  for (const t of CATALOG) assert.ok(types.has(t), `${t} delivered`);
  const ids = events.map((e) => e.id);
  assert.equal(new Set(ids).size, ids.length, 'one delivery per event');
});
