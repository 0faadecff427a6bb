// Starts a real webhookd binary on a free loopback port with a fresh SQLite
// database, so that every test drives the service exactly as a user would.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve, dirname } from 'node:path';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));

export const API_KEY = 'sdk-suite-key-0123456789';

/** Returns a TCP port that was free a moment ago on 127.0.0.1. */
export function freePort() {
  return new Promise((ok, fail) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', fail);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => ok(port));
    });
  });
}

/**
 * Starts webhookd (WEBHOOKD_BIN, default ../bin/webhookd) and waits until
 * /readyz answers. Extra environment variables override the defaults.
 */
export async function startWebhookd(env = {}) {
  const bin = process.env.WEBHOOKD_BIN || resolve(here, '..', 'bin', 'webhookd');
  const dir = mkdtempSync(join(tmpdir(), 'webhookd-sdk-'));
  const port = await freePort();
  const baseUrl = `http://127.0.0.1:${port}`;
  const child = spawn(bin, ['serve'], {
    cwd: dir,
    env: {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      WEBHOOKD_ADDR: `127.0.0.1:${port}`,
      WEBHOOKD_DB: `sqlite:${join(dir, 'webhookd.db')}`,
      WEBHOOKD_API_KEY: API_KEY,
      WEBHOOKD_DEV: '1',
      WEBHOOKD_PUBLIC_URL: baseUrl,
      WEBHOOKD_RETRY_SCHEDULE: '200ms,400ms,800ms',
      WEBHOOKD_RETRY_WINDOW: '5s',
      // A receiver restarted by a test must not wait out the default 30 s
      // circuit that its downtime opened.
      WEBHOOKD_CIRCUIT_OPEN_FOR: '1s',
      // SDKTEST_DEBUG=1 makes every server log at debug level (each
      // attempt and its outcome), for a test that failed.
      ...(process.env.SDKTEST_DEBUG ? { WEBHOOKD_LOG_LEVEL: 'debug' } : {}),
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let log = '';
  child.stdout.on('data', (d) => { log += d; });
  child.stderr.on('data', (d) => { log += d; });
  const exited = new Promise((ok) => child.on('exit', (code, sig) => ok({ code, sig })));

  const deadline = Date.now() + 20000;
  for (;;) {
    if (child.exitCode !== null) {
      throw new Error(`webhookd exited early (${child.exitCode}):\n${log}`);
    }
    try {
      const r = await fetch(`${baseUrl}/readyz`);
      if (r.ok) break;
    } catch { /* not listening yet */ }
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`webhookd did not become ready:\n${log}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }

  return {
    baseUrl,
    dir,
    log: () => log,
    async stop() {
      if (child.exitCode === null) {
        child.kill('SIGTERM');
        await exited;
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Plain HTTP call with the suite's API key, for the source document's REST examples. */
export async function rest(baseUrl, method, path, body) {
  const init = {
    method,
    headers: { 'x-goog-api-key': API_KEY, 'Content-Type': 'application/json' },
  };
  if (body !== undefined) init.body = typeof body === 'string' ? body : JSON.stringify(body);
  const res = await fetch(baseUrl + path, init);
  const text = await res.text();
  let json;
  try { json = JSON.parse(text); } catch { json = undefined; }
  return { status: res.status, contentType: res.headers.get('content-type') || '', json, text };
}

/** Waits until pred() is truthy, polling every 20 ms, or throws after ms. */
export async function waitFor(pred, ms = 10000, what = 'condition') {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await pred();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
