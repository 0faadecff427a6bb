// The README's end-to-end demo: creates a static webhook and two batches with
// @google/genai against a webhookd on 127.0.0.1:8080 started with
// WEBHOOKD_API_KEY=$WEBHOOKD_KEY (at least 20 characters).
// Usage: WEBHOOKD_KEY=… node demo-readme.mjs webhook|static|dynamic. Not part of the test suite.
import { GoogleGenAI } from '@google/genai';
const apiKey = process.env.WEBHOOKD_KEY;
if (!apiKey) {
  console.error('set WEBHOOKD_KEY to the WEBHOOKD_API_KEY the server was started with');
  process.exit(2);
}
const ai = new GoogleGenAI({ apiKey, httpOptions: { baseUrl: 'http://127.0.0.1:8080' } });
const step = process.argv[2];
if (step === 'webhook') {
  const w = await ai.webhooks.create({ name: 'batches', uri: 'http://127.0.0.1:8000/gemini-callback', subscribed_events: ['batch.succeeded', 'batch.failed'] });
  console.log(w.new_signing_secret);
} else {
  const batch = await ai.batches.create({
    model: 'gemini-2.5-flash',
    src: [{ contents: [{ parts: [{ text: 'Say hello' }], role: 'user' }] }],
    config: { displayName: 'nightly' , ...(step === 'dynamic' ? { webhookConfig: { uris: ['http://127.0.0.1:8002/gemini-webhook-dynamic'], userMetadata: { job_group: 'nightly-eval' } } } : {}) },
  });
  console.log(JSON.stringify({ name: batch.name, state: batch.state, displayName: batch.displayName, model: batch.model, createTime: batch.createTime }, null, 2));
}
