// The long-running operations driven by the official @google/genai SDK
// (batches, interactions, files) and by the source document's :batchCreate
// REST example, against a real webhookd whose simulator runs short jobs.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { GoogleGenAI } from '@google/genai';
import { startWebhookd, rest, waitFor, API_KEY } from './harness.mjs';

let srv;
let ai;

before(async () => {
  // One second per job: long enough to cancel a running batch, short
  // enough to wait for the others.
  srv = await startWebhookd({ WEBHOOKD_SIM_JOB_DURATION: '1s' });
  ai = new GoogleGenAI({ apiKey: API_KEY, httpOptions: { baseUrl: srv.baseUrl } });
});
after(async () => { await srv?.stop(); });

const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/;

/** Polls ai.batches.get until the batch reaches a final state. */
async function settled(name) {
  return waitFor(async () => {
    const b = await ai.batches.get({ name });
    return ['JOB_STATE_SUCCEEDED', 'JOB_STATE_FAILED', 'JOB_STATE_CANCELLED', 'JOB_STATE_EXPIRED'].includes(b.state) && b;
  }, 15000, `batch ${name} to finish`);
}

test('batches: create inline with webhookConfig, get, list, cancel, delete', async () => {
  const created = await ai.batches.create({
    model: 'gemini-2.5-flash',
    src: [
      { contents: [{ role: 'user', parts: [{ text: 'hello' }] }], metadata: { key: 'r1' } },
      { contents: [{ role: 'user', parts: [{ text: 'second' }] }], metadata: { key: 'r2' } },
    ],
    config: {
      displayName: 'sdk-inline',
      webhookConfig: { uris: ['http://127.0.0.1:9/never'], userMetadata: { job: 'nightly', n: 1 } },
    },
  });
  assert.match(created.name, /^batches\/batch_[a-z0-9]+$/);
  assert.equal(created.state, 'JOB_STATE_PENDING');
  assert.equal(created.displayName, 'sdk-inline');
  assert.equal(created.model, 'models/gemini-2.5-flash');
  assert.match(created.createTime, RFC3339);

  const done = await settled(created.name);
  assert.equal(done.state, 'JOB_STATE_SUCCEEDED');
  assert.match(done.endTime, RFC3339);
  const answers = done.dest.inlinedResponses.map((r) => [r.metadata?.key, r.response.candidates[0].content.parts[0].text]);
  assert.deepEqual(answers, [['r1', 'hello'], ['r2', 'second']]);

  const running = await ai.batches.create({ model: 'gemini-2.5-flash', src: [{ contents: [{ parts: [{ text: 'x' }] }] }] });
  await ai.batches.cancel({ name: running.name });
  const cancelled = await ai.batches.get({ name: running.name });
  assert.equal(cancelled.state, 'JOB_STATE_CANCELLED');
  assert.match(cancelled.endTime, RFC3339);

  // Newest first, one per page: the pager follows nextPageToken.
  const pager = await ai.batches.list({ config: { pageSize: 1 } });
  assert.equal(pager.page.length, 1);
  assert.equal(pager.page[0].name, running.name);
  assert.ok(pager.hasNextPage());
  const seen = [];
  for await (const b of pager) seen.push(b.name);
  assert.ok(seen.indexOf(running.name) < seen.indexOf(created.name), `order ${seen}`);

  await ai.batches.delete({ name: running.name });
  await assert.rejects(ai.batches.get({ name: running.name }), (err) => {
    assert.equal(err.status, 404);
    assert.equal(JSON.parse(err.message).error.status, 'NOT_FOUND');
    return true;
  });
});

test('batches: a cancel after the end is refused as FAILED_PRECONDITION', async () => {
  const b = await ai.batches.create({ model: 'gemini-2.5-flash', src: [{ contents: [{ parts: [{ text: 'y' }] }] }] });
  await settled(b.name);
  await assert.rejects(ai.batches.cancel({ name: b.name }), (err) => {
    assert.equal(err.status, 400);
    assert.equal(JSON.parse(err.message).error.status, 'FAILED_PRECONDITION');
    return true;
  });
});

test('interactions: create in the background with webhook_config, get, cancel', async () => {
  const created = await ai.interactions.create({
    model: 'gemini-2.5-flash', input: 'Say hi', background: true,
    webhook_config: { uris: ['http://127.0.0.1:9/int-hook'], user_metadata: { ticket: 'T-1' } },
  });
  assert.match(created.id, /^int_/);
  assert.ok(['queued', 'in_progress'].includes(created.status), created.status);
  assert.deepEqual(created.webhook_config, { uris: ['http://127.0.0.1:9/int-hook'], user_metadata: { ticket: 'T-1' } });
  assert.equal(created.model, 'gemini-2.5-flash');

  const done = await waitFor(async () => {
    const got = await ai.interactions.get(created.id);
    return got.status === 'completed' && got;
  }, 15000, 'interaction completed');
  assert.equal(done.output_text, 'Say hi');
  assert.match(done.updated, RFC3339);

  const other = await ai.interactions.create({ model: 'gemini-2.5-flash', input: 'long', background: true });
  const cancelled = await ai.interactions.cancel(other.id);
  assert.equal(cancelled.id, other.id);
  assert.equal(cancelled.status, 'cancelled');
  assert.equal((await ai.interactions.get(other.id)).status, 'cancelled');

  await ai.interactions.delete(other.id);
  await assert.rejects(ai.interactions.get(other.id), (err) => err.status === 404);
});

test("files.upload, then a batch over src: 'files/…' (the document's dynamic example); results download", async () => {
  const lines = ['one', 'two'].map((t, i) => JSON.stringify({ key: `k${i}`, request: { contents: [{ parts: [{ text: t }] }] } })).join('\n') + '\n';
  const input = new Blob([lines], { type: 'application/jsonl' });
  const file = await ai.files.upload({ file: input, config: { mimeType: 'application/jsonl', displayName: 'batch-input.jsonl' } });
  assert.match(file.name, /^files\//);
  assert.equal(file.state, 'ACTIVE');
  assert.equal(file.sizeBytes, String(input.size));
  assert.equal((await ai.files.get({ name: file.name })).displayName, 'batch-input.jsonl');

  const job = await ai.batches.create({
    model: 'gemini-3-flash-preview',
    src: file.name,
    config: {
      displayName: 'My Setup',
      webhookConfig: { uris: ['http://127.0.0.1:9/gemini-webhook-dynamic'], user_metadata: { job_group: 'nightly-eval', priority: 'high' } },
    },
  });
  assert.equal(job.state, 'JOB_STATE_PENDING');
  const done = await settled(job.name);
  assert.equal(done.state, 'JOB_STATE_SUCCEEDED');
  assert.match(done.dest.fileName, /^files\//);

  const results = await ai.files.get({ name: done.dest.fileName });
  assert.equal(results.source, 'GENERATED');
  assert.equal(results.mimeType, 'application/jsonl');
  const res = await fetch(results.downloadUri, { headers: { 'x-goog-api-key': API_KEY } });
  assert.equal(res.status, 200);
  const out = (await res.text()).trim().split('\n').map((l) => JSON.parse(l));
  assert.deepEqual(out.map((l) => l.key), ['k0', 'k1']);
  assert.equal(out[1].response.candidates[0].content.parts[0].text, 'two');

  // A batch over a file that does not exist names the field.
  await assert.rejects(ai.batches.create({ model: 'gemini-2.5-flash', src: 'files/missing' }), (err) => {
    assert.equal(err.status, 400);
    assert.match(JSON.parse(err.message).error.message, /files\/missing/);
    return true;
  });
});

test("the document's :batchCreate REST example works as written", async () => {
  // The example batches over "files/uploaded_file_id": upload it under that name.
  const file = await ai.files.upload({
    file: new Blob([JSON.stringify({ key: 'doc', request: { contents: [{ parts: [{ text: 'as written' }] }] } }) + '\n']),
    config: { name: 'files/uploaded_file_id', mimeType: 'application/jsonl' },
  });
  assert.equal(file.name, 'files/uploaded_file_id');

  const r = await rest(srv.baseUrl, 'POST', '/v1/models/gemini-3-flash-preview:batchCreate', `{
    "src": "files/uploaded_file_id",
    "config": {
      "display_name": "My Setup",
      "webhook_config": {
        "uris": ["https://my-api.com/gemini-webhook-dynamic"],
        "user_metadata": {"job_group": "nightly-eval", "priority": "high"}
      }
    }
  }`);
  assert.equal(r.status, 200, r.text);
  assert.match(r.contentType, /^application\/json/);
  assert.match(r.json.name, /^batches\//);
  assert.equal(r.json.metadata.state, 'BATCH_STATE_PENDING');
  assert.equal(r.json.metadata.displayName, 'My Setup');
  assert.equal(r.json.metadata.model, 'models/gemini-3-flash-preview');

  const viaSDK = await settled(r.json.name);
  assert.equal(viaSDK.state, 'JOB_STATE_SUCCEEDED');
  assert.equal(viaSDK.displayName, 'My Setup');
});

test('GET /v1/operations lists every kind newest first and pages', async () => {
  const b = await ai.batches.create({ model: 'gemini-2.5-flash', src: [{ contents: [{ parts: [{ text: 'o' }] }] }] });
  const i = await ai.interactions.create({ model: 'gemini-2.5-flash', input: 'o', background: true });
  const v = await rest(srv.baseUrl, 'POST', '/v1beta/models/veo-3.0-generate-001:predictLongRunning', { instances: [{ prompt: 'a cat' }] });
  assert.equal(v.status, 200, v.text);

  const first = await rest(srv.baseUrl, 'GET', '/v1/operations?pageSize=2');
  assert.equal(first.status, 200, first.text);
  assert.deepEqual(first.json.operations.map((o) => o.name), [v.json.name, `interactions/${i.id}`]);
  assert.ok(first.json.nextPageToken);
  const second = await rest(srv.baseUrl, 'GET', `/v1/operations?pageSize=1&pageToken=${encodeURIComponent(first.json.nextPageToken)}`);
  assert.equal(second.status, 200, second.text);
  assert.deepEqual(second.json.operations.map((o) => o.name), [b.name]);

  const one = await rest(srv.baseUrl, 'GET', `/v1/operations/${b.name.slice('batches/'.length)}`);
  assert.equal(one.json.name, b.name);
});
