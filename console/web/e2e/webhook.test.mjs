// A webhook's life in the console: edit, ping, fail until webhookd disables
// it, re-enable it and recover its failed deliveries, then delete it after a
// confirmation; and the operations page. Its own server disables a webhook
// after a second of failures.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startWebhookd, startReceiver, launchBrowser, step, eventually, API_KEY } from "./harness.mjs";

let svc, rc, browser;

before(async () => {
  svc = await startWebhookd({ WEBHOOKD_DISABLE_AFTER: "1s", WEBHOOKD_SIM_JOB_DURATION: "500ms" });
  rc = await startReceiver();
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await rc?.close();
  await svc?.stop();
});

test("a webhook's life: edit, ping, disabled by failures, recovered, deleted", async (t) => {
  const context = await browser.newContext();
  const page = await context.newPage();
  const wh = await svc.api("POST", "/v1/webhooks", { name: "billing", uri: rc.url, subscribed_events: ["batch.succeeded"] });

  await step(t, "sign in and edit the webhook", page, async () => {
    await page.goto(svc.baseURL + "/console/");
    await page.getByLabel("API key").fill(API_KEY);
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.getByRole("heading", { name: "Overview" }).waitFor();
    await page.goto(`${svc.baseURL}/console/webhooks/${wh.id}`);
    const edit = page.locator("form", { has: page.getByRole("heading", { name: "Edit" }) });
    await edit.getByLabel("Name").fill("billing-v2");
    await edit.getByRole("button", { name: "Save" }).click();
    await page.getByRole("heading", { name: /billing-v2/ }).waitFor();
    assert.equal((await svc.api("GET", `/v1/webhooks/${wh.id}`)).name, "billing-v2");
  });

  await step(t, "ping it", page, async () => {
    await page.getByRole("button", { name: "Ping" }).click();
    await page.getByText("Ping sent").waitFor();
    await eventually(() =>
      assert.ok(
        rc.received.some((r) => JSON.parse(r.body).type === "webhook.ping"),
        "no ping arrived",
      ),
    );
  });

  let failed;
  await step(t, "a receiver failing for longer than WEBHOOKD_DISABLE_AFTER gets the webhook disabled", page, async () => {
    rc.answer = { status: 500, body: "boom", headers: {} };
    failed = await svc.api("POST", "/v1/events", { type: "batch.succeeded", data: { id: "batches/9" } });
    await eventually(
      async () => {
        assert.equal((await svc.api("GET", `/v1/webhooks/${wh.id}`)).state, "disabled_due_to_failed_deliveries");
        const ds = await svc.api("GET", `/v1/webhooks/${wh.id}/deliveries?state=failed`);
        assert.ok(
          ds.deliveries.some((d) => d.event_id === failed.id),
          "the delivery has not failed yet",
        );
      },
      30000,
      500,
    );
    await page.reload();
    await page.getByText("disabled due to failed deliveries").first().waitFor();
    await page.getByLabel("State").selectOption("failed");
    await page.getByTestId("deliveries").getByText(failed.id).waitFor();
  });

  await step(t, "re-enable it and recover its failed deliveries", page, async () => {
    rc.answer = { status: 200, body: "ok", headers: {} };
    await page.getByRole("button", { name: "Re-enable and recover" }).click();
    await page.getByText("Webhook re-enabled").waitFor();
    await page
      .getByRole("heading", { name: /billing-v2/ })
      .getByText("enabled")
      .waitFor();
    await eventually(
      async () => {
        const ds = await svc.api("GET", `/v1/events/${failed.id}/deliveries`);
        assert.equal(ds.deliveries[0].state, "succeeded");
      },
      20000,
      500,
    );
  });

  await step(t, "delete it, after a confirmation", page, async () => {
    await page.getByRole("button", { name: "Delete" }).click();
    const dialog = page.getByRole("alertdialog");
    await dialog.getByRole("button", { name: "Cancel" }).click();
    assert.equal((await svc.api("GET", "/v1/webhooks")).webhooks.length, 1);
    await page.getByRole("button", { name: "Delete" }).click();
    await page.getByRole("alertdialog").getByRole("button", { name: "Delete" }).click();
    await page.getByRole("heading", { name: "Webhooks" }).waitFor();
    assert.equal((await svc.api("GET", "/v1/webhooks")).webhooks.length, 0);
  });

  await step(t, "the operations page lists jobs and their state", page, async () => {
    const op = await svc.api("POST", "/v1/interactions", { model: "gemini-2.5-flash", input: "hello", background: true });
    await page.getByRole("link", { name: "Operations" }).click();
    await page.getByTestId("operations").getByText(`interactions/${op.id}`, { exact: true }).waitFor();
  });

  await context.close();
});
