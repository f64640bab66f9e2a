// The timeline (issue 15): the map, the Anträge and the balance as they were on a past day. Run
// by web/e2e_test.go (TestTimelineScrubber) against a dev instance in WG_ZONE (far from the
// browser's Berlin) whose Ortskonto is set up, with Ana and Olaf (verified residents) and Kai
// (the Kassenwart).
//
//   1. The clock goes to 12:00 UTC, when the Ortsweberei's date is not Berlin's. Over three
//      dev-clock days Ana places one Knoten a day (Montag, Dienstag, Mittwoch); on Montag she
//      files an Antrag, on Dienstag Olaf objects, on Mittwoch she withdraws it; each day a
//      donation is booked (12,50 €, 7,50 €, 5,00 €). The instance takes its snapshots as the
//      clock passes (its sweep on the dev clock); a fourth day begins, with a new Antrag and a
//      2,50 € donation.
//   2. The live map shows the three.
//   3. The Zeitleiste opens on yesterday (all three, "Stand: <yesterday>" in the Ortsweberei's
//      zone); a day back shows Montag and Dienstag, another day back Montag alone, each under
//      its banner; the slider goes four days back (none) and forward to yesterday again.
//   4. The Ortskonto shows each day's balance (25,00 €, 20,00 €, 12,50 €) under the day's note;
//      its "Zurück zu live" brings back the live figures (27,50 €), the banner goes, and a
//      Knoten placed now arrives over the live feed.
//   5. The Zeitleiste again: the Webrat lists yesterday's Anträge (the Antrag withdrawn, not
//      today's), Dienstag's (open, one Einspruch: its page without any button to act), Montag's
//      (open, none); its "Zurück zu live" brings back the live list with today's Antrag.
//
// Every wait is for something to appear; the timeouts are safety nets for a slow machine.
import { join } from "node:path";
import { mkdirSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { chromium, request } from "playwright-core";
import { patience } from "./patience.mjs";

const env = (name) => {
  const v = process.env[name];
  if (!v) {
    console.error(`e2e: ${name} is not set`);
    process.exit(2);
  }
  return v;
};
const base = env("WG_URL");
const email = env("WG_EMAIL");
const password = env("WG_PASSWORD");
const olafEmail = env("WG_OLAF_EMAIL");
const kaiEmail = env("WG_KAI_EMAIL");
const zone = env("WG_ZONE");
const view = JSON.parse(env("WG_VIEW"));
const artifacts = process.env.WG_ARTIFACTS || join(process.cwd(), "e2e", "artifacts", String(Date.now()));

function check(cond, msg) {
  if (!cond) throw new Error("check failed: " + msg);
}
let step = "";
const at = (s) => {
  step = s;
  console.log("· " + s);
};

const browser = await chromium.launch({
  executablePath: process.env.WG_CHROMIUM || "/usr/bin/chromium",
  headless: true,
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
const ctx = await browser.newContext({ baseURL: base, locale: "de-DE", timezoneId: "Europe/Berlin", viewport: { width: 1280, height: 800 } });
await ctx.addInitScript((view) => {
  localStorage.setItem("wg.onboarded", "1");
  localStorage.setItem("wg.view", JSON.stringify(view));
}, view);
const page = await ctx.newPage();
page.setDefaultTimeout(patience);
const errors = [];
page.on("pageerror", (e) => errors.push(`page error: ${e.message}`));
// The timeline's requests, by day asked for.
const asked = new Map();
page.on("request", (r) => {
  const u = new URL(r.url());
  if (u.pathname === "/api/timeline") asked.set(u.searchParams.get("date"), (asked.get(u.searchParams.get("date")) ?? 0) + 1);
});

// Accessibility: axe-core over the page as it stands; serious and critical findings fail.
const axeSource = readFileSync(createRequire(import.meta.url).resolve("axe-core/axe.min.js"), "utf8");
async function a11y(what) {
  if (!(await page.evaluate(() => "axe" in window))) await page.evaluate(axeSource);
  const found = await page.evaluate(() => axe.run(document, { resultTypes: ["violations"] }).then((r) => r.violations));
  const bad = found.filter((v) => v.impact === "serious" || v.impact === "critical");
  check(bad.length === 0, `accessibility (${what}): ` + bad.map((v) => `${v.id}: ${v.help} at ${v.nodes.map((n) => n.target.join(" ")).slice(0, 3).join(", ")}`).join("; "));
}

// The Ortsweberei's days (the browser is in Berlin).
const germanDay = new Intl.DateTimeFormat("de-DE", { timeZone: zone, year: "numeric", month: "2-digit", day: "2-digit" });
const isoDay = new Intl.DateTimeFormat("en-CA", { timeZone: zone, year: "numeric", month: "2-digit", day: "2-digit" });
const berlinDay = new Intl.DateTimeFormat("en-CA", { timeZone: "Europe/Berlin", year: "numeric", month: "2-digit", day: "2-digit" });

// Another resident's session, for what Ana cannot do herself.
async function session(email) {
  const c = await request.newContext({ baseURL: base });
  const r = await c.post("/api/auth/login", { data: { email, password } });
  check(r.ok(), `login ${email}: ${r.status()}`);
  return c;
}
async function call(c, method, path, data, headers) {
  const r = await c.fetch(path, { method, data, headers });
  check(r.ok(), `${method} ${path}: ${r.status()} ${await r.text()}`);
  return r.json();
}

try {
  at("Ana logs in; three days of Knoten, Antrag and donations on the dev clock");
  const login = await ctx.request.post("/api/auth/login", { data: { email, password } });
  check(login.ok(), `login: ${login.status()}`);
  const olaf = await session(olafEmail);
  const kai = await session(kaiEmail);
  const advance = async (d) => {
    const r = await ctx.request.post("/api/dev/clock", { data: { advance: d } });
    check(r.ok(), `advance ${d}: ${r.status()} ${await r.text()}`);
    return Date.parse((await r.json()).now);
  };
  // To the next 12:00 UTC, at least a minute on (the sweep then takes a snapshot): the
  // Ortsweberei's date differs from Berlin's from then on, each day at the same hour.
  let clock = Date.parse((await (await ctx.request.get("/api/dev/clock")).json()).now);
  let noon = new Date(clock);
  noon.setUTCHours(12, 0, 0, 0);
  while (noon.getTime() < clock + 60000) noon = new Date(noon.getTime() + 86400000);
  clock = await advance(`${Math.ceil((noon.getTime() - clock) / 1000)}s`);
  check(isoDay.format(clock) !== berlinDay.format(clock), `the Ortsweberei's date ${isoDay.format(clock)} is Berlin's`);
  let donations = 0;
  const donate = async (cents) => {
    const { spende } = await call(ctx.request, "POST", "/api/spenden", { amount_cents: cents, visible: false }, { "Idempotency-Key": `timeline-${++donations}` });
    for (const status of ["pending", "settled"]) await call(kai, "POST", `/api/spenden/${spende.id}/status`, { status });
  };
  const ids = {};
  let antrag = "";
  for (const [i, title] of ["Montag", "Dienstag", "Mittwoch"].entries()) {
    const r = await ctx.request.post("/api/knoten", { data: { type: "idee", title, lat: view[0] + 0.001 * (i - 1), lon: view[1] + 0.002 * (i - 1) } });
    check(r.status() === 201, `place ${title}: ${r.status()} ${await r.text()}`);
    ids[title] = (await r.json()).id;
    if (i === 0) antrag = (await call(ctx.request, "POST", "/api/antraege", { title: "Bank am Teich" })).id;
    if (i === 1) await call(olaf, "POST", `/api/antraege/${antrag}/einspruch`, { reason: "Erst den Kostenvoranschlag, bitte." });
    if (i === 2) await call(ctx.request, "POST", `/api/antraege/${antrag}/withdraw`);
    await donate([1250, 750, 500][i]);
    await advance("24h");
  }
  const today = (await call(ctx.request, "POST", "/api/antraege", { title: "Heute beantragt" })).id;
  await donate(250);
  const now = Date.parse((await (await ctx.request.get("/api/dev/clock")).json()).now);
  const stand = (back) => `Stand: ${germanDay.format(new Date(now - back * 86400000))}`;
  const pin = (title) => page.locator(`.leaflet-marker-icon[data-knoten="${ids[title]}"]`);
  const shows = async (want, what) => {
    for (const t of ["Montag", "Dienstag", "Mittwoch"]) {
      if (want.includes(t)) await pin(t).waitFor();
      else await pin(t).waitFor({ state: "detached" });
    }
    console.log(`  ${what}: ${want.join(", ") || "keine Knoten"}`);
  };

  at("the live map shows the three");
  await page.goto("/");
  await page.waitForSelector("html[data-ready='1']");
  await shows(["Montag", "Dienstag", "Mittwoch"], "live");
  check(await page.locator("#past-banner").isHidden(), "no banner while live");

  at("the Zeitleiste opens on yesterday");
  const twoBack = isoDay.format(new Date(now - 2 * 86400000));
  // Once yesterday shows, the days beside it are fetched before anyone asks.
  const prefetched = page.waitForRequest((r) => r.url().includes("/api/timeline?") && new URL(r.url()).searchParams.get("date") === twoBack);
  await page.locator("#timeline-btn").click();
  const banner = page.locator("#past-banner");
  await page.waitForFunction((t) => document.getElementById("past-banner")?.textContent === t, stand(1));
  await shows(["Montag", "Dienstag", "Mittwoch"], stand(1));
  check(await page.locator("#place-btn").isHidden(), "no placing on a past map");
  await a11y("the Zeitleiste open");

  at("a day back: Montag and Dienstag, fetched before it was asked for");
  await prefetched;
  await page.locator("#timeline-prev").click();
  await page.waitForFunction((t) => document.getElementById("past-banner")?.textContent === t, stand(2));
  await shows(["Montag", "Dienstag"], stand(2));
  check(asked.get(twoBack) === 1, `the prefetched day was fetched again: ${asked.get(twoBack)} requests`);

  at("another day back: Montag alone");
  await page.locator("#timeline-prev").click();
  await page.waitForFunction((t) => document.getElementById("past-banner")?.textContent === t, stand(3));
  await shows(["Montag"], stand(3));

  at("the slider: four days back, before Montag, then yesterday");
  const slide = (v) =>
    page.locator("#timeline-slider").evaluate((el, v) => {
      el.value = String(v);
      el.dispatchEvent(new Event("input", { bubbles: true }));
    }, v);
  await slide(-4);
  await page.waitForFunction((t) => document.getElementById("past-banner")?.textContent === t, stand(4));
  await shows([], stand(4));
  await slide(-1);
  await page.waitForFunction((t) => document.getElementById("past-banner")?.textContent === t, stand(1));
  await shows(["Montag", "Dienstag", "Mittwoch"], stand(1));

  const stands = (sel, back) => page.waitForFunction(([sel, t]) => document.querySelector(sel)?.textContent.startsWith(t), [sel, stand(back)]);
  const euro = (text) => new RegExp(`^${text}\\s€$`);

  at("the Ortskonto: each day's balance");
  await page.locator("#open-ortskonto").click();
  await page.locator("#ortskonto.open").waitFor();
  await stands("#ok-past", 1);
  await page.locator("#konto-balance").filter({ hasText: euro("25,00") }).waitFor();
  await a11y("the Ortskonto on a past day");
  await slide(-2);
  await stands("#ok-past", 2);
  await page.locator("#konto-balance").filter({ hasText: euro("20,00") }).waitFor();
  await slide(-3);
  await stands("#ok-past", 3);
  await page.locator("#konto-balance").filter({ hasText: euro("12,50") }).waitFor();
  console.log("  balances: 25,00 €, 20,00 €, 12,50 €");

  at("back to live from the Ortskonto: the live figures, the live feed again");
  await page.locator("#ok-past").getByRole("button", { name: "Zurück zu live" }).click();
  await banner.waitFor({ state: "hidden" });
  await page.locator("#ok-past").waitFor({ state: "detached" });
  await page.locator("#konto-balance").filter({ hasText: euro("27,50") }).waitFor();
  await page.locator("#konto-pending").waitFor();
  await page.keyboard.press("Escape");
  await page.locator("#ortskonto").waitFor({ state: "hidden" });
  await page.locator("#place-btn").waitFor();
  await shows(["Montag", "Dienstag", "Mittwoch"], "live");
  const r = await ctx.request.post("/api/knoten", { data: { type: "idee", title: "Donnerstag", lat: view[0], lon: view[1] + 0.004 } });
  check(r.status() === 201, `place Donnerstag: ${r.status()}`);
  await page.locator(`.leaflet-marker-icon[data-knoten="${(await r.json()).id}"]`).waitFor();

  at("the Webrat on yesterday: the Antrag withdrawn, today's not yet filed");
  await page.locator("#timeline-btn").click();
  await page.waitForFunction((t) => document.getElementById("past-banner")?.textContent === t, stand(1));
  await page.locator("#open-webrat").click();
  await page.locator("#webrat.open").waitFor();
  await stands("#wr-past", 1);
  const item = (id) => page.locator(`.antrag-item[data-id="${id}"]`);
  await item(antrag).locator(".status", { hasText: /^zurückgezogen$/ }).waitFor();
  await item(today).waitFor({ state: "detached" });
  await a11y("the Webrat on a past day");

  at("Dienstag's Anträge: open, objected to, nothing to act on");
  await slide(-2);
  await stands("#wr-past", 2);
  await item(antrag).locator(".status", { hasText: /^offen$/ }).waitFor();
  await item(antrag).locator(".meta", { hasText: "1 Einspr." }).waitFor();
  await item(antrag).click();
  await page.locator("#antrag-title", { hasText: "Bank am Teich" }).waitFor();
  await page.locator("#antrag-einsprueche", { hasText: /^1$/ }).waitFor();
  await page.locator("#wr-antraege").getByText("(durch Einspruch verlängert)").waitFor();
  const acts = await page.locator("#wr-antraege").getByRole("button", { name: /Antrag zurückziehen|Einspruch erheben|^Ja$|^Nein$|Enthaltung/ }).count();
  check(acts === 0, `${acts} buttons to act on a past Antrag`);
  check((await page.locator("#einspruch-form").count()) === 0, "an Einspruch form on a past Antrag");

  at("Montag's: the Antrag just filed, the page follows the slider");
  await slide(-3);
  await stands("#wr-past", 3);
  await page.locator("#antrag-einsprueche", { hasText: /^0$/ }).waitFor();
  await page.locator("#wr-antraege .status", { hasText: /^offen$/ }).waitFor();
  await page.locator("#wr-antraege").getByRole("button", { name: "← Alle Anträge" }).click();
  await item(antrag).locator(".status", { hasText: /^offen$/ }).waitFor();
  console.log("  Anträge: zurückgezogen, offen (1 Einspruch), offen");

  at("back to live from the Webrat: the live list");
  await page.locator("#wr-past").getByRole("button", { name: "Zurück zu live" }).click();
  await banner.waitFor({ state: "hidden" });
  await page.locator("#wr-past").waitFor({ state: "detached" });
  await item(today).waitFor();
  await item(antrag).locator(".status", { hasText: /^zurückgezogen$/ }).waitFor();
  check(await page.locator("#timeline-bar").isHidden(), "the Zeitleiste closed");

  check(errors.length === 0, errors.join("; "));
  console.log("ok");
} catch (e) {
  mkdirSync(artifacts, { recursive: true });
  await page.screenshot({ path: join(artifacts, "timeline.png") }).catch(() => {});
  console.error(`FAILED at "${step}": ${e.message}`);
  console.error(`screenshot in ${artifacts}`);
  await browser.close();
  process.exit(1);
}
await browser.close();
