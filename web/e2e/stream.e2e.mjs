// End-to-end test of the stream page in headless Chromium (started by web/stream_e2e_test.go,
// TestStreamPage), through nginx with ffmpeg broadcasting a test pattern:
//
// - Lea, on a phone (390 × 844), goes from the map (the Webrat's link) to the list of streams
//   and into the one planned: "Geplant". The broadcast starts: her page reads "Live" without a
//   reload, its video plays natively and its time advances; the chat is under the video. As a guest she reads the chat and is asked to log in to write.
// - Ben, on a wide screen, opens the stream's address directly (a reload of it), in a browser
//   made to believe it has no HLS of its own: hls.js plays it, the chat is beside the video.
// - They write to each other and each sees the other's message. Lea's socket is cut; what Ben
//   writes meanwhile reaches her when it reconnects, from her last cursor. In "Oben" Lea's votes move
//   Ben's messages up and down on both screens; one's own choice is shown on the buttons, and
//   no number is anywhere in the chat. A moderator hides a message: it goes from both screens.
// - The broadcast stops (ffmpeg ends): Lea's page says "Offline".
// - Ben, a streamer, renames the stream and gives it a time: Lea's open page shows both.
// - Ben, a streamer, makes a stream: its key is shown once with the server URL for OBS, a new
//   key replaces it, and ending the stream leaves it "Beendet" with its chat to read.
//
// Every wait is for something to appear, change or go, never for time to pass.
import { Kit, check, must } from "./kit.mjs";

const kit = new Kit({ base: must("WG_URL"), password: must("WG_PASSWORD") });
const control = must("WG_CONTROL");
const id = must("WG_STREAM");
const lea = { email: must("WG_LEA_EMAIL"), name: must("WG_LEA_NAME") };
const ben = { email: must("WG_BEN_EMAIL"), name: must("WG_BEN_NAME") };
const step = (msg) => kit.step(msg);

async function ask(path) {
  const res = await fetch(control + path);
  check(res.ok, `${path}: ${res.status} ${await res.text()}`);
}

// The video's time advances by at least a second: it plays, not just shows a frame.
async function plays(page, who) {
  const video = page.locator(".video-box video");
  await video.waitFor();
  await page.waitForFunction(() => document.querySelector(".video-box video")?.currentTime > 0.5);
  const t0 = await video.evaluate((v) => v.currentTime);
  await page.waitForFunction((t) => document.querySelector(".video-box video").currentTime > t + 1, t0);
  step(`${who}: the video plays (${t0.toFixed(1)} s → more than ${(t0 + 1).toFixed(1)} s)`);
}

// Logs in from the chat's hint, on the stream page (the map's account button is under it).
async function loginHere(page, who) {
  await page.locator(".stream-form").getByRole("button", { name: "anmelden" }).click();
  const form = page.locator("#login-form");
  await form.getByLabel("E-Mail").fill(who.email);
  await form.getByLabel("Passwort").fill(kit.password);
  await form.getByRole("button", { name: "Anmelden" }).click();
  await page.locator(".stream-form textarea").waitFor();
}

async function write(page, text) {
  await page.locator(".stream-form textarea").fill(text);
  await page.locator(".stream-form").getByRole("button", { name: "Senden" }).click();
  await page.locator(".stream-log li", { hasText: text }).waitFor();
}

const order = (page) => page.locator(".stream-log li[data-id] .text").allTextContents();

// Waits until the chat's messages read top to bottom as want (its first ones).
async function ordered(page, want, what) {
  await page.waitForFunction((w) => {
    const got = [...document.querySelectorAll(".stream-log li[data-id] .text")].map((p) => p.textContent);
    return w.every((t, i) => got[i] === t);
  }, want).catch(async (e) => {
    throw new Error(`${what}: the chat reads ${JSON.stringify(await order(page))}, want ${JSON.stringify(want)} first (${e.message})`);
  });
}

// No number in the chat but in the times and names: no score, count or rank.
async function noNumbers(page, what) {
  const found = await page.evaluate(() =>
    [...document.querySelectorAll(".stream-chat *")]
      .filter((el) => !el.closest("time") && [...el.childNodes].some((n) => n.nodeType === 3 && /\d/.test(n.textContent)))
      .map((el) => `${el.tagName.toLowerCase()}.${el.className}: ${el.textContent.trim().slice(0, 40)}`));
  check(found.length === 0, `numbers in the chat (${what}): ${found.join("; ")}`);
}

await kit.run(async () => {
  // Lea: from the map to the stream.
  const phone = await kit.newPage("lea", { viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true, deviceScaleFactor: 2 });
  // Lea's chat sockets go through the test, which can cut them (see "reconnects" below).
  const leaSockets = [];
  let cut = false;
  await phone.routeWebSocket(/\/ws\/streams\//, (ws) => {
    if (cut) return ws.close();
    leaSockets.push(ws);
    ws.connectToServer();
  });
  await phone.getByRole("button", { name: "Webrat", exact: true }).click();
  await phone.getByRole("link", { name: "Partizipartei: Livestreams" }).click();
  await phone.waitForURL("**/streams");
  const card = phone.locator(".streams-group", { hasText: "Geplant" }).getByRole("link", { name: /Ortsrat live/ });
  await card.waitFor();
  await kit.a11y(phone, "the list of streams");
  await card.click();
  await phone.waitForURL(`**/streams/${id}`);
  await phone.locator(".stream-state[data-state='geplant']", { hasText: "Geplant" }).waitFor();
  await phone.getByText("Der Stream hat noch nicht begonnen.").waitFor();
  // The broadcast starts while she waits: the page goes live without a reload, and plays.
  await ask("/start");
  await phone.locator(".stream-state[data-state='live']", { hasText: "Live" }).waitFor();
  await plays(phone, "Lea (native HLS)");
  const box = await phone.locator(".video-box").boundingBox();
  const chatBox = await phone.locator(".stream-chat").boundingBox();
  check(chatBox.y >= box.y + box.height, `on a phone the chat is under the video (video ends at ${box.y + box.height}, chat at ${chatBox.y})`);
  await phone.getByText("Mitlesen kann jede und jeder.").waitFor();
  step("Lea (guest, phone): map → list → the planned stream, live when the broadcast starts, the chat under the video, asked to log in to write");
  await loginHere(phone, lea);
  await kit.a11y(phone, "the stream page");
  await kit.fitsTheScreen(phone, "the stream page");
  const fits = await phone.evaluate(() => document.documentElement.scrollWidth <= document.documentElement.clientWidth);
  check(fits, "the stream page is wider than the phone");

  // Ben: the stream's address in a browser without HLS of its own.
  const wide = await kit.newPage("ben", { viewport: { width: 1280, height: 800 } });
  await wide.addInitScript(() => {
    const can = HTMLMediaElement.prototype.canPlayType;
    HTMLMediaElement.prototype.canPlayType = function (type) {
      return /mpegurl/i.test(type) ? "" : can.call(this, type);
    };
  });
  const hlsChunk = wide.waitForResponse((r) => /\/assets\/hls\.light-[^/]+\.js$/.test(r.url()));
  await wide.goto(`/streams/${id}`);
  await hlsChunk;
  await wide.locator(".stream-state[data-state='live']").waitFor();
  await plays(wide, "Ben (hls.js)");
  const wBox = await wide.locator(".video-box").boundingBox();
  const wChat = await wide.locator(".stream-chat").boundingBox();
  check(wChat.x >= wBox.x + wBox.width, `on a wide screen the chat is beside the video (video ends at ${wBox.x + wBox.width}, chat at ${wChat.x})`);
  await loginHere(wide, ben);
  step("Ben (wide): the address directly, hls.js plays, the chat beside the video");

  // The viewer count, from the chat's socket: both of them.
  await phone.locator(".viewers", { hasText: "2 Personen schauen zu" }).waitFor();

  // Writing to each other.
  await write(wide, "Guten Abend aus Lindenau");
  await phone.locator(".stream-log li", { hasText: "Guten Abend aus Lindenau" }).filter({ hasText: ben.name }).waitFor();
  await write(phone, "Hallo Ben");
  await wide.locator(".stream-log li", { hasText: "Hallo Ben" }).filter({ hasText: lea.name }).waitFor();
  await write(wide, "Wann tagt der Ortsrat wieder?");
  await phone.locator(".stream-log li", { hasText: "Wann tagt der Ortsrat wieder?" }).waitFor();
  step("Lea and Ben each see what the other wrote");

  // Lea's connection drops; Ben writes meanwhile; when she is back, the socket starts from
  // her last cursor and brings what she missed (the page loads no history again).
  cut = true;
  const before = leaSockets.length;
  leaSockets.at(-1).close();
  await write(wide, "Während du weg warst");
  cut = false;
  await phone.locator(".stream-log li", { hasText: "Während du weg warst" }).waitFor();
  const back = leaSockets.slice(before).map((ws) => ws.url());
  check(back.length > 0 && back.every((u) => new URL(u).searchParams.get("cursor")), `Lea's reconnect names her cursor: ${back.join(", ")}`);
  step("Lea's socket dropped; back, she gets what Ben wrote meanwhile (reconnected with her cursor)");

  // "Oben": all unvoted, newest first; Lea's votes move Ben's messages on both screens.
  for (const page of [phone, wide]) await page.locator(".sorts").getByRole("button", { name: "Oben" }).click();
  await ordered(phone, ["Während du weg warst", "Wann tagt der Ortsrat wieder?", "Hallo Ben", "Guten Abend aus Lindenau"], "Oben before any vote");
  const first = phone.locator(".stream-log li", { hasText: "Guten Abend aus Lindenau" });
  await first.getByRole("button", { name: /^Nach oben/ }).click();
  await first.locator("button[data-vote='1'][aria-pressed='true']").waitFor();
  await ordered(phone, ["Guten Abend aus Lindenau"], "Lea's screen after her up vote");
  await ordered(wide, ["Guten Abend aus Lindenau"], "Ben's screen after Lea's up vote");
  const question = phone.locator(".stream-log li", { hasText: "Wann tagt der Ortsrat wieder?" });
  await question.getByRole("button", { name: /^Nach unten/ }).click();
  await question.locator("button[data-vote='-1'][aria-pressed='true']").waitFor();
  const afterDown = ["Guten Abend aus Lindenau", "Während du weg warst", "Hallo Ben", "Wann tagt der Ortsrat wieder?"];
  await ordered(phone, afterDown, "Lea's screen after her down vote");
  await ordered(wide, afterDown, "Ben's screen after Lea's down vote");
  check((await wide.locator(".stream-log li", { hasText: "Guten Abend aus Lindenau" }).locator(".vote-btn").count()) === 0, "Ben can vote on his own message");
  await noNumbers(phone, "Lea");
  await noNumbers(wide, "Ben");
  // "Neu" again: newest first, whatever the votes.
  await phone.locator(".sorts").getByRole("button", { name: "Neu" }).click();
  await ordered(phone, ["Während du weg warst", "Wann tagt der Ortsrat wieder?", "Hallo Ben", "Guten Abend aus Lindenau"], "Neu after the votes");
  step("votes reorder Oben on both screens, only one's own choice shown, no number in the chat");

  // A moderator hides Ben's question: it goes from both screens.
  const qid = await question.getAttribute("data-id");
  await ask(`/hide?id=${qid}`);
  await question.waitFor({ state: "detached" });
  step("a hidden message went from Lea's screen");

  // The broadcast stops: offline.
  await ask("/stop");
  await phone.locator(".stream-state[data-state='unterbrochen']", { hasText: "Offline" }).waitFor();
  await phone.getByText("Offline: die Übertragung ist unterbrochen.").waitFor();
  check(await phone.locator(".video-box video").isHidden(), "the video still shows after the broadcast stopped");
  step("ffmpeg stopped: Lea's page says Offline");

  // Ben, a streamer, renames the stream and gives it a time: Lea's open page follows.
  await wide.getByRole("button", { name: "Bearbeiten" }).click();
  const edit = wide.locator(".stream-edit form");
  await edit.getByLabel("Titel").fill("Webrat live: Fragen an den Ortsrat");
  await edit.getByLabel(/^Termin/).fill("2099-06-01T18:30");
  await edit.getByRole("button", { name: "Speichern" }).click();
  await edit.waitFor({ state: "detached" });
  await phone.locator(".stream-head h1", { hasText: "Webrat live: Fragen an den Ortsrat" }).waitFor();
  await phone.locator(".stream-head .meta", { hasText: "geplant für" }).waitFor();
  check((await phone.title()).startsWith("Webrat live: Fragen an den Ortsrat"), `Lea's page title: ${await phone.title()}`);
  step("Ben renamed the stream and gave it a time; Lea's open page shows both without a reload");

  // Ben, a streamer: a new stream, its key once, a new key, the end.
  await wide.getByRole("link", { name: "Alle Streams" }).click();
  const form = wide.locator(".stream-new");
  await form.getByLabel("Titel").fill("Probe für Sonntag");
  await form.getByRole("button", { name: "Stream anlegen" }).click();
  await wide.locator(".stream-head h1", { hasText: "Probe für Sonntag" }).waitFor();
  await wide.locator(".stream-state[data-state='geplant']").waitFor();
  const server = wide.getByLabel("Server");
  const key = wide.getByLabel("Stream-Schlüssel");
  check((await server.inputValue()) === `rtmp://${new URL(kit.base).hostname}/live`, `the OBS server: ${await server.inputValue()}`);
  const key1 = await key.inputValue();
  check(/^[0-9a-f]{64}$/.test(key1), `the key: ${key1}`);
  await wide.getByRole("button", { name: "Kopieren" }).first().waitFor();
  await kit.a11y(wide, "the streamer's tools with the key");
  wide.once("dialog", (d) => d.accept());
  await wide.getByRole("button", { name: "Neuen Schlüssel erzeugen" }).click();
  await wide.waitForFunction((k) => {
    const input = [...document.querySelectorAll(".key-field input")].find((i) => /^[0-9a-f]{64}$/.test(i.value));
    return input && input.value !== k;
  }, key1);
  wide.once("dialog", (d) => d.accept());
  await wide.getByRole("button", { name: "Stream beenden" }).click();
  await wide.locator(".stream-state[data-state='beendet']", { hasText: "Beendet" }).waitFor();
  await wide.getByText("Der Stream ist beendet; sein Chat bleibt zum Nachlesen.").waitFor();
  check((await wide.locator(".key-field").count()) === 0, "the key still shows after the end");
  step("Ben made a stream, saw its key with the server for OBS, rotated it and ended it");

  // Back to the map from the stream page.
  await phone.getByRole("link", { name: "← Zur Karte" }).click();
  await phone.waitForURL((u) => new URL(u).pathname === "/");
  await phone.locator("#streams-view").waitFor({ state: "hidden" });
  await phone.getByRole("button", { name: "Knoten knüpfen" }).waitFor();
});
