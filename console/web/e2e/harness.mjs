// The end-to-end suite's fixtures: a real webhookd binary on a free
// loopback port with a fresh database, a loopback receiver whose answer the
// test controls, and Debian's chromium driven by Playwright (never a
// browser Playwright downloads), headless, with a fresh profile and nothing
// that reaches for the network.
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, mkdirSync } from "node:fs";
import { createServer as createTCPServer } from "node:net";
import { createServer } from "node:http";
import { tmpdir } from "node:os";
import { join, resolve, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const here = dirname(fileURLToPath(import.meta.url));
export const root = resolve(here, "..", "..", "..");

export const API_KEY = "console-e2e-project-key-0123456789";
export const ADMIN_KEY = "console-e2e-admin-key-0123456789";

export function freePort() {
  return new Promise((ok, fail) => {
    const srv = createTCPServer();
    srv.unref();
    srv.on("error", fail);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address();
      srv.close(() => ok(port));
    });
  });
}

// startWebhookd runs WEBHOOKD_BIN (default bin/webhookd) until stop().
export async function startWebhookd(env = {}) {
  const bin = process.env.WEBHOOKD_BIN || join(root, "bin", "webhookd");
  const dir = mkdtempSync(join(tmpdir(), "webhookd-console-"));
  const port = await freePort();
  const baseURL = `http://127.0.0.1:${port}`;
  const child = spawn(bin, ["serve"], {
    cwd: dir,
    env: {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      WEBHOOKD_ADDR: `127.0.0.1:${port}`,
      WEBHOOKD_DB: `sqlite:${join(dir, "webhookd.db")}`,
      WEBHOOKD_API_KEY: API_KEY,
      WEBHOOKD_ADMIN_KEY: ADMIN_KEY,
      WEBHOOKD_DEV: "1",
      WEBHOOKD_PUBLIC_URL: baseURL,
      WEBHOOKD_LOG_FORMAT: "json",
      WEBHOOKD_RETRY_SCHEDULE: "300ms,300ms,600ms",
      WEBHOOKD_RETRY_WINDOW: "2s",
      WEBHOOKD_CIRCUIT_FAILURES: "3",
      WEBHOOKD_CIRCUIT_OPEN_FOR: "3s",
      ...env,
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let log = "";
  child.stdout.on("data", (d) => (log += d));
  child.stderr.on("data", (d) => (log += d));
  const exited = new Promise((ok) => child.on("exit", ok));
  const deadline = Date.now() + 20000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`webhookd exited early (${child.exitCode}):\n${log}`);
    try {
      if ((await fetch(`${baseURL}/readyz`)).ok) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      child.kill("SIGKILL");
      throw new Error(`webhookd did not become ready:\n${log}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    baseURL,
    log: () => log,
    // api calls the public API with a key, as a script would.
    async api(method, path, body, key = API_KEY) {
      const res = await fetch(baseURL + path, {
        method,
        headers: { "x-goog-api-key": key, "Content-Type": "application/json" },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      const data = await res.json();
      if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${JSON.stringify(data)}`);
      return data;
    },
    async stop() {
      child.kill("SIGTERM");
      await Promise.race([exited, new Promise((r) => setTimeout(r, 10000))]);
      if (child.exitCode === null) child.kill("SIGKILL");
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

// startReceiver is a loopback webhook receiver. Its answer is set by
// receiver.answer = {status, body, headers}; it keeps what it received.
export async function startReceiver() {
  const received = [];
  const receiver = {
    answer: { status: 200, body: '{"received":true}', headers: { "Content-Type": "application/json", "X-Receiver": "e2e" } },
    received,
  };
  const srv = createServer((req, res) => {
    let body = "";
    req.on("data", (d) => (body += d));
    req.on("end", () => {
      received.push({ headers: req.headers, body });
      const a = receiver.answer;
      res.writeHead(a.status, a.headers);
      res.end(a.body);
    });
  });
  const port = await freePort();
  await new Promise((ok) => srv.listen(port, "127.0.0.1", ok));
  receiver.url = `http://127.0.0.1:${port}/hook`;
  receiver.close = () => new Promise((ok) => srv.close(ok));
  return receiver;
}

// The flags that keep Debian's chromium from reaching for the network.
export const chromiumFlags = [
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

// launchBrowser starts chromium headless; Playwright gives it a fresh,
// temporary profile.
export function launchBrowser() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    headless: true,
    args: chromiumFlags,
  });
}

export const resultsDir = join(here, "..", "test-results");

// step runs one step of a walk as a subtest; when it fails, it saves a
// screenshot of the page it was on (page, or the page a getter returns):
// test output, kept out of git.
export async function step(t, name, page, fn) {
  await t.test(name, async () => {
    try {
      await fn();
    } catch (e) {
      mkdirSync(resultsDir, { recursive: true });
      const file = join(resultsDir, `${name.replace(/[^a-z0-9]+/gi, "-")}.png`);
      const shown = typeof page === "function" ? page() : page;
      await shown.screenshot({ path: file, fullPage: true }).catch(() => {});
      e.message += `\n(screenshot: ${file})`;
      throw e;
    }
  });
}

// eventually retries check until it passes or timeout passes.
export async function eventually(check, timeout = 15000, every = 200) {
  const deadline = Date.now() + timeout;
  for (;;) {
    try {
      return await check();
    } catch (e) {
      if (Date.now() > deadline) throw e;
      await new Promise((r) => setTimeout(r, every));
    }
  }
}
