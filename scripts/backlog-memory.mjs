// Measures webhookd's resident memory while its backlog of due deliveries
// grows from about 10k to about 1M (the target: flat within ±20%; see
// docs/benchmarks.md, "Memory with a growing backlog").
// It starts `webhookd serve` (dev mode, fresh SQLite file), registers 100
// webhooks whose destination refuses connections (127.0.0.1:9), publishes
// events in batches (POST /v1/events:batchPublish; each event fans out to
// all 100), and samples the server's RSS from /proc at each milestone and
// after the engine has churned the backlog. Each sample also splits the RSS
// into anonymous memory (Go heap and runtime, SQLite's malloc) and mapped
// files (the binary, the WAL index in the -shm file).
//
//   node scripts/backlog-memory.mjs ./bin/webhookd [events=10000]
//
// Loopback only; bounded by the event count.
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const bin = resolve(process.argv[2] || './bin/webhookd');
const events = Number(process.argv[3] || 10000);
const dir = mkdtempSync(join(tmpdir(), 'webhookd-backlog-'));
const port = 18000 + Math.floor(Math.random() * 1000);
const base = `http://127.0.0.1:${port}`;
const key = 'backlog-key-0123456789';
const child = spawn(bin, ['serve'], {
  cwd: dir,
  env: { ...process.env, WEBHOOKD_ADDR: `127.0.0.1:${port}`, WEBHOOKD_DB: `sqlite:${join(dir, 'w.db')}`,
    WEBHOOKD_API_KEY: key, WEBHOOKD_DEV: '1', WEBHOOKD_LOG_LEVEL: 'error' },
  stdio: 'inherit',
});
// rss reads VmRSS and its parts (anonymous, file-backed, shared memory) from
// /proc/PID/status, in MiB.
const rss = () => {
  const status = readFileSync(`/proc/${child.pid}/status`, 'utf8');
  const mib = (field) => (Number(status.match(new RegExp(`${field}:\\s+(\\d+) kB`))[1]) / 1024).toFixed(1);
  return { rss_mib: mib('VmRSS'), anon_mib: mib('RssAnon'), file_mib: mib('RssFile'), shmem_mib: mib('RssShmem') };
};
async function call(method, path, body) {
  const r = await fetch(base + path, { method, headers: { 'x-goog-api-key': key, 'content-type': 'application/json' }, body: body && JSON.stringify(body) });
  if (!r.ok) throw new Error(`${method} ${path}: ${r.status} ${await r.text()}`);
  return r.json();
}
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
for (let i = 0; ; i++) {
  try { if ((await fetch(base + '/readyz')).ok) break; } catch {}
  if (i > 200) throw new Error('server not ready');
  await sleep(50);
}
try {
  for (let i = 0; i < 100; i++) {
    await call('POST', '/v1/webhooks', { uri: `http://127.0.0.1:9/hook${i}`, subscribed_events: ['batch.succeeded'] });
  }
  const rows = [];
  const sample = async (label) => {
    const stats = await (await fetch(base + '/metrics')).text();
    const due = stats.match(/^webhookd_queue_due (\S+)/m)?.[1] ?? '?';
    const { rss_mib, ...parts } = rss();
    rows.push({ label, rss_mib, queue_due_gauge: due, ...parts });
    console.error(label, rows.at(-1));
  };
  // Events go out in POST /v1/events:batchPublish calls of up to 100, two
  // calls at a time (the store has one writer; more would only queue). A
  // call never straddles a milestone, so each sample sees exactly m events.
  const perCall = 100, parallel = 2;
  const milestones = [100, 1000, events].filter((m, i, a) => m <= events && a.indexOf(m) === i);
  let published = 0;
  const started = Date.now();
  await sample('start (0 deliveries)');
  for (const m of milestones) {
    while (published < m) {
      const calls = [];
      for (let j = 0; j < parallel && published < m; j++) {
        const n = Math.min(perCall, m - published);
        const from = published;
        published += n;
        calls.push(call('POST', '/v1/events:batchPublish', { events: Array.from({ length: n }, (_, k) =>
          ({ type: 'batch.succeeded', data: { id: `b${from + k}` } })) }));
      }
      await Promise.all(calls);
    }
    await sample(`${m} events = ${m * 100} deliveries`);
  }
  console.error(`published ${published} events in ${((Date.now() - started) / 1000).toFixed(1)}s`);
  for (const wait of [30, 60]) {
    await sleep(30000);
    await sample(`backlog of ${events * 100} after ${wait}s of engine churn`);
  }
  console.log(JSON.stringify(rows, null, 1));
} finally {
  child.kill('SIGTERM');
  await new Promise((r) => child.on('exit', r));
  rmSync(dir, { recursive: true, force: true });
}
