// Dynamic deliveries (webhook_config.uris) signed with RS256 JWTs, verified by
// the source document's receiver (jsonwebtoken + jwks-rsa against webhookd's
// JWKS, audience checked).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createServer } from 'node:http';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startWebhookd, rest, freePort, waitFor } from './harness.mjs';

const here = dirname(fileURLToPath(import.meta.url));
let srv;
before(async () => { srv = await startWebhookd(); });
after(async () => { await srv?.stop(); });

/** A loopback server that records every request (headers and raw body) and answers 204. */
async function capture() {
  const got = [];
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => { body += c; });
    req.on('end', () => { got.push({ headers: req.headers, body }); res.writeHead(204).end(); });
  });
  const port = await freePort();
  await new Promise((ok) => server.listen(port, '127.0.0.1', ok));
  return { url: `http://127.0.0.1:${port}/gemini-webhook-dynamic`, got, close: () => server.close() };
}

async function startDynamicReceiver(port, audience) {
  const child = spawn(process.execPath, [join(here, 'receivers', 'express-dynamic.mjs')], {
    env: { ...process.env, PORT: String(port), AUDIENCE: audience, JWKS_URI: `${srv.baseUrl}/.well-known/jwks.json` },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.on('data', (d) => { out += d; });
  child.stderr.on('data', (d) => { out += d; });
  await waitFor(() => out.includes('Dynamic webhook server is running') || child.exitCode !== null, 30000, 'dynamic receiver start');
  if (child.exitCode !== null) throw new Error(out);
  return { output: () => out, stop: () => new Promise((ok) => { child.on('exit', ok); child.kill(); }) };
}

async function post(url, headers, body) {
  const r = await fetch(url, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      'webhook-id': headers['webhook-id'],
      'webhook-timestamp': headers['webhook-timestamp'],
      'webhook-signature': headers['webhook-signature'],
    },
    body,
  });
  return { status: r.status, text: await r.text() };
}

test("the document's dynamic receiver verifies real RS256 deliveries and rejects tampering", async () => {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}/gemini-webhook-dynamic`;
  const recv = await startDynamicReceiver(port, url);
  const other = await capture();
  try {
    const ev = await rest(srv.baseUrl, 'POST', '/v1/events', {
      type: 'batch.succeeded',
      data: { id: 'batches/dyn1', output_file_uri: 'files/dyn1', error_count: 0 },
      webhook_config: { uris: [url], user_metadata: { job_group: 'nightly-eval', priority: 'high' } },
    });
    assert.equal(ev.status, 200, ev.text);
    assert.equal(ev.json.delivery_count, 1);
    assert.deepEqual(ev.json.data.user_metadata, { job_group: 'nightly-eval', priority: 'high' });

    await waitFor(async () => {
      const d = (await rest(srv.baseUrl, 'GET', `/v1/events/${ev.json.id}/deliveries`)).json.deliveries[0];
      return d.state === 'succeeded' && d.kind === 'dynamic' && d.last_status_code === 200;
    }, 15000, 'dynamic delivery verified by the document receiver');
    assert.match(recv.output(), /Verified Dynamic payload success/);

    // A real delivery to another destination (another audience), captured
    // and replayed at our receiver, is refused for its audience.
    const ev2 = await rest(srv.baseUrl, 'POST', '/v1/events', {
      type: 'batch.failed', data: { id: 'batches/dyn2', error_code: 13, error_message: 'x' }, webhook_config: { uris: [other.url] },
    });
    assert.equal(ev2.status, 200, ev2.text);
    await waitFor(() => other.got.length > 0, 15000, 'capture of a delivery for another audience');
    const { headers, body } = other.got[0];
    assert.equal(headers['webhook-id'], ev2.json.id);
    const parts = headers['webhook-signature'].split('.');
    assert.equal(parts.length, 3, 'the signature header is a compact JWT');
    const claims = JSON.parse(Buffer.from(parts[1], 'base64url').toString());
    const header = JSON.parse(Buffer.from(parts[0], 'base64url').toString());
    assert.equal(header.alg, 'RS256');
    assert.ok(header.kid);
    assert.equal(claims.aud, other.url);
    assert.equal(claims.iss, srv.baseUrl);
    assert.equal(claims.webhook_id, ev2.json.id);
    assert.equal(claims.event_type, 'batch.failed');
    assert.equal(claims.exp - claims.iat, 300);

    const wrongAudience = await post(url, headers, body);
    assert.equal(wrongAudience.status, 400);
    assert.match(wrongAudience.text, /audience/);

    // A receiver whose audience is the captured delivery's destination
    // accepts that genuine delivery, and refuses it with a tampered body.
    const port2 = await freePort();
    const recv2 = await startDynamicReceiver(port2, other.url);
    try {
      const url2 = `http://127.0.0.1:${port2}/gemini-webhook-dynamic`;
      const genuine = await post(url2, headers, body);
      assert.equal(genuine.status, 200, genuine.text);
      const tampered = await post(url2, headers, body.replace('"error_code":13', '"error_code":14'));
      assert.equal(tampered.status, 400);
      assert.match(tampered.text, /body/);
    } finally {
      await recv2.stop();
    }
  } finally {
    other.close();
    await recv.stop();
  }
});

test('the JWKS is public, cacheable and lists RS256 signing keys', async () => {
  const r = await fetch(`${srv.baseUrl}/.well-known/jwks.json`);
  assert.equal(r.status, 200);
  assert.match(r.headers.get('content-type'), /json/);
  assert.match(r.headers.get('cache-control') || '', /max-age=\d+/);
  const jwks = await r.json();
  assert.ok(jwks.keys.length >= 1);
  for (const k of jwks.keys) {
    assert.equal(k.kty, 'RSA');
    assert.equal(k.alg, 'RS256');
    assert.equal(k.use, 'sig');
    assert.ok(k.kid && k.n && k.e);
    assert.equal(k.d, undefined, 'no private part');
  }
});
