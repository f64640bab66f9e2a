// The Kasse: the treasurer's part of the Ortskonto (fetched only for treasurers and admins).
// Donations by state with the transitions the state machine allows, the bank statement
// import (CAMT.053), payouts to mark as made or cancelled, the monthly exports.
import { ApiError, addMessages, api, get, germanMessage, post } from "./api";
import { $, euro, h, replace, time } from "./dom";
import { spendeStatusLabel } from "./kontotext";
import { antragOf } from "./ortskonto";
import { toast } from "./toast";
import type { Konto, Spende, SpendeStatus } from "./types";

export interface KasseDeps {
  konto(): Konto | null;
  /** Something the Kasse did moved the figures: they are asked for again. */
  changed(): Promise<void>;
}

// The Kasse's own error codes (the statement import, the monthly export).
addMessages({
  camt_malformed: "Der Kontoauszug ist nicht lesbar (erwartet: CAMT.053 als XML). Es wurde nichts übernommen.",
  camt_too_large: "Der Kontoauszug ist zu groß (höchstens 20 MiB).",
  camt_wrong_account: "Dieser Kontoauszug gehört zu einem anderen Konto als dem Ortskonto. Es wurde nichts übernommen.",
  datev_not_configured: "Für den DATEV-Export fehlen Berater- und Mandantennummer in den Einstellungen der Instanz.",
  invalid_format: "Das Format muss „csv“ oder „datev“ sein.",
  invalid_month: "Der Monat muss als JJJJ-MM angegeben werden.",
});

// The transitions a treasurer may make by hand, by state (docs/ORTSKONTO.md); settled is
// reached only through pending.
const transitions: Partial<Record<SpendeStatus, [to: SpendeStatus, label: string][]>> = {
  initiated: [["pending", "Eingegangen"], ["failed", "Fehlgeschlagen"]],
  pending: [["settled", "Gebucht"], ["failed", "Fehlgeschlagen"]],
  settled: [["reversed", "Storniert"]],
};

const groups: [SpendeStatus, string][] = [
  ["initiated", "Angekündigt"],
  ["pending", "Eingegangen, noch nicht gebucht"],
  ["settled", "Gebucht"],
  ["reversed", "Storniert"],
  ["failed", "Fehlgeschlagen"],
];

// A transaction of an imported statement (GET /api/konto/umsaetze).
interface Umsatz {
  id: string;
  credit: boolean;
  amount_cents: number;
  currency: string;
  booking_date: string | null;
  remittance: string;
  debtor_name: string;
  debtor_iban: string;
  result: string;
  reason: string;
}

interface ImportResult {
  entries: number;
  credits: number;
  settled: number;
  pending?: number;
  reversed?: number;
  already_imported: number;
  unmatched: Umsatz[];
}

export class Kasse {
  private box = $("ok-kasse");
  private spenden = h("div", { id: "kasse-spenden" });
  private auszahlungen = h("div", { id: "kasse-auszahlungen" });
  private result = h("div", { id: "camt-result", "aria-live": "polite" });
  private offen = h("div", { id: "kasse-umsaetze" });

  constructor(private d: KasseDeps) {
    const file = h("input", { type: "file", name: "camt", accept: ".xml,application/xml,text/xml", id: "camt-file" });
    const form = h(
      "form",
      { class: "stack", id: "camt-form" },
      h("label", {}, "Kontoauszug (CAMT.053, XML)", file),
      h("button", { type: "submit" }, "Einlesen"),
    );
    form.addEventListener("submit", (e) => {
      e.preventDefault();
      if (file.files?.[0]) void this.importCamt(file.files[0], form);
    });
    const month = h("input", { type: "month", id: "export-month", value: new Date().toISOString().slice(0, 7) });
    const csv = h("a", { class: "button", download: "", id: "export-csv", onclick: download }, "Journal als CSV");
    const datev = h("a", { class: "button", download: "", id: "export-datev", onclick: download }, "DATEV-Buchungsstapel");
    const links = () => {
      const m = month.value || new Date().toISOString().slice(0, 7);
      csv.setAttribute("href", `/api/konto/export?month=${m}&format=csv`);
      datev.setAttribute("href", `/api/konto/export?month=${m}&format=datev`);
    };
    month.addEventListener("input", links);
    links();
    replace(
      this.box,
      h("h3", {}, "Spenden verbuchen"),
      h("p", { class: "hint" }, "Hier siehst du auch anonyme Spender – sie stehen nirgends sonst. Gib ihre Namen nicht weiter."),
      this.spenden,
      h("h3", {}, "Kontoauszug einlesen"),
      h("p", { class: "hint" }, "Gutschriften mit dem Verwendungszweck einer Spende buchen sie; derselbe Auszug zweimal ändert nichts."),
      form,
      this.result,
      h("h4", {}, "Umsätze ohne passende Spende"),
      this.offen,
      h("h3", {}, "Auszahlungen"),
      this.auszahlungen,
      h("h3", {}, "Monatsexport"),
      h("label", {}, "Monat", month),
      h("div", { class: "row" }, csv, datev),
    );
  }

  reload() {
    void this.listSpenden();
    void this.listUmsaetze();
    void this.d.changed().then(() => this.listAuszahlungen());
  }

  // The open ones in full (they must not drop off a page), of the others the latest.
  private async fetchSpenden(): Promise<Spende[]> {
    const lists = await Promise.all(
      groups.map(([status]) => get<{ spenden: Spende[] }>(`/api/spenden?status=${status}&limit=${status === "initiated" || status === "pending" ? 500 : 50}`)),
    );
    return lists.flatMap((l) => l.spenden ?? []);
  }

  private async listUmsaetze() {
    try {
      const { umsaetze } = await get<{ umsaetze: Umsatz[] }>("/api/konto/umsaetze?unmatched=true");
      replace(this.offen, umsaetze?.length ? umsatzList(umsaetze) : h("p", { class: "meta" }, "Keine."));
    } catch (e) {
      replace(this.offen, h("p", { class: "error" }, germanMessage(e)));
    }
  }

  private async listSpenden() {
    let all: Spende[];
    try {
      all = await this.fetchSpenden();
    } catch (e) {
      replace(this.spenden, h("p", { class: "error" }, germanMessage(e)));
      return;
    }
    replace(
      this.spenden,
      groups.map(([status, title]) => {
        const these = all.filter((s) => s.status === status);
        if (!these.length && (status === "failed" || status === "reversed")) return null;
        return h(
          "section",
          { class: "kasse-group", "data-status": status },
          h("h4", {}, `${title} (${these.length})`),
          these.length ? h("ul", { class: "kasse-list" }, these.map((s) => this.spende(s))) : h("p", { class: "meta" }, "Keine."),
        );
      }),
    );
  }

  private spende(s: Spende): HTMLElement {
    return h(
      "li",
      { "data-id": s.id, "data-reference": s.reference },
      h("span", { class: "amount" }, euro(s.amount_cents)),
      h("span", { class: "who" }, s.donor?.name ?? "unbekannt", s.visible ? null : h("span", { class: "status anon" }, "anonym")),
      h("span", { class: "meta" }, `${s.reference} · `, time(s.created_at)),
      s.message ? h("q", {}, s.message) : null,
      h(
        "span",
        { class: "actions" },
        (transitions[s.status] ?? []).map(([to, label]) =>
          h("button", { type: "button", class: to === "failed" || to === "reversed" ? "secondary small" : "small", "data-to": to, onclick: (e: Event) => void this.move(s, to, e.target as HTMLButtonElement) }, label),
        ),
      ),
    );
  }

  private async move(s: Spende, to: SpendeStatus, button: HTMLButtonElement) {
    if ((to === "reversed" || to === "failed") && !confirm(`Die Spende ${s.reference} über ${euro(s.amount_cents)} wirklich als „${spendeStatusLabel[to]}“ markieren?`)) return;
    button.disabled = true;
    try {
      await post(`/api/spenden/${s.id}/status`, { status: to });
      toast(`Spende ${s.reference}: ${spendeStatusLabel[to]}.`);
      void this.d.changed();
    } catch (e) {
      toast(germanMessage(e), "error");
    }
    await this.listSpenden();
  }

  private async importCamt(file: File, form: HTMLFormElement) {
    const button = form.querySelector("button") as HTMLButtonElement;
    button.disabled = true;
    replace(this.result, h("p", {}, "Lese den Auszug …"));
    try {
      const r = await api<ImportResult>("POST", "/api/konto/camt", file, { "Content-Type": "application/xml" });
      replace(
        this.result,
        h(
          "p",
          { class: "camt-summary" },
          `${n(r.entries, "Umsatz", "Umsätze")} gelesen, davon ${n(r.credits, "Gutschrift", "Gutschriften")}: ${n(r.settled, "Spende", "Spenden")} gebucht` +
            (r.pending ? `, ${r.pending} als eingegangen vermerkt` : "") +
            (r.reversed ? `, ${r.reversed} storniert` : "") +
            `, ${r.already_imported} schon früher eingelesen, ${r.unmatched.length} ohne passende Spende.`,
        ),
        r.unmatched.length ? umsatzList(r.unmatched) : null,
      );
      void this.d.changed();
      void this.listSpenden();
      void this.listUmsaetze();
    } catch (e) {
      replace(this.result, h("p", { class: "error", role: "alert" }, germanMessage(e)));
    }
    button.disabled = false;
  }

  private listAuszahlungen() {
    const open = (this.d.konto()?.auszahlungen ?? []).filter((a) => a.status === "bewilligt");
    replace(
      this.auszahlungen,
      open.length
        ? h(
            "ul",
            { class: "kasse-list" },
            open.map((a) =>
              h(
                "li",
                { "data-id": a.id },
                h("span", { class: "amount" }, euro(a.betrag_cents)),
                h("span", { class: "who" }, antragOf(a)?.title ?? ""),
                a.gedeckt === false ? h("span", { class: "status uncovered" }, "nicht gedeckt") : null,
                h(
                  "span",
                  { class: "actions" },
                  h("button", { type: "button", class: "small", onclick: () => void this.payout(a.id, "geleistet") }, "Geleistet"),
                  h("button", { type: "button", class: "secondary small", onclick: () => void this.payout(a.id, "abgebrochen") }, "Abgebrochen"),
                ),
              ),
            ),
          )
        : h("p", { class: "meta" }, "Keine bewilligte Auszahlung offen."),
    );
  }

  private async payout(id: string, status: "geleistet" | "abgebrochen") {
    try {
      await post(`/api/auszahlungen/${id}/status`, { status });
      toast(status === "geleistet" ? "Auszahlung als geleistet vermerkt." : "Auszahlung abgebrochen.");
    } catch (e) {
      toast(germanMessage(e), "error");
    }
    await this.d.changed();
    this.listAuszahlungen();
  }
}

// Why a transaction matched no donation (docs/ORTSKONTO.md).
const reasonText: Record<string, string> = {
  no_reference: "kein Verwendungszweck einer Spende",
  unknown_reference: "Verwendungszweck passt zu keiner Spende",
  amount_differs: "Betrag weicht von der Spende ab",
  already_settled: "Spende war schon gebucht (doppelt bezahlt?)",
  already_reversed: "Spende war schon storniert",
  donation_failed: "Spende ist als fehlgeschlagen markiert",
  not_settled: "Rückbuchung einer nie gebuchten Spende",
  currency: "andere Währung als Euro",
  not_booked: "noch nicht gebucht",
  debit: "Abbuchung ohne Spende",
  illegal_transition: "Spende hat sich inzwischen geändert",
};

// An export is fetched before it is saved: a refusal (no DATEV numbers configured, say) is
// said in German instead of being saved as a file of JSON.
async function download(e: Event) {
  e.preventDefault();
  const a = e.currentTarget as HTMLAnchorElement;
  let res: Response;
  try {
    res = await fetch(a.href, { credentials: "same-origin" });
  } catch {
    return toast(germanMessage(new ApiError(0, "network", "")), "error");
  }
  if (!res.ok) {
    const err = await res.json().then((b) => b?.error, () => null);
    return toast(germanMessage(new ApiError(res.status, err?.code ?? "internal", err?.message ?? `HTTP ${res.status}`)), "error");
  }
  const name = /filename="([^"]+)"/.exec(res.headers.get("Content-Disposition") ?? "")?.[1] ?? "ortskonto-export";
  const url = URL.createObjectURL(await res.blob());
  h("a", { href: url, download: name }).click();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}

const n = (count: number, one: string, many: string) => `${count} ${count === 1 ? one : many}`;

function umsatzList(list: Umsatz[]): HTMLElement {
  return h(
    "ul",
    { class: "kasse-list unmatched" },
    list.map((u) =>
      h(
        "li",
        { "data-id": u.id },
        h("span", { class: "amount" + (u.credit ? "" : " minus") }, euro(u.credit ? u.amount_cents : -u.amount_cents), u.currency && u.currency !== "EUR" ? ` (${u.currency})` : ""),
        h("span", { class: "who" }, u.debtor_name || u.debtor_iban || "unbekannt"),
        u.booking_date ? h("span", { class: "meta" }, u.booking_date.slice(0, 10).split("-").reverse().join(".")) : null,
        h("span", { class: "meta" }, u.remittance || "ohne Verwendungszweck"),
        u.reason ? h("span", { class: "status uncovered" }, reasonText[u.reason] ?? u.reason) : null,
      ),
    ),
  );
}
