// Measures webhookd's resident memory while its backlog of due deliveries
// grows from about 10k to about 1M (DESIGN.md: memory flat with queue size).
// It starts `webhookd serve` (dev mode, fresh SQLite file), registers 100
// webhooks whose destination refuses connections (127.0.0.1:9), publishes
// events (each fans out to all 100), and samples the server's RSS from
// /proc at each milestone and after the engine has churned the backlog.
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
const rssMiB = () => {
  const m = readFileSync(`/proc/${child.pid}/status`, 'utf8').match(/VmRSS:\s+(\d+) kB/);
  return (Number(m[1]) / 1024).toFixed(1);
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
    rows.push({ label, rss_mib: rssMiB(), queue_due_gauge: due });
    console.error(label, rows.at(-1));
  };
  let published = 0;
  const milestones = new Set([100, 1000, events]);
  await sample('start (0 deliveries)');
  while (published < events) {
    const batch = Math.min(16, events - published);
    await Promise.all(Array.from({ length: batch }, (_, j) =>
      call('POST', '/v1/events', { type: 'batch.succeeded', data: { id: `b${published + j}` } })));
    published += batch;
    for (const m of milestones) {
      if (published >= m && published - batch < m) await sample(`${m} events = ${m * 100} deliveries`);
    }
  }
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
