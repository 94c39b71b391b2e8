// The whole round trip with JavaScript off in both browsers: the forms alone must do it
// (log in, Skriv with a phrase template, Kvittera), and a reload shows what changed.
import { test, after, before } from "node:test";
import assert from "node:assert/strict";
import {
  launch, context, login, assertOwnOrigin, assertText, screenshot, marker,
  ward, kommun, KOMMUN_UNIT,
} from "./lib.mjs";

let browser;
before(async () => { browser = await launch(); });
after(async () => { await browser?.close(); });

// Without the script nothing updates by itself: reload until `locator` shows (bounded).
async function reloadUntil(page, locator, what) {
  for (let i = 0; i < 60; i += 1) {
    if ((await locator.count()) > 0) {
      return;
    }
    await page.waitForTimeout(500);
    await page.reload();
  }
  assert.fail(`not shown after 60 reloads: ${what}`);
}

test("the round trip with JavaScript disabled", async () => {
  const wardCtx = await context(browser, { javaScript: false });
  const kommunCtx = await context(browser, { javaScript: false });
  const sara = await wardCtx.newPage();
  const kim = await kommunCtx.newPage();
  const subject = marker("Hembesök");

  await login(sara, ward);
  // The page says how to see news without the script.
  // (Read as rendered text: Playwright's text matching leaves <noscript> out.)
  assert.match(await sara.locator("main").innerText(), /Ladda om sidan för att se nya meddelanden/);
  await sara.getByRole("link", { name: "Skriv / skicka" }).click();
  // The id is not checked as typed without the script; the node checks it when sent.
  await sara.getByLabel(/^Patient \(/).fill("20001209-9892");
  await sara.getByLabel("Ämne (inga patientuppgifter)").fill(subject);
  await sara.getByLabel("Hembesök").check();
  await sara.getByLabel(/^Mottagare/).fill(KOMMUN_UNIT);
  await sara.getByRole("button", { name: "Skicka" }).click();
  await assertText(sara.locator(".error-summary"), "kontrollsiffran stämmer inte");
  // Corrected and sent; the phrase still checked, the subject kept.
  assert.equal(await sara.getByLabel("Hembesök").isChecked(), true);
  assert.equal(await sara.getByLabel("Ämne (inga patientuppgifter)").inputValue(), subject);
  await sara.getByLabel(/^Patient \(/).fill("20001209-9891");
  await sara.getByRole("button", { name: "Skicka" }).click();
  await sara.waitForURL(/\/dokument\/[0-9a-f]+\?skickat=1$/);
  await assertText(sara.locator(".text"), "Vi ber om ett hembesök av distriktssköterska");
  const event = new URL(sara.url()).pathname.split("/").pop();

  await login(kim, kommun);
  const link = kim.locator(`#live a[href="/dokument/${event}"]`);
  await reloadUntil(kim, link, "the message at the municipality");
  await link.click();
  await kim.getByRole("button", { name: "Kvittera" }).click();
  await kim.waitForURL(`${kommun.url}/dokument/${event}?kvitterat=1`);
  await assertText(kim.locator("main"), "läst av Kim Karlsson");
  await screenshot(kim, "utan-javascript-kvitterat");

  await sara.goto(`${ward.url}/inkorg`);
  const read = sara.locator("#live tr").filter({ hasText: subject })
    .locator(".state-read", { hasText: "läst av Kim Karlsson" });
  await reloadUntil(sara, read, "läst av Kim Karlsson at the ward");
  await screenshot(sara, "utan-javascript-inkorg");

  // Logging out is a form too, and ends the session.
  await sara.getByRole("button", { name: "Logga ut" }).click();
  await sara.waitForURL(`${ward.url}/logga-in?utloggad=1`);
  await sara.goto(`${ward.url}/inkorg`);
  await sara.waitForURL(/\/logga-in/);

  assertOwnOrigin(wardCtx, ward);
  assertOwnOrigin(kommunCtx, kommun);
  await wardCtx.close();
  await kommunCtx.close();
});
