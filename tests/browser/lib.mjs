// Shared by the browser scenarios: the demo's nodes from the environment (set by
// tests/browser.rs), Chromium, logging in, the origin check, axe and screenshots.
import { readFileSync, mkdirSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import assert from "node:assert/strict";
import { chromium } from "playwright-core";

function env(name) {
  const v = process.env[name];
  if (!v) {
    throw new Error(`${name} is not set: run these through \`cargo test --test browser\``);
  }
  return v;
}

function node(prefix, name, person, landing = "/inkorg") {
  return {
    name,
    person,
    landing,
    url: env(`RESERVNOD_${prefix}_URL`),
    login: env(`RESERVNOD_${prefix}_LOGIN`),
    password: env(`RESERVNOD_${prefix}_PASSWORD`),
  };
}

// The demo's three units and their staff (src/demo.rs).
export const ward = node("WARD", "Avd 12 Medicin", "Sara Sjöberg");
export const kommun = node("KOMMUN", "Karlskrona kommun", "Kim Karlsson");
export const vc = node("VC", "Vårdcentralen", "Erik Ek");
// The ward's unit admin and log reviewer (a reviewer's login lands on Logg).
export const wardAdmin = node("WARD_ADMIN", "Avd 12 Medicin", "Anna Andersson");
export const wardReviewer = node("WARD_REVIEWER", "Avd 12 Medicin", "Lena Lind", "/logg");
// The municipality's unit admin (declares the outage at Driftstörning).
export const kommunAdmin = node("KOMMUN_ADMIN", "Karlskrona kommun", "Maja Månsson");

export const KOMMUN_UNIT = "SE2120000837-HSV1";

const artifacts = process.env.RESERVNOD_ARTIFACTS || "../../target/browser-artifacts";
mkdirSync(artifacts, { recursive: true });

// Flags that work as root in a container, and keep Chromium from calling anywhere on its
// own (updates, sync, QUIC). Playwright gives every launch a new empty profile.
const FLAGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

export async function launch() {
  return chromium.launch({
    executablePath: process.env.RESERVNOD_CHROMIUM || "/usr/bin/chromium",
    headless: true,
    args: FLAGS,
    timeout: 60_000,
  });
}

// A new browser context (its own cookies: another person at another workstation) at the
// 1366x768 screen the issue names, recording every request any of its pages makes.
export async function context(browser, { javaScript = true } = {}) {
  const ctx = await browser.newContext({
    viewport: { width: 1366, height: 768 },
    javaScriptEnabled: javaScript,
    locale: "sv-SE",
  });
  ctx.setDefaultTimeout(20_000);
  ctx.requests = [];
  ctx.on("request", (r) => ctx.requests.push(r.url()));
  return ctx;
}

// Every request the context made went to the node's own origin.
export function assertOwnOrigin(ctx, n) {
  const origin = new URL(n.url).origin;
  assert.ok(ctx.requests.length > 0, "no request was recorded");
  const foreign = ctx.requests.filter((u) => new URL(u).origin !== origin);
  assert.deepEqual(foreign, [], `requests outside ${origin}`);
}

// Logs in with the password form as a person (or a password manager) fills it.
export async function login(page, n) {
  await page.goto(`${n.url}/logga-in`);
  const user = page.locator("input[name=username]");
  const pass = page.locator("input[name=password]");
  assert.equal(await user.getAttribute("autocomplete"), "username");
  assert.equal(await pass.getAttribute("autocomplete"), "current-password");
  assert.equal(await pass.getAttribute("type"), "password");
  await page.getByLabel("Användarnamn").fill(n.login);
  await page.getByLabel("Lösenord").fill(n.password);
  await page.getByRole("button", { name: "Logga in" }).click();
  await page.waitForURL(`${n.url}${n.landing}`);
  await assertText(page.locator("header .who"), n.person);
}

export async function assertText(locator, text, timeout = 20_000) {
  await locator.filter({ hasText: text }).first().waitFor({ state: "visible", timeout });
}

const require = createRequire(import.meta.url);
const axeSource = readFileSync(require.resolve("axe-core/axe.min.js"), "utf8");

// axe-core with the WCAG 2.0/2.1 A and AA rules; no violation allowed. It is evaluated
// through the DevTools protocol (the page's CSP forbids inline script, rightly).
export async function axe(page, what) {
  await page.evaluate(axeSource);
  const result = await page.evaluate(() =>
    // eslint-disable-next-line no-undef
    axe.run(document, {
      runOnly: { type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"] },
      resultTypes: ["violations"],
    }),
  );
  const violations = result.violations.map((v) => ({
    id: v.id,
    impact: v.impact,
    help: v.help,
    nodes: v.nodes.map((n) => `${n.target.join(" ")}: ${n.failureSummary}`),
  }));
  assert.deepEqual(violations, [], `axe violations on ${what} (${page.url()})`);
}

export async function screenshot(page, name) {
  await page.screenshot({ path: join(artifacts, `${name}.png`), fullPage: true });
}

// A unique marker per run, so a scenario finds its own message among the demo's.
export function marker(what) {
  return `${what} ${Date.now().toString(36)}${Math.floor(Math.random() * 1e6).toString(36)}`;
}
