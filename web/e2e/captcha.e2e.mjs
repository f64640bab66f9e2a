// End-to-end test of the registration's and the login's captcha in headless Debian Chromium, against an
// instance with the captcha on (started by web/e2e_test.go, TestCaptchaInTheBrowser; WG_URL).
//
// The widget is not part of the first load; it comes when the registration form opens, runs
// under the page's Content-Security-Policy (its stylesheet and worker are files of ours, no
// inline style, no blob: worker: any refusal shows in the console and fails the test), speaks
// German, passes axe-core with the form, and its solution is what the registration sends: Lea ticks the box and registers;
// Max registers without ticking it (the form solves it when sent). On failure: a screenshot in
// WG_ARTIFACTS, and exit code 1.
import { mkdirSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import { chromium } from "playwright-core";
import { patience } from "./patience.mjs";

const base = process.env.WG_URL;
if (!base) {
  console.error("e2e: WG_URL is not set");
  process.exit(2);
}
const artifacts = process.env.WG_ARTIFACTS || join(process.cwd(), "e2e", "artifacts", String(Date.now()));
const runID = Math.random().toString(36).slice(2, 8);
const started = Date.now();
const step = (msg) => console.log(`[${((Date.now() - started) / 1000).toFixed(1)}s] ${msg}`);
const check = (cond, msg) => {
  if (!cond) throw new Error("check failed: " + msg);
};

const browser = await chromium.launch({
  executablePath: process.env.WG_CHROMIUM || "/usr/bin/chromium",
  headless: true,
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
const problems = [];
let page;
const requested = [];
try {
  const ctx = await browser.newContext({ baseURL: base, locale: "de-DE", viewport: { width: 1280, height: 900 } });
  page = await ctx.newPage();
  page.setDefaultTimeout(patience);
  page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
  page.on("console", (m) => {
    if (m.type() === "error" && !/401|Failed to load resource/.test(m.text())) problems.push(`console: ${m.text()}`);
  });
  page.on("request", (r) => requested.push(new URL(r.url()).pathname));

  await page.goto("/");
  await page.waitForSelector("html[data-ready='1']");
  await page.getByRole("dialog", { name: "Willkommen im Weltgewebe" }).waitFor();
  await page.getByRole("button", { name: "Weiter" }).click();
  await page.getByRole("button", { name: "Überspringen" }).click();
  check(!requested.some((p) => p.startsWith("/assets/captcha-") || p === "/api/captcha"), "the captcha was loaded with the map: " + requested.join(" "));

  // Accessibility of the form with the widget in it: serious and critical findings fail.
  const axeSource = readFileSync(createRequire(import.meta.url).resolve("axe-core/axe.min.js"), "utf8");
  let checkedA11y = false;
  async function a11y() {
    await page.evaluate(axeSource);
    const found = await page.evaluate(() => axe.run(document, { resultTypes: ["violations"] }).then((r) => r.violations));
    const bad = found.filter((v) => v.impact === "serious" || v.impact === "critical");
    check(bad.length === 0, "accessibility of the registration with the captcha: " + bad.map((v) => `${v.id}: ${v.help} at ${v.nodes.map((n) => n.target.join(" ")).slice(0, 3).join(", ")}`).join("; "));
  }

  async function register(name, email, tick) {
    await page.getByRole("button", { name: "Anmelden oder registrieren" }).click();
    await page.getByRole("button", { name: "Registrieren", exact: true }).click();
    const reg = page.locator("#register-form");
    const box = reg.getByLabel("Ich bin kein Programm");
    await box.waitFor();
    if (!checkedA11y) {
      await a11y();
      checkedA11y = true;
    }
    await reg.getByLabel("Name").fill(name);
    await reg.getByLabel("Adresse").fill("Lützner Straße 30, 04177 Leipzig");
    await reg.locator("#reg-map").click();
    await reg.locator("#reg-home-note", { hasText: "Dein Zuhause ist auf der Karte markiert" }).waitFor();
    await reg.getByLabel("E-Mail").fill(email);
    await reg.getByLabel(/^Passwort/).fill("correct horse battery");
    if (tick) {
      // As a person does: the label (the box's drawn tick lies over the input itself).
      await reg.getByText("Ich bin kein Programm", { exact: true }).click();
      await reg.getByText("Bestätigt").waitFor();
    }
    await reg.getByRole("button", { name: "Registrieren" }).click();
    await page.locator("#account-btn", { hasText: name.split(" ")[0] }).waitFor();
    await page.locator("#account-btn").click();
    await page.getByRole("button", { name: "Abmelden" }).click();
    await page.locator("#account-btn", { hasText: "Anmelden" }).waitFor();
  }
  await register(`Lea ${runID}`, `lea-${runID}@example.org`, true);
  step("Lea ticked the box (German label, solved in the worker) and registered");
  check(requested.some((p) => /^\/assets\/sha-.*\.js$/.test(p)), "the SHA-256 worker was not fetched as a file of ours");
  check(requested.some((p) => /^\/assets\/altcha-.*\.css$/.test(p)), "the widget's stylesheet was not fetched as a file of ours");
  await register(`Max ${runID}`, `max-${runID}@example.org`, false);
  step("Max registered without ticking it: the form solved it when sent");

  // The login: after three failures to Lea's address the instance asks a captcha; the form
  // then shows the widget (loaded now) with the German reason, and the next try solves it.
  const form = page.locator("#login-form");
  const tryLogin = async (password) => {
    await form.getByLabel("Passwort").fill(password);
    await form.getByRole("button", { name: "Anmelden", exact: true }).click();
  };
  await page.getByRole("button", { name: "Anmelden oder registrieren" }).click();
  await form.getByLabel("E-Mail").fill(`lea-${runID}@example.org`);
  for (let i = 1; i <= 3; i++) {
    await tryLogin("falsches passwort");
    await form.locator(".form-error", { hasText: "E-Mail oder Passwort stimmen nicht." }).waitFor();
    await form.locator(".form-error").evaluate((p) => (p.hidden = true)); // the next answer shows anew
  }
  check(!(await form.locator("altcha-widget").count()), "the login showed the captcha before any failure");
  await tryLogin("correct horse battery");
  await form.locator(".form-error", { hasText: "Bitte bestätige erst, dass du kein Programm bist." }).waitFor();
  await form.getByText("Ich bin kein Programm", { exact: true }).waitFor();
  await form.getByRole("button", { name: "Anmelden", exact: true }).click();
  await page.locator("#account-btn", { hasText: "Lea" }).waitFor();
  step("Lea's login after three failures: the widget came with the refusal and solved on the next try");
  check(problems.length === 0, problems.join("\n"));
  console.log("captcha e2e: ok");
} catch (err) {
  console.error(String(err?.stack ?? err));
  if (problems.length) console.error(problems.join("\n"));
  console.error("API requests: " + requested.filter((p) => p.startsWith("/api")).join(" "));
  console.error("form says: " + (await page?.locator("#register-form .form-error").textContent().catch(() => "?")));
  try {
    mkdirSync(artifacts, { recursive: true });
    await page?.screenshot({ path: join(artifacts, "captcha.png"), fullPage: true });
    console.error(`screenshot in ${artifacts}`);
  } catch {}
  process.exitCode = 1;
} finally {
  await browser.close();
}
