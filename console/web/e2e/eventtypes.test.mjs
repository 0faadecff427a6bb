// Event types in the console: the catalog, the operator's and the
// project's own types, each with its origin, its schema and its
// deprecation, as GET /v1/eventTypes lists them.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startWebhookd, launchBrowser, step, API_KEY } from "./harness.mjs";

let svc, browser;

before(async () => {
  svc = await startWebhookd({ WEBHOOKD_EVENT_TYPES: "legacy.thing" });
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await svc?.stop();
});

test("the event types page lists every type, the project's marked", async (t) => {
  const context = await browser.newContext();
  const page = await context.newPage();
  const problems = [];
  page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
  await svc.api("POST", "/v1/eventTypes", {
    name: "order.shipped",
    description: "An order left the warehouse.",
    schema: { type: "object", required: ["order_id"] },
  });
  await svc.api("POST", "/v1/eventTypes", { name: "order.paid" });
  await svc.api("POST", "/v1/eventTypes/order.paid:deprecate");

  await step(t, "sign in and open Event types", page, async () => {
    await page.goto(svc.baseURL + "/console/");
    await page.getByLabel("API key").fill(API_KEY);
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.getByRole("heading", { name: "Overview" }).waitFor();
    await page.getByRole("link", { name: "Event types" }).click();
    await page.getByRole("heading", { name: "Event types" }).waitFor();
  });

  await step(t, "every type is listed with its origin, schema and deprecation", page, async () => {
    const rows = page.getByTestId("event-types").locator("tbody tr");
    await rows.first().waitFor();
    const text = await page.getByTestId("event-types").innerText();
    for (const name of ["batch.succeeded", "video.generated", "legacy.thing", "order.shipped", "order.paid"]) {
      assert.ok(text.includes(name), `${name} is not listed:\n${text}`);
    }
    const shipped = rows.filter({ hasText: "order.shipped" });
    assert.match(await shipped.innerText(), /api[\s\S]*An order left the warehouse\.[\s\S]*"order_id"/);
    assert.equal(await shipped.getAttribute("data-deprecated"), null);
    const paid = rows.filter({ hasText: "order.paid" });
    assert.equal(await paid.getAttribute("data-deprecated"), "true");
    assert.match(await paid.innerText(), /deprecated/);
    assert.match(await rows.filter({ hasText: "legacy.thing" }).innerText(), /config/);
    assert.match(await rows.filter({ hasText: "batch.succeeded" }).innerText(), /builtin/);
    assert.deepEqual(problems, []);
  });
  await context.close();
});
