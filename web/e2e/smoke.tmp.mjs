import { chromium } from "playwright-core";
const base = "http://127.0.0.1:18714";
const browser = await chromium.launch({ executablePath: "/usr/bin/chromium", headless: true, args: ["--no-sandbox", "--disable-gpu"] });
const ctx = await browser.newContext({ baseURL: base, locale: "de-DE", viewport: { width: Number(process.env.W || 1280), height: Number(process.env.H || 800) }, isMobile: !!process.env.M });
await ctx.addInitScript(() => { localStorage.setItem("wg.onboarded", "1"); });
const r = await ctx.request.post("/api/auth/login", { data: { email: "admin@demo.weltgewebe.local", password: "weltgewebe-demo" } });
console.log("login", r.status());
const page = await ctx.newPage();
page.on("pageerror", (e) => console.log("PAGEERROR", e.message));
page.on("console", (m) => console.log("console", m.type(), m.text()));
const kpos = { lat: 43.7384, lon: 7.4246 };
let status = "initiated";
const konto = () => ({ balance_cents: 123450, pending_cents: 1250, reserved_cents: 50000, available_cents: 73450, settled_cents: 123450, reversed_cents: 0, paid_cents: 0,
  counts: { initiated: 1, pending: 0, settled: 3, failed: 0, reversed: 0 }, bank: { empfaenger: "Ortsweberei Monaco e. V.", iban: "DE02120300000000202051", bic: "BYLADEM1001" }, position: kpos,
  goldfaeden: [{ id: "g1", account_id: "a1", account_name: "Jana Weber", status, amount_cents: 1250, message: "Für die Bank", created_at: "2026-12-05T01:00:00Z" },
    { id: "g2", account_id: "a2", account_name: "Donaudampfschifffahrtsgesellschaftskapitän Müller", status: "reversed", amount_cents: 100000, message: "", created_at: "2026-12-04T01:00:00Z" }],
  auszahlungen: [{ id: "p1", antrag: { id: "00000000-0000-0000-0000-000000000001", title: "Neue Bank am Markt" }, betrag_cents: 50000, status: "bewilligt", gedeckt: false }] });
await page.route("**/api/konto", (rt) => rt.fulfill({ json: konto() }));
await page.route("**/api/konto/journal**", (rt) => rt.fulfill({ json: { buchungen: [
  { seq: 3, booked_at: "2026-12-05T01:00:00Z", kind: "spende", amount_cents: 1250, donor: { id: "a1", name: "Jana Weber" }, antrag: null, message: "" },
  { seq: 2, booked_at: "2026-12-05T01:00:00Z", kind: "spende", amount_cents: 700, donor: "anonym", antrag: null, message: "" },
  { seq: 1, booked_at: "2026-12-05T01:00:00Z", kind: "auszahlung", amount_cents: -5000, donor: null, antrag: { id: "x", title: "Bank" }, message: "" }], next: rt.request().url().includes("before") ? null : 1 } }));
await page.route("**/api/spenden", (rt) => rt.request().method() === "POST"
  ? rt.fulfill({ status: 201, json: { spende: { id: "s1", reference: "WG-ABCDE-FGHJK", amount_cents: 1250, visible: true, status: "initiated" }, ueberweisung: { empfaenger: "Ortsweberei Monaco e. V.", iban: "DE02120300000000202051", bic: "BYLADEM1001", verwendungszweck: "WG-ABCDE-FGHJK", betrag_cents: 1250 } } })
  : rt.fulfill({ json: { spenden: [
    { id: "s1", reference: "WG-ABCDE-FGHJK", amount_cents: 1250, visible: true, status: "initiated", donor: { id: "a", name: "Jana Weber" }, created_at: "2026-12-05T01:00:00Z", message: "Hallo" },
    { id: "s2", reference: "WG-ABCDE-22222", amount_cents: 700, visible: false, status: "pending", donor: { id: "a", name: "Jana Weber" }, created_at: "2026-12-05T01:00:00Z", message: "" },
    { id: "s3", reference: "WG-ABCDE-33333", amount_cents: 100000, visible: true, status: "settled", donor: { id: "b", name: "Bernd" }, created_at: "2026-12-05T01:00:00Z", message: "" }] } }));
await page.route("**/api/me/spenden", (rt) => rt.fulfill({ json: { spenden: [] } }));
await page.routeWebSocket("**/ws/map", (ws) => {
  const server = ws.connectToServer();
  server.onMessage((m) => {
    const msg = JSON.parse(m);
    if (msg.type === "state") {
      const rolle = msg.garnrollen?.find((g) => g.position);
      if (rolle) msg.goldfaeden = [{ id: "g1", account_id: rolle.id, account_name: rolle.name, account_position: rolle.position, konto_position: kpos, status, amount_cents: 1250, created_at: "" },
        { id: "g2", account_id: "x", account_name: "X", account_position: { lat: rolle.position.lat + 0.003, lon: rolle.position.lon - 0.004 }, konto_position: kpos, status: "reversed", amount_cents: 1250, created_at: "" }];
    }
    ws.send(JSON.stringify(msg));
  });
});
await page.goto("/");
await page.waitForSelector("html[data-ready='1']");
await page.waitForTimeout(3000);
await page.screenshot({ path: "/tmp/kontoweb-smoke/map.png" });
await page.locator("#open-ortskonto").click();
await page.locator("#konto-balance").waitFor();
await page.waitForTimeout(500);
await page.screenshot({ path: "/tmp/kontoweb-smoke/konto.png" });
await page.locator("#tab-spenden").click();
await page.locator("#spende-form").waitFor();
await page.locator('input[name="amount"]').fill("12,5x");
await page.locator('#spende-form button[type=submit]').click();
await page.screenshot({ path: "/tmp/kontoweb-smoke/form.png" });
await page.locator('input[name="amount"]').fill("12,50");
await page.locator('#spende-form button[type=submit]').click();
await page.locator("#ueberweisung").waitFor();
await page.screenshot({ path: "/tmp/kontoweb-smoke/ueberweisung.png" });
await page.locator("#tab-kasse").click();
await page.locator("#kasse-spenden li").first().waitFor();
await page.waitForTimeout(300);
await page.screenshot({ path: "/tmp/kontoweb-smoke/kasse.png", fullPage: true });
const el = await page.$("#ortskonto .slider-body");
await el.evaluate((e) => (e.scrollTop = 10000));
await page.screenshot({ path: "/tmp/kontoweb-smoke/kasse2.png" });
await browser.close();
