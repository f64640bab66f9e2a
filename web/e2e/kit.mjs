// What the moderation e2e scripts share (moderation.e2e.mjs, panel.e2e.mjs): one headless
// Chromium, a page per person (each its own context: its own session), logging in, axe-core,
// the check that nothing is wider than a phone's screen, and on failure screenshots and the
// app's state. Every wait is for something to appear or go, never for time to pass.
import { mkdirSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import { chromium } from "playwright-core";
import { patience } from "./patience.mjs";
import { describeApp } from "./state.mjs";

export function must(name) {
  const v = process.env[name];
  if (!v) {
    console.error(`e2e: ${name} is not set`);
    process.exit(2);
  }
  return v;
}

export function check(cond, msg) {
  if (!cond) throw new Error("check failed: " + msg);
}

const axeSource = readFileSync(createRequire(import.meta.url).resolve("axe-core/axe.min.js"), "utf8");

export class Kit {
  constructor({ base, password }) {
    this.base = base;
    this.password = password;
    this.artifacts = process.env.WG_ARTIFACTS || join(process.cwd(), "e2e", "artifacts", String(Date.now()));
    this.started = Date.now();
    this.pages = {};
    this.problems = [];
  }

  step(msg) {
    console.log(`[${((Date.now() - this.started) / 1000).toFixed(1)}s] ${msg}`);
  }

  async launch() {
    this.browser = await chromium.launch({
      executablePath: process.env.WG_CHROMIUM || "/usr/bin/chromium",
      headless: true,
      args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
    });
  }

  /** axe-core finds nothing serious or critical on the page as it is. */
  async a11y(page, what) {
    if (!(await page.evaluate(() => "axe" in window))) await page.evaluate(axeSource);
    const found = await page.evaluate(() => axe.run(document, { resultTypes: ["violations"] }).then((r) => r.violations));
    const bad = found.filter((v) => v.impact === "serious" || v.impact === "critical");
    check(bad.length === 0, `accessibility (${what}): ` + bad.map((v) => `${v.id}: ${v.help} at ${v.nodes.map((n) => n.target.join(" ")).slice(0, 3).join(", ")}`).join("; "));
  }

  async newPage(name, options) {
    const ctx = await this.browser.newContext({ baseURL: this.base, locale: "de-DE", timezoneId: "Europe/Berlin", ...options });
    const page = await ctx.newPage();
    page.setDefaultTimeout(patience);
    await page.addInitScript(() => localStorage.setItem("wg.onboarded", "1"));
    page.on("pageerror", (e) => this.problems.push(`${name}: page error: ${e.message}`));
    page.on("console", (m) => {
      if (m.type() === "error" && !/401|Failed to load resource/.test(m.text())) this.problems.push(`${name}: console: ${m.text()}`);
    });
    this.pages[name] = page;
    await page.goto("/");
    await page.waitForSelector("html[data-ready='1']");
    return page;
  }

  async login(page, who) {
    await page.locator("#account-btn").click();
    const form = page.locator("#login-form");
    await form.getByLabel("E-Mail").fill(who.email);
    await form.getByLabel("Passwort").fill(who.password ?? this.password);
    await form.getByRole("button", { name: "Anmelden" }).click();
    await page.locator("#account-btn", { hasText: who.name.split(" ")[0] }).waitFor();
  }

  /** Nothing in an open dialog or slider is wider than the screen (as TestPhone asks of every view). */
  async fitsTheScreen(page, what) {
    const wide = await page.evaluate(() => {
      const w = document.documentElement.clientWidth;
      return [...document.querySelectorAll("dialog[open] *, .slider:not([hidden]) *")]
        .filter((el) => el.getClientRects().length && el.getBoundingClientRect().right > w + 1)
        .map((el) => `${el.tagName.toLowerCase()}${el.id ? "#" + el.id : ""}.${el.className} (${Math.round(el.getBoundingClientRect().right)} > ${w})`)
        .slice(0, 5);
    });
    check(wide.length === 0, `wider than the screen (${what}): ${wide.join(", ")}`);
  }

  /** Runs the script's steps; exits 0 when they pass without errors in the pages, else 1 with screenshots. */
  async run(steps) {
    try {
      await this.launch();
      await steps();
      check(this.problems.length === 0, "errors in the pages:\n  " + this.problems.join("\n  "));
      console.log(`e2e: passed in ${((Date.now() - this.started) / 1000).toFixed(1)} s`);
      await this.browser.close();
      process.exit(0);
    } catch (err) {
      mkdirSync(this.artifacts, { recursive: true });
      for (const [name, page] of Object.entries(this.pages)) {
        const file = join(this.artifacts, `${name}.png`);
        await page.screenshot({ path: file, fullPage: true }).catch(() => {});
        console.error(`e2e: screenshot ${file}\n${await describeApp(page)}`);
      }
      if (this.problems.length) console.error("e2e: page problems:\n  " + this.problems.join("\n  "));
      console.error("e2e: FAILED:", err?.stack || err);
      await this.browser?.close().catch(() => {});
      process.exit(1);
    }
  }
}
