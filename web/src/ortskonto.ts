// The Ortskonto (top slider): the balance and what is pending or reserved, the Goldfäden, the
// payouts with their Anträge, the public journal; donating; and for a treasurer the Kasse
// (fetched only for them).
import { ApiError, api, get, germanMessage } from "./api";
import { openLogin } from "./auth";
import { copy } from "./clipboard";
import { $, euro, formError, h, replace, time } from "./dom";
import type { MapFeed } from "./feed";
import { auszahlungStatusLabel, isTreasurer, spendeStatusLabel } from "./kontotext";
import { Attempt, ibanGroups, MAX_CENTS, parseCents } from "./money";
import { session } from "./session";
import type { Auszahlung, Buchung, Konto, PastDay, Point, Spende, Ueberweisung } from "./types";
import { isOpen, onSliderOpen, selectTab } from "./ui";

export interface OrtskontoDeps {
  feed: MapFeed;
  kontoAt(p: Point | null): void;
  showAntrag(id: string): void;
  /** The past day the timeline shows (null: live): its balance is shown instead. */
  past(): PastDay | null;
  /** Closes the timeline: back to the live state. */
  live(): void;
}

// While the slider is open the figures are asked for again this often: an anonymous donation
// moves the balance without anything on the map saying so.
const POLL_MS = 10000;

/** The payout's Antrag, whichever way the instance names it. */
export function antragOf(a: Auszahlung): { id: string; title: string } | null {
  const id = a.antrag?.id ?? a.antrag_id;
  return id ? { id, title: a.antrag?.title ?? a.title ?? "Antrag" } : null;
}

export class Ortskonto {
  private konto: Konto | null = null;
  private shown = "";
  private goldKey = "";
  private timer = 0;
  private asked = 0; // the figures asked for, counted
  private applied = 0; // the latest of them shown
  private journalNext: number | null = null;
  private attempt = new Attempt();
  private kasse: Promise<{ reload(): void }> | null = null;

  constructor(private d: OrtskontoDeps) {
    for (const t of ["konto", "spenden", "kasse"] as const) $("tab-" + t).addEventListener("click", () => this.tab(t));
    onSliderOpen("ortskonto", () => this.reload());
    session.on(() => this.reload());
    document.addEventListener("visibilitychange", () => this.schedule());
  }

  /** Shows what the open slider shows, fresh; nothing while it is closed. */
  reload() {
    const treasurer = isTreasurer(session.me);
    $("tab-kasse").hidden = !treasurer;
    if (!treasurer && !$("ok-kasse").hidden) selectTab($("tab-konto"));
    if (!isOpen("ortskonto")) return;
    const sel = document.querySelector("#ortskonto [aria-selected=true]")?.id;
    this.tab(sel === "tab-spenden" ? "spenden" : sel === "tab-kasse" ? "kasse" : "konto");
  }

  /** The timeline moved to another day or back to live: the open balance follows. */
  pastChanged() {
    if (!isOpen("ortskonto")) return;
    const sel = document.querySelector("#ortskonto [aria-selected=true]")?.id;
    if (!sel || sel === "tab-konto") {
      this.shown = "";
      void this.refresh();
    }
  }

  /** The map's Goldfäden changed: the open slider follows. */
  feedChanged() {
    let key = "";
    for (const g of this.d.feed.view().goldfaeden.values()) key += g.id + g.status;
    if (key === this.goldKey) return;
    this.goldKey = key;
    if (isOpen("ortskonto")) void this.refresh();
  }

  private tab(name: "konto" | "spenden" | "kasse") {
    selectTab($("tab-" + name));
    if (name === "konto") {
      this.shown = "";
      void this.refresh();
    } else if (name === "spenden") this.renderSpenden();
    else this.withKasse((k) => k.reload());
  }

  private withKasse(use: (k: { reload(): void }) => void) {
    this.kasse ??= import("./kasse").then(({ Kasse }) => new Kasse({ konto: () => this.konto, changed: () => this.refresh() }));
    this.kasse.then(use, () => {
      this.kasse = null;
      replace($("ok-kasse"), h("p", { class: "error" }, "Dieser Teil der App konnte nicht geladen werden. Bitte prüfe die Verbindung."));
    });
  }

  private schedule() {
    clearTimeout(this.timer);
    if (isOpen("ortskonto") && document.visibilityState === "visible") this.timer = window.setTimeout(() => isOpen("ortskonto") && void this.refresh(), POLL_MS);
  }

  /**
   * Asks for the figures again and shows them where they changed. Each call asks anew (one
   * already on the way may have left before the change that prompted this one); an answer
   * older than one shown is dropped.
   */
  refresh(): Promise<void> {
    const n = ++this.asked;
    return this.load(n).finally(() => n === this.asked && this.schedule());
  }

  private async load(n: number) {
    const box = $("ok-konto");
    if (this.showPast(box)) return;
    let k: Konto;
    try {
      k = await get<Konto>("/api/konto");
    } catch (e) {
      if (!this.konto && !this.d.past()) replace(box, h("p", { class: "error" }, germanMessage(e)));
      return;
    }
    if (this.d.past()) return; // the timeline opened meanwhile: its day is shown
    if (n < this.applied) return;
    this.applied = n;
    this.konto = k;
    this.d.kontoAt(k.position);
    const key = JSON.stringify(k);
    if (key === this.shown || box.hidden) return;
    this.shown = key;
    const journal = h("ol", { class: "journal", id: "konto-journal" });
    const more = h("button", { type: "button", class: "link", hidden: true, onclick: () => void this.journal(journal, more) }, "Ältere Buchungen");
    replace(
      box,
      h(
        "dl",
        { class: "saldo" },
        fig("Kontostand", k.balance_cents, "konto-balance", "big"),
        fig("ausstehend", k.pending_cents, "konto-pending"),
        fig("reserviert", k.reserved_cents, "konto-reserved"),
        fig("verfügbar", k.available_cents, "konto-available"),
      ),
      k.bank
        ? h("button", { type: "button", onclick: () => this.tab("spenden") }, "Spenden")
        : h("p", { class: "hint" }, "Das Ortskonto ist noch nicht eingerichtet: Spenden sind möglich, sobald die Verwaltung die Bankverbindung hinterlegt hat."),
      h("h3", {}, "Goldfäden"),
      h("p", { class: "hint" }, "Sichtbare Spenden, mit Namen; anonyme Spenden zeigt nur der Kontostand."),
      k.goldfaeden.length
        ? h(
            "ul",
            { class: "goldfaeden", id: "konto-goldfaeden" },
            k.goldfaeden.map((g) =>
              h(
                "li",
                { class: "gf " + g.status, "data-id": g.id },
                h("span", { class: "strand" }),
                h(g.status === "reversed" ? "s" : "span", { class: "who" }, g.account_name),
                h(g.status === "reversed" ? "s" : "span", { class: "amount" }, euro(g.amount_cents)),
                h("span", { class: "status gs-" + g.status }, spendeStatusLabel[g.status] ?? g.status),
                g.message ? h("q", {}, g.message) : null,
              ),
            ),
          )
        : h("p", { id: "konto-goldfaeden" }, "Noch keine sichtbaren Spenden."),
      h("h3", {}, "Auszahlungen"),
      k.auszahlungen?.length
        ? h(
            "ul",
            { class: "auszahlungen" },
            k.auszahlungen.map((a) => {
              const antrag = antragOf(a);
              return h(
                "li",
                { "data-id": a.id },
                antrag ? h("a", { href: `/antraege/${antrag.id}`, onclick: (e: Event) => (e.preventDefault(), this.d.showAntrag(antrag.id)) }, antrag.title) : null,
                h("span", { class: "amount" }, euro(a.betrag_cents)),
                h("span", { class: "status" }, auszahlungStatusLabel[a.status] ?? a.status),
                a.gedeckt === false && (a.status === "bewilligt" || a.status === "beantragt") ? h("span", { class: "status uncovered" }, "nicht gedeckt") : null,
              );
            }),
          )
        : h("p", {}, "Keine Auszahlungen."),
      h("h3", {}, "Journal"),
      h("p", { class: "hint" }, "Jede Buchung des Ortskontos, die neueste zuerst."),
      journal,
      more,
    );
    this.journalNext = null;
    await this.journal(journal, more);
  }

  // A past day (the timeline): its balance alone, to look at; the live figures come back with
  // "Zurück zu live". False while live.
  private showPast(box: HTMLElement): boolean {
    const p = this.d.past();
    if (!p) return false;
    this.shown = ""; // live again, the live figures are drawn anew
    replace(
      box,
      h(
        "div",
        { class: "past-note", id: "ok-past" },
        h("p", {}, h("strong", {}, p.label), " – der Kontostand an diesem Tag. Goldfäden, Auszahlungen und Journal zeigt der Live-Stand."),
        h("button", { type: "button", class: "small", onclick: () => this.d.live() }, "Zurück zu live"),
      ),
      p.error
        ? h("p", { class: "error" }, p.error)
        : p.ortskonto
          ? h("dl", { class: "saldo" }, fig("Kontostand", p.ortskonto.balance_cents, "konto-balance", "big"))
          : p.ortskonto === null
            ? h("p", { id: "konto-none" }, "An diesem Tag hatte die Ortsweberei kein Ortskonto.")
            : null,
    );
    return true;
  }

  // The public journal, a page at a time.
  private async journal(list: HTMLElement, more: HTMLButtonElement) {
    more.disabled = true;
    try {
      const r = await get<{ buchungen: Buchung[]; next: number | null }>(`/api/konto/journal?limit=20${this.journalNext ? "&before=" + this.journalNext : ""}`);
      list.append(
        ...r.buchungen.map((b) =>
          h(
            "li",
            { class: "k-" + b.kind },
            h("span", { class: "meta" }, `Nr. ${b.seq} · `, time(b.booked_at)),
            h("span", { class: "what" }, buchungText(b)),
            h("span", { class: "amount" + (b.amount_cents < 0 ? " minus" : "") }, euro(b.amount_cents)),
          ),
        ),
      );
      if (!list.childElementCount) list.append(h("li", {}, "Noch keine Buchungen."));
      this.journalNext = r.next;
      more.hidden = r.next == null;
    } catch (e) {
      list.append(h("li", { class: "error" }, germanMessage(e)));
    }
    more.disabled = false;
  }

  // Donating.

  private renderSpenden() {
    const box = $("ok-spenden");
    if (!session.me) {
      replace(
        box,
        h("p", {}, "Spenden kann, wer in der Ortsweberei angemeldet ist."),
        h("button", { type: "button", onclick: () => openLogin("Zum Spenden bitte anmelden.") }, "Anmelden"),
      );
      return;
    }
    const form = h(
      "form",
      { class: "stack", id: "spende-form", novalidate: true },
      h("h3", {}, "Spenden"),
      h("label", {}, "Betrag in Euro", h("input", { name: "amount", inputmode: "decimal", autocomplete: "off", placeholder: "z. B. 12,50", required: true })),
      h(
        "fieldset",
        { class: "choice" },
        h("legend", {}, "Wie soll deine Spende erscheinen?"),
        h(
          "label",
          { class: "check" },
          h("input", { type: "radio", name: "visible", value: "1", checked: true }),
          h("span", {}, h("strong", {}, "Sichtbar: "), "Dein Name und der Betrag stehen im Ortskonto, und ein Goldfaden führt auf der Karte von deiner Garnrolle zum Ortskonto."),
        ),
        h(
          "label",
          { class: "check" },
          h("input", { type: "radio", name: "visible", value: "0" }),
          h("span", {}, h("strong", {}, "Anonym: "), "Nur der Kontostand ändert sich; deinen Namen sehen allein die Kassenwarte, die Spenden verbuchen."),
        ),
      ),
      h("label", {}, "Nachricht (optional)", h("textarea", { name: "message", rows: 2, maxlength: 280 })),
      h("p", { class: "form-error", role: "alert", hidden: true }),
      h("button", { type: "submit" }, "Spende anlegen"),
    );
    form.addEventListener("submit", (e) => {
      e.preventDefault();
      void this.donate(form);
    });
    const mine = h("div", { id: "meine-spenden" });
    replace(box, form, mine);
    void this.mine(mine);
  }

  private async donate(form: HTMLFormElement) {
    const f = new FormData(form);
    const cents = parseCents(String(f.get("amount") ?? ""));
    if (cents === null) return formError(form, "Bitte gib den Betrag in Euro an, etwa „12,50“ oder „1.000“.", "amount");
    if (cents < 1 || cents > MAX_CENTS) return formError(form, "Eine Spende ist mindestens 0,01 € und höchstens 1.000.000 €.", "amount");
    const body: Record<string, unknown> = { amount_cents: cents, currency: "EUR", visible: f.get("visible") === "1" };
    const message = String(f.get("message") ?? "").trim();
    if (message) body.message = message;
    const key = this.attempt.keyFor(body);
    const button = form.querySelector("button[type=submit]") as HTMLButtonElement;
    button.disabled = true;
    formError(form, null);
    try {
      const r = await api<{ spende: Spende; ueberweisung: Ueberweisung }>("POST", "/api/spenden", body, { "Idempotency-Key": key });
      this.attempt.done();
      this.instructions(r.spende, r.ueberweisung);
      void this.refresh();
    } catch (err) {
      // Without an answer about this donation it is tried again with the same key: the
      // instance then gives the first answer rather than making a second donation.
      const unknown = !(err instanceof ApiError) || err.status === 0 || err.status >= 500 || err.status === 429;
      if (!unknown) this.attempt.done();
      formError(
        form,
        germanMessage(err) + (unknown ? " Schick die Spende ruhig noch einmal ab: sie wird dabei nicht doppelt angelegt." : ""),
        err instanceof ApiError && err.field === "amount_cents" ? "amount" : undefined,
      );
    } finally {
      button.disabled = false;
    }
  }

  // What to transfer, with buttons that copy each part.
  private instructions(s: Spende, u: Ueberweisung) {
    const row = (label: string, value: string, id: string, copied = value) => [
      h("dt", {}, label),
      h(
        "dd",
        {},
        h("span", { id }, value),
        h("button", { type: "button", class: "secondary small copy", "aria-label": `${label} kopieren`, onclick: () => copy(copied, label) }, "Kopieren"),
      ),
    ];
    replace(
      $("ok-spenden"),
      h(
        "section",
        { class: "ueberweisung", id: "ueberweisung", tabindex: "-1" },
        h("h3", {}, "Danke! So überweist du deine Spende"),
        h("p", {}, `Deine ${s.visible ? "sichtbare" : "anonyme"} Spende ist angelegt (${spendeStatusLabel[s.status] ?? s.status}). Überweise den Betrag bitte mit genau diesem Verwendungszweck: an ihm erkennt die Kasse deine Spende.`),
        h(
          "dl",
          { class: "facts" },
          row("Empfänger", u.empfaenger, "ue-empfaenger"),
          row("IBAN", ibanGroups(u.iban), "ue-iban", u.iban.replace(/\s/g, "")),
          u.bic ? row("BIC", u.bic, "ue-bic") : null,
          row("Verwendungszweck", u.verwendungszweck, "ue-zweck"),
          row("Betrag", euro(u.betrag_cents), "ue-betrag", euro(u.betrag_cents).replace(/\s*€/, "")),
        ),
        h("button", { type: "button", class: "secondary", onclick: () => this.renderSpenden() }, "Noch eine Spende"),
      ),
    );
    $("ueberweisung").focus();
  }

  // One's own donations, with their reference codes.
  private async mine(box: HTMLElement) {
    try {
      const r = await get<{ spenden: Spende[] }>("/api/me/spenden");
      if (!r.spenden?.length) return;
      replace(
        box,
        h("h3", {}, "Deine Spenden"),
        h(
          "ul",
          { class: "meine" },
          r.spenden.map((s) =>
            h(
              "li",
              {},
              h("span", { class: "amount" }, euro(s.amount_cents)),
              h("span", { class: "status gs-" + s.status }, spendeStatusLabel[s.status] ?? s.status),
              h("span", { class: "meta" }, `${s.visible ? "sichtbar" : "anonym"} · ${s.reference} · `, time(s.created_at)),
            ),
          ),
        ),
      );
    } catch {
      // the list is a convenience; the form works without it
    }
  }
}

function fig(label: string, cents: number, id: string, cls = "") {
  return h("div", { class: cls }, h("dt", {}, label), h("dd", { id }, euro(cents)));
}

function buchungText(b: Buchung): string {
  const donor = b.donor === "anonym" ? "anonym" : b.donor?.name ?? "";
  if (b.kind === "spende") return `Spende ${donor}`.trim();
  if (b.kind === "storno") return `Storno einer Spende ${donor}`.trim();
  return `Auszahlung${b.antrag ? ` für „${b.antrag.title}“` : ""}`;
}
