// The basemap path in headless Chromium: a page whose instance has a PMTiles file loads the
// renderer, reads the file with range requests, and paints its tiles (the "earth" colour of
// the light theme, where the fixture has land). Run by web/e2e_test.go (TestBasemap).
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { chromium } from "playwright-core";
import { patience } from "./patience.mjs";

const base = process.env.WG_URL;
const artifacts = process.env.WG_ARTIFACTS || join(process.cwd(), "e2e", "artifacts", String(Date.now()));
const browser = await chromium.launch({
  executablePath: process.env.WG_CHROMIUM || "/usr/bin/chromium",
  headless: true,
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
const ctx = await browser.newContext({ baseURL: base, viewport: { width: 360, height: 740 } });
await ctx.addInitScript(() => localStorage.setItem("wg.onboarded", "1"));
const page = await ctx.newPage();
const errors = [];
page.on("pageerror", (e) => errors.push(e.message));
const ranges = [];
page.on("response", (r) => {
  if (r.url().endsWith("/tiles/basemap.pmtiles")) ranges.push(`${r.status()} ${r.request().headers()["range"] ?? "(no range)"}`);
});
try {
  await page.goto("/");
  await page.waitForSelector("html[data-ready='1']", { timeout: patience });
  await page.waitForSelector("#map.has-basemap", { timeout: patience });
  // Wait until a tile canvas shows the light theme's earth colour (#e2dfda).
  const painted = await page.waitForFunction(
    () => {
      for (const c of document.querySelectorAll(".leaflet-tile-container canvas")) {
        const d = c.getContext("2d").getImageData(0, 0, c.width, c.height).data;
        let earth = 0;
        for (let i = 0; i < d.length; i += 4 * 97) if (d[i] === 0xe2 && d[i + 1] === 0xdf && d[i + 2] === 0xda) earth++;
        if (earth > 10) return earth;
      }
      return false;
    },
    null,
    { timeout: patience, polling: 250 },
  );
  const tiles = await page.locator(".leaflet-tile-container canvas").count();
  if (!ranges.some((r) => r.startsWith("206 bytes="))) throw new Error("no range request answered with 206: " + ranges.join(", "));
  if ((await page.locator(".leaflet-marker-icon").count()) === 0) throw new Error("no Knoten pins over the basemap");
  if (errors.length) throw new Error("page errors: " + errors.join("; "));
  if (process.env.WG_E2E_SHOTS) { mkdirSync(artifacts, { recursive: true }); await page.screenshot({ path: join(artifacts, "basemap.png") }); }
  console.log(`basemap: ${tiles} tile canvases painted (${await painted.jsonValue()} earth samples), requests: ${ranges.join(", ")}`);
  await browser.close();
  process.exit(0);
} catch (err) {
  const colours = await page
    .evaluate(() => {
      const seen = {};
      for (const c of document.querySelectorAll(".leaflet-tile-container canvas")) {
        const d = c.getContext("2d").getImageData(0, 0, c.width, c.height).data;
        for (let i = 0; i < d.length; i += 4 * 97) {
          const k = [d[i], d[i + 1], d[i + 2], d[i + 3]].join(",");
          seen[k] = (seen[k] || 0) + 1;
        }
      }
      return Object.entries(seen).sort((a, b) => b[1] - a[1]).slice(0, 5);
    })
    .catch(() => []);
  console.error("basemap: colours on the tile canvases:", JSON.stringify(colours));
  mkdirSync(artifacts, { recursive: true });
  const file = join(artifacts, "basemap.png");
  await page.screenshot({ path: file }).catch(() => {});
  console.error(`basemap: FAILED: ${err?.stack || err}\nrequests: ${ranges.join(", ")}\nerrors: ${errors.join("; ")}\nscreenshot ${file}`);
  await browser.close();
  process.exit(1);
}
