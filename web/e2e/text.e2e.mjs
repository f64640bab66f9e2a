// A resident's text reaches the page as text, never as markup. Run by web/e2e_test.go
// (TestUserTextStaysText): a resident whose name, Knoten and chat message carry markup (an
// <img> with an onerror, <b>, <script>) is on the map; in headless Chromium the Garnrolle's
// tooltip, the pin, the Knoten panel, the list, the Garnrolle's card, the chat and the
// Ortskonto's Goldfäden show the literal text, no element of it is ever created, and no script
// of it runs.
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { chromium } from "playwright-core";
import { patience } from "./patience.mjs";
import { describeApp } from "./state.mjs";

const env = (name) => {
  const v = process.env[name];
  if (!v) {
    console.error(`e2e: ${name} is not set`);
    process.exit(2);
  }
  return v;
};
const base = env("WG_URL");
const name = env("WG_NAME");
const title = env("WG_TITLE");
const description = env("WG_DESCRIPTION");
const chatText = env("WG_CHAT");
const knotenID = env("WG_KNOTEN");
const view = [Number(env("WG_LAT")), Number(env("WG_LON")), 16];
const artifacts = process.env.WG_ARTIFACTS || join(process.cwd(), "e2e", "artifacts", String(Date.now()));

function check(cond, msg) {
  if (!cond) throw new Error("check failed: " + msg);
}

const browser = await chromium.launch({
  executablePath: process.env.WG_CHROMIUM || "/usr/bin/chromium",
  headless: true,
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
const ctx = await browser.newContext({ baseURL: base, locale: "de-DE", viewport: { width: 1280, height: 800 } });
await ctx.addInitScript((view) => {
  localStorage.setItem("wg.onboarded", "1");
  localStorage.setItem("wg.view", JSON.stringify(view));
  // Every element the residents' markup would make, wherever and however briefly it appears.
  window.__made = [];
  const words = ["Mallory", "Bank", "kursiv", "Hallo"];
  const suspect = (el) =>
    (el.tagName === "IMG" && el.getAttribute("src") === "x") ||
    el.hasAttribute("onerror") ||
    (el.tagName === "SCRIPT" && el.textContent.includes("__xss")) ||
    (["B", "I"].includes(el.tagName) && words.includes(el.textContent));
  new MutationObserver((records) => {
    for (const r of records)
      for (const n of r.addedNodes) {
        if (n.nodeType !== 1) continue;
        for (const el of [n, ...n.querySelectorAll("*")]) if (suspect(el)) window.__made.push(el.outerHTML);
      }
  }).observe(document, { childList: true, subtree: true });
  document.addEventListener("securitypolicyviolation", (e) => window.__made.push(`CSP refused ${e.violatedDirective} ${e.blockedURI}`));
}, view);
const page = await ctx.newPage();
page.setDefaultTimeout(patience);
const problems = [];
page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));

try {
  await page.goto("/");
  await page.waitForSelector("html[data-ready='1']");

  // The Garnrolle's tooltip: the name as it was written.
  const rolle = page.locator("path.garnrolle");
  await rolle.waitFor();
  check((await rolle.count()) === 1, `one Garnrolle on the map, found ${await rolle.count()}`);
  await rolle.hover();
  const tip = page.locator(".leaflet-tooltip:not(.gf-label)"); // not the Goldfaden's "ausstehend"
  await tip.waitFor();
  const tipText = await tip.textContent();
  check(tipText === `${name} (unbestätigt)`, `tooltip shows ${JSON.stringify(tipText)}`);
  check((await tip.locator("img, b, script").count()) === 0, "the tooltip holds elements from the name: " + (await tip.innerHTML()));
  console.log(`tooltip: ${tipText}`);

  // The pin and its panel, with the spinner's name on the Faden.
  const pin = page.locator(`.leaflet-marker-icon[data-knoten="${knotenID}"]`);
  await pin.waitFor();
  // Both in the map's view (the list below shows only the Knoten in view).
  const mapBox = await page.locator("#map").boundingBox();
  for (const [what, loc] of [["the Garnrolle", rolle], ["the pin", pin]]) {
    const r = await loc.boundingBox();
    check(r && r.x >= mapBox.x && r.y >= mapBox.y && r.x + r.width <= mapBox.x + mapBox.width && r.y + r.height <= mapBox.y + mapBox.height,
      `${what} lies outside the map's view (${JSON.stringify(r)}): the test's view is off`);
  }
  check((await pin.getAttribute("aria-label")) === `Idee: ${title}`, `pin label ${await pin.getAttribute("aria-label")}`);
  await pin.click();
  const panel = page.locator("#knoten-panel");
  await page.locator("#kp-title").waitFor();
  check((await page.locator("#kp-title").textContent()) === title, `panel title ${await page.locator("#kp-title").textContent()}`);
  await panel.getByText(description, { exact: true }).waitFor();
  await panel.getByText(name, { exact: true }).first().waitFor();
  await page.keyboard.press("Escape");
  console.log("Knoten panel: title, description and spinner shown as text");

  // The list of Knoten in view.
  await page.locator("#list-btn").click();
  await page.locator("#knoten-list").getByText(title, { exact: true }).waitFor();
  await page.keyboard.press("Escape");

  // The Garnrolle's card.
  await rolle.click();
  const card = page.locator(".rolle-card strong");
  await card.waitFor();
  check((await card.textContent()) === name, `card shows ${await card.textContent()}`);
  console.log("list and Garnrolle card: text");

  // The chat.
  await page.locator("#open-chat").click();
  await page.locator("#chat-log").getByText(chatText, { exact: true }).waitFor();
  await page.locator("#chat-log").getByText(name, { exact: true }).first().waitFor();
  console.log("chat: message and author shown as text");

  // The Ortskonto: the donor's name with the Goldfaden.
  await page.locator("#open-ortskonto").click();
  await page.locator("#konto-goldfaeden").getByText(name, { exact: true }).waitFor();
  console.log("Ortskonto: the donor's name shown as text");

  const made = await page.evaluate(() => window.__made);
  check(made.length === 0, "elements or requests made from residents' text: " + made.join(" | "));
  check((await page.evaluate(() => window.__xss)) === undefined, "a resident's script ran");
  check(problems.length === 0, problems.join("; "));
  console.log("no element made from residents' markup, no script of theirs ran");
  await browser.close();
  process.exit(0);
} catch (err) {
  console.error(String(err?.stack || err));
  console.error(await describeApp(page));
  try {
    mkdirSync(artifacts, { recursive: true });
    await page.screenshot({ path: join(artifacts, "text.png") });
    console.error(`screenshot in ${artifacts}`);
  } catch {
    // no screenshot
  }
  await browser.close();
  process.exit(1);
}
