// The moderation panel (docs/MODERATION.md), fetched when first opened: the public
// moderation log for everyone (with "Widerspruch einlegen" on the entries that concern the
// reader); for moderators the queue of reports and appeals with their actions, and the residents
// with their roles and sanctions (warn, suspend, lift; admins also ban and give roles); for
// admins also the residents waiting for verification, the word list, the address and domain
// blocks, and the backups' status (sicherung.ts). Also the account dialog's part: the reader's own warnings and sanction, each with its
// appeal.
import { ApiError, addMessages, api, get, germanMessage, post } from "./api";
import { $, formError, h, replace, time, when } from "./dom";
import { session } from "./session";
import { toast } from "./toast";
import type { Me } from "./types";
import { renderBackup } from "./sicherung";
import { openDialog } from "./ui";

// The texts of the codes only the panel meets (the rest are in api.ts).
addMessages({
  // The panel's domain blocks (Sperren); an inbox refuses a blocked domain's deliveries with the second.
  invalid_domain: "Diese Domain ist ungültig.",
  domain_blocked: "Diese Domain ist gesperrt.",
  // Only other servers and tools meet these (neighbours' mirrors, an inbox); listed for completeness.
  mirror_not_found: "Von dieser Ortsweberei wird hier keine Kopie geführt.",
  mirror_busy: "Gerade wird schon eine gespiegelte Zeitleiste gelesen. Bitte versuche es gleich noch einmal.",
  mirror_timeline_too_large: "Diese gespiegelte Kopie ist zu groß, um sie hier als Zeitleiste zu zeigen.",
  mirror_before_start: "Für diesen Tag liegt hier keine Kopie des Stands dieser Ortsweberei vor.",
  key_fetch_failed: "Der Schlüssel des Absenders war nicht abrufbar.",
  not_an_activity: "Das ist keine ActivityPub-Aktivität.",
  // Only another server meets these (an incoming Flag); listed for completeness, with the reports.
  flag_without_object: "Eine Meldung (Flag) muss das gemeldete Konto oder die gemeldeten Beiträge nennen.",
  flag_too_many_objects: "Eine Meldung (Flag) darf höchstens 100 Konten oder Beiträge nennen.",
  flag_not_served: "Meldungen (Flags) werden dem Server des gemeldeten Kontos zugestellt, nicht zum Abruf bereitgestellt.",
  not_sanctioned: "Diese Sperre besteht für dieses Konto nicht.",
  invalid_sanction: "Aufgehoben wird eine dauerhafte Sperre („ban“) oder eine vorübergehende („suspension“).",
  meldung_target_mismatch: "Diese Maßnahme betrifft weder den gemeldeten Inhalt noch seine Urheberin oder das gemeldete Konto.",
  moderator_required: "Das dürfen nur Moderatorinnen und Moderatoren.",
  moderation_self: "Moderationsmaßnahmen über dich selbst kannst du nicht ergreifen.",
  second_moderator_required: "Über einen Widerspruch entscheidet eine andere Moderatorin oder ein anderer Moderator als die, die gehandelt hat.",
  meldung_not_found: "Diese Meldung gibt es nicht.",
  meldung_closed: "Über diese Meldung wurde schon entschieden.",
  meldung_is_appeal: "Das ist ein Widerspruch; über ihn wird als Widerspruch entschieden.",
  meldung_not_remote: "Nur Meldungen über Konten oder Inhalte anderer Server lassen sich dorthin weiterleiten.",
  meldung_forwarded: "Diese Meldung wurde schon weitergeleitet.",
  forwarding_off: "Diese Ortsweberei ist nicht föderiert und kann keine Meldungen weiterleiten.",
  invalid_comment: "Der Kommentar ist zu lang (höchstens 1000 Zeichen) oder enthält Steuerzeichen.",
  target_not_hideable: "Konten werden nicht verborgen, sondern verwarnt oder gesperrt; fremde Inhalte lassen sich hier nicht verbergen.",
  already_hidden: "Dieser Inhalt ist schon verborgen.",
  not_hidden: "Dieser Inhalt ist nicht verborgen.",
  eintrag_not_found: "Diesen Eintrag im Moderationsprotokoll gibt es nicht.",
  appeal_not_yours: "Widerspruch einlegen kann nur, wen die Maßnahme betraf.",
  already_appealed: "Gegen diese Maßnahme wurde schon Widerspruch eingelegt.",
  not_appealable: "Gegen diese Maßnahme gibt es keinen Widerspruch.",
  appeal_not_found: "Diesen Widerspruch gibt es nicht.",
  invalid_decision: "Die Entscheidung ist „stattgegeben“ oder „abgelehnt“.",
  invalid_days: "Diese Dauer ist nicht möglich.",
  invalid_state: "Diesen Status gibt es nicht.",
  invalid_cidr: "Das ist keine IP-Adresse und kein Adressbereich.",
  ipsperre_not_found: "Diese Adresssperre gibt es nicht.",
  unknown_role: "Diese Rolle gibt es nicht.",
  // The word list's (issue16-wortfilter's texts; at the merge they leave api.ts)
  wortfilter_too_many: "Die Wortliste hat höchstens 10.000 Einträge (Sperren und Prüfen zusammen).",
  wortfilter_entry_length: "Jeder Eintrag der Wortliste hat 1 bis 100 Zeichen; leere Einträge gehen nicht.",
  wortfilter_entry_star: "Ein * steht nur am Anfang oder am Ende eines Eintrags (etwa „*idiot*“).",
  wortfilter_entry_no_word: "Jeder Eintrag der Wortliste braucht mindestens einen Buchstaben oder eine Ziffer.",
  wortfilter_entry_invalid: "Ein Eintrag der Wortliste enthält Steuerzeichen (etwa einen Tabulator oder Zeilenumbruch).",
});

interface Person {
  id: string;
  name: string;
}

interface Target {
  kind: string;
  id: string;
}

interface Summary {
  author_id: string | null;
  author_name: string;
  text: string;
  url: string;
  hidden: boolean;
}

interface Meldung {
  id: string;
  target: Target;
  summary: Summary | null;
  reason: string;
  source: "resident" | "fediverse" | "wortfilter" | "appeal";
  reporter: Person | { actor: string } | null;
  created_at: string;
  state: "open" | "resolved" | "dismissed";
  decided_by: Person | null;
  decision_reason: string;
  decided_at: string | null;
  forwarded_at: string | null;
}

interface Eintrag {
  id: string;
  at: string;
  action: string;
  target: Target;
  moderator: Person;
  reason: string;
  until: string | null;
  undoes?: string | null;
  appeal: { state: "open" | "upheld" | "rejected"; decided_by: Person | null; reason: string } | null;
  /** The entry concerns the reader (asked of the instance; older instances leave it out). */
  yours?: boolean;
}

interface IPSperre {
  id: string;
  cidr: string;
  reason: string;
  by: string;
  created_at: string;
  until: string | null;
}

/** A resident as the panel's list has it (GET /api/admin/accounts): the public profile and the sanction in force. */
interface Resident {
  id: string;
  name: string;
  handle: string;
  verified: boolean;
  roles: string[];
  sanction: { state: "suspended" | "banned"; until: string | null; reason: string } | null;
}

interface OwnState {
  sanction: { state: "suspended" | "banned"; until: string | null; reason: string; eintrag_id?: string } | null;
  warnings: { at: string; reason: string; eintrag_id?: string }[];
}

const kindLabel: Record<string, string> = {
  knoten: "Knoten",
  faden: "Faden",
  antrag: "Antrag",
  einspruch: "Einspruch",
  kommentar: "Kommentar",
  nachricht: "Nachricht im Nähstübchen",
  account: "Konto",
  remote: "Konto oder Beitrag auf einem anderen Server",
  log: "Eintrag im Moderationslog",
  ip: "IP-Adressbereich",
  domain: "Server (Domain)",
};

const actionLabel: Record<string, string> = {
  hide: "verborgen",
  unhide: "wieder gezeigt",
  warn: "verwarnt",
  suspend: "vorübergehend gesperrt",
  ban: "dauerhaft gesperrt",
  lift: "Sperre aufgehoben",
  block_ip: "Adressbereich gesperrt",
  unblock_ip: "Adresssperre aufgehoben",
  block_domain: "Server gesperrt",
  unblock_domain: "Serversperre aufgehoben",
  forward: "Meldung an den anderen Server weitergeleitet",
  dismiss: "Meldung verworfen",
  appeal_decided: "über Widerspruch entschieden",
};

const appealLabel = { open: "Widerspruch offen", upheld: "Widerspruch stattgegeben", rejected: "Widerspruch abgelehnt" };
const stateLabel = { open: "Offen", resolved: "Erledigt", dismissed: "Verworfen" };
const sourceLabel = { resident: "Meldung", fediverse: "Meldung aus dem Fediverse", wortfilter: "Wortfilter", appeal: "Widerspruch" };
const APPEALABLE = new Set(["hide", "warn", "suspend", "ban"]);
const HIDEABLE = new Set(["knoten", "faden", "antrag", "einspruch", "kommentar", "nachricht"]);

type Tab = "queue" | "log" | "people" | "verify" | "words" | "ips" | "backup";
const tabNames: [Tab, string, "all" | "moderator" | "admin"][] = [
  ["queue", "Meldungen", "moderator"],
  ["log", "Moderationslog", "all"],
  ["people", "Bewohner", "moderator"],
  ["verify", "Bestätigen", "admin"],
  ["words", "Wortliste", "admin"],
  ["ips", "Sperren", "admin"],
  ["backup", "Sicherung", "admin"],
];

// The roles an admin gives (docs/MODERATION.md, "Roles"); the Kasse only where the Ortskonto exists.
const roleLabel: Record<string, string> = { moderator: "Moderation", kassenwart: "Kasse", streamer: "Streams" };

export const isModerator = (me: Me | null) => !!me && (me.is_admin || !!me.roles?.includes("moderator"));

export class Moderation {
  private dlg: HTMLDialogElement;
  private tabs: HTMLElement;
  private panels = new Map<Tab, HTMLElement>();
  private state: Meldung["state"] = "open";
  private tab: Tab = "log";
  private appealDlg: HTMLDialogElement | null = null;

  constructor() {
    this.tabs = h("div", { class: "tabs", role: "tablist", "aria-label": "Moderation" });
    const body = h("div", { class: "mod-body" });
    for (const [name, label] of tabNames) {
      const panel = h("div", { role: "tabpanel", id: `mod-${name}`, "aria-labelledby": `mod-tab-${name}`, hidden: true, tabindex: "-1" });
      this.panels.set(name, panel);
      body.append(panel);
      this.tabs.append(
        h("button", { type: "button", role: "tab", id: `mod-tab-${name}`, "aria-controls": `mod-${name}`, "aria-selected": "false", tabindex: "-1", onclick: () => this.show(name) }, label),
      );
    }
    this.tabs.addEventListener("keydown", (e) => {
      if (e.key !== "ArrowRight" && e.key !== "ArrowLeft") return;
      const tabs = [...this.tabs.querySelectorAll<HTMLElement>("[role=tab]:not([hidden])")];
      const i = tabs.indexOf(document.activeElement as HTMLElement);
      if (i < 0) return;
      const next = tabs[(i + (e.key === "ArrowRight" ? 1 : tabs.length - 1)) % tabs.length];
      next.click();
      next.focus();
    });
    this.dlg = h(
      "dialog",
      { id: "dlg-moderation", class: "wide", "aria-labelledby": "mod-title" },
      h("div", { class: "panel-head" }, h("h2", { id: "mod-title" }, "Moderation"), h("button", { type: "button", class: "close", "data-close": true, "aria-label": "Moderation schließen" }, "×")),
      this.tabs,
      h("div", { class: "sr-only", role: "status", "aria-live": "polite", id: "mod-status" }),
      body,
    );
    document.body.append(this.dlg);
    session.on(() => this.dlg.open && this.show(this.allowed(this.tab) ? this.tab : "log"));
  }

  private allowed(t: Tab): boolean {
    const need = tabNames.find(([n]) => n === t)![2];
    const me = session.me;
    return need === "all" || (need === "moderator" ? isModerator(me) : !!me?.is_admin);
  }

  /** Opens the panel: the queue for moderators, the public log for everyone else (or the tab asked for). */
  open(tab?: Tab) {
    const t = tab && this.allowed(tab) ? tab : isModerator(session.me) ? "queue" : "log";
    openDialog(this.dlg);
    this.show(t);
  }

  private show(t: Tab) {
    this.tab = t;
    for (const b of this.tabs.querySelectorAll<HTMLElement>("[role=tab]")) {
      const name = b.id.replace("mod-tab-", "") as Tab;
      b.hidden = !this.allowed(name);
      const on = name === t;
      b.setAttribute("aria-selected", String(on));
      b.tabIndex = on ? 0 : -1;
      this.panels.get(name)!.hidden = !on;
    }
    // One tab (the public log) needs no tab bar.
    this.tabs.hidden = [...this.tabs.querySelectorAll("[role=tab]:not([hidden])")].length < 2;
    const title = this.tabs.hidden ? "Moderationslog" : "Moderation";
    $("mod-title").textContent = title;
    this.dlg.querySelector(".close")!.setAttribute("aria-label", `${title} schließen`);
    if (t === "queue") void this.queue();
    if (t === "log") void this.log();
    if (t === "people") void this.people();
    if (t === "verify") void this.verify();
    if (t === "words") void this.words();
    if (t === "ips") void this.ips();
    if (t === "backup") void renderBackup(this.panels.get("backup")!);
  }

  private say(text: string) {
    $("mod-status").textContent = text;
  }

  // The queue (moderators).

  private async queue() {
    const box = this.panels.get("queue")!;
    const filter = h(
      "div",
      { class: "actions", role: "group", "aria-label": "Meldungen nach Stand" },
      (Object.keys(stateLabel) as Meldung["state"][]).map((s) =>
        h("button", { type: "button", class: "small" + (s === this.state ? "" : " secondary"), "aria-pressed": String(s === this.state), onclick: () => ((this.state = s), void this.queue()) }, stateLabel[s]),
      ),
    );
    const list = h("ul", { class: "mod-list", id: "mod-queue", "aria-busy": "true" });
    replace(box, filter, list);
    await this.page(list, (before) => get<{ meldungen: Meldung[]; next: string | null }>(`/api/admin/meldungen?state=${this.state}&limit=50${before ? "&before=" + before : ""}`).then((r) => ({ items: r.meldungen, next: r.next })), (m) => this.meldung(m), "Keine Meldungen.");
  }

  private async page<T>(list: HTMLElement, load: (before: string | null) => Promise<{ items: T[]; next: string | null }>, item: (x: T) => HTMLElement, empty: string, before: string | null = null) {
    list.setAttribute("aria-busy", "true");
    try {
      const { items, next } = await load(before);
      list.querySelector(".more")?.remove();
      if (!before && !items.length) list.append(h("li", { class: "meta" }, empty));
      list.append(...items.map(item));
      if (next) {
        const more: HTMLLIElement = h("li", { class: "more" }, h("button", { type: "button", class: "secondary small", onclick: () => void this.page(list, load, item, empty, next) }, "Ältere laden"));
        list.append(more);
      }
      this.say(before ? `${items.length} weitere geladen.` : `${items.length} ${items.length === 1 ? "Eintrag" : "Einträge"}.`);
    } catch (e) {
      list.append(h("li", { class: "error" }, germanMessage(e)));
    }
    list.removeAttribute("aria-busy");
  }

  private reporter(m: Meldung): string {
    if (m.source === "wortfilter") return "vom Wortfilter zurückgehalten";
    if (m.source === "appeal") return "Widerspruch der betroffenen Person";
    const r = m.reporter;
    if (r && "name" in r) return `gemeldet von ${r.name}`;
    if (r && "actor" in r) return `gemeldet über ${r.actor}`;
    return "gemeldet";
  }

  private meldung(m: Meldung): HTMLElement {
    const s = m.summary;
    const li = h(
      "li",
      { class: "meldung", "data-id": m.id, "data-kind": m.target.kind },
      h(
        "p",
        { class: "who" },
        h("strong", {}, sourceLabel[m.source] ?? m.source),
        ` · ${kindLabel[m.target.kind] ?? m.target.kind}`,
        s?.author_name ? ` von ${s.author_name}` : "",
        " · ",
        time(m.created_at),
        s?.hidden ? h("span", { class: "status" }, "verborgen") : null,
      ),
      s
        ? s.text
          ? h("blockquote", { class: "summary" }, m.target.kind === "log" ? s.text.replace(/^(\w+): /, (_, a: string) => `${actionLabel[a] ?? a}: `) : s.text)
          : null
        : h("p", { class: "meta" }, "Den Inhalt gibt es nicht mehr."),
      s?.url ? h("p", {}, h("a", { href: s.url, target: "_blank", rel: "noopener" }, "Im Original ansehen")) : null,
      h("p", {}, h("span", { class: "meta" }, this.reporter(m) + ": "), m.reason),
    );
    if (m.state !== "open") {
      li.append(
        h("p", { class: "meta" }, `${stateLabel[m.state]}${m.decided_by ? " von " + m.decided_by.name : ""}${m.decided_at ? " am " + when(m.decided_at) : ""}`, m.decision_reason ? `: ${m.decision_reason}` : ""),
      );
      return li;
    }
    li.append(this.actions(m));
    return li;
  }

  // The actions on an open report: one reason for whichever is taken (it goes into the public log).
  private actions(m: Meldung): HTMLElement {
    const me = session.me!;
    const [form, row] = this.reasonForm(`mod-reason-${m.id}`, m.source === "appeal" ? "Begründung deiner Entscheidung (öffentlich im Log)" : "Begründung (öffentlich im Moderationslog, ohne wer gemeldet hat)");
    // A decided report leaves the queue.
    const leave = () => {
      const li = form.closest("li")!;
      const next = (li.nextElementSibling ?? li.previousElementSibling)?.querySelector<HTMLElement>("textarea, button");
      li.remove();
      next?.focus();
    };
    const btn = (label: string, run: (reason: string) => Promise<unknown>, done: string, cls = "small", needsReason = true) => this.decide(form, label, run, done, cls, needsReason, leave);

    if (m.source === "appeal") {
      row.append(
        btn("Stattgeben", (reason) => post(`/api/admin/appeals/${m.id}`, { decision: "upheld", reason }), "Dem Widerspruch stattgegeben; die Maßnahme ist aufgehoben."),
        btn("Ablehnen", (reason) => post(`/api/admin/appeals/${m.id}`, { decision: "rejected", reason }), "Widerspruch abgelehnt.", "small secondary"),
      );
      form.prepend(h("p", { class: "hint" }, "Über einen Widerspruch entscheidet jemand anderes als die, die gehandelt hat (siehe Moderationslog)."));
      return form;
    }
    const t = m.target;
    const author = t.kind === "account" ? t.id : m.summary?.author_id ?? null;
    if (HIDEABLE.has(t.kind) && !m.summary?.hidden)
      row.append(btn("Verbergen", (reason) => post("/api/admin/inhalte/hide", { target: t.id, reason, meldung: m.id }), "Verborgen; die Meldung ist erledigt."));
    if (author && author !== me.id)
      row.append(
        ...this.sanctionButtons(form, author, { meldung: m.id }, (what) => `${what[0].toUpperCase()}${what.slice(1)}; die Meldung ist erledigt.`, leave),
      );
    if (t.kind === "remote" && !m.forwarded_at)
      row.append(btn("An den Server weiterleiten", (reason) => post(`/api/admin/meldungen/${m.id}/forward`, { comment: reason }), "An den anderen Server weitergeleitet.", "small secondary", false));
    row.append(
      btn("Erledigt", (reason) => post(`/api/admin/meldungen/${m.id}/resolve`, { reason }), "Als erledigt markiert.", "small secondary"),
      btn("Verwerfen", (reason) => post(`/api/admin/meldungen/${m.id}/dismiss`, { reason }), "Meldung verworfen.", "small secondary"),
    );
    return form;
  }

  // A button of a form with one public reason: runs the action, says it is done, then after().
  private decide(form: HTMLFormElement, label: string, run: (reason: string) => Promise<unknown>, done: string, cls: string, needsReason: boolean, after: () => void): HTMLButtonElement {
    return h(
      "button",
      {
        type: "button",
        class: cls,
        onclick: async (e: Event) => {
          const reason = form.querySelector<HTMLTextAreaElement>("textarea")!.value.trim();
          if (needsReason && !reason) return formError(form, "Bitte begründe die Entscheidung: sie steht öffentlich im Moderationslog.", "reason");
          const b = e.currentTarget as HTMLButtonElement;
          b.disabled = true;
          try {
            await run(reason);
            formError(form, null);
            toast(done);
            this.say(done);
            after();
          } catch (err) {
            formError(form, germanMessage(err), err instanceof ApiError && err.field === "reason" ? "reason" : undefined);
          }
          b.disabled = false;
        },
      },
      label,
    );
  }

  // A list filled from the instance: its items, a line when there are none, or why it failed.
  private async fill<T>(list: HTMLElement, load: () => Promise<T[]>, item: (x: T) => HTMLElement, empty: string): Promise<T[] | null> {
    list.setAttribute("aria-busy", "true");
    let items: T[] | null = null;
    try {
      items = await load();
      replace(list, items.length ? items.map(item) : h("li", { class: "meta" }, empty));
    } catch (e) {
      replace(list, h("li", { class: "error" }, germanMessage(e)));
    }
    list.removeAttribute("aria-busy");
    return items;
  }

  // A row's button: runs the request, says it is done (or why not), then after() with the row.
  private rowButton(label: string, ariaLabel: string, run: () => Promise<unknown>, done: string, after: (li: HTMLElement) => void, cls = "small secondary"): HTMLButtonElement {
    return h(
      "button",
      {
        type: "button",
        class: cls,
        "aria-label": ariaLabel,
        onclick: async (e: Event) => {
          const li = (e.currentTarget as HTMLElement).closest("li")!; // currentTarget is gone after the await
          try {
            await run();
            toast(done);
            this.say(done);
            after(li);
          } catch (err) {
            toast(germanMessage(err), "error");
          }
        },
      },
      label,
    );
  }

  // A form with one public reason, and the row its buttons go in.
  private reasonForm(id: string, label: string): [HTMLFormElement, HTMLElement] {
    const row = h("div", { class: "actions" });
    const form = h(
      "form",
      { class: "stack mod-actions", onsubmit: (e: Event) => e.preventDefault() },
      h("label", { for: id }, label),
      h("textarea", { id, name: "reason", rows: 2, maxlength: 1000, required: true }),
      h("p", { class: "form-error", role: "alert", hidden: true }),
      row,
    );
    return [form, row];
  }

  // Warn, suspend for N days, ban (admins; not of an account banned already): the sanctions of
  // one account, from a report (extra names it) or the residents list. said(what) is the toast.
  private sanctionButtons(form: HTMLFormElement, id: string, extra: object, said: (what: string) => string, after: () => void, banned = false): HTMLElement[] {
    const act = (label: string, kind: string, what: string, cls: string, body: () => object = () => ({})) =>
      this.decide(form, label, (reason) => post(`/api/admin/accounts/${id}/${kind}`, { ...body(), ...extra, reason }), said(what), cls, true, after);
    const out: HTMLElement[] = [act("Verwarnen", "warn", "verwarnt", "small secondary")];
    if (banned) return out;
    const days = h("input", { type: "number", name: "days", min: 1, max: 365, value: 7, inputmode: "numeric", class: "days", "aria-label": "Tage" });
    out.push(h("span", { class: "suspend" }, act("Sperren für", "suspend", "vorübergehend gesperrt", "small secondary", () => ({ days: Number(days.value) })), " ", days, " Tage"));
    if (session.me?.is_admin) out.push(act("Dauerhaft sperren", "ban", "dauerhaft gesperrt", "small danger"));
    return out;
  }

  // The public log.

  private async log() {
    const box = this.panels.get("log")!;
    const list = h("ul", { class: "mod-list", id: "mod-log" });
    replace(
      box,
      h("p", { class: "hint" }, "Was die Moderation getan hat und warum – nie, wer etwas gemeldet hat. Wen eine Maßnahme betrifft, kann einmal Widerspruch einlegen; darüber entscheidet eine andere Moderatorin oder ein anderer Moderator."),
      list,
    );
    await this.page(list, (before) => get<{ eintraege: Eintrag[]; next: string | null }>(`/api/moderation/log?limit=50${before ? "&before=" + before : ""}`).then((r) => ({ items: r.eintraege, next: r.next })), (e) => this.eintrag(e), "Noch hat die Moderation nichts getan.");
  }

  private eintrag(e: Eintrag): HTMLElement {
    const me = session.me;
    const target = e.target.kind === "ip" && !e.target.id ? kindLabel.ip : `${kindLabel[e.target.kind] ?? e.target.kind}`;
    const mine = !!me && (e.yours || (e.target.kind === "account" && e.target.id === me.id));
    const li = h(
      "li",
      { class: "eintrag", "data-id": e.id, "data-action": e.action },
      h("p", { class: "who" }, time(e.at), " · ", h("strong", {}, `${target} ${actionLabel[e.action] ?? e.action}`), e.target.kind === "ip" && e.target.id ? ` (${e.target.id})` : ""),
      h("p", {}, e.reason),
      h("p", { class: "meta" }, `von ${e.moderator.name}`, e.until ? ` · bis ${when(e.until)}` : ""),
      e.appeal ? h("p", { class: "meta" }, h("span", { class: "status" }, appealLabel[e.appeal.state]), e.appeal.decided_by ? ` von ${e.appeal.decided_by.name}` : "", e.appeal.reason ? `: ${e.appeal.reason}` : "") : null,
    );
    if (mine && !e.appeal && APPEALABLE.has(e.action)) li.append(this.appealButton(e.id));
    return li;
  }

  private appealButton(entryId: string, done?: () => void): HTMLButtonElement {
    return h("button", { type: "button", class: "small secondary", onclick: (ev: Event) => this.appeal(entryId, ev.currentTarget as HTMLButtonElement, done) }, "Widerspruch einlegen");
  }

  // The appeal: the affected account says why; a second moderator decides.
  private appeal(entryId: string, from: HTMLButtonElement, done?: () => void) {
    const d = (this.appealDlg ??= (() => {
      const form = h(
        "form",
        { method: "dialog", class: "stack" },
        h("h2", { id: "appeal-title" }, "Widerspruch einlegen"),
        h("p", {}, "Du kannst einmal widersprechen. Eine andere Moderatorin oder ein anderer Moderator als die, die gehandelt hat, entscheidet; die Entscheidung steht im Moderationslog."),
        h("label", {}, "Warum widersprichst du?", h("textarea", { name: "reason", rows: 4, maxlength: 1000 })),
        h("p", { class: "form-error", role: "alert", hidden: true }),
        h("div", { class: "actions" }, h("button", { type: "submit" }, "Widerspruch senden"), h("button", { type: "button", class: "secondary", "data-close": true }, "Abbrechen")),
      );
      const dlg = h("dialog", { id: "dlg-appeal", "aria-labelledby": "appeal-title" }, form);
      form.addEventListener("submit", async (e) => {
        e.preventDefault();
        const reason = form.querySelector("textarea")!.value.trim();
        if (!reason) return formError(form, "Bitte schreib, warum du widersprichst.", "reason");
        try {
          await post(`/api/moderation/log/${dlg.dataset.entry}/appeal`, { reason });
          dlg.close();
          toast("Dein Widerspruch ist eingegangen. Eine andere Moderatorin oder ein anderer Moderator entscheidet.");
          this.afterAppeal?.();
        } catch (err) {
          formError(form, germanMessage(err), err instanceof ApiError && err.field === "reason" ? "reason" : undefined);
        }
      });
      document.body.append(dlg);
      return dlg;
    })());
    d.dataset.entry = entryId;
    const form = d.querySelector("form")!;
    form.reset();
    formError(form, null);
    this.afterAppeal = () => {
      from.replaceWith(h("span", { class: "status" }, appealLabel.open));
      done?.();
    };
    openDialog(d);
  }
  private afterAppeal: (() => void) | null = null;

  /** The account dialog's part: the reader's sanction and warnings (GET /api/me), each appealable. */
  async accountNotes(box: HTMLElement) {
    replace(box);
    if (!session.me) return;
    let own: OwnState;
    try {
      own = await get<OwnState>("/api/me");
    } catch {
      return; // the dialog shows the rest; this part waits for the next opening
    }
    const items: HTMLElement[] = [];
    if (own.sanction) {
      items.push(
        h(
          "li",
          {},
          h("strong", {}, own.sanction.state === "banned" ? "Dein Konto ist dauerhaft gesperrt." : `Dein Konto ist gesperrt bis ${when(own.sanction.until)}.`),
          " Du kannst lesen, aber nichts schreiben. ",
          h("span", {}, `Begründung: ${own.sanction.reason}`),
          " ",
          this.ownAppeal(own.sanction.eintrag_id, own.sanction.state === "banned" ? "ban" : "suspend", null),
        ),
      );
    }
    for (const w of own.warnings ?? []) {
      items.push(h("li", {}, h("strong", {}, "Verwarnung"), " vom ", time(w.at), `: ${w.reason} `, this.ownAppeal(w.eintrag_id, "warn", w.at)));
    }
    if (items.length) replace(box, h("h3", {}, "Moderation"), h("ul", { class: "mod-own" }, items));
  }

  // The appeal button of one's own warning or sanction: by its log entry, found in the log when
  // the instance does not name it.
  private ownAppeal(entryId: string | undefined, action: string, at: string | null): HTMLElement {
    const holder = h("span", {});
    const show = (e: Eintrag | null) => {
      if (!e) return;
      if (e.appeal) replace(holder, h("span", { class: "status" }, appealLabel[e.appeal.state]));
      else replace(holder, this.appealButton(e.id));
    };
    void (async () => {
      try {
        const me = session.me!;
        let before: string | null = null;
        for (let i = 0; i < 5; i++) {
          const r: { eintraege: Eintrag[]; next: string | null } = await get(`/api/moderation/log?limit=100${before ? "&before=" + before : ""}`);
          const e = r.eintraege.find((x) =>
            entryId ? x.id === entryId : x.action === action && x.target.kind === "account" && x.target.id === me.id && (at === null || Date.parse(x.at) === Date.parse(at)),
          );
          if (e) return show(e);
          if (!r.next) return;
          before = r.next;
        }
      } catch {
        // no button: the log in the panel has it too
      }
    })();
    return holder;
  }

  // The residents (moderators): roles and sanction state; admins give and take the roles, and
  // every action a report could lead to is here too, for what no report named.

  private async people() {
    const box = this.panels.get("people")!;
    const list = h("ul", { class: "mod-list", id: "mod-people", "aria-busy": "true" });
    const me = session.me!;
    replace(
      box,
      h("p", { class: "hint" }, me.is_admin ? "Rollen vergibt die Verwaltung; Verwarnungen und Sperren stehen mit ihrer Begründung öffentlich im Moderationslog." : "Verwarnungen und Sperren stehen mit ihrer Begründung öffentlich im Moderationslog."),
      list,
    );
    // The Kasse is a role only where the Ortskonto exists (an admin has set its bank account).
    const konto = me.is_admin ? get<{ bank: unknown }>("/api/konto").then((k) => !!k.bank, () => false) : Promise.resolve(false);
    const load = (verified: boolean) => get<{ accounts: Resident[] }>(`/api/admin/accounts?verified=${verified}`).then((r) => r.accounts);
    let kasse = false;
    const all = await this.fill(
      list,
      () =>
        Promise.all([load(true), load(false), konto]).then(([a, b, k]) => {
          kasse = k;
          return [...a, ...b].sort((x, y) => x.name.localeCompare(y.name, "de"));
        }),
      (a) => this.resident(a, kasse),
      "Noch wohnt niemand in der Ortsweberei.",
    );
    if (all) this.say(`${all.length} Bewohnerinnen und Bewohner.`);
  }

  private resident(a: Resident, konto: boolean): HTMLElement {
    const me = session.me!;
    const s = a.sanction;
    const li = h(
      "li",
      { class: "resident", "data-id": a.id },
      h(
        "p",
        { class: "who" },
        h("strong", {}, a.name),
        ` @${a.handle}`,
        a.verified ? null : h("span", { class: "status" }, "nicht bestätigt"),
        a.roles.map((r) => h("span", { class: "status role" }, roleLabel[r] ?? r)),
        s ? h("span", { class: "status sanction" }, s.state === "banned" ? "dauerhaft gesperrt" : `gesperrt bis ${when(s.until)}`) : null,
      ),
      s ? h("p", { class: "meta" }, `Begründung: ${s.reason}`) : null,
    );
    if (me.is_admin) {
      const roles = (["moderator", "streamer", "kassenwart"] as const).filter((r) => r !== "kassenwart" || konto || a.roles.includes(r));
      li.append(
        h(
          "div",
          { class: "actions", role: "group", "aria-label": `Rollen von ${a.name}` },
          roles.map((r) =>
            h(
              "label",
              { class: "check" },
              h("input", {
                type: "checkbox",
                checked: a.roles.includes(r),
                onchange: async (e: Event) => {
                  const box = e.currentTarget as HTMLInputElement;
                  box.disabled = true;
                  try {
                    await api(box.checked ? "PUT" : "DELETE", `/api/admin/accounts/${a.id}/roles/${r}`);
                    const done = `${a.name}: ${roleLabel[r]} ${box.checked ? "vergeben" : "entzogen"}.`;
                    toast(done);
                    this.say(done);
                    void this.people();
                  } catch (err) {
                    box.checked = !box.checked;
                    box.disabled = false;
                    toast(germanMessage(err), "error");
                  }
                },
              }),
              ` ${roleLabel[r]}`,
            ),
          ),
        ),
      );
    }
    // A moderator acts on residents without a role; nobody on themselves (the instance says so too).
    if (a.id === me.id || (!me.is_admin && a.roles.includes("moderator"))) return li;
    const more = h("details", { class: "mod-more" }, h("summary", {}, "Maßnahme"));
    // Its form is made when first opened: the list may be long.
    more.addEventListener("toggle", () => more.open && more.childElementCount === 1 && more.append(this.sanctions(a)));
    li.append(more);
    return li;
  }

  // Warn, suspend, ban, lift: one public reason for whichever is taken; the list follows.
  private sanctions(a: Resident): HTMLElement {
    const [form, row] = this.reasonForm(`mod-pr-${a.id}`, "Begründung (öffentlich im Moderationslog)");
    const after = () => void this.people();
    const s = a.sanction;
    row.append(...this.sanctionButtons(form, a.id, {}, (what) => `${a.name}: ${what}.`, after, s?.state === "banned"));
    // A ban is lifted by an admin, a suspension by a moderator too (the strongest in force first).
    if (s && (session.me?.is_admin || s.state === "suspended"))
      row.append(this.decide(form, "Sperre aufheben", (reason) => post(`/api/admin/accounts/${a.id}/lift`, { reason }), `${a.name}: die Sperre ist aufgehoben.`, "small", true, after));
    return form;
  }

  // Residents waiting for verification (admins).

  private async verify() {
    const box = this.panels.get("verify")!;
    const list = h("ul", { class: "mod-list", id: "mod-verify", "aria-busy": "true" });
    replace(box, h("p", { class: "hint" }, "Bestätige nur, wen du als Bewohnerin oder Bewohner der Ortsweberei kennst. Bestätigte können abstimmen, Einspruch erheben und melden."), list);
    await this.fill(
      list,
      () => get<{ accounts: { id: string; name: string; handle: string; created_at: string }[] }>("/api/admin/accounts?verified=false").then((r) => r.accounts),
      (a) =>
        h(
          "li",
          { class: "row between" },
          h("span", {}, h("strong", {}, a.name), " ", h("span", { class: "meta" }, `@${a.handle} · seit `, time(a.created_at))),
          this.rowButton("Bestätigen", `${a.name} bestätigen`, () => post(`/api/admin/accounts/${a.id}/verify`), `${a.name} ist bestätigt.`, (li) => {
            (li.nextElementSibling ?? li.previousElementSibling)?.querySelector<HTMLElement>("button")?.focus();
            li.remove();
          }, "small"),
        ),
      "Niemand wartet auf die Bestätigung.",
    );
  }

  // The word list (admins): one entry per line.

  private async words() {
    const box = this.panels.get("words")!;
    replace(box, h("p", { "aria-busy": "true" }, "Lade die Wortliste …"));
    let list: { words: string[]; hold: string[] };
    try {
      list = await get("/api/admin/wortfilter");
    } catch (e) {
      replace(box, h("p", { class: "error" }, germanMessage(e)));
      return;
    }
    const words = h("textarea", { name: "words", rows: 6, spellcheck: "false" });
    const hold = h("textarea", { name: "hold", rows: 6, spellcheck: "false" });
    words.value = (list.words ?? []).join("\n");
    hold.value = (list.hold ?? []).join("\n");
    const lines = (t: HTMLTextAreaElement) => t.value.split("\n").map((s) => s.trim()).filter(Boolean);
    const form = h(
      "form",
      { class: "stack" },
      h("p", { class: "hint" }, "Ein Eintrag pro Zeile. Groß- und Kleinschreibung und Umlaute zählen nicht; ganze Wörter, außer mit * am Anfang oder Ende (etwa *idiot*)."),
      h("label", {}, "Sperren: Texte damit werden abgelehnt", words),
      h("label", {}, "Zurückhalten: Texte damit sieht erst die Moderation", hold),
      h("p", { class: "form-error", role: "alert", hidden: true }),
      h("div", { class: "actions" }, h("button", { type: "submit" }, "Wortliste speichern")),
    );
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      try {
        await api("PUT", "/api/admin/wortfilter", { words: lines(words), hold: lines(hold) });
        formError(form, null);
        toast("Die Wortliste ist gespeichert.");
      } catch (err) {
        formError(form, germanMessage(err), err instanceof ApiError ? err.field : undefined);
      }
    });
    replace(box, form);
  }

  // Address blocks (admins).

  private async ips() {
    const box = this.panels.get("ips")!;
    const list = h("ul", { class: "mod-list", id: "mod-ips" });
    const form = h(
      "form",
      { class: "stack" },
      h("label", {}, "IP-Adresse oder Bereich (etwa 203.0.113.0/24)", h("input", { name: "cidr", required: true, autocomplete: "off", spellcheck: "false" })),
      h("label", {}, "Tage (0: bis zur Aufhebung)", h("input", { name: "days", type: "number", min: 0, max: 3650, value: 30, inputmode: "numeric" })),
      h("label", {}, "Begründung (im Moderationslog; den Bereich sehen nur Admins)", h("textarea", { name: "reason", rows: 2, maxlength: 1000, required: true })),
      h("p", { class: "form-error", role: "alert", hidden: true }),
      h("div", { class: "actions" }, h("button", { type: "submit" }, "Sperren")),
    );
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      const f = new FormData(form);
      try {
        await post("/api/admin/ipsperren", { cidr: String(f.get("cidr")).trim(), days: Number(f.get("days") || 0), reason: String(f.get("reason")).trim() });
        form.reset();
        formError(form, null);
        toast("Der Adressbereich ist gesperrt.");
        void this.ips();
      } catch (err) {
        formError(form, germanMessage(err), err instanceof ApiError ? err.field : undefined);
      }
    });
    const domains = h("div", {});
    replace(box, h("h3", {}, "Gesperrte Adressen"), list, h("h3", {}, "Neue Adresssperre"), form, domains);
    void this.domains(domains);
    await this.fill(
      list,
      () => get<{ ipsperren: IPSperre[] }>("/api/admin/ipsperren").then((r) => r.ipsperren),
      (b) =>
        h(
          "li",
          {},
          h("p", { class: "who" }, h("strong", {}, b.cidr), " · seit ", time(b.created_at), b.until ? ` · bis ${when(b.until)}` : " · bis zur Aufhebung"),
          h("p", {}, b.reason),
          this.rowButton("Aufheben", `Sperre von ${b.cidr} aufheben`, () => api("DELETE", `/api/admin/ipsperren/${b.id}`, { reason: "aufgehoben" }), `Die Sperre von ${b.cidr} ist aufgehoben.`, () => void this.ips()),
        ),
      "Keine Adresse ist gesperrt.",
    );
  }

  // Domain blocks (admins): a server defederated, and what it sent removed.
  private async domains(box: HTMLElement) {
    const list = h("ul", { class: "mod-list", id: "mod-domains", "aria-busy": "true" });
    const form = h(
      "form",
      { class: "stack" },
      h("label", {}, "Server (Domain, etwa spam.example)", h("input", { name: "domain", required: true, autocomplete: "off", spellcheck: "false" })),
      h("label", {}, "Begründung (im Moderationslog)", h("textarea", { name: "reason", rows: 2, maxlength: 1000 })),
      h("p", { class: "form-error", role: "alert", hidden: true }),
      h("div", { class: "actions" }, h("button", { type: "submit" }, "Server sperren")),
    );
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      const f = new FormData(form);
      const domain = String(f.get("domain")).trim();
      try {
        await post("/api/admin/federation/blocks", { domain, reason: String(f.get("reason")).trim() });
        toast(`${domain} ist gesperrt.`);
        void this.domains(box);
      } catch (err) {
        formError(form, germanMessage(err), err instanceof ApiError ? err.field : undefined);
      }
    });
    replace(
      box,
      h("h3", {}, "Gesperrte Server"),
      h("p", { class: "hint" }, "Was ein gesperrter Server geschickt hat, wird entfernt; er bekommt nichts mehr von hier."),
      list,
      h("h3", {}, "Neue Serversperre"),
      form,
    );
    await this.fill(
      list,
      () => get<{ blocks: string[] }>("/api/admin/federation/blocks").then((r) => r.blocks),
      (d) =>
        h(
          "li",
          { class: "row between" },
          h("strong", {}, d),
          this.rowButton("Aufheben", `Sperre von ${d} aufheben`, () => api("DELETE", `/api/admin/federation/blocks/${encodeURIComponent(d)}`, { reason: "aufgehoben" }), `Die Sperre von ${d} ist aufgehoben.`, () => void this.domains(box)),
        ),
      "Kein Server ist gesperrt.",
    );
  }
}
