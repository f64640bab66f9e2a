// Report buttons (Melden) beside what residents meet — a Knoten, a Faden, an Antrag, an
// Einspruch, a Kommentar from the Fediverse, a chat message, a resident's Garnrolle. The dialog behind them (report.ts) is fetched when first used:
// this part is in the first load, so it stays this small.
import { requireLogin } from "./auth";
import { h } from "./dom";
import { toast } from "./toast";

/** What is reported: its id as the instance names it, and how the dialog names it. */
export interface ReportTarget {
  id: string;
  /** Said in the dialog, e.g. "die Nachricht von Bea". */
  what: string;
}

export function reportButton(t: ReportTarget, label = "Melden"): HTMLButtonElement {
  return h(
    "button",
    {
      type: "button",
      class: "link report",
      "aria-label": `${label}: ${t.what}`,
      onclick: () =>
        requireLogin("Zum Melden bitte anmelden.") &&
        import("./report").then(
          (m) => m.report(t),
          () => toast("Dieser Teil der App konnte nicht geladen werden. Bitte prüfe die Verbindung oder lade die Seite neu.", "error"),
        ),
    },
    label,
  );
}
