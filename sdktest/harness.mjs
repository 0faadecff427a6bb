// Starts a real webhookd binary on a free loopback port with a fresh SQLite
// database, so that every test drives the service exactly as a user would,
// behind openapiproxy (internal/openapitest/openapiproxy), which checks
// every request and response against api/openapi.yaml: stop() throws when
// any broke it, failing the suite.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
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

/** Waits until GET url answers 2xx, or throws after ms with what() in the message. */
async function waitReady(url, child, what, ms = 20000) {
  const deadline = Date.now() + ms;
  for (;;) {
    if (child.exitCode !== null) {
      throw new Error(`exited early (${child.exitCode}):\n${what()}`);
    }
    try {
      const r = await fetch(url);
      if (r.ok) return;
    } catch { /* not listening yet */ }
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`did not become ready:\n${what()}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * Starts webhookd (WEBHOOKD_BIN, default ../bin/webhookd) behind the
 * checking proxy (OPENAPIPROXY_BIN, default ../bin/openapiproxy) and waits
 * until /readyz answers through it. baseUrl is the proxy's, and so is the
 * server's public URL, so that every call the SDK makes, the upload URLs
 * and JWKS fetches included, is checked. Extra environment variables
 * override the defaults.
 */
export async function startWebhookd(env = {}) {
  const bin = process.env.WEBHOOKD_BIN || resolve(here, '..', 'bin', 'webhookd');
  const proxyBin = process.env.OPENAPIPROXY_BIN || resolve(here, '..', 'bin', 'openapiproxy');
  const dir = mkdtempSync(join(tmpdir(), 'webhookd-sdk-'));
  const port = await freePort();
  const proxyPort = await freePort();
  const serverUrl = `http://127.0.0.1:${port}`;
  const baseUrl = `http://127.0.0.1:${proxyPort}`;
  const child = spawn(bin, ['serve'], {
    cwd: dir,
    env: {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      WEBHOOKD_ADDR: `127.0.0.1:${port}`,
      WEBHOOKD_DB: `sqlite:${join(dir, 'webhookd.db')}`,
      WEBHOOKD_API_KEY: API_KEY,
      WEBHOOKD_DEV: '1',
      WEBHOOKD_PUBLIC_URL: baseUrl, // the proxy's
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

  await waitReady(`${serverUrl}/readyz`, child, () => `webhookd: ${log}`);

  if (!existsSync(proxyBin)) {
    child.kill('SIGKILL');
    throw new Error(`${proxyBin} is missing: build it (make test-sdk does) with go build -o bin/openapiproxy ./internal/openapitest/openapiproxy`);
  }
  let proxyLog = '';
  const proxy = spawn(proxyBin, ['-listen', `127.0.0.1:${proxyPort}`, '-target', serverUrl], {
    env: { PATH: process.env.PATH, HOME: process.env.HOME },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  proxy.stderr.on('data', (d) => { proxyLog += d; });
  const proxyExited = new Promise((ok) => proxy.on('exit', (code, sig) => ok({ code, sig })));
  try {
    await waitReady(`${baseUrl}/readyz`, proxy, () => `openapiproxy: ${proxyLog}`);
  } catch (err) {
    child.kill('SIGKILL');
    throw err;
  }

  return {
    baseUrl,
    dir,
    log: () => log,
    /** Stops both; throws when any exchange broke api/openapi.yaml. */
    async stop() {
      const p = proxy.exitCode === null ? (proxy.kill('SIGTERM'), proxyExited) : proxyExited;
      if (child.exitCode === null) {
        child.kill('SIGTERM');
        await exited;
      }
      const { code } = await p;
      rmSync(dir, { recursive: true, force: true });
      if (code !== 0) {
        throw new Error(`openapiproxy: exchanges of the SDK suite broke api/openapi.yaml (exit ${code}):\n${proxyLog}`);
      }
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
