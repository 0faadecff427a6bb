// Static deliveries from a real webhookd, verified by the source document's
// Express receiver with the npm standardwebhooks package, through a rotation.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { GoogleGenAI } from '@google/genai';
import { Webhook } from 'standardwebhooks';
import { startWebhookd, rest, freePort, waitFor, API_KEY } from './harness.mjs';

const here = dirname(fileURLToPath(import.meta.url));
let srv;
let ai;

before(async () => {
  srv = await startWebhookd();
  ai = new GoogleGenAI({ apiKey: API_KEY, httpOptions: { baseUrl: srv.baseUrl } });
});
after(async () => { await srv?.stop(); });

/** Runs receivers/express-static.mjs with the given secret; resolves once it listens. */
async function startReceiver(port, secret) {
  const child = spawn(process.execPath, [join(here, 'receivers', 'express-static.mjs')], {
    env: { ...process.env, PORT: String(port), WEBHOOK_SIGNING_SECRET: secret },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.on('data', (d) => { out += d; });
  child.stderr.on('data', (d) => { out += d; });
  await waitFor(() => out.includes('Webhook server is running') || child.exitCode !== null, 30000, 'receiver start');
  if (child.exitCode !== null) throw new Error(`receiver exited: ${out}`);
  return {
    output: () => out,
    stop: () => new Promise((ok) => { child.on('exit', ok); child.kill(); }),
  };
}

async function publish(body) {
  const r = await rest(srv.baseUrl, 'POST', '/v1/events', body);
  assert.equal(r.status, 200, r.text);
  return r.json;
}

/**
 * Waits until the event's only delivery has an attempt with the given status
 * code made at or after since (an RFC 3339 time; default any), and, when
 * state is given, is in that state.
 */
async function waitAttempt(eventId, statusCode, { since, state } = {}) {
  let last;
  const after = since ? Date.parse(since) : -Infinity;
  try {
    return await waitFor(async () => {
      const r = await rest(srv.baseUrl, 'GET', `/v1/events/${eventId}/deliveries`);
      assert.equal(r.status, 200, r.text);
      last = r.json.deliveries?.[0];
      const found = last && (last.attempts ?? []).some((a) => a.status_code === statusCode && Date.parse(a.time) >= after);
      return found && (!state || last.state === state) ? last : null;
    }, 30000, `an attempt answered ${statusCode} for ${eventId}${since ? ` since ${since}` : ''}${state ? ` leaving it ${state}` : ''}`);
  } catch (err) {
    // What the delivery and the server said, to tell a slow machine from a bug.
    const log = srv.log().split('\n').filter((l) => !l.includes('msg="api request"')).join('\n');
    err.message += `\nlast delivery: ${JSON.stringify(last)}\nwebhookd log (without API requests):\n${log.slice(-8000)}`;
    throw err;
  }
}

test("the document's Express receiver verifies deliveries through a secret rotation", async () => {
  const port = await freePort();
  const w = await ai.webhooks.create({
    name: 'express', uri: `http://127.0.0.1:${port}/gemini-callback`, subscribed_events: ['batch.succeeded', 'batch.failed'],
  });
  const oldSecret = w.new_signing_secret;
  let recv = await startReceiver(port, oldSecret);
  try {
    const ev = await publish({ type: 'batch.succeeded', data: { id: 'batches/b1', output_file_uri: 'files/out1', error_count: 0 } });
    assert.equal(ev.delivery_count, 1);
    const d = await waitAttempt(ev.id, 200);
    assert.equal(d.state, 'succeeded');

    // During the 24 h grace both secrets sign: the receiver still holding
    // the old one verifies.
    const rotated = await ai.webhooks.rotateSigningSecret(w.id);
    const ev2 = await publish({ type: 'batch.failed', data: { id: 'batches/b2', error_code: 13, error_message: 'boom' } });
    await waitAttempt(ev2.id, 200);

    // After an immediate revocation the old secret no longer verifies...
    const revoked = await ai.webhooks.rotateSigningSecret(w.id, { revocation_behavior: 'revoke_previous_secrets_immediately' });
    const ev3 = await publish({ type: 'batch.succeeded', data: { id: 'batches/b3', output_file_uri: 'files/out3', error_count: 0 } });
    await waitAttempt(ev3.id, 400);
    assert.match(recv.output(), /Webhook verification failed/);
    await recv.stop();

    // ...and the new one does: a manual retry of the same delivery (its
    // short test retry window may be over by now) succeeds. A scheduled
    // retry may reach the new receiver first, even while the manual retry
    // is being made; the attempt waited for is one made after it.
    recv = await startReceiver(port, revoked.secret);
    const failing = (await rest(srv.baseUrl, 'GET', `/v1/events/${ev3.id}/deliveries`)).json.deliveries[0];
    const retried = await rest(srv.baseUrl, 'POST', `/v1/deliveries/${failing.id}:retry`);
    assert.equal(retried.status, 200, retried.text);
    assert.equal(retried.json.state, 'pending');
    await waitAttempt(ev3.id, 200, { since: retried.json.next_attempt_time, state: 'succeeded' });
    assert.ok(rotated.secret !== revoked.secret);
  } finally {
    await recv.stop();
  }
});

test('ping delivers webhook.ping to that webhook only, verified by the standardwebhooks package', async () => {
  const port = await freePort();
  const { createServer } = await import('node:http');
  const got = [];
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => { body += c; });
    req.on('end', () => { got.push({ path: req.url, headers: req.headers, body }); res.writeHead(204).end(); });
  });
  await new Promise((ok) => server.listen(port, '127.0.0.1', ok));
  try {
    const a = await ai.webhooks.create({ uri: `http://127.0.0.1:${port}/a`, subscribed_events: ['batch.succeeded'] });
    await ai.webhooks.create({ uri: `http://127.0.0.1:${port}/b`, subscribed_events: ['batch.succeeded'] });
    await ai.webhooks.ping(a.id);
    await waitFor(() => got.length >= 1, 10000, 'ping delivery');
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(got.length, 1, 'only the pinged webhook receives it');
    assert.equal(got[0].path, '/a');
    const h = got[0].headers;
    assert.match(h['content-type'], /^application\/json/);
    assert.match(h['user-agent'], /^webhookd\//);
    const event = new Webhook(a.new_signing_secret).verify(got[0].body, h);
    assert.equal(event.type, 'webhook.ping');
    assert.equal(event.version, 'v1');
    assert.match(event.timestamp, /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/);
  } finally {
    server.close();
  }
});
