// The demo's round trip in two browser contexts, as two people at two workstations: Sara at
// the ward sends a message with a phrase template, Kim at the municipality sees it in
// Inkorg, opens it and acknowledges it, and Sara's inbox shows "läst av Kim Karlsson"
// without a reload. No request leaves either node's origin.
import { test, after, before } from "node:test";
import assert from "node:assert/strict";
import {
  launch, context, login, assertOwnOrigin, assertText, screenshot, marker,
  ward, kommun, KOMMUN_UNIT,
} from "./lib.mjs";

let browser;
before(async () => { browser = await launch(); });
after(async () => { await browser?.close(); });

test("ward to municipality and back, the inbox updating itself", async () => {
  const wardCtx = await context(browser);
  const kommunCtx = await context(browser);
  const sara = await wardCtx.newPage();
  const kim = await kommunCtx.newPage();
  const subject = marker("Recept");

  await login(sara, ward);
  await screenshot(sara, "inkorg-avdelning");

  // Skriv: a message to the municipality with the phrase template "Receptförnyelse".
  await sara.getByRole("link", { name: "Skriv / skicka" }).click();
  await sara.waitForURL(`${ward.url}/skriv`);
  await sara.getByLabel("Patient (personnummer, samordningsnummer eller reservnummer) – valfritt")
    .fill("19121212-1212");
  // The id is checked as typed (the script asks the node).
  await assertText(sara.locator("#patient-check"), "Giltigt");
  await sara.getByLabel("Ämne (inga patientuppgifter)").fill(subject);
  await sara.getByLabel("Receptförnyelse").check();
  await sara.getByLabel("Text", { exact: true }).fill("Gäller Waran och Alvedon.");
  await sara.getByLabel("Slag", { exact: true }).selectOption("prescription");
  await sara.getByLabel(/^Mottagare/).fill(KOMMUN_UNIT);
  await screenshot(sara, "skriv-meddelande");
  await sara.getByRole("button", { name: "Skicka" }).click();
  await sara.waitForURL(/\/dokument\/[0-9a-f]+\?skickat=1$/);
  // The phrase's text opens the message, the typed text follows; the author is Sara.
  const text = sara.locator(".text");
  await assertText(text, "Vi ber om förnyelse av recept enligt läkemedelslistan.");
  await assertText(text, "Gäller Waran och Alvedon.");
  await assertText(sara.locator(".facts"), "Sara Sjöberg");
  await screenshot(sara, "dokument-skickat");
  const event = new URL(sara.url()).pathname.split("/").pop();

  // Sara's inbox: the message is waiting or delivered, not read.
  await sara.getByRole("link", { name: "Inkorg" }).click();
  await sara.waitForURL(`${ward.url}/inkorg`);
  const sentRow = sara.locator("#live tr").filter({ hasText: subject });
  await sentRow.waitFor();
  assert.doesNotMatch(await sentRow.innerText(), /läst av/);

  // Kim logs in at the municipality's node and finds it in Inkorg, unread.
  await login(kim, kommun);
  const row = kim.locator("#live tr").filter({ hasText: subject });
  // It comes over the nodes' mesh; the inbox polls, so no reload is needed here either.
  await row.waitFor({ timeout: 30_000 });
  assert.match(await row.innerText(), /Oläst/);
  assert.match(await row.innerText(), /Sara Sjöberg/);
  await screenshot(kim, "inkorg-kommun");
  await row.getByRole("link", { name: subject }).click();
  await kim.waitForURL(`${kommun.url}/dokument/${event}`);
  await assertText(kim.locator(".text"), "Vi ber om förnyelse av recept");
  // Opening did not mark it read: only Kvittera does.
  await kim.getByRole("button", { name: "Kvittera" }).waitFor();
  await screenshot(kim, "dokument-kommun");
  await kim.getByRole("button", { name: "Kvittera" }).click();
  await kim.waitForURL(`${kommun.url}/dokument/${event}?kvitterat=1`);
  await assertText(kim.locator(".state-read, .notice"), "Kim Karlsson");
  assert.equal(await kim.getByRole("button", { name: "Kvittera" }).count(), 0);

  // Sara's page was never reloaded: count navigations from here on.
  let navigations = 0;
  sara.on("framenavigated", (f) => { if (f === sara.mainFrame()) navigations += 1; });
  await assertText(sentRow.locator(".state-read"), "läst av Kim Karlsson", 30_000);
  assert.equal(navigations, 0, "the ward's inbox was reloaded");
  await assertText(sara.locator("#live-status"), "Inkorgen har uppdaterats.");
  await screenshot(sara, "inkorg-avdelning-last");

  assertOwnOrigin(wardCtx, ward);
  assertOwnOrigin(kommunCtx, kommun);
  await wardCtx.close();
  await kommunCtx.close();
});
