// The end of the outage that a11y.test.mjs declared, run after every scenario that writes
// during it (tests/browser.rs runs this folder once the others passed, the demo still up):
// the ward shows the municipality's declaration on its pages; the municipality's unit
// admin ends it through the form; every page says it is over, at the municipality and, once
// the end has reached it, at the ward; a new document is refused beside the form; the
// re-entry list after the end (progress, a mark), and the admin's sign-off of what is left
// with its reason closes it. A new declaration then opens the nodes again for the scenarios
// in apart/, which write plans. axe on every new state.
import { test, after, before } from "node:test";
import assert from "node:assert/strict";
import {
  launch, context, login, assertOwnOrigin, assertText, axe, screenshot, marker,
  ward, kommun, kommunAdmin,
} from "../lib.mjs";

const WARD_UNIT = "SE2321000081-AVD12";
// Replication between the demo's nodes on loopback takes well under a second; the bound
// is for a loaded machine (each try reloads the page).
const TRIES = 60;

let browser;
before(async () => { browser = await launch(); });
after(async () => { await browser?.close(); });

async function heading(page, url, h1) {
  const r = await page.goto(url);
  assert.equal(r.status(), 200, `${url}: status`);
  await assertText(page.getByRole("heading", { level: 1 }), h1);
}

// Reloads `url` until the banner says `text` (it is part of each page, not polled).
async function untilBanner(page, url, text) {
  for (let i = 0; i < TRIES; i += 1) {
    await page.goto(url);
    const banner = await page.locator("#driftstorning-banderoll").innerText();
    if (banner.includes(text)) {
      return banner;
    }
    await page.waitForTimeout(500);
  }
  assert.fail(`the banner at ${url} never said "${text}"`);
}

test("the outage ended through the form, re-entry after it, its sign-off, and a new one", async () => {
  // The ward's staff see the municipality's declaration (every unit is in its scope).
  const wardCtx = await context(browser);
  const sara = await wardCtx.newPage();
  await login(sara, ward);
  const declared = await untilBanner(sara, `${ward.url}/inkorg`, "Driftstörning utlyst");
  assert.match(declared, /Maja Månsson/);
  await heading(sara, `${ward.url}/efterregistrering`, "Efterregistrering");
  await assertText(sara.locator("main"), "pågår");
  await axe(sara, "the ward's Efterregistrering during the outage");
  await screenshot(sara, "axe-efterregistrering-avdelning-utlyst");

  // The municipality's unit admin ends it.
  const adminCtx = await context(browser);
  const ap = await adminCtx.newPage();
  await login(ap, kommunAdmin);
  await heading(ap, `${kommunAdmin.url}/driftstopp`, "Driftstörning");
  await assertText(ap.getByRole("heading", { level: 2 }), "Avsluta driftstörningen");
  const note = marker("Övning slut, LINK uppe");
  await ap.getByLabel("Anteckning (valfri)").fill(note);
  await ap.getByRole("button", { name: "Avsluta driftstörningen" }).click();
  await ap.waitForURL(/\/driftstopp\?avslutad=1$/);
  await assertText(ap.getByRole("status"), "Driftstörningen är avslutad");
  await assertText(ap.locator("#driftstorning-banderoll"), "Driftstörningen är avslutad");
  await assertText(ap.locator("table.list"), note);
  // The declare form is back (a new outage can be declared), the end form gone.
  await assertText(ap.getByRole("heading", { level: 2 }), "Utlys en driftstörning");
  assert.equal(await ap.getByRole("button", { name: "Avsluta driftstörningen" }).count(), 0);
  await axe(ap, "Driftstörning ended");
  await screenshot(ap, "axe-driftstopp-avslutad");

  // The municipality's staff: the end on every page, and no new document.
  const kommunCtx = await context(browser);
  const kim = await kommunCtx.newPage();
  await login(kim, kommun);
  await assertText(kim.locator("#driftstorning-banderoll"), "Driftstörningen är avslutad");
  await heading(kim, `${kommun.url}/skriv`, "Skriv / skicka");
  await assertText(kim.locator("#driftstorning-banderoll"), "Driftstörningen är avslutad");
  const subject = marker("Efter slutet");
  await kim.getByLabel(/^Patient \(/).fill("19121212-1212");
  await kim.getByLabel("Ämne (inga patientuppgifter)").fill(subject);
  await kim.getByLabel("Text", { exact: true }).fill("Skrivs i LINK nu.");
  await kim.getByLabel(/^Mottagare/).fill(WARD_UNIT);
  await kim.getByRole("button", { name: "Skicka" }).click();
  await assertText(kim.locator(".error-summary"), "driftstörningen är avslutad");
  // What was typed is kept.
  assert.equal(await kim.getByLabel("Ämne (inga patientuppgifter)").inputValue(), subject);
  await axe(kim, "Skriv refused after the end");
  await screenshot(kim, "axe-skriv-efter-slutet");

  // Efterregistrering after the end: the outage ended, progress, a mark still taken.
  await heading(kim, `${kommun.url}/efterregistrering`, "Efterregistrering");
  await assertText(kim.locator("main"), "avslutad");
  const progress = async () => {
    const m = (await kim.locator("main strong").first().innerText()).match(/(\d+) klara, (\d+) kvar/);
    assert.ok(m, "the progress is shown");
    return [Number(m[1]), Number(m[2])];
  };
  const [done, left] = await progress();
  assert.ok(left > 0, "the scenarios wrote during the outage: items are left");
  await axe(kim, "Efterregistrering after the end");
  await screenshot(kim, "axe-efterregistrering-avslutad");
  const form = kim.locator(".reentry-item form").first();
  await form.getByLabel("LINK-referens (valfri)").fill("LINK-9");
  await form.getByRole("button", { name: "Markera" }).click();
  await kim.waitForURL(/markerat=1$/);
  await assertText(kim.locator(".notice"), "Markerat");
  assert.deepEqual(await progress(), [done + 1, left - 1]);

  // The admin signs off what is left, with a reason: closed for the unit.
  assert.ok(left > 1, "something is left to sign off");
  {
    await heading(ap, `${kommunAdmin.url}/efterregistrering`, "Efterregistrering");
    await assertText(ap.getByRole("heading", { level: 2 }), "Skriv av det som är kvar");
    await axe(ap, "Efterregistrering with the sign-off form");
    await ap.getByLabel("Skäl", { exact: true }).fill("Övning: resten registrerat från papper");
    await ap.getByRole("button", { name: "Skriv av resten" }).click();
    await ap.waitForURL(/avskrivet=1$/);
    await assertText(ap.locator(".notice"), "efterregistreringen är stängd");
    await assertText(ap.locator("main"), "resten avskriven, efterregistreringen är stängd");
    await assertText(ap.locator("main"), "Övning: resten registrerat från papper");
    assert.equal(await ap.getByRole("button", { name: "Skriv av resten" }).count(), 0);
    await axe(ap, "Efterregistrering signed off");
    await screenshot(ap, "axe-efterregistrering-avskriven");
  }

  // The end reaches the ward: its pages say so too.
  await untilBanner(sara, `${ward.url}/inkorg`, "Driftstörningen är avslutad");
  await heading(sara, `${ward.url}/driftstopp`, "Driftstörning");
  await assertText(sara.locator("table.list"), note);
  await axe(sara, "the ward's Driftstörning after the end");

  // A new declaration opens the nodes again (apart/ writes plans), and reaches the ward.
  await heading(ap, `${kommunAdmin.url}/driftstopp`, "Driftstörning");
  await ap.getByLabel("Vad är nere (skäl)").fill("Övning 2: LINK nere igen");
  await ap.getByRole("button", { name: "Utlys driftstörning" }).click();
  await ap.waitForURL(/\/driftstopp\?utlyst=1$/);
  await assertText(ap.locator("#driftstorning-banderoll"), "Övning 2: LINK nere igen");
  await untilBanner(sara, `${ward.url}/inkorg`, "Övning 2: LINK nere igen");

  assertOwnOrigin(wardCtx, ward);
  assertOwnOrigin(adminCtx, kommunAdmin);
  assertOwnOrigin(kommunCtx, kommun);
  await wardCtx.close();
  await adminCtx.close();
  await kommunCtx.close();
});
