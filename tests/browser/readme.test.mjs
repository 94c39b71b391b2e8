// README's "The round trip in two browser tabs", step by step as written: one browser (one
// cookie jar), two tabs, the ward's and the municipality's. Keep the two in step.
import { test, after, before } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import {
  launch, context, assertText, marker, screenshot,
  ward, kommun,
} from "./lib.mjs";

let browser;
before(async () => { browser = await launch(); });
after(async () => { await browser?.close(); });

async function logIn(tab, n) {
  await tab.goto(`${n.url}/`);
  await tab.getByLabel("Användarnamn").fill(n.login);
  await tab.getByLabel("Lösenord").fill(n.password);
  await tab.getByRole("button", { name: "Logga in" }).click();
  await tab.getByRole("heading", { name: "Inkorg", level: 1 }).waitFor();
}

test("README: the round trip in two tabs of one browser", async () => {
  const readme = readFileSync(new URL("../../README.md", import.meta.url), "utf8");
  for (const step of ["**Tab 1, the ward.**", "**Tab 2, the municipality.**", "**Kvittera**",
    "SE2120000837-HSV1", "läst av Kim Karlsson"]) {
    assert.ok(readme.includes(step), `README no longer says ${step}`);
  }
  const ctx = await context(browser);
  const tab1 = await ctx.newPage();
  const subject = marker("Recept");

  // 1. The ward.
  await logIn(tab1, ward);
  // 2. Write.
  await tab1.getByRole("link", { name: "Skriv / skicka" }).click();
  assert.equal(await tab1.getByLabel("Dokumenttyp").inputValue(), "message");
  await tab1.getByLabel(/^Patient \(/).fill("19121212-1212");
  await assertText(tab1.locator("#patient-check"), "Giltigt personnummer");
  await tab1.getByLabel("Ämne (inga patientuppgifter)").fill(subject);
  await tab1.getByLabel("Receptförnyelse").check();
  await tab1.getByRole("button", { name: "Visa mottagare" }).click();
  await assertText(tab1.locator("#to-hint"), "SE2120000837-HSV1");
  await tab1.getByLabel(/^Mottagare/).fill("SE2120000837-HSV1");
  await tab1.getByRole("button", { name: "Skicka" }).click();
  await assertText(tab1.getByRole("status"), "Skickat.");
  await tab1.getByRole("link", { name: "Inkorg" }).click();
  const sent = tab1.locator("#live tr").filter({ hasText: subject });
  await assertText(sent, "Karlskrona kommun hemsjukvård: levererad", 30_000);

  // 3. The municipality, in a second tab of the same browser.
  const tab2 = await ctx.newPage();
  await logIn(tab2, kommun);
  const row = tab2.locator("#live tr").filter({ hasText: subject });
  await row.waitFor({ timeout: 30_000 });
  assert.match(await row.innerText(), /Oläst/);
  await row.getByRole("link", { name: subject }).click();
  await tab2.getByRole("button", { name: "Kvittera" }).click();
  await assertText(tab2.getByRole("status"), "Kvitterat.");

  // 4. Back in tab 1, never reloaded; its session still alive beside tab 2's.
  await tab1.bringToFront();
  await assertText(sent.locator(".state-read"), "läst av Kim Karlsson", 30_000);
  assert.ok(tab1.url().endsWith("/inkorg"));
  await screenshot(tab1, "readme-tab1-last");
  await tab1.getByRole("link", { name: "Skriv / skicka" }).click();
  await tab1.getByRole("heading", { name: "Skriv / skicka" }).waitFor();

  for (const r of ctx.requests) {
    const origin = new URL(r).origin;
    assert.ok(origin === new URL(ward.url).origin || origin === new URL(kommun.url).origin, r);
  }
  await ctx.close();
});
