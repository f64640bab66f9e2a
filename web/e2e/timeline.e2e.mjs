// The timeline (issue 15): the map as it was on a past day. Run by web/e2e_test.go
// (TestTimelineScrubber) against a dev instance with a resident, Ana.
//
//   1. Over three dev-clock days Ana places one Knoten a day (Montag, Dienstag, Mittwoch); the
//      instance takes its snapshots as the clock passes (its sweep on the dev clock), and a
//      fourth day begins.
//   2. The live map shows the three.
//   3. The Zeitleiste opens on yesterday (all three, "Stand: <yesterday>"); a day back shows
//      Montag and Dienstag, another day back Montag alone, each under its banner; the slider
//      goes three days back (before Montag: none) and forward to yesterday again.
//   4. "Zurück zu live": the banner goes, the three are there, and a Knoten placed now arrives
//      over the live feed.
//
// Every wait is for something to appear; the timeouts are safety nets for a slow machine.
import { join } from "node:path";
import { mkdirSync } from "node:fs";
import { chromium } from "playwright-core";
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

const germanDay = new Intl.DateTimeFormat("de-DE", { timeZone: "Europe/Berlin", year: "numeric", month: "2-digit", day: "2-digit" });

try {
  at("Ana logs in; three days of Knoten on the dev clock");
  const login = await ctx.request.post("/api/auth/login", { data: { email, password } });
  check(login.ok(), `login: ${login.status()}`);
  const advance = async (d) => {
    const r = await ctx.request.post("/api/dev/clock", { data: { advance: d } });
    check(r.ok(), `advance ${d}: ${r.status()} ${await r.text()}`);
  };
  const ids = {};
  await advance("1m"); // the first sweep: the instance's first (full) snapshot
  for (const [i, title] of ["Montag", "Dienstag", "Mittwoch"].entries()) {
    const r = await ctx.request.post("/api/knoten", { data: { type: "idee", title, lat: view[0] + 0.001 * (i - 1), lon: view[1] + 0.002 * (i - 1) } });
    check(r.status() === 201, `place ${title}: ${r.status()} ${await r.text()}`);
    ids[title] = (await r.json()).id;
    await advance("24h");
  }
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
  await page.locator("#timeline-btn").click();
  const banner = page.locator("#past-banner");
  await page.waitForFunction((t) => document.getElementById("past-banner")?.textContent === t, stand(1));
  await shows(["Montag", "Dienstag", "Mittwoch"], stand(1));
  check(await page.locator("#place-btn").isHidden(), "no placing on a past map");

  at("a day back: Montag and Dienstag");
  await page.locator("#timeline-prev").click();
  await page.waitForFunction((t) => document.getElementById("past-banner")?.textContent === t, stand(2));
  await shows(["Montag", "Dienstag"], stand(2));

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

  at("back to live: the live feed again");
  await page.locator("#timeline-live").click();
  await banner.waitFor({ state: "hidden" });
  await page.locator("#place-btn").waitFor();
  await shows(["Montag", "Dienstag", "Mittwoch"], "live");
  const r = await ctx.request.post("/api/knoten", { data: { type: "idee", title: "Donnerstag", lat: view[0], lon: view[1] + 0.004 } });
  check(r.status() === 201, `place Donnerstag: ${r.status()}`);
  await page.locator(`.leaflet-marker-icon[data-knoten="${(await r.json()).id}"]`).waitFor();

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
