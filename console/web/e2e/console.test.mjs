// The console, end to end, in a real browser: sign in, create a webhook
// (its secret shown once), publish, watch the delivery and the receiver's
// answer, break the receiver and see the failure and the open circuit, fix
// it and retry from the console, rotate the secret, open a portal link
// that sees only its project and stops working when it expires, check
// that a <script> in a payload or an answer stays text, and sign out.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { startWebhookd, startReceiver, launchBrowser, step, eventually, API_KEY, ADMIN_KEY, root } from "./harness.mjs";

let svc, rc, browser;

before(async () => {
  svc = await startWebhookd();
  rc = await startReceiver();
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await rc?.close();
  await svc?.stop();
});

// screenshots for the README, when CONSOLE_SCREENSHOTS names a folder.
async function shoot(page, name) {
  const dir = process.env.CONSOLE_SCREENSHOTS;
  if (!dir) return;
  mkdirSync(dir, { recursive: true });
  await page.screenshot({ path: join(dir, name), fullPage: false });
}

test("the console, from sign-in to sign-out", async (t) => {
  const context = await browser.newContext({ viewport: { width: 1280, height: 860 } });
  const page = await context.newPage();
  const problems = [];
  page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
  page.on("console", (m) => {
    // A 401 is how the console learns it is signed out; any other error counts.
    if (m.type() === "error" && !/status of 401/.test(m.text())) problems.push(`console error: ${m.text()}`);
  });
  let pwned = false;
  await page.exposeFunction("__pwned", () => (pwned = true));

  let webhook, firstEvent, failingEvent;

  await step(t, "sign in with the project's API key", page, async () => {
    await page.goto(svc.baseURL + "/");
    assert.match(page.url(), /\/console\/$/);
    await page.getByLabel("API key").fill(API_KEY);
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.getByRole("heading", { name: "Overview" }).waitFor();
    assert.match(await page.getByTestId("who").innerText(), /default/);
    const cookies = await context.cookies();
    const session = cookies.find((c) => c.name === "webhookd_session");
    assert.ok(session && session.httpOnly && session.sameSite === "Strict", `session cookie ${JSON.stringify(session)}`);
    assert.ok(!session.value.includes(API_KEY), "the cookie carries the key");
  });

  await step(t, "create a webhook; its secret appears once", page, async () => {
    await page.getByRole("link", { name: "Webhooks" }).click();
    await page.getByLabel("Name").fill("orders");
    await page.getByLabel("URI").fill(rc.url);
    await page.getByLabel("Events").fill("batch.succeeded, batch.failed");
    await page.getByRole("button", { name: "Create", exact: true }).click();
    const secret = await page.getByTestId("secret-value").innerText();
    assert.match(secret, /^whsec_/);
    await page.getByRole("link", { name: "orders" }).waitFor();
    webhook = (await svc.api("GET", "/v1/webhooks")).webhooks[0];
    assert.equal(webhook.name, "orders");
    await page.reload();
    await page.getByRole("link", { name: "orders" }).waitFor();
    assert.equal(await page.getByTestId("secret-value").count(), 0, "the secret is shown again after a reload");
    assert.ok(!(await page.content()).includes(secret), "the secret is still in the page");
  });

  await step(t, "publish an event; its delivery and attempt appear with the receiver's answer", page, async () => {
    rc.answer = {
      status: 200,
      body: '{"received":true,"note":"<script>window.__pwned()</script>"}',
      headers: { "Content-Type": "application/json", "X-Receiver": "e2e" },
    };
    firstEvent = await svc.api("POST", "/v1/events", { type: "batch.succeeded", data: { id: "batches/123", rows: 2 } });
    await page.goto(`${svc.baseURL}/console/events/${firstEvent.id}`);
    await page.getByText('"batches/123"').waitFor();
    const delivery = page.getByTestId("delivery");
    await eventually(async () => assert.equal(await delivery.getByTestId("attempt-status").first().innerText(), "200"));
    assert.match(await delivery.innerText(), /succeeded/);
    await delivery.getByText("Receiver's answer").click();
    await delivery.getByText("X-Receiver: e2e").waitFor();
    await delivery.getByText("<script>window.__pwned()</script>", { exact: false }).waitFor();
    assert.equal(rc.received.length, 1);
    assert.equal(rc.received[0].headers["webhook-id"], firstEvent.id);
    await shoot(page, "console-event.png");
  });

  await step(t, "the receiver fails: the failure, its stage and the open circuit show", page, async () => {
    rc.answer = { status: 503, body: "upstream is down", headers: { "Content-Type": "text/plain", "Retry-After": "1" } };
    failingEvent = await svc.api("POST", "/v1/events", { type: "batch.failed", data: { id: "batches/124" } });
    await page.goto(`${svc.baseURL}/console/events/${failingEvent.id}`);
    const delivery = page.getByTestId("delivery");
    await eventually(
      async () => {
        await page.getByRole("button", { name: "Refresh" }).click();
        assert.match(await delivery.innerText(), /\bfailed\b/);
      },
      20000,
      500,
    );
    assert.match(await delivery.innerText(), /503/);
    assert.match(await delivery.innerText(), /status/); // the error stage
    await page.getByRole("link", { name: "Overview" }).click();
    await eventually(
      async () => {
        await page.reload();
        assert.equal(await page.getByTestId("open-circuits").innerText(), "1");
      },
      10000,
      500,
    );
    assert.match(await page.getByTestId("destinations").innerText(), /open/);
    await shoot(page, "console-overview.png");
  });

  await step(t, "fix the receiver and retry from the console", page, async () => {
    rc.answer = { status: 204, body: "", headers: {} };
    await page.goto(`${svc.baseURL}/console/events/${failingEvent.id}`);
    await page.getByRole("button", { name: "Retry now" }).click();
    await page.getByText("Delivery retried").waitFor();
    const delivery = page.getByTestId("delivery");
    await eventually(
      async () => {
        await page.getByRole("button", { name: "Refresh" }).click();
        assert.match(await delivery.innerText(), /succeeded/);
      },
      20000,
      500,
    );
    assert.match(await delivery.innerText(), /204/);
  });

  await step(t, "the live tail shows attempts as they happen", page, async () => {
    await page.getByRole("link", { name: "Live tail" }).click();
    await eventually(async () => assert.match(await page.getByTestId("tail-status").innerText(), /live/));
    rc.answer = { status: 200, body: "ok", headers: {} };
    const ev = await svc.api("POST", "/v1/events", { type: "batch.succeeded", data: { id: "batches/125" } });
    await page.getByTestId("tail").getByText(ev.id).waitFor({ timeout: 15000 });
  });

  await step(t, "rotate the signing secret, revoking the old one now", page, async () => {
    await page.goto(`${svc.baseURL}/console/webhooks/${webhook.id}`);
    const before = webhook.signing_secrets[0].truncated_secret;
    await page.getByLabel("Revocation behavior").selectOption("revoke_previous_secrets_immediately");
    await page.getByRole("button", { name: "Rotate secret" }).click();
    const secret = await page.getByTestId("secret-value").innerText();
    assert.match(secret, /^whsec_/);
    const after = (await svc.api("GET", `/v1/webhooks/${webhook.id}`)).signing_secrets;
    assert.equal(after.length, 1, "the old secret is still live");
    assert.notEqual(after[0].truncated_secret, before);
    await page.getByText(after[0].truncated_secret).waitFor();
    await shoot(page, "console-webhook.png");
  });

  await step(t, "a <script> in a payload stays text", page, async () => {
    const payload = '<script>window.__pwned()</script><img src=x onerror="window.__pwned()">';
    const ev = await svc.api("POST", "/v1/events", { type: "batch.succeeded", data: { html: payload } });
    await page.goto(`${svc.baseURL}/console/events/${ev.id}`);
    await page.getByText("<script>window.__pwned()</script>", { exact: false }).first().waitFor();
    assert.equal(await page.locator("main script, main img").count(), 0, "the payload became markup");
    await page.waitForTimeout(300);
    assert.equal(pwned, false, "a script from a payload ran");
  });

  let current = page;
  await step(
    t,
    "a portal link shows its project only, and stops when it expires",
    () => current,
    async () => {
      // Another project, with a webhook of its own, by the admin API.
      await svc.api("POST", "/v1/projects", { name: "acme" }, ADMIN_KEY);
      const theirs = await svc.api(
        "POST",
        "/v1/projects/acme/webhooks",
        { uri: rc.url + "/acme", subscribed_events: ["batch.succeeded"] },
        ADMIN_KEY,
      );
      // The project's own key makes one in the console...
      await page.goto(`${svc.baseURL}/console/webhooks`);
      await page.getByLabel("Role").selectOption("view");
      await page.getByRole("button", { name: "Create portal link" }).click();
      assert.match(await page.getByTestId("secret-value").innerText(), /\/console\/#portal=wpl_/);
      // ...and a script with the API, here one that expires soon.
      const link = await svc.api("POST", "/v1/projects/default:createPortalLink", { role: "view", ttl: "20s" });
      assert.match(link.url, /#portal=wpl_/);

      const portal = await browser.newContext();
      const p = await portal.newPage();
      current = p;
      p.on("pageerror", (e) => problems.push(`portal page error: ${e.message}`));
      await p.goto(link.url);
      await p.getByRole("heading", { name: "Webhooks" }).waitFor();
      assert.ok(!p.url().includes("portal="), `the token stayed in the address bar: ${p.url()}`);
      await p.getByRole("link", { name: "orders" }).waitFor();
      assert.match(await p.getByTestId("who").innerText(), /view/);
      assert.equal(await p.getByRole("button", { name: "Create", exact: true }).count(), 0, "a viewer may create webhooks");
      // Another project's data is out of reach, by page and by API.
      await p.goto(`${svc.baseURL}/console/webhooks/${theirs.id}`);
      await p.getByText("Webhook not found").waitFor();
      const status = await p.evaluate(async () => (await fetch("/v1/projects/acme/webhooks")).status);
      assert.equal(status, 404);
      // After expiry, the session and the link are both refused.
      await new Promise((r) => setTimeout(r, Math.max(0, Date.parse(link.expire_time) - Date.now()) + 1000));
      await p.goto(`${svc.baseURL}/console/webhooks`);
      await p.getByRole("button", { name: "Sign in" }).waitFor();
      await p.goto(link.url);
      await p.getByText("The portal link has expired").waitFor();
      current = page;
      await portal.close();
    },
  );

  await step(t, "sign out", page, async () => {
    await page.goto(`${svc.baseURL}/console/overview`);
    await page.getByRole("button", { name: "Sign out" }).click();
    await page.getByRole("button", { name: "Sign in" }).waitFor();
    const status = await page.evaluate(async () => (await fetch("/v1/webhooks")).status);
    assert.equal(status, 401);
  });

  assert.deepEqual(problems, [], "the pages reported errors");
  await context.close();
});

test("the admin manages projects and keys", async (t) => {
  const context = await browser.newContext({ viewport: { width: 390, height: 844 } }); // a phone
  const page = await context.newPage();
  await step(t, "sign in with the admin key and create a project and a key", page, async () => {
    // With the keyboard alone: the key field has the focus, Enter signs in,
    // the first Tab reaches the skip link, and Enter on it moves to the page.
    await page.goto(svc.baseURL + "/console/");
    await page.waitForFunction(() => document.activeElement?.name === "api_key");
    await page.keyboard.type(ADMIN_KEY);
    await page.keyboard.press("Enter");
    await page.getByRole("heading", { name: "Overview" }).waitFor();
    await page.keyboard.press("Tab");
    assert.equal(await page.evaluate(() => document.activeElement.textContent), "Skip to content");
    await page.keyboard.press("Enter");
    assert.equal(await page.evaluate(() => document.activeElement.id), "main");
    await page.getByRole("link", { name: "Projects" }).click();
    await page.getByLabel("Name").fill("globex");
    await page.getByRole("button", { name: "Create", exact: true }).click();
    await page.getByRole("link", { name: "globex" }).click();
    await page.getByLabel("New key's name").fill("ci");
    await page.getByRole("button", { name: "Create key" }).click();
    const key = await page.getByTestId("secret-value").innerText();
    const res = await fetch(svc.baseURL + "/v1/webhooks", { headers: { "x-goog-api-key": key } });
    assert.equal(res.status, 200, "the new key does not work");
    await page.getByRole("button", { name: "Revoke" }).click();
    await page.getByRole("alertdialog").getByRole("button", { name: "Revoke" }).click();
    await page.getByText("API key revoked").waitFor();
    const keys = await svc.api("GET", "/v1/projects/globex/keys", undefined, ADMIN_KEY);
    assert.ok(keys.keys[0].revoke_time, "the key was not revoked");
    // Nothing is wider than the phone's screen but the tables that scroll.
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert.ok(overflow <= 0, `the page is ${overflow}px wider than the screen`);
  });
  await context.close();
});

void root;
