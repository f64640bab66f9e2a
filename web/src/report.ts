// The report dialog (Melden; the buttons are melden.ts's), fetched when first used: it asks why
// (POST /api/meldungen, docs/MODERATION.md). Verified residents, moderators and admins may
// report; everyone else is told why not instead of being shown a form the instance refuses.
import { ApiError, addMessages, germanMessage, post } from "./api";
import { formError, h } from "./dom";
import type { ReportTarget } from "./melden";
import { session } from "./session";
import { toast } from "./toast";
import { openDialog } from "./ui";

addMessages({
  meldung_target_unknown: "Diesen Inhalt oder dieses Konto gibt es hier nicht.",
});

const mayReport = (): boolean => {
  const me = session.me;
  return !!me && (me.verified || me.is_admin || !!me.roles?.includes("moderator"));
};

let dialog: HTMLDialogElement | null = null;
let current: ReportTarget | null = null;

export function report(t: ReportTarget) {
  current = t;
  const d = (dialog ??= makeDialog());
  const form = d.querySelector("form")!;
  form.reset();
  formError(form, null);
  d.querySelector("#report-what")!.textContent = `Du meldest ${t.what}.`;
  const allowed = mayReport();
  d.querySelector<HTMLElement>("#report-fields")!.hidden = !allowed;
  d.querySelector<HTMLElement>("#report-send")!.hidden = !allowed;
  d.querySelector<HTMLElement>("#report-why-not")!.hidden = allowed;
  openDialog(d);
  (allowed ? d.querySelector<HTMLElement>("textarea") : d.querySelector<HTMLElement>("[data-close]"))?.focus();
}

function makeDialog(): HTMLDialogElement {
  const reason = h("textarea", { name: "reason", rows: 4, maxlength: 1000, "aria-describedby": "report-hint" });
  const form = h(
    "form",
    { method: "dialog", class: "stack", id: "report-form" },
    h("h2", { id: "report-title" }, "Melden"),
    h("p", { id: "report-what" }),
    h(
      "p",
      { class: "dlg-note", id: "report-why-not" },
      "Melden können bestätigte Bewohnerinnen und Bewohner. Dein Konto ist noch nicht bestätigt; das macht die Verwaltung deiner Ortsweberei.",
    ),
    h(
      "div",
      { class: "stack", id: "report-fields" },
      h("label", {}, "Warum? (das sieht nur die Moderation)", reason),
      h("p", { class: "hint", id: "report-hint" }, "Wer meldet, bleibt ungenannt. Die Moderation entscheidet und schreibt ihre Entscheidung ins öffentliche Moderationslog."),
    ),
    h("p", { class: "form-error", role: "alert", hidden: true }),
    h(
      "div",
      { class: "actions" },
      h("button", { type: "submit", id: "report-send" }, "Meldung senden"),
      h("button", { type: "button", class: "secondary", "data-close": true }, "Abbrechen"),
    ),
  );
  const d = h("dialog", { id: "dlg-report", "aria-labelledby": "report-title" }, form);
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    if (!current) return;
    const text = reason.value.trim();
    if (!text) return formError(form, "Bitte schreib kurz, warum du das meldest.", "reason");
    try {
      const r = await post<{ id: string; state: string }>("/api/meldungen", { target: current.id, reason: text });
      d.close();
      toast(r.state === "open" ? "Danke für deine Meldung. Die Moderation sieht sie sich an." : "Deine Meldung ist angekommen.");
    } catch (err) {
      formError(form, germanMessage(err), err instanceof ApiError && err.field === "reason" ? "reason" : undefined);
    }
  });
  document.body.append(d);
  return d;
}
