// End-to-end test of the moderation panel in headless Chromium (started by web/panel_e2e_test.go,
// TestModerationPanelClickThrough): what so far was only type-checked, clicked through.
// Ada (an admin, desktop) makes Mia a moderator and Ben the Kasse in the residents tab. Ria, a
// resident on her phone (390 × 844), reports Ben's Einspruch and a Fediverse reply from their
// Melden buttons in the Webrat; both are in Mia's queue. Mia warns Ria from the residents tab and
// Ria sees the warning in her account dialog; Mia suspends Ria for 3 days and Ria's chat message
// is refused with the German message. Ada bans Otto and lifts the ban; puts "Trottel" on the word
// list, and Mia's chat message with it is refused; blocks an IP range and a domain and lifts
// both. axe-core finds nothing serious in the residents tab, the blocks tab and the Antrag with
// its Melden buttons on the phone, which fits its screen.
//
// Every wait is for something to appear or go (an element, a row, a message), never for time to pass.
import { Kit, check, must } from "./kit.mjs";

const kit = new Kit({ base: must("WG_URL"), password: must("WG_PASSWORD") });
const ada = { email: must("WG_ADMIN_EMAIL"), name: "Ada Admin", password: must("WG_ADMIN_PASSWORD") };
const mia = { email: must("WG_MIA_EMAIL"), name: "Mia Moderatorin" };
const ria = { email: must("WG_RIA_EMAIL"), name: "Ria Rufer" };
const title = must("WG_TITLE");
const einspruch = must("WG_EINSPRUCH");
const desktop = { viewport: { width: 1280, height: 800 } };

// Opens the moderation panel from the account dialog, on the tab named.
async function panel(page, tab) {
  await page.locator("#account-btn").click();
  await page.getByRole("button", { name: "Moderation", exact: true }).click();
  const dlg = page.getByRole("dialog", { name: "Moderation" });
  if (tab) await dlg.getByRole("tab", { name: tab }).click();
  return dlg;
}

// A resident's row in the residents tab, and an action taken from it with its public reason.
const resident = (dlg, name) => dlg.locator("#mod-people li.resident", { hasText: name });
async function act(dlg, name, button, reason, days) {
  const row = resident(dlg, name);
  await row.locator("summary", { hasText: "Maßnahme" }).click();
  await row.getByLabel(/^Begründung/).fill(reason);
  if (days) await row.getByLabel("Tage").fill(String(days));
  await row.getByRole("button", { name: button }).click();
}

async function openChat(page) {
  const button = page.getByRole("button", { name: /^Nähstübchen/ });
  if ((await button.getAttribute("aria-expanded")) !== "true") await button.click();
}

// Writes in the Nähstübchen and waits for the form's German refusal.
async function refusedChat(page, text, message) {
  await openChat(page);
  await page.locator("#chat-text").fill(text);
  await page.getByRole("button", { name: "Senden" }).click();
  await page.locator("#chat-form .form-error", { hasText: message }).waitFor();
}

await kit.run(async () => {
  // Ada gives the roles.
  const admin = await kit.newPage("ada", desktop);
  await kit.login(admin, ada);
  const adaPanel = await panel(admin, "Bewohner");
  await resident(adaPanel, mia.name).getByLabel("Moderation").click();
  await admin.locator(".toast", { hasText: `${mia.name}: Moderation vergeben.` }).waitFor();
  await resident(adaPanel, mia.name).locator(".role", { hasText: "Moderation" }).waitFor();
  await resident(adaPanel, "Ben Bedenken").getByLabel("Kasse").click();
  await resident(adaPanel, "Ben Bedenken").locator(".role", { hasText: "Kasse" }).waitFor();
  await kit.a11y(admin, "the residents tab");
  kit.step("Ada made Mia a moderator and Ben the Kasse");

  // Ria reports Ben's Einspruch and the Fediverse reply from her phone.
  const phone = await kit.newPage("ria", { viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true, deviceScaleFactor: 2 });
  await kit.login(phone, ria);
  await phone.getByRole("button", { name: "Webrat", exact: true }).click();
  await phone.locator(".antrag-item", { hasText: title }).click();
  await phone.locator(".einsprueche li", { hasText: einspruch }).waitFor();
  await kit.a11y(phone, "the Antrag with its Melden buttons");
  await kit.fitsTheScreen(phone, "the Antrag with its Einsprüche and Kommentare");
  const report = async (what, reason) => {
    await phone.getByRole("button", { name: `Melden: ${what}` }).click();
    const dlg = phone.getByRole("dialog", { name: "Melden" });
    await dlg.getByText(`Du meldest ${what}.`).waitFor();
    await dlg.getByLabel(/^Warum\?/).fill(reason);
    await dlg.getByRole("button", { name: "Meldung senden" }).click();
    // The dialog closes only when the instance took the report (a toast thanks for each).
    await phone.locator("#dlg-report").waitFor({ state: "hidden" });
    await phone.locator(".toast", { hasText: "Danke für deine Meldung" }).first().waitFor();
  };
  await report("den Einspruch von Ben Bedenken", "Unterstellt dem Antragsteller Dinge");
  await report("den Kommentar von Troll (@troll@social.example)", "Spam aus dem Fediverse");
  kit.step("Ria reported the Einspruch and the Kommentar from their Melden buttons");

  // Mia, now a moderator, finds both in the queue, then warns and suspends Ria.
  const mod = await kit.newPage("mia", desktop);
  await kit.login(mod, mia);
  const miaPanel = await panel(mod);
  const queued = miaPanel.locator("#mod-queue li.meldung[data-kind='einspruch']", { hasText: einspruch });
  await queued.getByText("Unterstellt dem Antragsteller Dinge").waitFor();
  await miaPanel.locator("#mod-queue li.meldung[data-kind='kommentar']", { hasText: "Alles Quatsch hier" }).waitFor();
  kit.step("both reports are in Mia's queue");

  await miaPanel.getByRole("tab", { name: "Bewohner" }).click();
  await act(miaPanel, ria.name, "Verwarnen", "Bitte sachlich bleiben (Hausregel 1)");
  await mod.locator(".toast", { hasText: `${ria.name}: verwarnt.` }).waitFor();
  await phone.keyboard.press("Escape");
  await phone.locator("#account-btn").click();
  await phone.locator("#account-moderation li", { hasText: "Verwarnung" }).getByText("Bitte sachlich bleiben (Hausregel 1)").waitFor();
  await kit.fitsTheScreen(phone, "the account dialog with the warning");
  await phone.keyboard.press("Escape");
  kit.step("Mia warned Ria; Ria sees the warning in her account dialog");

  await act(miaPanel, ria.name, "Sperren für", "Wiederholte Beleidigungen", 3);
  await resident(miaPanel, ria.name).locator(".sanction", { hasText: "gesperrt bis" }).waitFor();
  await refusedChat(phone, "Hallo zusammen", "Dein Konto ist vorübergehend gesperrt");
  kit.step("Mia suspended Ria for 3 days; Ria's chat message is refused in German");

  // Ada bans Otto and lifts the ban.
  await adaPanel.getByRole("tab", { name: "Bewohner" }).click();
  await act(adaPanel, "Otto Laut", "Dauerhaft sperren", "Droht anderen");
  await resident(adaPanel, "Otto Laut").locator(".sanction", { hasText: "dauerhaft gesperrt" }).waitFor();
  await act(adaPanel, "Otto Laut", "Sperre aufheben", "Nach einem Gespräch aufgehoben");
  await admin.locator(".toast", { hasText: "Otto Laut: die Sperre ist aufgehoben." }).waitFor();
  // The list, loaded anew after the lift, shows Otto without a sanction.
  const otto = adaPanel.locator("#mod-people:not([aria-busy]) li.resident", { hasText: "Otto Laut" });
  await otto.waitFor();
  check((await otto.locator(".sanction").count()) === 0, "Otto's row still shows a sanction: " + (await otto.innerText()));
  kit.step("Ada banned Otto and lifted the ban");

  // The word list: a blocked word is then refused on a write.
  await adaPanel.getByRole("tab", { name: "Wortliste" }).click();
  await adaPanel.getByLabel(/^Sperren:/).fill("Trottel");
  await adaPanel.getByRole("button", { name: "Wortliste speichern" }).click();
  await admin.locator(".toast", { hasText: "Die Wortliste ist gespeichert." }).waitFor();
  await mod.keyboard.press("Escape");
  await refusedChat(mod, "Ihr Trottel!", "Dieser Text enthält ein Wort, das diese Ortsweberei nicht zulässt.");
  kit.step("Ada put a word on the list; Mia's chat message with it is refused");

  // Blocks: an IP range and a domain, each blocked and lifted.
  await adaPanel.getByRole("tab", { name: "Sperren" }).click();
  await adaPanel.getByLabel(/^IP-Adresse oder Bereich/).fill("203.0.113.0/24");
  await adaPanel.getByLabel(/^Begründung \(im Moderationslog; den Bereich/).fill("Registrierungsflut");
  await adaPanel.getByRole("button", { name: "Sperren", exact: true }).click();
  const ipRow = adaPanel.locator("#mod-ips li", { hasText: "203.0.113.0/24" });
  await ipRow.waitFor();
  await adaPanel.getByLabel(/^Server \(Domain/).fill("spam.example");
  await adaPanel.getByLabel(/^Begründung \(im Moderationslog\)$/).fill("Schickt nur Werbung");
  await adaPanel.getByRole("button", { name: "Server sperren" }).click();
  const domainRow = adaPanel.locator("#mod-domains li", { hasText: "spam.example" });
  await domainRow.waitFor();
  await kit.a11y(admin, "the blocks tab");
  await ipRow.getByRole("button", { name: "Sperre von 203.0.113.0/24 aufheben" }).click();
  await ipRow.waitFor({ state: "detached" });
  await domainRow.getByRole("button", { name: "Sperre von spam.example aufheben" }).click();
  await domainRow.waitFor({ state: "detached" });
  await adaPanel.locator("#mod-domains li", { hasText: "Kein Server ist gesperrt." }).waitFor();
  await adaPanel.locator("#mod-ips li", { hasText: "Keine Adresse ist gesperrt." }).waitFor();
  kit.step("Ada blocked an IP range and a domain and lifted both");

  // The backups' status: this instance has no backup repository, and the tab says so.
  await adaPanel.getByRole("tab", { name: "Sicherung" }).click();
  await adaPanel.locator("#mod-backup .warn", { hasText: "Keine Sicherung eingerichtet" }).waitFor();
  await adaPanel.locator("#mod-backup dt", { hasText: "WAL-Strom" }).waitFor();
  await kit.a11y(admin, "the backup tab");
  kit.step("Ada saw that no backup is configured");
});
