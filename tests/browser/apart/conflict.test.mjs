// A plan edited on two nodes apart: the demo's ward and municipality nodes run as
// `reservnod run` processes (the demo itself stopped), first linked, then with no link to
// each other (their configs without static_peers), then linked again. Each side edits the
// plan while apart; once linked, both show the conflict with the versions side by side, and
// a resolving version written in the ward's Patient page form clears it at the
// municipality too.
import { test, after, before } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { once } from "node:events";
import { readFileSync, writeFileSync, openSync, closeSync } from "node:fs";
import { join } from "node:path";
import {
  launch, context, login, assertOwnOrigin, assertText, axe, screenshot, marker,
  ward, kommun,
} from "../lib.mjs";

const dir = process.env.RESERVNOD_DEMO_DIR;
const bin = process.env.RESERVNOD_BIN;
const PATIENT = "19121212-1212";
const running = new Set();

let browser;
before(async () => { browser = await launch(); });
after(async () => {
  await browser?.close();
  for (const child of running) {
    await stop(child);
  }
});

// The demo's config of `name`; apart: a copy without its links to the other nodes.
function config(name, apart) {
  const path = join(dir, `${name}.toml`);
  if (!apart) {
    return path;
  }
  const text = readFileSync(path, "utf8");
  const alone = text.replace(/^static_peers = \[.*\]$/m, "static_peers = []");
  assert.notEqual(alone, text, `no static_peers line in ${path}`);
  const copy = join(dir, `${name}-apart.toml`);
  writeFileSync(copy, alone);
  return copy;
}

// Starts the node and waits (bounded) until its web interface answers.
async function start(name, n, apart) {
  const log = openSync(join(dir, `${name}-run.log`), "a");
  const child = spawn(bin, ["run", "--config", config(name, apart)], {
    stdio: ["ignore", log, log],
  });
  closeSync(log);
  running.add(child);
  for (let i = 0; i < 150; i += 1) {
    if (child.exitCode !== null) {
      throw new Error(`${name} stopped (${child.exitCode}): ${readFileSync(join(dir, `${name}-run.log`), "utf8")}`);
    }
    try {
      const r = await fetch(`${n.url}/logga-in`);
      if (r.ok) {
        return child;
      }
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`${name} did not answer within 30 s`);
}

// SIGTERM, as systemd stops it; it must stop cleanly within 30 s.
async function stop(child) {
  if (child.exitCode === null) {
    const exited = once(child, "exit");
    child.kill("SIGTERM");
    const timer = setTimeout(() => child.kill("SIGKILL"), 30_000);
    await exited;
    clearTimeout(timer);
    assert.equal(child.exitCode, 0, "a node did not stop cleanly");
  }
  running.delete(child);
}

// A new version of the plan from this page's session, through the API as the page's own
// script would call it (the session cookie, its CSRF token, the page's Origin).
async function editPlan(page, plan, body) {
  const answer = await page.evaluate(async ({ plan, body }) => {
    const csrf = document.body.getAttribute("data-csrf");
    const r = await fetch(`/api/v1/plans/${plan}/versions`, {
      method: "POST",
      headers: { "content-type": "application/json", "x-csrf-token": csrf },
      body: JSON.stringify(body),
    });
    return { status: r.status, text: await r.text() };
  }, { plan, body });
  assert.equal(answer.status, 200, answer.text);
  return JSON.parse(answer.text);
}

// The patient's page shows the plan, in conflict or not; reloads, bounded.
async function patientShows(page, n, conflict, what) {
  for (let i = 0; i < 60; i += 1) {
    await page.goto(`${n.url}/patient?id=${PATIENT}`);
    // The plan's line on the page (this scenario's is the patient's only SIP).
    const lines = (await page.locator("main").innerText()).split("\n");
    const line = lines.find((l) => l.startsWith("Plan SIP:"));
    if (line && /konflikt/.test(line) === conflict) {
      return;
    }
    await page.waitForTimeout(500);
  }
  assert.fail(`${what}: not shown after 60 reloads`);
}

test("a plan edited on two nodes apart shows a conflict until it is resolved", async () => {
  // Linked: the ward writes a plan, the municipality has it.
  let w = await start("avdelning", ward, false);
  let k = await start("kommun", kommun, false);
  let wardCtx = await context(browser);
  let kommunCtx = await context(browser);
  let sara = await wardCtx.newPage();
  let kim = await kommunCtx.newPage();
  await login(sara, ward);
  await login(kim, kommun);
  await sara.goto(`${ward.url}/skriv?typ=plan`);
  await sara.getByLabel(/^Patient \(/).fill(PATIENT);
  await sara.getByLabel("Slag av plan (utskrivningsplan, sip eller lpt)", { exact: true }).fill("sip");
  await sara.getByLabel("Mål", { exact: true }).fill(marker("Hem till eget boende"));
  await sara.getByLabel(/^Mottagare/).fill("SE2120000837-HSV1");
  await sara.getByRole("button", { name: "Skicka" }).click();
  await sara.waitForURL(/\/dokument\/[0-9a-f]+\?skickat=1$/);
  const event = new URL(sara.url()).pathname.split("/").pop();
  const shown = await (await wardCtx.request.get(`${ward.url}/api/v1/events/${event}`)).json();
  const plan = shown.item.plan;
  assert.ok(plan, `no plan id: ${JSON.stringify(shown.item)}`);
  await kim.locator(`#live a[href="/dokument/${event}"]`).first().waitFor({ timeout: 30_000 });
  await patientShows(kim, kommun, false, "the plan without conflict");
  await stop(w);
  await stop(k);
  assertOwnOrigin(wardCtx, ward);
  assertOwnOrigin(kommunCtx, kommun);
  await wardCtx.close();
  await kommunCtx.close();

  // Apart: each side writes its own next version of the same plan.
  w = await start("avdelning", ward, true);
  k = await start("kommun", kommun, true);
  wardCtx = await context(browser);
  kommunCtx = await context(browser);
  sara = await wardCtx.newPage();
  kim = await kommunCtx.newPage();
  await login(sara, ward);
  await login(kim, kommun);
  const wardGoals = marker("Avdelningen: hem med hemsjukvård");
  const kommunGoals = marker("Kommunen: korttidsboende först");
  const wardVersion = await editPlan(sara, plan, { patch: { goals: wardGoals } });
  assert.ok(wardVersion.event, JSON.stringify(wardVersion));
  await editPlan(kim, plan, { patch: { goals: kommunGoals } });
  await patientShows(sara, ward, false, "no conflict while apart at the ward");
  await stop(w);
  await stop(k);
  await wardCtx.close();
  await kommunCtx.close();

  // Linked again: both versions reach both nodes, and both show the conflict.
  w = await start("avdelning", ward, false);
  k = await start("kommun", kommun, false);
  wardCtx = await context(browser);
  kommunCtx = await context(browser);
  sara = await wardCtx.newPage();
  kim = await kommunCtx.newPage();
  await login(sara, ward);
  await login(kim, kommun);
  await patientShows(kim, kommun, true, "the conflict at the municipality");
  await patientShows(sara, ward, true, "the conflict at the ward");
  await screenshot(sara, "patient-konflikt");
  await axe(sara, "Patient with a plan in conflict");

  // The two versions side by side, the differing field marked in words.
  const box = sara.locator(`#plan-${plan}`);
  const table = box.locator("table.side-by-side");
  await assertText(table, wardGoals);
  await assertText(table, kommunGoals);
  await assertText(table.locator("tr.differs th"), "skiljer sig");

  // Sara resolves it in the form under the versions, as typed (JavaScript or not, it is a
  // plain form); the municipality sees it resolved.
  const goals = box.getByLabel("Mål", { exact: true });
  await goals.fill(`${wardGoals}; ${kommunGoals}`);
  await box.getByRole("button", { name: "Spara versionen som löser konflikten" }).click();
  await sara.waitForURL(/\/patient\?id=.*&lost=/);
  await assertText(sara.locator(".notice"), "Konflikten är löst");
  await patientShows(sara, ward, false, "the conflict resolved at the ward");
  await patientShows(kim, kommun, false, "the conflict resolved at the municipality");
  const current = await (await kommunCtx.request.get(`${kommun.url}/api/v1/plans/${plan}`)).text();
  assert.ok(current.includes(`${wardGoals}; ${kommunGoals}`), `the resolving version: ${current}`);
  await screenshot(kim, "patient-konflikt-lost");

  // The resolving version's document at the municipality: its receipts as a timeline
  // (delivered here, to which node; not yet read), axe there too.
  await kim.goto(`${kommun.url}/patient?id=${PATIENT}`);
  await kim.locator(`#plan-${plan} details summary`).click();
  await kim.locator(`#plan-${plan} ol.history a`).last().click();
  await kim.waitForURL(/\/dokument\/[0-9a-f]+$/);
  await assertText(kim.locator(".timeline"), "till noden");
  await axe(kim, "Dokument with its receipt timeline");
  await screenshot(kim, "dokument-tidslinje");
  assertOwnOrigin(wardCtx, ward);
  assertOwnOrigin(kommunCtx, kommun);
  await wardCtx.close();
  await kommunCtx.close();
  await stop(w);
  await stop(k);
});
