// End-to-end test of moderation in headless Chromium (started by web/e2e_test.go,
// TestModerationRemovesAReportedChatMessage): Otto's chat message is open in the Nähstübchen on
// two screens, Ria's phone (390 × 844) and a guest's desktop. A guest's "Melden" asks to log in.
// Ria, a verified resident, reports the message with a reason; Mia, a moderator, finds the
// report in the panel's queue (the message's text, Ria as reporter, the reason) and hides the
// message with a public reason; it vanishes from both open screens without a reload. The guest
// opens the public Moderationslog: the entry is there with Mia's reason, and neither Ria's name
// nor her reason. Then the conflict process: Otto appeals from the log, Mia (who acted) may not
// decide, Ada (an admin) upholds the appeal and the message is back on the guest's screen; Ada
// verifies Otto from the list of residents waiting, and (no Ortskonto here) is offered no Kasse
// role in the residents tab. axe-core finds nothing serious in the report
// and appeal dialogs, the queue, the log and the verification list, and nothing on Ria's phone is
// wider than the screen.
//
// Every wait is for something to appear or go (an element, a state), never for time to pass.
import { Kit, check, must } from "./kit.mjs";

const kit = new Kit({ base: must("WG_URL"), password: must("WG_PASSWORD") });
const text = must("WG_TEXT");
const ria = { email: must("WG_RIA_EMAIL"), name: must("WG_RIA_NAME") };
const mia = { email: must("WG_MIA_EMAIL"), name: must("WG_MIA_NAME") };
const otto = { email: must("WG_OTTO_EMAIL"), name: must("WG_OTTO_NAME") };
const ottoName = otto.name;
const ada = { email: must("WG_ADMIN_EMAIL"), name: "Ada Admin", password: must("WG_ADMIN_PASSWORD") };
const step = (msg) => kit.step(msg);
const a11y = (page, what) => kit.a11y(page, what);
const newPage = (name, options) => kit.newPage(name, options);
const login = (page, who) => kit.login(page, who);
const fitsTheScreen = (page, what) => kit.fitsTheScreen(page, what);

async function openChat(page) {
  const button = page.getByRole("button", { name: /^Nähstübchen/ });
  if ((await button.getAttribute("aria-expanded")) !== "true") await button.click();
  return page.locator("#chat-log li", { hasText: text });
}

await kit.run(async () => {
  // Two open screens with Otto's message: Ria's phone and a guest's desktop.
  const guest = await newPage("guest", { viewport: { width: 1280, height: 800 } });
  const guestMsg = await openChat(guest);
  await guestMsg.waitFor();
  // A guest's report asks to log in first.
  await guestMsg.getByRole("button", { name: `Melden: die Nachricht von ${ottoName}` }).click();
  await guest.locator("#login-note", { hasText: "Zum Melden bitte anmelden." }).waitFor();
  await guest.locator("#dlg-login").getByRole("button", { name: "Abbrechen" }).click();
  step("the guest sees Otto's message; Melden asks a guest to log in");

  const phone = await newPage("ria", { viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true, deviceScaleFactor: 2 });
  await login(phone, ria);
  const riaMsg = await openChat(phone);
  await riaMsg.waitFor();
  await riaMsg.getByRole("button", { name: `Melden: die Nachricht von ${ottoName}` }).click();
  const dlg = phone.getByRole("dialog", { name: "Melden" });
  await dlg.getByText(`Du meldest die Nachricht von ${ottoName}.`).waitFor();
  await a11y(phone, "the report dialog");
  await fitsTheScreen(phone, "the report dialog");
  // Without a reason the dialog says what is missing.
  await dlg.getByRole("button", { name: "Meldung senden" }).click();
  await dlg.getByText("Bitte schreib kurz, warum du das meldest.").waitFor();
  const reportReason = "Beleidigt andere Leute im Nähstübchen";
  await dlg.getByLabel(/^Warum\?/).fill(reportReason);
  await dlg.getByRole("button", { name: "Meldung senden" }).click();
  await phone.locator(".toast", { hasText: "Danke für deine Meldung" }).waitFor();
  check(!(await phone.locator("#dlg-report").evaluate((d) => d.open)), "the report dialog stayed open");
  step("Ria reported the message from her phone");

  // Mia, a moderator, decides in the panel's queue.
  const mod = await newPage("mia", { viewport: { width: 1280, height: 800 } });
  await login(mod, mia);
  await mod.locator("#account-btn").click();
  await mod.getByRole("button", { name: "Moderation", exact: true }).click();
  const panel = mod.getByRole("dialog", { name: "Moderation" });
  const report = panel.locator("#mod-queue li.meldung", { hasText: text });
  await report.waitFor();
  await report.getByText(`gemeldet von ${ria.name}`).waitFor();
  await report.getByText(reportReason).waitFor();
  check((await report.innerText()).includes(ottoName), "the queue names the message's author");
  await a11y(mod, "the moderation queue");
  const modReason = "Beleidigung (Hausregel 2)";
  await report.getByLabel(/^Begründung/).fill(modReason);
  await report.getByRole("button", { name: "Verbergen" }).click();
  await mod.locator(".toast", { hasText: "Verborgen" }).waitFor();
  await report.waitFor({ state: "detached" });
  step("Mia hid the message from the queue");

  // It leaves both open screens, live.
  await riaMsg.waitFor({ state: "detached" });
  await guestMsg.waitFor({ state: "detached" });
  step("the message vanished from Ria's phone and the guest's screen without a reload");

  // The guest reads the public log: Mia's reason, not who reported nor why.
  await guest.getByRole("button", { name: "Webrat", exact: true }).click();
  await guest.getByRole("button", { name: "Moderationslog" }).click();
  const log = guest.getByRole("dialog", { name: "Moderationslog" });
  const entry = log.locator("#mod-log li.eintrag", { hasText: modReason });
  await entry.waitFor();
  const shown = await entry.innerText();
  check(shown.includes("Nachricht im Nähstübchen verborgen"), "the log entry says what was done: " + shown);
  check(shown.includes(mia.name), "the log entry names the moderator: " + shown);
  const all = await log.innerText();
  check(!all.includes(ria.name) && !all.includes(reportReason), "the public log shows the reporter or the report: " + all);
  check((await log.getByRole("tab").count()) === 0 || !(await log.getByRole("tablist").isVisible()), "a guest sees moderators' tabs");
  await a11y(guest, "the public moderation log");
  step("the public log shows the entry, without the reporter");

  // The conflict process: Otto, whose message it was, appeals from the log; Mia, who acted,
  // may not decide; Ada (an admin) upholds it, and the message is back on the open screen.
  const author = await newPage("otto", { viewport: { width: 1280, height: 800 } });
  await login(author, otto);
  await author.locator("#account-btn").click();
  await author.getByRole("button", { name: "Moderationslog" }).click();
  const own = author.getByRole("dialog", { name: "Moderationslog" }).locator("#mod-log li.eintrag", { hasText: modReason });
  await own.getByRole("button", { name: "Widerspruch einlegen" }).click();
  const appealDlg = author.getByRole("dialog", { name: "Widerspruch einlegen" });
  await a11y(author, "the appeal dialog");
  const appealReason = "Das war ein Zitat aus einem Film, keine Beleidigung.";
  await appealDlg.getByLabel("Warum widersprichst du?").fill(appealReason);
  await appealDlg.getByRole("button", { name: "Widerspruch senden" }).click();
  await author.locator(".toast", { hasText: "Dein Widerspruch ist eingegangen" }).waitFor();
  await own.getByText("Widerspruch offen").waitFor();
  step("Otto appealed from the public log");

  await panel.getByRole("button", { name: "Offen", exact: true }).click();
  const appeal = panel.locator("#mod-queue li.meldung", { hasText: appealReason });
  await appeal.getByLabel(/^Begründung/).fill("Ich bleibe dabei.");
  await appeal.getByRole("button", { name: "Ablehnen" }).click();
  await appeal.getByText("Über einen Widerspruch entscheidet eine andere Moderatorin").waitFor();
  step("Mia, who acted, may not decide the appeal (German message)");

  const admin = await newPage("ada", { viewport: { width: 1280, height: 800 } });
  await login(admin, ada);
  await admin.locator("#account-btn").click();
  await admin.getByRole("button", { name: "Moderation", exact: true }).click();
  const adaPanel = admin.getByRole("dialog", { name: "Moderation" });
  const adaAppeal = adaPanel.locator("#mod-queue li.meldung", { hasText: appealReason });
  await adaAppeal.getByLabel(/^Begründung/).fill("Im Zusammenhang war es ein Filmzitat.");
  await adaAppeal.getByRole("button", { name: "Stattgeben" }).click();
  await admin.locator(".toast", { hasText: "Dem Widerspruch stattgegeben" }).waitFor();
  await guest.keyboard.press("Escape"); // the log closes; the chat has followed the room all along
  await openChat(guest);
  await guest.locator("#chat-log li", { hasText: text }).waitFor();
  step("Ada upheld the appeal: the message is back on the guest's screen");

  // Ada's list of residents to verify: Otto waits; verified, he leaves it.
  await adaPanel.getByRole("tab", { name: "Bestätigen" }).click();
  const waiting = adaPanel.locator("#mod-verify li", { hasText: ottoName });
  await a11y(admin, "the verification list");
  await waiting.getByRole("button", { name: `${ottoName} bestätigen` }).click();
  await waiting.waitFor({ state: "detached" });
  await admin.locator(".toast", { hasText: `${ottoName} ist bestätigt.` }).waitFor();
  step("Ada verified Otto from the list of residents waiting");

  // This Ortsweberei has no Ortskonto: the residents tab offers no Kasse to give.
  await adaPanel.getByRole("tab", { name: "Bewohner" }).click();
  const ottoRow = adaPanel.locator("#mod-people li.resident", { hasText: ottoName });
  await ottoRow.getByLabel("Moderation").waitFor();
  check((await ottoRow.getByLabel("Kasse").count()) === 0, "the Kasse is offered without an Ortskonto");
  // The livestreams' role (docs/STREAMS.md) is given here too.
  await ottoRow.getByLabel("Streams").click();
  await admin.locator(".toast", { hasText: `${ottoName}: Streams vergeben.` }).waitFor();
  await ottoRow.locator(".role", { hasText: "Streams" }).waitFor();
  step("without an Ortskonto the residents tab offers the moderator and the streamer role, not the Kasse; Ada makes Otto a streamer");

  // The log on the phone fits the screen (the Nähstübchen, full-width there, closed first).
  await phone.keyboard.press("Escape");
  await phone.getByRole("button", { name: "Webrat", exact: true }).click();
  await phone.getByRole("button", { name: "Moderationslog" }).click();
  await phone.getByRole("dialog", { name: "Moderationslog" }).locator("#mod-log li.eintrag", { hasText: "Filmzitat" }).first().waitFor();
  await fitsTheScreen(phone, "the Moderationslog");
  step("the Moderationslog fits Ria's phone");
});
