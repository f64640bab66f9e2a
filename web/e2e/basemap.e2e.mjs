// The real basemap in headless Chromium (run by web/e2e_test.go, TestBasemap): an instance
// serving the Monaco PMTiles built by `weltgewebe basemap build`, opened at zoom 16 over a
// street (WG_LAT, WG_LON; named WG_STREET). Checked, each by what the page shows:
//   - the street is painted where it is: at the map's centre the tile canvas has the road
//     colour, not the background (nor only the earth colour around it);
//   - a street name is drawn: a text the renderer writes on a tile canvas is one of the road
//     names the archive holds around the view (WG_STREETS, read from the archive by the test);
//   - zoomed in to 18 over a house (WG_HOUSE_LAT, WG_HOUSE_LON), house numbers are drawn: one
//     of those the archive holds around it (WG_HOUSENUMBERS);
//   - over the sea off Monte-Carlo (43.735, 7.435; TestBuildMonacoSea checks the tiles there)
//     the map has the water colour: the build assembles the sea from the coastline;
//   - the tiles come with range requests (206);
//   - no request the page makes (page, workers, service worker) goes anywhere but the instance.
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { chromium } from "playwright-core";
import { patience } from "./patience.mjs";

const base = process.env.WG_URL;
const origin = new URL(base).origin;
const lat = Number(process.env.WG_LAT), lon = Number(process.env.WG_LON);
const streets = JSON.parse(process.env.WG_STREETS);
const artifacts = process.env.WG_ARTIFACTS || join(process.cwd(), "e2e", "artifacts", String(Date.now()));
const browser = await chromium.launch({
  executablePath: process.env.WG_CHROMIUM || "/usr/bin/chromium",
  headless: true,
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
// A browser context opened at a view: every text the renderer writes on a map tile (labels are
// drawn with fillText) and every request of the context (pages, workers, service worker).
async function openAt(lat, lon, zoom) {
  const ctx = await browser.newContext({ baseURL: base, viewport: { width: 390, height: 844 }, deviceScaleFactor: 1 });
  await ctx.addInitScript(([lat, lon, zoom]) => {
    localStorage.setItem("wg.onboarded", "1");
    localStorage.setItem("wg.view", JSON.stringify([lat, lon, zoom]));
    window.__wgTileTexts = [];
    const fillText = CanvasRenderingContext2D.prototype.fillText;
    CanvasRenderingContext2D.prototype.fillText = function (text, x, y, ...rest) {
      if (this.canvas?.classList?.contains("leaflet-tile")) window.__wgTileTexts.push(String(text));
      return fillText.call(this, text, x, y, ...rest);
    };
  }, [lat, lon, zoom]);
  ctx.on("request", (r) => requests.push(r.url()));
  const page = await ctx.newPage();
  page.on("pageerror", (e) => errors.push(e.message));
  page.on("response", (r) => {
    if (r.url().endsWith("/tiles/basemap.pmtiles")) ranges.push(`${r.status()} ${r.request().headers()["range"] ?? "(no range)"}`);
  });
  await page.goto("/");
  await page.waitForSelector("html[data-ready='1']", { timeout: patience });
  await page.waitForSelector("#map.has-basemap", { timeout: patience });
  return page;
}

const requests = [];
const errors = [];
const ranges = [];
let page;

// The colours at the middle of the map: [r,g,b] of every pixel within `radius` of the map's
// centre, read from the tile canvas under it; null until a painted tile is there.
const centreColours = (radius) =>
  page.evaluate((radius) => {
    const m = document.getElementById("map").getBoundingClientRect();
    const cx = m.left + m.width / 2, cy = m.top + m.height / 2;
    for (const c of document.querySelectorAll(".leaflet-tile-container canvas.leaflet-tile")) {
      const r = c.getBoundingClientRect();
      if (cx < r.left || cx >= r.right || cy < r.top || cy >= r.bottom || !c.width) continue;
      const sx = c.width / r.width, sy = c.height / r.height;
      const x = Math.round((cx - r.left) * sx), y = Math.round((cy - r.top) * sy);
      const x0 = Math.max(0, x - radius), y0 = Math.max(0, y - radius);
      const w = Math.min(c.width, x + radius + 1) - x0, h = Math.min(c.height, y + radius + 1) - y0;
      const d = c.getContext("2d").getImageData(x0, y0, w, h).data;
      const out = [];
      for (let i = 0; i < d.length; i += 4) if (d[i + 3] === 255) out.push([d[i], d[i + 1], d[i + 2]]);
      return out.length ? out : null;
    }
    return null;
  }, radius);

const hex = ([r, g, b]) => "#" + [r, g, b].map((v) => v.toString(16).padStart(2, "0")).join("");
// The light flavour of @protomaps/basemaps: background, earth, and the road colour.
const BACKGROUND = "#cccccc", EARTH = "#e2dfda", ROAD = "#ffffff", WATER = "#80deea";

try {
  page = await openAt(lat, lon, 16);

  // The street at the centre: the road colour within a few pixels of where it runs.
  let seen = [];
  const deadline = Date.now() + patience;
  for (;;) {
    const near = await centreColours(4);
    if (near) {
      seen = [...new Set(near.map(hex))];
      if (seen.includes(ROAD)) break;
    }
    if (Date.now() > deadline) throw new Error(`no road colour at the street's place; colours there: ${seen.join(" ")}`);
    await page.waitForTimeout(250); // polling a canvas: it has no event to wait for
  }
  const around = [...new Set(((await centreColours(40)) || []).map(hex))];
  if (!around.includes(EARTH)) throw new Error(`no earth around the street (colours: ${around.slice(0, 8).join(" ")})`);
  if (seen.every((c) => c === BACKGROUND)) throw new Error("only background at the street's place");

  // A street name drawn on a tile.
  const label = await page.waitForFunction(
    (streets) => window.__wgTileTexts.find((t) => streets.includes(t)) || false,
    streets,
    { timeout: patience, polling: 250 },
  );
  const drawn = await label.jsonValue();
  const allTexts = await page.evaluate(() => [...new Set(window.__wgTileTexts)]);
  if ((await page.locator(".leaflet-marker-icon").count()) === 0) throw new Error("no Knoten pins over the basemap");
  if (process.env.WG_E2E_SHOTS) { mkdirSync(artifacts, { recursive: true }); await page.screenshot({ path: join(artifacts, "basemap.png") }); }

  // Zoomed in over a house: house numbers.
  const housenumbers = JSON.parse(process.env.WG_HOUSENUMBERS);
  page = await openAt(Number(process.env.WG_HOUSE_LAT), Number(process.env.WG_HOUSE_LON), 18);
  const number = await (await page.waitForFunction(
    (numbers) => window.__wgTileTexts.find((t) => numbers.includes(t)) || false,
    housenumbers,
    { timeout: patience, polling: 250 },
  )).jsonValue();
  if (process.env.WG_E2E_SHOTS) await page.screenshot({ path: join(artifacts, "housenumbers.png") });

  // Over the sea: the water colour, not the earth's.
  page = await openAt(43.735, 7.435, 15);
  let sea = [];
  const seaDeadline = Date.now() + patience;
  for (;;) {
    const near = await centreColours(2);
    if (near) {
      sea = [...new Set(near.map(hex))];
      if (sea.length === 1 && sea[0] === WATER) break;
    }
    if (Date.now() > seaDeadline) throw new Error(`no water colour over the sea; colours there: ${sea.join(" ")}`);
    await page.waitForTimeout(250); // polling a canvas: it has no event to wait for
  }
  if (process.env.WG_E2E_SHOTS) await page.screenshot({ path: join(artifacts, "sea.png") });

  if (!ranges.some((r) => r.startsWith("206 bytes="))) throw new Error("no range request answered with 206: " + ranges.join(", "));
  if (errors.length) throw new Error("page errors: " + errors.join("; "));
  const away = requests.filter((u) => !u.startsWith("data:") && !u.startsWith("blob:") && new URL(u).origin !== origin);
  if (away.length) throw new Error(`requests leaving the instance: ${away.join(", ")}`);

  console.log(`basemap: road colour at ${process.env.WG_STREET} (colours there ${seen.join(" ")}); label "${drawn}" drawn ` +
    `(tile texts: ${allTexts.slice(0, 8).join(" | ")}); house number "${number}" drawn at zoom 18; water colour over the sea; ${requests.length} requests, all to ${origin}; basemap ranges: ${ranges.slice(0, 6).join(", ")}`);
  await browser.close();
  process.exit(0);
} catch (err) {
  mkdirSync(artifacts, { recursive: true });
  const file = join(artifacts, "basemap.png");
  await page?.screenshot({ path: file }).catch(() => {});
  const texts = await page?.evaluate(() => [...new Set(window.__wgTileTexts || [])]).catch(() => []);
  console.error(`basemap: FAILED: ${err?.stack || err}\nbasemap requests: ${ranges.join(", ")}\ntile texts: ${texts.join(" | ")}\n` +
    `requests: ${requests.join(", ")}\nerrors: ${errors.join("; ")}\nscreenshot ${file}`);
  await browser.close();
  process.exit(1);
}
