// The Knoten panel: what the Knoten is, its Fäden and Garn, and what one can do with it.
import { ApiError, get, germanMessage, post } from "./api";
import { requireLogin } from "./auth";
import { $, h, replace, time, when } from "./dom";
import type { MapFeed } from "./feed";
import { SPINNABLE, fadenLabel, icon, knotenLabel } from "./labels";
import { reportButton } from "./melden";
import { session } from "./session";
import { showError, toast } from "./toast";
import type { Faden, Knoten } from "./types";
import { closePanel, openPanel, panelOpen } from "./ui";

export interface PanelDeps {
  feed: MapFeed;
  select(id: string | null): void;
  /** Brings the Knoten into the part of the map the panel leaves free (centred, if asked). */
  reveal(k: Knoten, cover: number, centre: boolean): void;
  /** The panel closed: the map goes back to where the resident had it. */
  unreveal(): void;
  fileAntrag(k: Knoten): void;
}

export class KnotenPanel {
  private el = $("knoten-panel");
  private id: string | null = null;
  private fetched: { knoten: Knoten; faeden: Faden[] } | null = null;
  private gone: false | "dissolved" | "hidden" = false;
  private spinType = "gespraech";
  private revealed = false;
  private centre = false;

  constructor(private d: PanelDeps) {
    session.on(() => this.render());
  }

  /** Opens the Knoten's panel; `centre` puts the Knoten in the middle of the map's free part. */
  async open(id: string, centre = false) {
    this.id = id;
    this.fetched = null;
    this.gone = false;
    this.revealed = false;
    this.centre = centre;
    this.d.select(id);
    openPanel(this.el, () => {
      this.id = null;
      this.d.select(null);
      this.d.unreveal();
    });
    this.render();
    try {
      const [knoten, list] = await Promise.all([get<Knoten>(`/api/knoten/${id}`), get<{ faeden: Faden[] }>(`/api/knoten/${id}/faeden`)]);
      if (this.id !== id) return;
      this.fetched = { knoten, faeden: list.faeden };
    } catch (e) {
      if (this.id !== id) return;
      if (e instanceof ApiError && (e.code === "knoten_dissolved" || e.code === "knoten_not_found" || e.code === "knoten_hidden")) this.gone = e.code === "knoten_hidden" ? "hidden" : "dissolved";
      else showError(e);
    }
    this.render();
  }

  /** The feed changed: show the Knoten as it stands now. */
  refresh() {
    if (this.id && panelOpen(this.el)) this.render();
  }

  private current(): { knoten: Knoten; faeden: Faden[] } | null {
    if (!this.id) return null;
    const view = this.d.feed.view();
    const k = view.knoten.get(this.id);
    if (k) return { knoten: k, faeden: [...view.faeden.values()].filter((f) => f.knoten_id === this.id) };
    return this.fetched;
  }

  private render() {
    if (!this.id || !panelOpen(this.el)) return;
    const cur = this.current();
    const head = (title: string, extra?: Node) =>
      h("div", { class: "panel-head" }, extra, h("h2", { id: "kp-title" }, title), h("button", { type: "button", class: "close", "data-close": true, "aria-label": "Knoten schließen" }, "×"));
    if (!cur) {
      replace(
        this.el,
        head(this.gone === "hidden" ? "Verborgen" : this.gone ? "Aufgelöst" : "Lade den Knoten …"),
        this.gone === "hidden"
          ? h("p", {}, "Diesen Knoten hat die Moderation verborgen. Warum, steht im Moderationslog.")
          : this.gone
            ? h("p", {}, "Dieser Knoten hat sich aufgelöst: kein Faden und kein Garn hält ihn mehr.")
            : null,
      );
      return;
    }
    const { knoten: k, faeden } = cur;
    const me = session.me;
    const badge = h("span", { class: `type-badge t-${k.type}` }, icon(k.type), knotenLabel[k.type] ?? k.type);

    faeden.sort((a, b) => Number(b.is_twisted) - Number(a.is_twisted) || a.created_at.localeCompare(b.created_at));
    const items = faeden.map((f) => {
      const mine = me && f.account_id === me.id;
      return h(
        "li",
        { class: f.is_twisted ? "garn" : "faden" },
        h("span", { class: "strand", "aria-hidden": "true" }),
        h(
          "span",
          { class: "who" },
          h("strong", {}, f.account_name || "Jemand"),
          ` · ${fadenLabel[f.type] ?? f.type} · `,
          f.is_twisted ? "Garn (hält dauerhaft)" : ["läuft ab am ", time(f.expires_at!)],
        ),
        f.hidden ? h("span", { class: "moderated-note" }, "Von der Moderation verborgen – nur du siehst ihn.") : null,
        mine
          ? h(
              "button",
              { type: "button", class: "small", onclick: () => this.twist(f) },
              f.is_twisted ? "Entzwirnen" : "Verzwirnen",
            )
          : reportButton({ id: f.id, what: `den Faden von ${f.account_name || "jemandem"}` }),
      );
    });

    const select = h(
      "select",
      { name: "type", "aria-label": "Art des Fadens", onchange: (e: Event) => (this.spinType = (e.target as HTMLSelectElement).value) },
      SPINNABLE.map((t) => h("option", { value: t, selected: t === this.spinType }, fadenLabel[t])),
    );
    const spinForm = h(
      "form",
      { class: "spin", onsubmit: (e: Event) => (e.preventDefault(), this.spin(k)) },
      h("label", {}, "Faden: ", select),
      h("button", { type: "submit" }, "Faden spinnen"),
    );

    replace(
      this.el,
      head(k.title, badge),
      k.hidden ? h("p", { class: "moderated-note", role: "note" }, "Von der Moderation verborgen: nur du siehst diesen Knoten. Warum, steht im Moderationslog.") : null,
      k.description ? h("p", { class: "desc" }, k.description) : null,
      k.hidden ? h("p", { class: "meta" }, "Ausgeblendet: Die Moderation hat diesen Knoten ausgeblendet oder prüft ihn noch. Nur du siehst ihn.") : null,
      h(
        "p",
        { class: "life" },
        k.permanent || !k.dissolves_at ? `Dauerhaft: ${k.garn_count > 0 ? k.garn_count + " × Garn hält" : "Garn hält"} ihn.` : ["Löst sich auf am ", time(k.dissolves_at), ", wenn niemand einen Faden spinnt."],
      ),
      h("div", { class: "panel-actions" }, spinForm, h("button", { type: "button", class: "secondary", onclick: () => this.antrag(k) }, "Antrag stellen")),
      h("h3", {}, `Fäden und Garn (${faeden.length})`),
      faeden.length ? h("ul", { class: "faeden" }, items) : h("p", {}, "Kein aktiver Faden."),
      h("p", { class: "meta" }, "Geknüpft am ", time(k.created_at)),
      me?.id === k.created_by ? null : h("p", {}, reportButton({ id: k.id, what: `den Knoten „${k.title}“` }, "Knoten melden")),
    );
    if (!this.revealed) {
      this.revealed = true;
      // On a phone the panel covers the lower part of the map: keep the pin in sight.
      this.d.reveal(k, window.innerWidth < 768 ? this.el.offsetHeight : 0, this.centre);
    }
  }

  private async spin(k: Knoten) {
    if (!requireLogin("Zum Spinnen eines Fadens bitte anmelden.")) return;
    try {
      const f = await post<Faden>("/api/faeden", { to_knoten_id: k.id, type: this.spinType, is_twisted: false });
      this.afterWrite(k, f);
      toast(`Faden gesponnen (${fadenLabel[f.type]}); er hält bis ${when(f.expires_at)}.`);
    } catch (e) {
      showError(e);
    }
  }

  private async twist(f: Faden) {
    try {
      const verb = f.is_twisted ? "untwist" : "twist";
      const next = await post<Faden>(`/api/faeden/${f.id}/${verb}`);
      const k = this.current()?.knoten;
      this.afterWrite(k && { ...k, permanent: next.is_twisted || k.permanent }, next);
      toast(next.is_twisted ? "Verzwirnt: der Faden ist jetzt Garn und hält den Knoten dauerhaft." : `Entzwirnt: der Faden läuft am ${when(next.expires_at)} ab.`);
    } catch (e) {
      toast(germanMessage(e), "error");
    }
  }

  // Until the feed brings the change (one batch), show it from the write's answer.
  private afterWrite(k: Knoten | undefined, f: Faden) {
    const known = this.current()?.faeden.find((x) => x.id === f.id);
    const full = { ...f, account_position: f.account_position ?? known?.account_position ?? session.me?.position ?? null };
    if (this.fetched) {
      this.fetched.faeden = [...this.fetched.faeden.filter((x) => x.id !== f.id), full];
    }
    this.d.feed.upsertLocal({ knoten: this.d.feed.view().knoten.has(f.knoten_id) ? undefined : k, faeden: [full] });
    this.render();
  }

  private antrag(k: Knoten) {
    if (!requireLogin("Zum Stellen eines Antrags bitte anmelden.")) return;
    closePanel(false);
    this.d.fileAntrag(k);
  }
}
