// The Webrat (left slider): Anträge with their Einsprüche, Abstimmungen with the public list of
// votes, and delegation of one's vote.
import { ApiError, api, get, germanMessage, post } from "./api";
import { openLogin } from "./auth";
import { $, euro, formError, h, replace, time } from "./dom";
import type { MapFeed } from "./feed";
import { antragStatusLabel, choiceLabel } from "./labels";
import { counted } from "./limits";
import { antragReportTarget, einspruchWho } from "./einspruchview";
import { reportButton } from "./melden";
import { parseCents } from "./money";
import { auszahlungStatusLabel } from "./kontotext";
import { session } from "./session";
import { showError, toast } from "./toast";
import type { Abstimmung, Antrag, Choice, Delegation, Knoten, PastDay, Vote } from "./types";
import { onSliderOpen, openSlider, selectTab } from "./ui";

export interface WebratDeps {
  feed: MapFeed;
  showKnoten(id: string): void;
  /** The past day the timeline shows (null: live): its Anträge are listed instead. */
  past(): PastDay | null;
  /** Closes the timeline: back to the live state. */
  live(): void;
}

export class Webrat {
  private list = $("wr-antraege");
  private neu = $("wr-neu");
  private deleg = $("wr-delegation");
  private status = "";
  private detailId: string | null = null;
  private knotenForAntrag: Knoten | null = null;
  private delegateTo: { id: string; name: string } | null = null;

  constructor(private d: WebratDeps) {
    $("tab-antraege").addEventListener("click", () => this.tab("antraege"));
    $("tab-neu").addEventListener("click", () => this.tab("neu"));
    $("tab-delegation").addEventListener("click", () => this.tab("delegation"));
    onSliderOpen("webrat", () => this.reload());
    session.on(() => this.reload());
  }

  private tab(name: "antraege" | "neu" | "delegation") {
    selectTab($("tab-" + name));
    if (name === "antraege") this.detailId ? this.showAntrag(this.detailId) : this.showList();
    if (name === "neu") this.renderNeu();
    if (name === "delegation") this.showDelegation();
  }

  /** Shows again what the open Webrat shows (nothing while it is closed). */
  reload() {
    if ($("webrat").hidden) return;
    const sel = document.querySelector("#webrat [aria-selected=true]")?.id;
    if (sel === "tab-neu") this.renderNeu();
    else if (sel === "tab-delegation") this.showDelegation();
    else if (this.detailId) this.showAntrag(this.detailId);
    else this.showList();
  }

  /** The timeline moved to another day or back to live: the open list of Anträge follows. */
  pastChanged() {
    if ($("webrat").hidden) return;
    const sel = document.querySelector("#webrat [aria-selected=true]")?.id;
    if (sel && sel !== "tab-antraege") return; // a form being filled in stays as it is
    if (this.detailId) this.showAntrag(this.detailId);
    else this.showList();
  }

  /** Opens the Webrat on a new Antrag about the Knoten. */
  fileAbout(k: Knoten) {
    this.knotenForAntrag = k;
    openSlider("webrat");
    this.tab("neu");
  }

  /** Opens the Webrat's delegation tab with this resident chosen. */
  delegateToResident(id: string, name: string) {
    this.delegateTo = { id, name };
    openSlider("webrat");
    this.tab("delegation");
  }

  // The list of Anträge.

  async showList() {
    this.detailId = null;
    const filter = h(
      "label",
      { class: "inline" },
      "Status ",
      h(
        "select",
        { onchange: (e: Event) => ((this.status = (e.target as HTMLSelectElement).value), this.showList()) },
        h("option", { value: "" }, "alle"),
        Object.entries(antragStatusLabel).map(([v, l]) => h("option", { value: v, selected: v === this.status }, l)),
      ),
    );
    const ul = h("ul", { class: "antraege" }, h("li", {}, "Lade Anträge …"));
    const past = this.d.past();
    replace(this.list, h("div", { class: "row between" }, h("h3", {}, "Anträge"), filter), past ? this.pastNote(past) : null, ul);
    if (past) {
      const antraege = past.antraege.filter((a) => !this.status || a.status === this.status);
      replace(
        ul,
        past.error
          ? h("li", { class: "error" }, past.error)
          : antraege.length
            ? antraege.map((a) => this.item(a))
            : h("li", {}, "Keine Anträge an diesem Tag."),
      );
      return;
    }
    try {
      const { antraege } = await get<{ antraege: Antrag[] }>(`/api/antraege?limit=100${this.status ? "&status=" + this.status : ""}`);
      if (this.d.past()) return; // the timeline opened meanwhile: its day is shown
      replace(ul, antraege.length ? antraege.map((a) => this.item(a)) : h("li", {}, "Keine Anträge."));
    } catch (e) {
      if (this.d.past()) return;
      replace(ul, h("li", { class: "error" }, germanMessage(e)));
    }
  }

  private item(a: Antrag) {
    return h(
      "li",
      {},
      h(
        "button",
        { type: "button", class: "antrag-item", "data-id": a.id, onclick: () => this.showAntrag(a.id) },
        h("span", { class: "title" }, shownTitle(a)),
        h("span", { class: `status s-${a.status}` }, antragStatusLabel[a.status] ?? a.status),
        h(
          "span",
          { class: "meta" },
          a.applicant.name ? `von ${a.applicant.name} · ` : "",
          "Entscheidung ",
          time(a.decision_deadline),
          a.einspruch_count ? ` · ${a.einspruch_count} Einspr.` : "",
        ),
      ),
    );
  }

  // A past day (the timeline): the Anträge as they stood, to look at only.

  private pastNote(p: PastDay) {
    return h(
      "div",
      { class: "past-note", id: "wr-past" },
      h("p", {}, h("strong", {}, p.label), " – so standen die Anträge an diesem Tag. Nur zum Ansehen: Einspruch, Rückzug und Abstimmung gibt es im Live-Stand. Anträge zu Knoten außerhalb des Kartenausschnitts fehlen hier."),
      h("button", { type: "button", class: "small", onclick: () => this.d.live() }, "Zurück zu live"),
    );
  }

  private showPastAntrag(id: string, p: PastDay) {
    const a = p.antraege.find((x) => x.id === id);
    const box = h("div", { class: "antrag" });
    replace(this.list, h("button", { type: "button", class: "link back", onclick: () => this.showList() }, "← Alle Anträge"), this.pastNote(p), box);
    if (!a) {
      replace(box, h("p", {}, p.error ?? "An diesem Tag gab es diesen Antrag nicht, oder sein Knoten liegt außerhalb des Kartenausschnitts."));
      return;
    }
    replace(
      box,
      h("h3", { id: "antrag-title", tabindex: "-1" }, shownTitle(a)),
      h("p", {}, h("span", { class: `status s-${a.status}` }, antragStatusLabel[a.status] ?? a.status)),
      h(
        "dl",
        { class: "facts" },
        a.applicant.name ? [h("dt", {}, "Antrag von"), h("dd", {}, a.applicant.name)] : null,
        h("dt", {}, "Gestellt"),
        h("dd", {}, time(a.opened_at)),
        h("dt", {}, a.status === "offen" ? "Entscheidung am" : "Frist"),
        h("dd", {}, time(a.decision_deadline), a.extended ? " (durch Einspruch verlängert)" : ""),
        a.decided_at ? [h("dt", {}, "Entschieden"), h("dd", {}, time(a.decided_at))] : null,
        a.amount_cents != null ? [h("dt", {}, "Betrag"), h("dd", {}, euro(a.amount_cents))] : null,
        h("dt", {}, "Einsprüche"),
        h("dd", { id: "antrag-einsprueche" }, String(a.einspruch_count)),
      ),
      a.knoten_id ? h("button", { type: "button", class: "secondary small", onclick: () => this.d.showKnoten(a.knoten_id!) }, "Knoten auf der Karte zeigen") : null,
      a.details_html ? this.details(a.details_html) : null,
    );
  }

  private details(html: string) {
    const md = h("div", { class: "md" });
    md.innerHTML = html; // sanitized by the instance
    return md;
  }

  // One Antrag, its Einsprüche, and its Abstimmung.

  async showAntrag(id: string) {
    this.detailId = id;
    const past = this.d.past();
    if (past) return this.showPastAntrag(id, past);
    const box = h("div", { class: "antrag", "aria-busy": "true" }, "Lade den Antrag …");
    replace(this.list, h("button", { type: "button", class: "link back", onclick: () => this.showList() }, "← Alle Anträge"), box);
    let a: Antrag, ab: Abstimmung | null = null;
    try {
      a = await get<Antrag>(`/api/antraege/${id}`);
      if (a.abstimmung_id) ab = await get<Abstimmung>(`/api/abstimmungen/${a.abstimmung_id}`);
    } catch (e) {
      replace(box, h("p", { class: "error" }, germanMessage(e)));
      return;
    }
    if (this.detailId !== id || this.d.past()) return;
    box.removeAttribute("aria-busy");
    const me = session.me;
    const einsprueche = a.einsprueche ?? [];
    const objected = me && einsprueche.some((e) => einspruchWho(a, e).id === me.id);

    const parts: (Node | null)[] = [
      h("h3", { id: "antrag-title", tabindex: "-1" }, shownTitle(a)),
      h("p", {}, h("span", { class: `status s-${a.status}` }, antragStatusLabel[a.status] ?? a.status)),
      a.hidden
        ? h("p", { class: "hint" }, me?.id !== a.applicant.id
            ? "Titel und Text hat die Moderation ausgeblendet (siehe Moderationsprotokoll); der Antrag selbst läuft weiter."
            : a.held
              ? "Nur für dich sichtbar: Der Antrag wartet auf die Prüfung durch die Moderation. Die Frist beginnt, wenn er freigegeben ist."
              : "Nur für dich sichtbar: Die Moderation hat diesen Antrag ausgeblendet (siehe Moderationsprotokoll).")
        : null,
      h(
        "dl",
        { class: "facts" },
        h("dt", {}, "Antrag von"),
        h("dd", {}, a.applicant.name),
        h("dt", {}, "Gestellt"),
        h("dd", {}, time(a.opened_at)),
        h("dt", {}, a.status === "offen" ? "Entscheidung am" : "Frist"),
        h("dd", {}, time(a.decision_deadline), a.extended ? " (durch Einspruch verlängert)" : ""),
        a.decided_at ? h("dt", {}, "Entschieden") : null,
        a.decided_at ? h("dd", {}, time(a.decided_at)) : null,
        a.amount_cents != null ? h("dt", {}, "Betrag") : null,
        a.amount_cents != null ? h("dd", {}, euro(a.amount_cents)) : null,
        a.auszahlung ? h("dt", {}, "Aus dem Ortskonto") : null,
        a.auszahlung
          ? h(
              "dd",
              { class: "auszahlung" },
              euro(a.auszahlung.betrag_cents),
              " ",
              h("span", { class: "status" }, auszahlungStatusLabel[a.auszahlung.status] ?? a.auszahlung.status),
              a.auszahlung.gedeckt === false ? h("span", { class: "status uncovered" }, "nicht gedeckt") : null,
            )
          : null,
      ),
      a.knoten_id ? h("button", { type: "button", class: "secondary small", onclick: () => this.d.showKnoten(a.knoten_id!) }, "Knoten auf der Karte zeigen") : null,
    ];
    if (a.details_html) parts.push(this.details(a.details_html));
    if (me?.id !== a.applicant.id && !a.hidden) parts.push(h("p", {}, reportButton({ id: antragReportTarget(a), what: `den Antrag „${a.title}“` }, "Antrag melden")));
    parts.push(
      h("h4", {}, `Einsprüche (${einsprueche.length})`),
      einsprueche.length
        ? h(
            "ul",
            { class: "einsprueche" },
            einsprueche.map((e) => {
              const who = einspruchWho(a, e);
              return h("li", {}, h("strong", {}, who.name), " · ", time(e.created_at),
                me?.id === who.id ? null : [" ", reportButton({ id: who.report, what: `den Einspruch von ${who.name}` })],
                h("p", {}, e.reason),
                e.hidden ? h("p", { class: "hint" }, "Nur für dich sichtbar: wartet auf die Moderation oder wurde ausgeblendet.") : null);
            }),
          )
        : h("p", {}, "Kein Einspruch."),
    );
    if (a.comments?.length)
      parts.push(
        h("h4", {}, `Kommentare aus dem Fediverse (${a.comments.length})`),
        h(
          "ul",
          { class: "einsprueche kommentare" },
          a.comments.map((c) =>
            h("li", {}, h("strong", {}, c.author_name), " · ", time(c.published), " ", reportButton({ id: c.id, what: `den Kommentar von ${c.author_name}` }), this.details(c.content_html)),
          ),
        ),
      );
    // A neighbour's Antrag is read-only here: its Einsprüche are raised at its own Ortsweberei.
    if (a.status === "offen" && !a.remote) {
      if (!me) parts.push(h("p", {}, h("button", { type: "button", class: "link", onclick: () => openLogin("Zum Einspruch bitte anmelden.") }, "Anmelden"), ", um Einspruch zu erheben."));
      else if (me.id === a.applicant.id) {
        if (!a.held) parts.push(h("button", { type: "button", class: "secondary", onclick: () => this.withdraw(a) }, "Antrag zurückziehen"));
      } else if (!me.verified) parts.push(h("p", { class: "hint" }, "Einspruch erheben können bestätigte Bewohnerinnen und Bewohner."));
      else if (!objected) parts.push(this.einspruchForm(a));
    }
    if (ab) parts.push(this.abstimmung(a, ab));
    replace(box, ...parts);
  }

  private einspruchForm(a: Antrag) {
    const form = h(
      "form",
      { class: "stack", id: "einspruch-form" },
      ...counted(h("label", {}, "Begründung deines Einspruchs", h("textarea", { name: "reason", rows: 3, required: true, "data-limit": "einspruch_reason", "data-count": "near" }))),
      h("p", { class: "hint" }, a.extended ? "Die Frist wurde schon verlängert; weitere Einsprüche werden gezeigt, verlängern aber nicht." : "Der erste Einspruch verlängert die Frist um sieben Tage; danach wird abgestimmt."),
      h("p", { class: "form-error", role: "alert", hidden: true }),
      h("button", { type: "submit" }, "Einspruch erheben"),
    );
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      const reason = String(new FormData(form).get("reason")).trim();
      try {
        await post(`/api/antraege/${a.id}/einspruch`, { reason });
        toast("Einspruch erhoben.");
        this.showAntrag(a.id);
      } catch (err) {
        formError(form, germanMessage(err), err instanceof ApiError ? err.field : undefined);
      }
    });
    return form;
  }

  private async withdraw(a: Antrag) {
    if (!confirm(`Antrag „${a.title}“ zurückziehen?`)) return;
    try {
      await post(`/api/antraege/${a.id}/withdraw`);
      toast("Antrag zurückgezogen.");
      this.showAntrag(a.id);
    } catch (e) {
      showError(e);
    }
  }

  private abstimmung(a: Antrag, ab: Abstimmung) {
    const me = session.me;
    const t = ab.tally;
    const closed = ab.status === "geschlossen";
    const mine = me ? ab.votes.find((v) => v.account_id === me.id)?.choice : undefined;
    const section = h(
      "section",
      { class: "abstimmung", "aria-labelledby": "ab-title" },
      h("h4", { id: "ab-title" }, "Abstimmung"),
      h(
        "p",
        {},
        closed ? ["Geschlossen am ", time(ab.closed_at ?? ab.closes_at), ". Ergebnis: ", h("strong", {}, ab.result === "angenommen" ? "angenommen" : "abgelehnt")] : ["Offen bis ", time(ab.closes_at), "."],
      ),
      h(
        "p",
        { class: "tally", "aria-label": `Stand: ${t.yes} Ja, ${t.no} Nein, ${t.abstain} Enthaltungen` },
        h("span", { class: "yes" }, `Ja ${t.yes}`),
        h("span", { class: "no" }, `Nein ${t.no}`),
        h("span", { class: "abstain" }, `Enthaltung ${t.abstain}`),
        h("span", {}, `Beteiligung ${t.turnout}`),
      ),
      !closed ? h("p", { class: "hint" }, `Stand jetzt: würde ${t.passing ? "angenommen" : "abgelehnt"} (angenommen, wenn mehr Ja als Nein).`) : null,
    );
    if (!closed) {
      if (!me) section.append(h("p", {}, h("button", { type: "button", class: "link", onclick: () => openLogin("Zum Abstimmen bitte anmelden.") }, "Anmelden"), ", um abzustimmen."));
      else if (!me.verified) section.append(h("p", { class: "hint" }, "Abstimmen können bestätigte Bewohnerinnen und Bewohner."));
      else
        section.append(
          h(
            "div",
            { class: "vote-buttons", role: "group", "aria-label": "Deine Stimme" },
            (["yes", "no", "abstain"] as Choice[]).map((c) =>
              h("button", { type: "button", class: `vote ${c}`, "aria-pressed": String(mine === c), onclick: () => this.vote(a, ab, c) }, choiceLabel[c]),
            ),
          ),
        );
    }
    section.append(this.votesTable(ab.votes));
    if (ab.history.length > ab.votes.length)
      section.append(
        h(
          "details",
          {},
          h("summary", {}, "Verlauf aller Stimmabgaben"),
          h("ol", { class: "history" }, ab.history.map((v) => h("li", {}, h("strong", {}, v.name), ` ${choiceLabel[v.choice]} · `, time(v.at)))),
        ),
      );
    return section;
  }

  private votesTable(votes: Vote[]) {
    if (!votes.length) return h("p", {}, "Noch keine Stimme.");
    return h(
      "table",
      { class: "votes" },
      h("caption", {}, "Die Stimmen (öffentlich, mit Namen)"),
      h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Name"), h("th", { scope: "col" }, "Wahl"), h("th", { scope: "col" }, "Zeit"), h("th", { scope: "col" }, "Gewicht"))),
      h(
        "tbody",
        {},
        votes.map((v) =>
          h(
            "tr",
            { class: "vote-row" },
            h(
              "td",
              {},
              h("strong", {}, v.name),
              v.delegated?.length
                ? h(
                    "ul",
                    { class: "chains", "aria-label": "Delegierte Stimmen" },
                    v.delegated.map((d) => h("li", {}, d.chain.map((c) => c.name).join(" → "))),
                  )
                : null,
            ),
            h("td", { class: `choice ${v.choice}` }, choiceLabel[v.choice] ?? v.choice),
            h("td", {}, time(v.at)),
            h("td", {}, String(v.weight ?? 1)),
          ),
        ),
      ),
    );
  }

  private async vote(a: Antrag, ab: Abstimmung, choice: Choice) {
    try {
      await post(`/api/abstimmungen/${ab.id}/vote`, { choice });
      toast(`Deine Stimme: ${choiceLabel[choice]}.`);
      await this.showAntrag(a.id);
    } catch (e) {
      showError(e);
    }
  }

  // A new Antrag.

  private renderNeu() {
    const me = session.me;
    if (!me) {
      replace(this.neu, h("p", {}, "Anträge stellen bestätigte Bewohnerinnen und Bewohner. ", h("button", { type: "button", class: "link", onclick: () => openLogin("Zum Stellen eines Antrags bitte anmelden.") }, "Anmelden")));
      return;
    }
    if (!me.verified) {
      // No form to fill in that the instance would refuse: say why, and what comes next.
      replace(
        this.neu,
        h("h3", {}, "Neuer Antrag"),
        h("p", { class: "hint" }, "Dein Konto ist noch nicht bestätigt; Anträge stellen können nur bestätigte Bewohnerinnen und Bewohner. Eine Verwalterin oder ein Verwalter deiner Ortsweberei bestätigt dein Konto."),
      );
      return;
    }
    const k = this.knotenForAntrag;
    const form = h(
      "form",
      { class: "stack", id: "antrag-form" },
      h("h3", {}, "Neuer Antrag"),
      ...counted(h("label", {}, "Titel", h("input", { name: "title", required: true, "data-limit": "antrag_title", value: k ? k.title : "" }))),
      ...counted(h("label", {}, "Beschreibung (Markdown, optional)", h("textarea", { name: "details_md", rows: 5, "data-limit": "antrag_details", "data-count": "near" }))),
      h("label", {}, "Betrag in Euro (optional)", h("input", { name: "amount", inputmode: "decimal", autocomplete: "off", placeholder: "z. B. 12,50" })),
      h(
        "label",
        { class: "check" },
        h("input", { type: "checkbox", name: "auszahlung" }),
        "Aus dem Ortskonto zahlen lassen: wird der Antrag angenommen, ist die Summe dafür reserviert.",
      ),
      k
        ? h(
            "p",
            { class: "about" },
            `Zum Knoten „${k.title}“ `,
            h("button", { type: "button", class: "link", onclick: () => ((this.knotenForAntrag = null), this.renderNeu()) }, "(Bezug entfernen)"),
          )
        : h("p", { class: "hint" }, "Ein Antrag zu einem Knoten: öffne den Knoten auf der Karte und wähle „Antrag stellen“."),
      h("p", { class: "hint" }, "Der Antrag ist sieben Tage offen. Ohne Einspruch ist er dann angenommen; mit Einspruch wird abgestimmt."),
      h("p", { class: "form-error", role: "alert", hidden: true }),
      h("button", { type: "submit" }, "Antrag stellen"),
    );
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      const f = new FormData(form);
      const body: Record<string, unknown> = { title: String(f.get("title")).trim() };
      const details = String(f.get("details_md") ?? "").trim();
      if (details) body.details_md = details;
      const amount = String(f.get("amount") ?? "").trim();
      if (amount) {
        const cents = parseCents(amount);
        if (cents === null) return formError(form, germanMessage(new ApiError(422, "invalid_amount", "")), "amount");
        body[f.get("auszahlung") ? "betrag_cents" : "amount_cents"] = cents;
      } else if (f.get("auszahlung")) return formError(form, "Bitte gib den Betrag an, den das Ortskonto zahlen soll.", "amount");
      if (k) body.knoten_id = k.id;
      try {
        const a = await post<Antrag>("/api/antraege", body);
        this.knotenForAntrag = null;
        toast(`Antrag „${a.title}“ gestellt.`);
        selectTab($("tab-antraege"));
        await this.showAntrag(a.id);
        $("antrag-title").focus();
      } catch (err) {
        formError(form, germanMessage(err), err instanceof ApiError ? (err.field === "amount_cents" || err.field === "betrag_cents" ? "amount" : err.field) : undefined);
      }
    });
    replace(this.neu, form);
    (form.elements.namedItem("title") as HTMLElement).focus();
  }

  // Delegation.

  async showDelegation() {
    const me = session.me;
    if (!me) {
      replace(this.deleg, h("p", {}, "Bestätigte Bewohnerinnen und Bewohner können ihre Stimme delegieren. ", h("button", { type: "button", class: "link", onclick: () => openLogin("Zum Delegieren bitte anmelden.") }, "Anmelden")));
      return;
    }
    replace(this.deleg, h("p", {}, "Lade Delegationen …"));
    let mine: Delegation[], toMe: Delegation[];
    try {
      [mine, toMe] = await Promise.all([
        get<{ delegationen: Delegation[] }>(`/api/delegationen?from=${me.id}`).then((r) => r.delegationen),
        get<{ delegationen: Delegation[] }>(`/api/delegationen?to=${me.id}`).then((r) => r.delegationen),
      ]);
    } catch (e) {
      replace(this.deleg, h("p", { class: "error" }, germanMessage(e)));
      return;
    }
    const parts: (Node | null)[] = [h("h3", {}, "Deine Delegation")];
    if (mine.length === 0) parts.push(h("p", {}, "Du stimmst selbst ab: deine Stimme ist an niemanden delegiert."));
    for (const d of mine) {
      parts.push(
        h(
          "div",
          { class: "delegation" },
          h("p", {}, "Deine Stimme geht an ", h("strong", {}, d.to.name), "."),
          d.delegate_sanction
            ? h("p", { class: "hint" }, `${d.to.name} ist von der Moderation ${d.delegate_sanction === "banned" ? "dauerhaft" : "vorübergehend"} gesperrt und kann derzeit nicht abstimmen. Stimme selbst ab oder widerrufe die Delegation.`)
            : null,
          h(
            "p",
            { class: "meta" },
            d.state === "pending" ? ["Wartet auf den täglichen Lauf: wirksam ab ", time(d.effective_at!), "."] : ["Wirksam seit ", time(d.effective_at!), "."],
            d.ends_at ? [" Widerrufen; endet am ", time(d.ends_at), "."] : null,
            d.idle_expires_at && !d.ends_at ? [" Endet ohne deine Aktivität am ", time(d.idle_expires_at), "."] : null,
          ),
          d.ends_at ? null : h("button", { type: "button", class: "secondary small", onclick: () => this.revoke(d) }, "Widerrufen"),
        ),
      );
    }
    if (toMe.length) {
      parts.push(h("h3", {}, "Dir anvertraut"), h("ul", {}, toMe.map((d) => h("li", {}, d.from.name, d.state === "pending" ? " (ab " : "", d.state === "pending" ? time(d.effective_at!) : "", d.state === "pending" ? ")" : ""))));
    }
    parts.push(this.delegationForm(me.id, me.verified));
    replace(this.deleg, ...parts);
  }

  private delegationForm(myId: string, verified: boolean) {
    if (!verified) return h("p", { class: "hint" }, "Delegieren können bestätigte Bewohnerinnen und Bewohner.");
    const people = new Map<string, string>();
    for (const g of this.d.feed.view().garnrollen.values()) if (g.verified && g.id !== myId) people.set(g.id, g.name);
    if (this.delegateTo && this.delegateTo.id !== myId) people.set(this.delegateTo.id, this.delegateTo.name);
    const select = h(
      "select",
      { name: "to", required: true },
      h("option", { value: "" }, "– wählen –"),
      [...people].sort((a, b) => a[1].localeCompare(b[1], "de")).map(([id, name]) => h("option", { value: id, selected: this.delegateTo?.id === id }, name)),
    );
    const form = h(
      "form",
      { class: "stack", id: "delegation-form" },
      h("h3", {}, "Stimme delegieren"),
      h("label", {}, "An wen?", select),
      people.size ? null : h("p", { class: "hint" }, "Keine bestätigten Garnrollen in der Kartenansicht. Verschiebe die Karte oder tippe eine Garnrolle an."),
      h("p", { class: "hint" }, "Delegationen werden im täglichen Lauf (03:00) wirksam und sind öffentlich. Wer selbst abstimmt, stimmt für sich."),
      h("p", { class: "form-error", role: "alert", hidden: true }),
      h("button", { type: "submit" }, "Delegieren"),
    );
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      const to = select.value;
      if (!to) return;
      try {
        const d = await post<Delegation>("/api/delegationen", { to_account_id: to });
        this.delegateTo = null;
        toast(`Delegation an ${d.to.name} angefragt; wirksam ab ${new Date(d.effective_at!).toLocaleString("de-DE")}.`);
        this.showDelegation();
      } catch (err) {
        formError(form, germanMessage(err));
      }
    });
    return form;
  }

  private async revoke(d: Delegation) {
    try {
      const r = await api<Delegation>("DELETE", `/api/delegationen/${d.id}`);
      toast(r.state === "ended" ? "Delegation zurückgenommen." : "Delegation widerrufen; sie endet im nächsten täglichen Lauf.");
      this.showDelegation();
    } catch (e) {
      showError(e);
    }
  }
}

// shownTitle is an Antrag's title, or what stands for it when the moderation hid its words
// (the instance and the snapshots give "" then).
function shownTitle(a: { title: string }): string {
  return a.title || "(Titel von der Moderation ausgeblendet)";
}
