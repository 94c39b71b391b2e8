// Skriv / skicka in the browser: a wrong personnummer is refused with the reason `id check`
// gives (as typed, and again by the node when sent, with what was typed kept and nothing
// sent), and the document kinds the form offers each arrive at the unit they go to.
import { test, after, before } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import {
  launch, context, login, assertOwnOrigin, assertText, axe, screenshot, marker,
  ward, kommun, KOMMUN_UNIT,
} from "./lib.mjs";

let browser;
before(async () => { browser = await launch(); });
after(async () => { await browser?.close(); });

// What `reservnod id check` says of `id`: the same rules the form must apply.
function idCheck(id) {
  const bin = process.env.RESERVNOD_BIN;
  assert.ok(bin, "RESERVNOD_BIN is not set");
  let out;
  try {
    out = execFileSync(bin, ["id", "check", id], { encoding: "utf8" });
  } catch (e) {
    out = e.stdout;
  }
  const [typed, verdict, reason] = out.trim().split("\t");
  assert.equal(typed, id);
  assert.equal(verdict, "FEL", `${id} is not refused by id check: ${out}`);
  return reason;
}

async function sentCount(ctx, n) {
  const r = await ctx.request.get(`${n.url}/api/v1/inbox`);
  assert.equal(r.status(), 200);
  return (await r.json()).sent.length;
}

// Chooses the kind as a person does (the select, then "Byt typ").
async function openKind(page, n, kind) {
  await page.goto(`${n.url}/skriv`);
  await page.getByLabel("Dokumenttyp").selectOption(kind);
  await page.getByRole("button", { name: "Byt typ" }).click();
  await page.waitForURL(`${n.url}/skriv?typ=${kind}`);
}

// Fills the form's fields by their labels and sends; returns the new document's id.
async function send(page, n, kind, fields, { patient, to } = {}) {
  await openKind(page, n, kind);
  if (patient) {
    await page.getByLabel(/^Patient \(/).fill(patient);
  }
  for (const [label, value] of Object.entries(fields)) {
    await page.getByLabel(label, { exact: true }).fill(value);
  }
  if (to) {
    await page.getByLabel(/^Mottagare/).fill(to);
  }
  return sent(page, kind);
}

// Presses Skicka and waits for the sent document's page; returns its id, or fails with
// the form's refusal.
async function sent(page, what) {
  await page.getByRole("button", { name: "Skicka" }).click();
  await page.waitForURL(/\/dokument\/[0-9a-f]+\?skickat=1$/).catch(async (e) => {
    const err = await page.locator(".error-summary").innerText().catch(() => "");
    throw new Error(`${what} was not sent: ${err || e.message}`);
  });
  return new URL(page.url()).pathname.split("/").pop();
}

// The document has arrived in `page`'s Inkorg (which polls: no reload).
async function arrives(page, n, event) {
  if (!page.url().endsWith("/inkorg")) {
    await page.goto(`${n.url}/inkorg`);
  }
  await page.locator(`#live a[href="/dokument/${event}"]`).first().waitFor({ timeout: 30_000 });
}

test("a wrong personnummer is refused with its reason, as typed and when sent", async () => {
  const ctx = await context(browser);
  const page = await ctx.newPage();
  await login(page, ward);
  const before = await sentCount(ctx, ward);
  await openKind(page, ward, "admission");
  const wrong = "19121212-1213";
  const reason = idCheck(wrong);
  assert.match(reason, /kontrollsiffran/);

  const field = page.getByLabel(/^Patient \(/);
  await field.fill(wrong);
  // As typed: the reason beside the field, the field marked invalid.
  await assertText(page.locator("#patient-check"), reason);
  assert.equal(await field.getAttribute("aria-invalid"), "true");
  await page.getByLabel("Orsak till inskrivning", { exact: true }).fill("Lunginflammation");
  await page.getByLabel("Patientens kommun (kommunkod)", { exact: true }).fill("1080");
  await page.getByRole("button", { name: "Skicka" }).click();
  // Sent anyway: the node refuses it with the same reason, and keeps what was typed.
  await page.waitForURL(`${ward.url}/skriv`);
  await assertText(page.locator(".error-summary"), reason);
  assert.equal(await field.inputValue(), wrong);
  assert.equal(
    await page.getByLabel("Orsak till inskrivning", { exact: true }).inputValue(),
    "Lunginflammation",
  );
  await screenshot(page, "skriv-fel-personnummer");
  await axe(page, "Skriv with a refused personnummer");
  assert.equal(await sentCount(ctx, ward), before, "a refused document was sent");

  // An impossible date has its own reason.
  const date = "19121312-1212";
  await field.fill(date);
  await assertText(page.locator("#patient-check"), idCheck(date));
  assertOwnOrigin(ctx, ward);
  await ctx.close();
});

test("every kind the form offers arrives where it is sent", async () => {
  const wardCtx = await context(browser);
  const kommunCtx = await context(browser);
  const sara = await wardCtx.newPage();
  const kim = await kommunCtx.newPage();
  await login(sara, ward);
  await login(kim, kommun);
  const patient = "19901211-9948";

  // Admission: the recipient left empty, the roster's route for municipality 1080 is shown.
  await openKind(sara, ward, "admission");
  await sara.getByLabel(/^Patient \(/).fill(patient);
  await sara.getByLabel("Orsak till inskrivning", { exact: true }).fill("Hjärtsvikt, försämring");
  await sara.getByLabel("Patientens kommun (kommunkod)", { exact: true }).fill("1080");
  await sara.getByLabel("Förväntade behov (kommun, primärvård eller båda)", { exact: true })
    .fill("båda");
  await sara.getByLabel("Insatser före inskrivning (en per rad)", { exact: true }).fill("hemtjänst");
  await sara.getByRole("button", { name: "Visa mottagare" }).click();
  await assertText(sara.locator("#to-hint"), `Förslag: Karlskrona kommun hemsjukvård (${KOMMUN_UNIT})`);
  await screenshot(sara, "skriv-inskrivning-forslag");
  const admission = await sent(sara, "admission");
  await assertText(sara.locator(".facts"), "Hjärtsvikt, försämring");

  const ready = await send(sara, ward, "ready", { "Läkare": "Dr Lena Berg" }, { patient });
  const due = new Date(Date.now() + 7 * 86_400_000).toISOString().slice(0, 10);
  const goals = marker("Hem med hemsjukvård");
  const plan = await send(sara, ward, "plan", {
    "Slag av plan (utskrivningsplan, sip eller lpt)": "utskrivningsplan",
    "Mål": goals,
    "Insatser (en per rad: insats; ansvarig; senast ÅÅÅÅ-MM-DD)":
      `Hemsjukvård dagligen; Karlskrona kommun; ${due}`,
    "Uppföljning (ÅÅÅÅ-MM-DD, valfritt)": due,
  }, { patient });
  await assertText(sara.locator(".facts"), goals);
  const summary = marker("Inlagd för hjärtsvikt, diuretika justerade");
  const report = await send(sara, ward, "care_report", {
    "Orsak till inskrivning": "Hjärtsvikt",
    "Ansvarig läkare": "Dr Lena Berg",
    "Sammanfattning": summary,
    "Aktuellt hälsotillstånd": "Stabil",
    "Riskbedömningar": "Fallrisk",
    "Läkemedel (en per rad: namn; styrka; dos; ändring)": "Furosemid; 40 mg; 1x1; ökad",
  }, { patient });
  await screenshot(sara, "dokument-vardrapport");

  // Each reaches the municipality (the episode's unit: the admission's recipient).
  for (const event of [admission, ready, plan, report]) {
    await arrives(kim, kommun, event);
  }
  await screenshot(kim, "inkorg-kommun-alla-typer");
  await kim.goto(`${kommun.url}/dokument/${report}`);
  await assertText(kim.locator(".facts"), summary);
  await assertText(kim.locator(".facts"), "Furosemid 40 mg 1x1 (ändring: ökad)");
  await kim.goto(`${kommun.url}/dokument/${plan}`);
  await assertText(kim.locator(".facts"), goals);

  // The municipality answers with kommunklar and asks a question; the ward answers it.
  const kommunklar = await send(kim, kommun, "municipality_ready", {
    "Planerade insatser": "Hemsjukvård två gånger dagligen",
  }, { patient });
  const subject = marker("Fråga om läkemedel");
  const question = await send(kim, kommun, "message", {
    "Ämne (inga patientuppgifter)": subject,
    "Text": "Ska Furosemid ges på morgonen?",
  }, { patient });
  await arrives(sara, ward, kommunklar);
  await arrives(sara, ward, question);
  await sara.locator(`#live a[href="/dokument/${question}"]`).first().click();
  await sara.getByRole("link", { name: "Svara" }).click();
  await sara.waitForURL(`${ward.url}/skriv?typ=message&svar=${question}`);
  await assertText(sara.locator("form.card"), "Svar på ett meddelande.");
  assert.equal(await sara.getByLabel("Ämne (inga patientuppgifter)").inputValue(), `Sv: ${subject}`);
  const answerText = marker("Ja, på morgonen");
  await sara.getByLabel("Text", { exact: true }).fill(answerText);
  const answer = await sent(sara, "answer");
  // The answer is in the question's thread, and goes to the unit that asked.
  await assertText(sara.locator(".thread"), subject);
  await assertText(sara.locator(".facts"), "Karlskrona kommun hemsjukvård");
  await arrives(kim, kommun, answer);
  await kim.goto(`${kommun.url}/dokument/${answer}`);
  await assertText(kim.locator(".text"), answerText);
  await screenshot(kim, "dokument-svar");

  assertOwnOrigin(wardCtx, ward);
  assertOwnOrigin(kommunCtx, kommun);
  await wardCtx.close();
  await kommunCtx.close();
});
