// Drives the operations API through the real @google/genai SDK (the JS stack
// users run): node jssdk.mjs <path to @google/genai> <base URL> <API key>.
// Exits non-zero with the reason on the first mismatch. The Go test advances the simulator between
// the phases, on a line-based protocol over stdin/stdout.
import { createInterface } from 'node:readline';

const [sdkPath, baseUrl, apiKey] = process.argv.slice(2);
const { GoogleGenAI } = await import(sdkPath);
const ai = new GoogleGenAI({ apiKey, httpOptions: { baseUrl } });
const rl = createInterface({ input: process.stdin });
const lines = rl[Symbol.asyncIterator]();

function check(cond, what, value) {
  if (!cond) {
    console.error(`MISMATCH ${what}: ${JSON.stringify(value)}`);
    process.exit(1);
  }
}

// Phase 1: create jobs.
const batch = await ai.batches.create({
  model: 'gemini-2.5-flash',
  src: [{ contents: [{ role: 'user', parts: [{ text: 'hello' }] }], metadata: { key: 'r1' } }],
  config: { displayName: 'probe', webhookConfig: { uris: ['https://example.test/h'], userMetadata: { job: 'nightly' } } },
});
check(batch.state === 'JOB_STATE_PENDING' && batch.name.startsWith('batches/') && batch.displayName === 'probe', 'batches.create', batch);
// The source document's flow: upload the input JSONL, then batch over "files/…".
const input = new Blob(['{"key":"a","request":{"contents":[{"parts":[{"text":"from a file"}]}]}}\n'], { type: 'application/jsonl' });
const uploaded = await ai.files.upload({ file: input, config: { mimeType: 'application/jsonl', displayName: 'in.jsonl' } });
check(uploaded.name?.startsWith('files/') && uploaded.state === 'ACTIVE' && uploaded.sizeBytes === String(input.size), 'files.upload', uploaded);
const fileBatch = await ai.batches.create({
  model: 'gemini-3-flash-preview', src: uploaded.name,
  config: { displayName: 'My Setup', webhookConfig: { uris: ['https://my-api.com/gemini-webhook-dynamic'], user_metadata: { job_group: 'nightly-eval' } } },
});
check(fileBatch.state === 'JOB_STATE_PENDING', 'file batch', fileBatch);
const cancelled = await ai.batches.create({ model: 'gemini-2.5-flash', src: [{ contents: [{ parts: [{ text: 'x' }] }] }] });
await ai.batches.cancel({ name: cancelled.name });

const inter = await ai.interactions.create({
  model: 'gemini-2.5-flash', input: 'Say hi', background: true,
  webhook_config: { uris: ['https://example.test/int-hook'], user_metadata: { ticket: 'T-1' } },
});
check(inter.status === 'queued' && inter.id.startsWith('int_') && inter.webhook_config.user_metadata.ticket === 'T-1', 'interactions.create', inter);
const tool = await ai.interactions.create({
  model: 'gemini-2.5-flash', input: 'Weather?', background: true, tools: [{ type: 'function', name: 'get_weather' }],
});
const sync = await ai.interactions.create({ model: 'gemini-2.5-flash', input: 'now' });
check(sync.status === 'completed' && sync.output_text === 'now', 'synchronous interaction', sync);

console.log('created');
await lines.next(); // the Go side ran the simulator

// Phase 2: read the outcomes.
const done = await ai.batches.get({ name: batch.name });
check(done.state === 'JOB_STATE_SUCCEEDED', 'batch state', done.state);
check(done.dest?.inlinedResponses?.[0]?.response?.candidates?.[0]?.content?.parts?.[0]?.text === 'hello', 'batch response', done.dest);
const c = await ai.batches.get({ name: cancelled.name });
check(c.state === 'JOB_STATE_CANCELLED', 'cancelled batch', c.state);
const fromFile = await ai.batches.get({ name: fileBatch.name });
check(fromFile.state === 'JOB_STATE_SUCCEEDED' && fromFile.dest?.fileName?.startsWith('files/'), 'file batch result', fromFile);
const results = await ai.files.get({ name: fromFile.dest.fileName });
check(results.mimeType === 'application/jsonl' && results.source === 'GENERATED' && results.downloadUri.endsWith(':download?alt=media'), 'results file', results);
const list = await ai.batches.list({ config: { pageSize: 10 } });
check(list.page.length === 3, 'batches.list', list.page.length);

const got = await ai.interactions.get(inter.id);
check(got.status === 'completed' && got.output_text === 'Say hi', 'interaction', got);
const waiting = await ai.interactions.get(tool.id);
const call = waiting.steps?.[0];
check(waiting.status === 'requires_action' && call?.type === 'function_call' && call?.name === 'get_weather', 'requires_action', waiting);
const follow = await ai.interactions.create({
  model: 'gemini-2.5-flash', previous_interaction_id: tool.id,
  input: [{ type: 'function_result', call_id: call.id, name: 'get_weather', result: 'sunny' }],
});
check(follow.status === 'completed' && follow.output_text === 'get_weather: sunny', 'follow-up', follow);
const completed = await ai.interactions.get(tool.id);
check(completed.status === 'completed', 'completed by the follow-up', completed.status);
const again = await ai.interactions.create({ model: 'gemini-2.5-flash', input: 'x', background: true });
const cancelledInter = await ai.interactions.cancel(again.id);
check(cancelledInter.status === 'cancelled', 'interactions.cancel', cancelledInter);
rl.close();
console.log('ok');
