// Addresses, not coordinates: on a 390×844 phone screen in headless Chromium, against a real
// instance whose address index holds the Monaco extract and whose bounds are a rectangle over
// Monte-Carlo (started by web/e2e_test.go's TestAddresses; WG_URL).
//
// A resident registers by typing part of an address, choosing a suggestion with the keyboard,
// and sending the form: the account's home is the suggestion's point (as /api/me tells it).
// An address outside the bounds is said to be outside as soon as it is chosen, and the form is
// not sent. "Knoten knüpfen" finds a place by search (an outside one refused, an inside one
// placed at its point) and by a tap on the map (a tap outside refused at once, with no request;
// one inside placed where it was tapped). No latitude or longitude field is left in the app.
//
// Every wait is for something to appear, never for time to pass.
import { mkdirSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import { chromium, request } from "playwright-core";
import { patience } from "./patience.mjs";

const base = process.env.WG_URL;
if (!base) {
  console.error("e2e: WG_URL is not set");
  process.exit(2);
}
const artifacts = process.env.WG_ARTIFACTS || join(process.cwd(), "e2e", "artifacts", String(Date.now()));
const started = Date.now();
const step = (msg) => console.log(`[${((Date.now() - started) / 1000).toFixed(1)}s] ${msg}`);
const check = (cond, msg) => {
  if (!cond) throw new Error("check failed: " + msg);
};
const near = (a, b, eps = 1e-9) => Math.abs(a - b) <= eps;

const browser = await chromium.launch({
  executablePath: process.env.WG_CHROMIUM || "/usr/bin/chromium",
  headless: true,
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
const problems = [];
let page;

const axeSource = readFileSync(createRequire(import.meta.url).resolve("axe-core/axe.min.js"), "utf8");
async function a11y(what) {
  if (!(await page.evaluate(() => "axe" in window))) await page.evaluate(axeSource);
  const found = await page.evaluate(() => axe.run(document, { resultTypes: ["violations"] }).then((r) => r.violations));
  const bad = found.filter((v) => v.impact === "serious" || v.impact === "critical");
  check(bad.length === 0, `accessibility (${what}): ` + bad.map((v) => `${v.id}: ${v.help} at ${v.nodes.map((n) => n.target.join(" ")).slice(0, 3).join(", ")}`).join("; "));
}

// What the instance's own search answers, to compare the app's choice with.
const api = await request.newContext({ baseURL: base });
async function lookup(q) {
  const res = await api.get(`/api/adressen?q=${encodeURIComponent(q)}&limit=8`);
  check(res.ok(), `GET /api/adressen?q=${q}: ${res.status()} ${await res.text()}`);
  return (await res.json()).adressen;
}

try {
  const ow = await (await api.get("/api/ortsweberei")).json();
  const ring = ow.bounds.coordinates[0][0];
  const box = {
    minLon: Math.min(...ring.map((c) => c[0])), maxLon: Math.max(...ring.map((c) => c[0])),
    minLat: Math.min(...ring.map((c) => c[1])), maxLat: Math.max(...ring.map((c) => c[1])),
  };
  const inBox = (p) => p.lat >= box.minLat && p.lat <= box.maxLat && p.lon >= box.minLon && p.lon <= box.maxLon;

  const ctx = await browser.newContext({
    baseURL: base, locale: "de-DE", timezoneId: "Europe/Monaco",
    viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true, deviceScaleFactor: 2,
  });
  await ctx.addInitScript(() => localStorage.setItem("wg.onboarded", "1"));
  page = await ctx.newPage();
  page.setDefaultTimeout(patience);
  page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
  page.on("console", (m) => {
    if (m.type() === "error" && !/401|Failed to load resource/.test(m.text())) problems.push(`console: ${m.text()}`);
  });
  const sent = []; // what the app sent that writes
  page.on("request", (r) => {
    if (r.method() === "POST") sent.push(new URL(r.url()).pathname);
  });

  await page.goto("/");
  await page.waitForSelector("html[data-ready='1']");
  const fields = await page.evaluate(() => document.querySelectorAll("input[name=lat], input[name=lon], input[name*=lat i], input[name*=lon i]").length);
  check(fields === 0, `${fields} latitude/longitude fields in the app`);
  check((await page.getByLabel(/^(Breite|Länge)$/).count()) === 0, "a field labelled Breite or Länge");

  // Registration: an address outside the bounds is said to be outside before anything is sent.
  await page.getByRole("button", { name: "Anmelden oder registrieren" }).click();
  await page.getByRole("button", { name: "Registrieren", exact: true }).click();
  const reg = page.locator("#register-form");
  const address = reg.getByRole("combobox", { name: "Adresse" });
  await reg.getByLabel("Name").fill("Grace Kelly-Test");
  await reg.getByLabel("E-Mail").fill("grace@example.org");
  await reg.getByLabel(/^Passwort/).fill("ein Garten am Meer");
  // Typed but not chosen: there is no home point yet, and the form says how to get one.
  await address.pressSequentially("Bd des Moul");
  await reg.getByRole("option").first().waitFor();
  await reg.getByRole("button", { name: "Registrieren" }).click();
  await reg.locator(".form-error", { hasText: "Bitte wähle deine Adresse aus den Vorschlägen" }).waitFor();
  check(!sent.includes("/api/auth/register"), "the registration was sent without a home point");
  await address.fill("");
  await address.pressSequentially("Avenue de Fontv");
  const outsideOption = reg.getByRole("option", { name: /Avenue de Fontvieille/ }).first();
  await outsideOption.waitFor();
  check(/außerhalb der Ortsweberei/.test(await outsideOption.textContent()), "the outside suggestion says so in the list");
  await a11y("registration with the suggestions open");
  await outsideOption.tap();
  await reg.locator("#reg-home-note", { hasText: "Diese Adresse liegt außerhalb der Ortsweberei" }).waitFor();
  check((await reg.locator(".home-marker").count()) === 0, "an outside address set a home point");
  await reg.getByRole("button", { name: "Registrieren" }).click();
  await reg.locator(".form-error", { hasText: "Diese Adresse liegt außerhalb der Ortsweberei" }).waitFor();
  check((await address.getAttribute("aria-invalid")) === "true", "the address field is marked");
  check(!sent.includes("/api/auth/register"), "the registration was sent for an outside address");
  step("an address typed but not chosen, and then one outside the bounds, are refused before sending; nothing was sent");

  // Typing on while suggestions for the shorter text are shown, and Enter at once: the list of
  // the shorter text (the street first) is not chosen. Whether the new answer came before the
  // Enter or not, the field holds what was typed or a suggestion for it (with the 18).
  await address.fill("");
  await address.pressSequentially("Bd des Moul");
  await reg.getByRole("option").first().waitFor();
  await address.pressSequentially(" 18");
  await address.press("Enter");
  const afterEnter = await address.inputValue();
  check(afterEnter === "Bd des Moul 18" || /\b18\b/.test(afterEnter), `Enter while the next search was pending chose ${afterEnter}`);
  check(!sent.includes("/api/auth/register"), "the registration was sent while the next search was pending");
  step("Enter while the next search is pending does not choose the last list");

  // An inside address, chosen with the keyboard; the home is the suggestion's point. With its
  // house number typed, the address comes first (the search ranks an exact house number first).
  const typed = "Bd des Moul 18";
  await address.fill("");
  await address.pressSequentially(typed);
  await reg.getByRole("option", { name: /Boulevard des Moulins/ }).first().waitFor();
  check((await address.getAttribute("aria-expanded")) === "true", "the combobox says its list is open");
  await address.press("ArrowDown");
  const activeID = await address.getAttribute("aria-activedescendant");
  check(activeID, "ArrowDown marks a suggestion as active");
  const active = page.locator(`[id="${activeID}"]`);
  check((await active.getAttribute("aria-selected")) === "true", "the active suggestion is selected");
  const chosenLabel = (await active.locator(".s-label").textContent()).trim();
  await address.press("Enter");
  check((await reg.getByRole("option").count()) === 0 || !(await reg.locator("#reg-adressen").isVisible()), "the list closes on Enter");
  check((await address.inputValue()) === chosenLabel, `the field holds the chosen address: ${await address.inputValue()}`);
  await reg.locator("#reg-home-note", { hasText: "Dein Zuhause ist auf der Karte markiert" }).waitFor();
  await reg.locator(".home-marker").waitFor();
  // The small map shows the streets around the point (the instance's basemap), to correct it by.
  await page.locator("#reg-map.has-basemap canvas.leaflet-tile.leaflet-tile-loaded").first().waitFor({ state: "attached" });
  await reg.locator(".form-error").waitFor({ state: "hidden" });
  check((await address.getAttribute("aria-invalid")) !== "true", "the address field is still marked after a good choice");
  const expected = (await lookup(typed)).find((a) => a.label === chosenLabel);
  check(expected && expected.inside, `the instance's search has "${chosenLabel}" inside the bounds: ${JSON.stringify(expected)}`);
  await Promise.all([
    page.waitForResponse((r) => r.url().endsWith("/api/auth/register") && r.status() === 202),
    reg.getByRole("button", { name: "Registrieren" }).click(),
  ]);
  await page.locator("#account-btn", { hasText: "Grace" }).waitFor();
  const me = await page.evaluate(() => fetch("/api/me").then((r) => r.json()));
  check(near(me.lat, expected.lat) && near(me.lon, expected.lon), `home ${me.lat},${me.lon} is the suggestion's ${expected.lat},${expected.lon}`);
  check(me.address === chosenLabel, `the address kept is the chosen one: ${me.address}`);
  step(`registered at "${chosenLabel}" (typed "${typed}", chosen with the keyboard); the home is its point`);

  // A second resident corrects the point on the small map: a tap moves it, so does a drag of
  // the marker; the home is where the marker ended, not the suggestion's point. Escape in the
  // open list closes the list, not the registration.
  const ctx2 = await browser.newContext({ baseURL: base, locale: "de-DE", viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true });
  await ctx2.addInitScript(() => localStorage.setItem("wg.onboarded", "1"));
  const other = await ctx2.newPage();
  other.setDefaultTimeout(patience);
  other.on("pageerror", (e) => problems.push(`second page error: ${e.message}`));
  await other.goto("/");
  await other.waitForSelector("html[data-ready='1']");
  await other.getByRole("button", { name: "Anmelden oder registrieren" }).click();
  await other.getByRole("button", { name: "Registrieren", exact: true }).click();
  const reg2 = other.locator("#register-form");
  const address2 = reg2.getByRole("combobox", { name: "Adresse" });
  await reg2.getByLabel("Name").fill("Rainier Test");
  await address2.pressSequentially("av des spelug");
  await reg2.getByRole("option").first().waitFor();
  await address2.press("Escape");
  await reg2.locator("#reg-adressen").waitFor({ state: "hidden" });
  check(await other.locator("#dlg-register").evaluate((d) => d.open), "Escape in the suggestions closed the registration");
  await address2.press("ArrowDown");
  const option2 = reg2.getByRole("option").first();
  const label2 = (await option2.locator(".s-label").textContent()).trim();
  await option2.tap();
  const found2 = (await lookup("av des spelug")).find((a) => a.label === label2);
  check(found2 && found2.inside, `the search has "${label2}" inside: ${JSON.stringify(found2)}`);
  const marker = reg2.locator(".home-marker");
  await marker.waitFor();
  // The small map jumps to the address (no animation: a tap while it flew would land
  // elsewhere); a settled map has no zoom animation running.
  await other.waitForFunction(() => !document.querySelector("#reg-map .leaflet-zoom-anim"));
  const centre = async () => {
    const b = await marker.boundingBox();
    return { x: b.x + b.width / 2, y: b.y + b.height / 2 };
  };
  const m0 = await centre();
  await other.touchscreen.tap(m0.x + 40, m0.y);
  await other.waitForFunction(([x]) => {
    const b = document.querySelector("#reg-map .home-marker").getBoundingClientRect();
    return Math.abs(b.left + b.width / 2 - x) < 1.5;
  }, [m0.x + 40]);
  const m1 = await centre();
  await other.mouse.move(m1.x, m1.y);
  await other.mouse.down();
  await other.mouse.move(m1.x, m1.y + 15, { steps: 3 });
  await other.mouse.move(m1.x, m1.y + 30, { steps: 3 });
  await other.mouse.up();
  await other.waitForFunction(([y]) => {
    const b = document.querySelector("#reg-map .home-marker").getBoundingClientRect();
    return Math.abs(b.top + b.height / 2 - y) < 1.5;
  }, [m1.y + 30]);
  await reg2.getByLabel("E-Mail").fill("rainier@example.org");
  await reg2.getByLabel(/^Passwort/).fill("ein Fels im Meer");
  await reg2.getByRole("button", { name: "Registrieren" }).click();
  await other.locator("#account-btn", { hasText: "Rainier" }).waitFor();
  const me2 = await other.evaluate(() => fetch("/api/me").then((r) => r.json()));
  // At zoom 17 a pixel is 360°/2^25 of longitude, and of latitude that times cos(latitude).
  const pxLon = 360 / 2 ** 25, pxLat = pxLon * Math.cos((found2.lat * Math.PI) / 180);
  check(Math.abs(me2.lon - (found2.lon + 40 * pxLon)) < 3 * pxLon && Math.abs(me2.lat - (found2.lat - 30 * pxLat)) < 3 * pxLat,
    `the corrected home ${me2.lat},${me2.lon} is not 40 px right and 30 px below ${found2.lat},${found2.lon}`);
  await ctx2.close();
  step(`a second resident chose "${label2}" and corrected the point by a tap and a drag; the home is where the marker ended`);

  // Knoten knüpfen by search: outside refused, inside placed at the found point.
  await page.getByRole("button", { name: "Knoten knüpfen" }).click();
  const bar = page.locator("#pick-bar");
  const q = bar.getByRole("combobox", { name: "Adresse oder Ort suchen" });
  await q.pressSequentially("Avenue des Papal");
  await bar.getByRole("option", { name: /Avenue des Papalins/ }).first().tap();
  await bar.locator("#pick-note", { hasText: "liegt außerhalb der Ortsweberei" }).waitFor();
  check(!(await page.locator("#dlg-knoten").evaluate((d) => d.open)), "the form opened for an outside place");
  // A first place, then "Ort ändern" to another: the form keeps what was typed.
  await q.fill("");
  await q.pressSequentially("boulevard des moulins 18");
  await bar.getByRole("option", { name: /Boulevard des Moulins 18/ }).first().tap();
  const kf = page.locator("#knoten-form");
  await kf.locator("#knoten-ort", { hasText: "Boulevard des Moulins 18" }).waitFor();
  await kf.getByLabel("Art").selectOption("einrichtung");
  await kf.getByLabel("Titel").fill("Bücherschrank an den Spélugues");
  await kf.getByRole("button", { name: "Ort ändern" }).click();
  await bar.waitFor();
  const spot = "Avenue des Spélugues";
  await q.pressSequentially("av des spelug");
  const inOption = bar.getByRole("option", { name: new RegExp(spot) }).first();
  const spotLabel = (await inOption.locator(".s-label").textContent()).trim();
  await a11y("Knoten knüpfen with the suggestions open");
  await inOption.tap();
  await kf.locator("#knoten-ort", { hasText: spotLabel }).waitFor();
  check((await kf.getByLabel("Titel").inputValue()) === "Bücherschrank an den Spélugues", "the title was lost when the place changed");
  const spotPoint = (await lookup("av des spelug")).find((a) => a.label === spotLabel);
  check(spotPoint && spotPoint.inside, `the search has "${spotLabel}" inside: ${JSON.stringify(spotPoint)}`);
  const [bySearch] = await Promise.all([
    page.waitForResponse((r) => r.url().endsWith("/api/knoten") && r.request().method() === "POST"),
    kf.getByRole("button", { name: "Knüpfen" }).click(),
  ]);
  check(bySearch.status() === 201, `POST /api/knoten answered ${bySearch.status()}: ${await bySearch.text()}`);
  const k1 = await bySearch.json();
  check(near(k1.lat, spotPoint.lat) && near(k1.lon, spotPoint.lon), `the Knoten is at ${k1.lat},${k1.lon}, the place found is at ${spotPoint.lat},${spotPoint.lon}`);
  await page.locator("#kp-title", { hasText: "Bücherschrank" }).waitFor();
  await page.keyboard.press("Escape");
  await page.locator("#knoten-panel").waitFor({ state: "hidden" });
  step(`Knoten knüpfen by search: an outside place refused; a first place changed ("Ort ändern") to "${spotLabel}", placed at its point`);

  // Knoten knüpfen by a tap. The app opens afresh (no remembered view), showing the whole
  // Ortsweberei with map around it; the bounds' outline on screen tells where they are.
  await page.evaluate(() => localStorage.removeItem("wg.view"));
  await page.reload();
  await page.waitForSelector("html[data-ready='1']");
  const outline = page.locator("#map .leaflet-bounds-pane path[stroke-dasharray]");
  await page.getByRole("button", { name: "Knoten knüpfen" }).click();
  await bar.waitFor();
  const rect = await outline.evaluate((p) => {
    const r = p.getBoundingClientRect();
    return { left: r.left, top: r.top, right: r.right, bottom: r.bottom, width: r.width, height: r.height };
  });
  // Leaflet clips what is off screen: only an outline whole on screen gives the bounds' extent.
  check(rect.left >= 0 && rect.right <= 390 && rect.top >= 0 && rect.bottom <= 844 && rect.width > 100,
    `the bounds are not whole on the screen: ${JSON.stringify(rect)}`);
  // Nothing but the map at and around a spot: no bar, button, control, pin or Garnrolle within
  // 20 px of it (a tap on a Garnrolle opens its card instead, and the browser moves a tap to a
  // clickable thing close by).
  const free = (x, y) => page.evaluate(([x, y]) => {
    for (let dx = -20; dx <= 20; dx += 5) {
      for (let dy = -20; dy <= 20; dy += 5) {
        const el = document.elementFromPoint(x + dx, y + dy);
        if (!el?.closest("#map") || el.closest(".leaflet-control, .leaflet-marker-icon, .leaflet-interactive, .leaflet-popup")) return false;
      }
    }
    return true;
  }, [x, y]);
  const firstFree = async (spots) => {
    for (const [x, y] of spots) if (x > 4 && x < 386 && y > 0 && y < 840 && (await free(x, y))) return [x, y];
    return null;
  };
  const cx = (rect.left + rect.right) / 2, cy = (rect.top + rect.bottom) / 2;
  const outsideAt = await firstFree([[cx, rect.top - 25], [cx - 60, rect.top - 25], [cx + 60, rect.top - 25], [cx, rect.bottom + 25], [rect.left - 22, cy], [rect.right + 22, cy]]);
  check(outsideAt, `no free spot outside the bounds to tap (bounds at ${JSON.stringify(rect)})`);
  const before = sent.length;
  await page.touchscreen.tap(outsideAt[0], outsideAt[1]);
  await bar.locator("#pick-note", { hasText: "Dieser Ort liegt außerhalb der Ortsweberei" }).waitFor();
  check(!(await page.locator("#dlg-knoten").evaluate((d) => d.open)), "the form opened for a tap outside");
  check(sent.length === before, "a tap outside sent something: " + sent.slice(before).join(", "));
  check(await bar.isVisible(), "the picking goes on after a refused tap");
  step("a tap outside the bounds is refused at once, with nothing sent");

  const fractions = [[0.4, 0.6], [0.3, 0.3], [0.7, 0.3], [0.7, 0.7], [0.2, 0.5], [0.5, 0.15], [0.15, 0.85], [0.85, 0.85], [0.5, 0.5]];
  const insideAt = await firstFree(fractions.map(([fx, fy]) => [rect.left + rect.width * fx, rect.top + rect.height * fy]));
  check(insideAt, `no free spot inside the bounds to tap (bounds at ${JSON.stringify(rect)})`);
  const [x, y] = insideAt;
  const fx = (x - rect.left) / rect.width, fy = (y - rect.top) / rect.height;
  await page.touchscreen.tap(x, y);
  await kf.locator("#knoten-ort", { hasText: "Der markierte Punkt auf der Karte" }).waitFor();
  await kf.getByLabel("Art").selectOption("idee");
  await kf.getByLabel("Titel").fill("Bank mit Blick");
  const [byTap] = await Promise.all([
    page.waitForResponse((r) => r.url().endsWith("/api/knoten") && r.request().method() === "POST"),
    kf.getByRole("button", { name: "Knüpfen" }).click(),
  ]);
  check(byTap.status() === 201, `POST /api/knoten answered ${byTap.status()}: ${await byTap.text()}`);
  const k2 = await byTap.json();
  check(inBox(k2), `the tapped Knoten ${k2.lat},${k2.lon} lies within the bounds`);
  // Where the tap was, read off the outline (Web Mercator is straight enough over a kilometre):
  // within a few pixels of it.
  const want = {
    lon: box.minLon + (box.maxLon - box.minLon) * fx,
    lat: box.maxLat - (box.maxLat - box.minLat) * fy,
  };
  const px = { lon: (box.maxLon - box.minLon) / rect.width, lat: (box.maxLat - box.minLat) / rect.height };
  check(Math.abs(k2.lon - want.lon) < 4 * px.lon && Math.abs(k2.lat - want.lat) < 4 * px.lat,
    `the Knoten is at ${k2.lat},${k2.lon}, the tap was at about ${want.lat},${want.lon}`);
  await page.locator(`.leaflet-marker-icon[data-knoten="${k2.id}"]`).waitFor();
  step("a tap inside the bounds placed the Knoten where it was tapped");

  // While picking, a tap on a pin is a place too: it does not open the pin's Knoten.
  await page.keyboard.press("Escape");
  await page.locator("#knoten-panel").waitFor({ state: "hidden" });
  await page.getByRole("button", { name: "Knoten knüpfen" }).click();
  await bar.waitFor();
  // On the pin's picture: there, without the picking's rule, a tap neither picked nor opened.
  const glyph = await page.locator(`.leaflet-marker-icon[data-knoten="${k2.id}"] .ico`).boundingBox();
  await page.touchscreen.tap(glyph.x + glyph.width / 2, glyph.y + glyph.height / 2);
  await kf.locator("#knoten-ort", { hasText: "Der markierte Punkt auf der Karte" }).waitFor();
  check(await page.locator("#knoten-panel").isHidden(), "the pin's Knoten opened while picking");
  await kf.getByRole("button", { name: "Abbrechen" }).click();
  step("while picking, a tap on a pin picked its place instead of opening the Knoten");

  check(problems.length === 0, "errors in the page:\n  " + problems.join("\n  "));
  console.log(`e2e: passed in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  await browser.close();
  process.exit(0);
} catch (err) {
  mkdirSync(artifacts, { recursive: true });
  if (page) {
    const file = join(artifacts, "phone.png");
    await page.screenshot({ path: file, fullPage: true }).catch(() => {});
    console.error(`e2e: screenshot ${file}`);
  }
  if (problems.length) console.error("e2e: page problems:\n  " + problems.join("\n  "));
  console.error("e2e: FAILED:", err?.stack || err);
  await browser.close().catch(() => {});
  process.exit(1);
}
