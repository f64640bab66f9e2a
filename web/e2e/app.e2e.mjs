// End-to-end test of the web app in headless Debian Chromium, against a real instance
// (started by web/e2e_test.go, or any dev instance: WG_URL, WG_ADMIN_EMAIL, WG_ADMIN_PASSWORD).
//
// Two browsers: Ana on a desktop screen registers through the app, logs out and in, places a
// Knoten; Bea on a 360 px phone sees it arrive over /ws/map (the time it took is logged, not
// asserted: CI machines are busy; `make bench` measures the feed's latency), loses her connection and
// gets what she missed from her cursor when it is back, spins a Faden to it and
// twists it into Garn (Ana sees the Knoten turn permanent); Ana files an Antrag about it, Bea
// objects, the dev clock moves two weeks, the Abstimmung opens, both vote, and the public vote
// list shows their names. Also: the onboarding is remembered, Escape closes a slider, the chat
// delivers live and an admin's removal takes the message from open screens, and axe-core finds
// nothing serious on the main views. On failure: screenshots of both pages in WG_ARTIFACTS, and
// exit code 1.
//
// Every wait is for something to appear (an element, a frame, a state), never for time to pass;
// the timeouts are safety nets for a slow machine, not what a step is expected to take.
import { mkdirSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import { chromium, request } from "playwright-core";
import { patience } from "./patience.mjs";

const base = must("WG_URL");
const artifacts = process.env.WG_ARTIFACTS || join(process.cwd(), "e2e", "artifacts", String(Date.now()));
const runID = Math.random().toString(36).slice(2, 8);
const started = Date.now();
const step = (msg) => console.log(`[${((Date.now() - started) / 1000).toFixed(1)}s] ${msg}`);

function must(name) {
  const v = process.env[name];
  if (!v) {
    console.error(`e2e: ${name} is not set`);
    process.exit(2);
  }
  return v;
}

function check(cond, msg) {
  if (!cond) throw new Error("check failed: " + msg);
}

const browser = await chromium.launch({
  executablePath: process.env.WG_CHROMIUM || "/usr/bin/chromium",
  headless: true,
  // Playwright gives every launch a fresh, empty profile directory of its own.
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
const pages = {};
const problems = [];

// Accessibility: axe-core over the page as it stands; serious and critical findings fail.
const axeSource = readFileSync(createRequire(import.meta.url).resolve("axe-core/axe.min.js"), "utf8");
async function a11y(page, what) {
  // evaluate, not a script tag: the page's Content-Security-Policy rightly refuses inline scripts.
  if (!(await page.evaluate(() => "axe" in window))) await page.evaluate(axeSource);
  const found = await page.evaluate(() => axe.run(document, { resultTypes: ["violations"] }).then((r) => r.violations));
  const bad = found.filter((v) => v.impact === "serious" || v.impact === "critical");
  check(bad.length === 0, `accessibility (${what}): ` + bad.map((v) => `${v.id}: ${v.help} at ${v.nodes.map((n) => n.target.join(" ")).slice(0, 3).join(", ")}`).join("; "));
}

// Opens a slider unless it is open already (its button toggles).
async function openSlider(page, name) {
  const button = page.getByRole("button", { name, exact: true });
  if ((await button.getAttribute("aria-expanded")) !== "true") await button.click();
}

async function newPage(name, options) {
  const ctx = await browser.newContext({ baseURL: base, locale: "de-DE", timezoneId: "Europe/Berlin", ...options });
  const page = await ctx.newPage();
  page.setDefaultTimeout(patience);
  page.on("pageerror", (e) => problems.push(`${name}: page error: ${e.message}`));
  page.on("console", (m) => {
    if (m.type() === "error" && !/401|Failed to load resource/.test(m.text())) problems.push(`${name}: console: ${m.text()}`);
  });
  pages[name] = page;
  return page;
}

// The API as an admin would use it (verifying accounts) and as the dev clock is moved.
const api = await request.newContext({ baseURL: base });
async function call(method, path, body) {
  const res = await api.fetch(path, { method, data: body, headers: body ? { "Content-Type": "application/json" } : {} });
  const text = await res.text();
  if (!res.ok()) throw new Error(`${method} ${path}: ${res.status()} ${text}`);
  return text ? JSON.parse(text) : null;
}

try {
  await call("POST", "/api/auth/login", { email: must("WG_ADMIN_EMAIL"), password: must("WG_ADMIN_PASSWORD") });
  let bea = { email: process.env.WG_BEA_EMAIL, password: process.env.WG_BEA_PASSWORD, name: process.env.WG_BEA_NAME };
  if (!bea.email) {
    // Against a dev instance of one's own: Bea registers and is verified through the API.
    const ow = await call("GET", "/api/ortsweberei");
    const [lon, lat] = ow.bounds ? ow.bounds.coordinates[0][0][0] : [12.33, 51.33];
    bea = { email: `bea-${runID}@example.org`, password: "correct horse battery", name: `Bea Beispiel ${runID}` };
    const reg = await request.newContext({ baseURL: base });
    await reg.post("/api/auth/register", { data: { name: bea.name, address: "Teststraße 2", lat: lat + 0.004, lon: lon + 0.004, email: bea.email, password: bea.password } });
    const acct = await (await reg.post("/api/auth/login", { data: { email: bea.email, password: bea.password } })).json();
    await call("POST", `/api/admin/accounts/${acct.id}/verify`, {});
  }

  // Ana: first visit, onboarding, registration in the app.
  const ana = await newPage("ana", { viewport: { width: 1280, height: 800 } });
  await ana.goto("/");
  await ana.getByRole("dialog", { name: "Willkommen im Weltgewebe" }).waitFor();
  await ana.getByRole("button", { name: "Weiter" }).click();
  await ana.getByRole("button", { name: "Überspringen" }).click();
  await ana.reload();
  await ana.waitForSelector("html[data-ready='1']");
  check(!(await ana.locator("#dlg-onboarding").evaluate((d) => d.open)), "onboarding shown again after it was dismissed");
  step("onboarding dismissed and remembered; map live");

  const anaName = `Ana Anders ${runID}`;
  const anaEmail = `ana-${runID}@example.org`;
  await a11y(ana, "the map");
  await ana.getByRole("button", { name: "Anmelden oder registrieren" }).click();
  await ana.getByRole("button", { name: "Registrieren", exact: true }).click();
  const reg = ana.locator("#register-form");
  await a11y(ana, "registration");
  await reg.getByLabel("Name").fill(anaName);
  await reg.getByLabel("Adresse").fill("Lützner Straße 30, 04177 Leipzig");
  // This instance has no address index: the home point is set by a tap on the small map.
  await reg.locator("#reg-map").click();
  await reg.locator("#reg-home-note", { hasText: "Dein Zuhause ist auf der Karte markiert" }).waitFor();
  await reg.getByLabel("E-Mail").fill(anaEmail);
  await reg.getByLabel(/^Passwort/).fill("passwort123");
  await reg.getByRole("button", { name: "Registrieren" }).click();
  await reg.getByText("Dieses Passwort gehört zu den meistbenutzten").waitFor();
  await reg.getByLabel(/^Passwort/).fill("correct horse battery");
  await reg.getByRole("button", { name: "Registrieren" }).click();
  await ana.locator("#account-btn", { hasText: "Ana" }).waitFor();
  step("Ana was refused a common password (German message), registered (and is logged in)");

  await ana.locator("#account-btn").click();
  await ana.getByRole("button", { name: "Abmelden" }).click();
  await ana.locator("#account-btn", { hasText: "Anmelden" }).waitFor();
  await ana.locator("#account-btn").click();
  // Someone registers Ana's address again: the instance answers as for a new address, and the
  // app, whose login with the new password then fails, sends them to the login with a note.
  await ana.locator("#to-register").click();
  await reg.getByLabel("Name").fill("Jemand Anderes");
  await reg.getByLabel("Adresse").fill("Karl-Heine-Straße 1, 04229 Leipzig");
  await reg.locator("#reg-map").click();
  await reg.getByLabel("E-Mail").fill(anaEmail);
  await reg.getByLabel(/^Passwort/).fill("ein ganz anderes Passwort");
  await reg.getByRole("button", { name: "Registrieren" }).click();
  await ana.locator("#login-note", { hasText: "gibt es schon ein Konto" }).waitFor();
  step("Ana's address registered again: the login opens with a note");
  const login = ana.locator("#login-form");
  await login.getByLabel("E-Mail").fill(anaEmail);
  await login.getByLabel("Passwort").fill("wrong password");
  await login.getByRole("button", { name: "Anmelden" }).click();
  await login.getByText("E-Mail oder Passwort stimmen nicht.").waitFor();
  await login.getByLabel("Passwort").fill("correct horse battery");
  await login.getByRole("button", { name: "Anmelden" }).click();
  await ana.locator("#account-btn", { hasText: "Ana" }).waitFor();
  step("Ana logged out, was refused a wrong password (German message), logged in");

  const me = await ana.evaluate(() => fetch("/api/me").then((r) => r.json()));
  await call("POST", `/api/admin/accounts/${me.id}/verify`, {});
  await ana.reload();
  await ana.waitForSelector("html[data-ready='1']");
  step("an admin verified Ana");

  // Bea on a phone, watching the feed.
  const beaPage = await newPage("bea", { viewport: { width: 360, height: 740 }, isMobile: true, hasTouch: true, deviceScaleFactor: 2 });
  const frames = [], sent = [];
  beaPage.on("websocket", (ws) => {
    if (!ws.url().endsWith("/ws/map")) return;
    ws.on("framereceived", (f) => frames.push({ at: Date.now(), data: String(f.payload) }));
    ws.on("framesent", (f) => sent.push({ at: Date.now(), data: String(f.payload) }));
  });
  await beaPage.addInitScript(() => localStorage.setItem("wg.onboarded", "1"));
  // Keeps hold of the page's sockets, so that the test can cut the map feed's connection.
  await beaPage.addInitScript(() => {
    const Native = window.WebSocket;
    window.__sockets = [];
    window.WebSocket = class extends Native {
      constructor(...args) {
        super(...args);
        window.__sockets.push(this);
      }
    };
  });
  await beaPage.goto("/");
  await beaPage.waitForSelector("html[data-ready='1']");
  await beaPage.locator("#account-btn").click();
  const beaLogin = beaPage.locator("#login-form");
  await beaLogin.getByLabel("E-Mail").fill(bea.email);
  await beaLogin.getByLabel("Passwort").fill(bea.password);
  await beaLogin.getByRole("button", { name: "Anmelden" }).click();
  await beaPage.locator("#account-btn", { hasText: bea.name.split(" ")[0] }).waitFor();
  step("Bea logged in on a 360 px screen");

  // Ana places a Knoten; Bea's map gets it from the feed.
  const title = `Trinkbrunnen ${runID}`;
  await ana.getByRole("button", { name: "Knoten knüpfen" }).click();
  await ana.getByRole("button", { name: "Kartenmitte nehmen" }).click();
  const kf = ana.locator("#knoten-form");
  await kf.getByLabel("Art").selectOption("idee");
  await kf.getByLabel("Titel").fill(title);
  await kf.getByLabel(/Beschreibung/).fill("Ein Brunnen am Markt, für alle.");
  await kf.getByText("Der markierte Punkt auf der Karte").waitFor();
  const clicked = Date.now();
  const [placed] = await Promise.all([
    ana.waitForResponse((r) => r.url().endsWith("/api/knoten") && r.request().method() === "POST"),
    kf.getByRole("button", { name: "Knüpfen" }).click(),
  ]);
  check(placed.status() === 201, `POST /api/knoten answered ${placed.status()}: ${await placed.text()}`);
  const knoten = await placed.json();
  const t0 = Date.now();
  await ana.locator("#kp-title", { hasText: title }).waitFor();
  const pin = beaPage.locator(`.leaflet-marker-icon[data-knoten="${knoten.id}"]`);
  await pin.waitFor();
  const seenAfter = Date.now() - t0;
  const carried = frames.find((f) => f.at >= clicked && f.data.includes(knoten.id) && /"type":"(delta|state)"/.test(f.data));
  check(carried, `no /ws/map frame carried the new Knoten to the second screen (${frames.length} frames, ${sent.length} sent)`);
  check((await pin.getAttribute("aria-label")) === `Idee: ${title}`, "pin label");
  step(`the Knoten appeared on Bea's screen ${seenAfter} ms after it was placed (via ${JSON.parse(carried.data).type} on /ws/map)`);

  // Keyboard: Escape closes Ana's panel; the pin takes focus and opens it again with Enter.
  await ana.keyboard.press("Escape");
  await ana.locator("#knoten-panel").waitFor({ state: "hidden" });
  await ana.locator(`.leaflet-marker-icon[data-knoten="${knoten.id}"]`).focus();
  await ana.keyboard.press("Enter");
  await ana.locator("#kp-title", { hasText: title }).waitFor();
  check((await ana.evaluate(() => document.activeElement?.id)) === "knoten-panel", "the opened panel has the focus");

  // Bea's connection drops; what Ana places meanwhile reaches her after the reconnect, as the
  // changes after her last cursor. A witness on the feed in Ana's page, subscribed before the
  // write, tells when the server has read it (its delta carries it): only then is the write
  // certain to be among the changes after Bea's cursor rather than news still to come.
  const around = (p) => `bbox=${p.lon - 0.002},${p.lat - 0.001},${p.lon + 0.002},${p.lat + 0.001}&zoom=16`;
  const witnessCells = (await call("GET", `/api/map/cells?${around({ lat: knoten.lat + 0.001, lon: knoten.lon + 0.001 })}`)).cells;
  await ana.evaluate(
    (cells) =>
      new Promise((resolve, reject) => {
        const ws = new WebSocket(location.origin.replace(/^http/, "ws") + "/ws/map");
        const seen = new Set();
        window.__witness = seen;
        ws.onerror = () => reject(new Error("the witness feed failed"));
        ws.onmessage = (e) => {
          const m = JSON.parse(e.data);
          if (m.type === "hello") ws.send(JSON.stringify({ type: "subscribe", cells }));
          for (const k of m.knoten || []) seen.add(k.id);
          if (m.type === "state") resolve(); // subscribed: what is written from now on comes as a delta
        };
      }),
    witnessCells,
  );
  const beforeCut = problems.length;
  await beaPage.context().setOffline(true);
  await beaPage.evaluate(() => window.__sockets.filter((s) => s.url.endsWith("/ws/map")).forEach((s) => s.close()));
  await beaPage.waitForSelector("html[data-feed='offline']");
  const title2 = `Nachbarschaftsfest ${runID}`;
  const k2 = await ana.evaluate(
    (body) => fetch("/api/knoten", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) }).then((r) => r.json()),
    { type: "ereignis", title: title2, lat: knoten.lat + 0.001, lon: knoten.lon + 0.001 },
  );
  check(k2.id, "second Knoten placed: " + JSON.stringify(k2));
  await ana.waitForFunction((id) => window.__witness.has(id), k2.id); // the server has read it
  const cut = Date.now();
  await beaPage.context().setOffline(false);
  await beaPage.locator(`.leaflet-marker-icon[data-knoten="${k2.id}"]`).waitFor();
  const resub = sent.find((f) => f.at >= cut && /"type":"subscribe"/.test(f.data));
  check(resub && /"cursor":"[^"]+"/.test(resub.data), "after the reconnect the client subscribed with its cursor: " + resub?.data);
  check(frames.some((f) => f.at >= cut && /"catchup":true/.test(f.data) && f.data.includes(k2.id)), "the missed Knoten came as a catch-up delta");
  check(await beaPage.locator(`.leaflet-marker-icon[data-knoten="${knoten.id}"]`).isVisible(), "the first Knoten is still on the map");
  // Offline, the failed connection attempts are logged to the console: expected.
  problems.splice(beforeCut, problems.length, ...problems.slice(beforeCut).filter((p) => !p.startsWith("bea: console:")));
  step("Bea's feed connection was cut; on reconnect she subscribed with her cursor and got the missed Knoten as a catch-up delta");

  // Bea spins a Faden to it and twists it into Garn.
  await pin.click();
  const panel = beaPage.locator("#knoten-panel");
  await panel.locator("#kp-title", { hasText: title }).waitFor();
  await a11y(beaPage, "the Knoten panel at 360 px");
  await panel.getByLabel("Art des Fadens").selectOption("gespraech");
  await panel.getByRole("button", { name: "Faden spinnen" }).click();
  const beaRow = panel.locator("li", { hasText: bea.name });
  await beaRow.getByText("Gespräch").waitFor();
  await beaRow.getByRole("button", { name: "Verzwirnen" }).click();
  await beaRow.getByText("Garn (hält dauerhaft)").waitFor();
  await beaRow.getByRole("button", { name: "Entzwirnen" }).waitFor();
  check((await panel.locator("li.garn", { hasText: bea.name }).count()) === 1, "Bea's Faden listed as Garn");
  await ana.locator("#knoten-panel .life", { hasText: "Dauerhaft" }).waitFor();
  await beaPage.locator("path.garn").first().waitFor({ state: "attached" });
  step("Bea spun a Faden and twisted it into Garn; Ana's panel shows the Knoten as permanent");

  await beaPage.keyboard.press("Escape");
  await panel.waitFor({ state: "hidden" });

  // Ana files an Antrag about the Knoten.
  await ana.locator("#knoten-panel").getByRole("button", { name: "Antrag stellen" }).click();
  const af = ana.locator("#antrag-form");
  await af.waitFor();
  check((await af.getByLabel("Titel").inputValue()) === title, "Antrag title prefilled from the Knoten");
  await af.getByLabel(/Beschreibung/).fill("Wir wollen **einen** Brunnen.");
  await af.getByLabel(/Betrag/).fill("2500");
  await af.getByRole("button", { name: "Antrag stellen" }).click();
  await ana.locator("#antrag-title", { hasText: title }).waitFor();
  await ana.locator(".antrag .md strong", { hasText: "einen" }).waitFor();
  const antragID = (await call("GET", "/api/antraege?status=offen")).antraege.find((a) => a.title === title)?.id;
  check(antragID, "the Antrag is listed by the API");
  step("Ana filed the Antrag");

  // Bea objects.
  await openSlider(beaPage, "Webrat");
  await beaPage.locator(".antrag-item", { hasText: title }).click();
  const ef = beaPage.locator("#einspruch-form");
  await ef.getByLabel(/Begründung/).fill("Erst einen Kostenvoranschlag, bitte.");
  await ef.getByRole("button", { name: "Einspruch erheben" }).click();
  await beaPage.locator(".einsprueche li", { hasText: bea.name }).getByText("Erst einen Kostenvoranschlag, bitte.").waitFor();
  await beaPage.getByText("(durch Einspruch verlängert)").waitFor();
  await beaPage.keyboard.press("Escape");
  await beaPage.locator("#webrat").waitFor({ state: "hidden" });
  check((await beaPage.evaluate(() => document.activeElement?.id)) === "open-webrat", "focus returns to the Webrat button after Escape");
  step("Bea objected; Escape closed the Webrat and focus went back to its button");

  // Two weeks later: the first deadline was extended by the Einspruch; then the vote opens.
  await call("POST", "/api/dev/clock", { advance: "168h" });
  check((await call("GET", `/api/antraege/${antragID}`)).status === "offen", "still open after one week (extended)");
  await call("POST", "/api/dev/clock", { advance: "168h" });
  const decided = await call("GET", `/api/antraege/${antragID}`);
  check(decided.status === "abstimmung" && decided.abstimmung_id, `status after two weeks: ${decided.status}`);
  step("dev clock moved 2 × 168h: the Abstimmung is open");

  // Both vote; the public list shows their names.
  await openSlider(ana, "Webrat");
  await ana.getByRole("tab", { name: "Anträge" }).click();
  await ana.locator(".abstimmung").waitFor();
  await ana.locator(".vote-buttons").getByRole("button", { name: "Ja" }).click();
  await ana.locator("table.votes tr", { hasText: anaName }).getByRole("cell", { name: "Ja", exact: true }).waitFor();

  await openSlider(beaPage, "Webrat");
  await beaPage.locator(".abstimmung").waitFor();
  await beaPage.locator(".vote-buttons").getByRole("button", { name: "Nein" }).click();
  await beaPage.locator("table.votes tr", { hasText: bea.name }).getByRole("cell", { name: "Nein", exact: true }).waitFor();
  await beaPage.locator("table.votes tr", { hasText: anaName }).getByRole("cell", { name: "Ja", exact: true }).waitFor();
  check((await beaPage.locator(".vote-buttons [aria-pressed=true]").textContent()) === "Nein", "Bea's own choice is marked");
  await a11y(beaPage, "the Abstimmung in the Webrat");
  step("both voted; the vote list shows Ana (Ja) and Bea (Nein) by name");

  // The Antrag's link, as a Fediverse post carries it, opens it for someone without an account.
  const guest = await newPage("guest", { viewport: { width: 360, height: 740 }, isMobile: true });
  await guest.goto(`/antraege/${antragID}`);
  await guest.locator("#antrag-title", { hasText: title }).waitFor();
  await guest.locator("table.votes tr", { hasText: bea.name }).getByRole("cell", { name: "Nein", exact: true }).waitFor();
  step("the Antrag's own link opens it, with its public vote list, for a guest");

  // Bea delegates her vote to Ana, sees it pending until the daily batch, and takes it back.
  await beaPage.getByRole("tab", { name: "Delegation" }).click();
  const df = beaPage.locator("#delegation-form");
  await df.getByLabel("An wen?").selectOption({ label: anaName });
  await df.getByRole("button", { name: "Delegieren" }).click();
  const mine = beaPage.locator("#wr-delegation .delegation", { hasText: anaName });
  await mine.getByText("Wartet auf den täglichen Lauf").waitFor();
  check((await call("GET", `/api/delegationen?to=${me.id}`)).delegationen.some((d) => d.from.name === bea.name), "the API lists Bea's delegation to Ana");
  await mine.getByRole("button", { name: "Widerrufen" }).click();
  await beaPage.getByText("Du stimmst selbst ab").waitFor();
  step("Bea delegated her vote to Ana (pending until the batch) and took it back");

  // The Nähstübchen delivers live.
  await beaPage.keyboard.press("Escape");
  await openSlider(beaPage, "Nähstübchen");
  await beaPage.locator("#chat-log").waitFor();
  await ana.keyboard.press("Escape");
  await openSlider(ana, "Nähstübchen");
  const text = `Hallo aus dem Test ${runID}`;
  await ana.locator("#chat-text").fill(text);
  await ana.getByRole("button", { name: "Senden" }).click();
  await beaPage.locator("#chat-log li", { hasText: text }).getByText(anaName).waitFor();
  await a11y(beaPage, "the Nähstübchen");
  step("a chat message reached the other screen live");
  // An admin takes it down: it goes from both open screens.
  const { messages } = await call("GET", "/api/chat?limit=10");
  const posted = messages.find((m) => m.text === text);
  check(posted, "the chat history lists the message");
  await call("DELETE", `/api/admin/chat/${posted.id}`);
  for (const page of [beaPage, ana]) await page.locator("#chat-log li", { hasText: text }).waitFor({ state: "detached" });
  step("the admin removed it, and it went from both screens");
  const text2 = `Noch eine Nachricht ${runID}`;
  await ana.locator("#chat-text").fill(text2);
  await ana.getByRole("button", { name: "Senden" }).click();
  await beaPage.locator("#chat-log li", { hasText: text2 }).waitFor();
  await beaPage.reload();
  await openSlider(beaPage, "Nähstübchen");
  await beaPage.locator("#chat-log li", { hasText: text2 }).getByText(anaName).waitFor();
  check((await beaPage.locator("#chat-log li", { hasText: text }).count()) === 0, "the removed message is back after a reload");
  step("after a reload the history shows the newer message, not the removed one");

  // Installable and offline: the service worker has cached the shell (never an API answer),
  // and the app starts without the network.
  await ana.waitForFunction(() => navigator.serviceWorker.getRegistration().then((r) => r?.active?.state === "activated"));
  const cached = await ana.evaluate(async () => {
    const urls = [];
    for (const k of await caches.keys()) for (const r of await (await caches.open(k)).keys()) urls.push(new URL(r.url).pathname);
    return urls;
  });
  check(cached.includes("/") && cached.some((u) => /^\/assets\/app-.*\.js$/.test(u)), "the shell is cached: " + cached.join(" "));
  check(!cached.some((u) => /^\/(api|ws|tiles)\//.test(u)), "the service worker cached an API answer: " + cached.join(" "));
  const manifest = await call("GET", "/manifest.webmanifest");
  check(manifest.display === "standalone" && manifest.icons.some((i) => i.sizes === "512x512"), "manifest");
  const before = problems.length;
  await ana.context().setOffline(true);
  await ana.reload();
  await ana.getByRole("button", { name: "Webrat", exact: true }).waitFor();
  await ana.locator("#map-hint", { hasText: /nicht erreichbar|Verbindung unterbrochen/ }).waitFor();
  await ana.context().setOffline(false);
  // Offline, the page's failed requests are logged to the console: expected, not a problem.
  problems.splice(before, problems.length, ...problems.slice(before).filter((p) => !p.startsWith("ana: console:")));
  step(`the service worker cached the shell (${cached.length} files, no API answer); the app starts offline`);

  check(problems.length === 0, "errors in the pages:\n  " + problems.join("\n  "));
  console.log(`e2e: passed in ${((Date.now() - started) / 1000).toFixed(1)} s (feed delivery ${seenAfter} ms)`);
  await browser.close();
  process.exit(0);
} catch (err) {
  mkdirSync(artifacts, { recursive: true });
  for (const [name, page] of Object.entries(pages)) {
    const file = join(artifacts, `${name}.png`);
    await page.screenshot({ path: file, fullPage: true }).catch(() => {});
    console.error(`e2e: screenshot ${file}`);
  }
  if (problems.length) console.error("e2e: page problems:\n  " + problems.join("\n  "));
  console.error("e2e: FAILED:", err?.stack || err);
  await browser.close().catch(() => {});
  process.exit(1);
}
