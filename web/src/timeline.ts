// The timeline: the map as it was on a past day (GET /api/timeline, docs/SNAPSHOTS.md). A bar
// with a slider over the last 30 days and a day's step either way; the map and the list show
// that day's state under a "Stand: …" banner until the resident goes back to live, where the
// live feed, which kept running underneath, takes over again. Fetched when first opened.
import { get, germanMessage } from "./api";
import { $, h } from "./dom";
import type { Content } from "./feed";
import type { Antrag, Faden, Garnrolle, Goldfaden, Knoten, PastDay } from "./types";

const DAYS = 30;

/** An Antrag as the snapshot has it: its applicant by id only (the name is the Garnrolle's). */
type PastAntrag = Omit<Antrag, "applicant"> & { applicant: { id: string; name?: string } };

interface Answer {
  as_of: string;
  date: string;
  source: { snapshot: string; snapshot_as_of: string; events_replayed: number; exact: boolean };
  knoten: Knoten[];
  faeden: Faden[];
  garnrollen: Garnrolle[];
  goldfaeden: Goldfaden[];
  antraege: PastAntrag[];
  /** The Ortskonto's public object (snapshot shape); null: none then. */
  ortskonto?: { balance_cents: number } | null;
}

/** A day as shown: the map's content, and what the Webrat and the Ortskonto show. */
interface Day {
  content: Content;
  antraege: Antrag[];
  ortskonto?: { balance_cents: number } | null;
}

export interface TimelineHost {
  /** The view as minLon,minLat,maxLon,maxLat. */
  bbox(): string;
  /** The instance's time now, in ms (the dev clock moves). */
  now(): number;
  /** The Ortsweberei's time zone (IANA): its days are the ones asked for and shown. */
  zone: string;
  /** Shows a past day's map content and the rest of that day, or (null, null) live again. */
  show(content: Content | null, day: PastDay | null): void;
}

export class Timeline {
  private bar = $("timeline-bar");
  private slider: HTMLInputElement;
  private label: HTMLElement;
  private status: HTMLElement;
  private back = 0; // days back from today; 0 with the bar open is today's (past) view
  private open_ = false;
  private seq = 0;
  private timer = 0;
  // Answers by day and view, kept for scrubbing back and forth (a handful: each is one view).
  private cache = new Map<string, Promise<Day>>();
  // Dates are the Ortsweberei's days, whatever the device's zone: the instance reads them in its own.
  private isoDay: Intl.DateTimeFormat;
  private germanDay: Intl.DateTimeFormat;

  constructor(private host: TimelineHost) {
    const day = { year: "numeric", month: "2-digit", day: "2-digit" } as const;
    let zone = host.zone;
    try {
      new Intl.DateTimeFormat("de-DE", { timeZone: zone });
    } catch {
      zone = "Europe/Berlin"; // a zone this browser does not know: the instance's default
    }
    this.isoDay = new Intl.DateTimeFormat("en-CA", { timeZone: zone, ...day });
    this.germanDay = new Intl.DateTimeFormat("de-DE", { timeZone: zone, ...day });
    this.slider = h("input", { type: "range", min: String(-DAYS), max: "0", step: "1", value: "0", id: "timeline-slider", "aria-label": "Tag wählen" });
    this.label = h("output", { for: "timeline-slider", id: "timeline-day" });
    this.status = h("p", { class: "field-note", id: "timeline-status", "aria-live": "polite" });
    const step = (d: number) => () => this.go(Math.min(DAYS, Math.max(0, this.back - d)));
    this.slider.addEventListener("input", () => {
      this.back = -Number(this.slider.value);
      this.label.textContent = this.dayLabel(this.back);
      // Loading follows the thumb, a moment after it rests (a cached day shows at once).
      clearTimeout(this.timer);
      this.timer = window.setTimeout(() => this.load(), this.cache.has(this.key(this.back)) ? 0 : 120);
    });
    this.bar.replaceChildren(
      h("div", { class: "timeline-row" },
        h("button", { type: "button", class: "small secondary", id: "timeline-prev", onclick: step(-1) }, h("span", { "aria-hidden": "true" }, "‹ "), "Vortag"),
        this.label,
        h("button", { type: "button", class: "small secondary", id: "timeline-next", onclick: step(1) }, "Folgetag", h("span", { "aria-hidden": "true" }, " ›")),
      ),
      this.slider,
      h("div", { class: "timeline-row" }, this.status,
        h("button", { type: "button", class: "small", id: "timeline-live", onclick: () => this.close() }, "Zurück zu live")),
    );
  }

  get isOpen() {
    return this.open_;
  }

  /** Opens the bar on yesterday. */
  open() {
    this.open_ = true;
    this.bar.hidden = false;
    this.go(1);
  }

  /** Back to the live map. */
  close() {
    if (!this.open_) return;
    this.open_ = false;
    this.bar.hidden = true;
    this.seq++;
    this.cache.clear();
    this.host.show(null, null);
  }

  /** The view moved: the same day, for the new view. */
  viewChanged() {
    if (this.open_) this.load();
  }

  private go(back: number) {
    this.back = back;
    this.slider.value = String(-back);
    this.label.textContent = this.dayLabel(back);
    this.load();
  }

  private date(back: number): string {
    return this.isoDay.format(new Date(this.host.now() - back * 86400000));
  }

  private dayLabel(back: number): string {
    return back === 0 ? "Heute" : this.germanDay.format(new Date(this.host.now() - back * 86400000));
  }

  private stand(back: number): string {
    return `Stand: ${this.germanDay.format(new Date(this.host.now() - back * 86400000))}`;
  }

  private key(back: number) {
    return `${this.date(back)}|${this.host.bbox()}`;
  }

  private fetchDay(back: number): Promise<Day> {
    const key = this.key(back);
    let p = this.cache.get(key);
    if (!p) {
      const [date, bbox] = key.split("|");
      p = get<Answer>(`/api/timeline?date=${date}&bbox=${bbox}`).then(toDay);
      p.catch(() => this.cache.delete(key));
      this.cache.set(key, p);
      while (this.cache.size > 12) this.cache.delete(this.cache.keys().next().value!);
    }
    return p;
  }

  private async load() {
    const seq = ++this.seq;
    const back = this.back;
    this.status.textContent = "Lädt …";
    try {
      const day = await this.fetchDay(back);
      if (seq !== this.seq) return;
      this.status.textContent = "";
      this.host.show(day.content, { label: this.stand(back), antraege: day.antraege, ortskonto: day.ortskonto });
      // The neighbouring days, so that the next step shows at once.
      for (const n of [back + 1, back - 1]) if (n >= 0 && n <= DAYS) this.fetchDay(n).catch(() => {});
    } catch (e) {
      if (seq !== this.seq) return;
      const error = germanMessage(e);
      this.status.textContent = error;
      this.host.show(emptyContent(), { label: this.stand(back), antraege: [], ortskonto: null, error });
    }
  }
}

function emptyContent(): Content {
  return { knoten: new Map(), faeden: new Map(), garnrollen: new Map(), goldfaeden: new Map() };
}

// The answer as the map's content (the live feed's shapes, a Faden drawn from its spinner's
// Garnrolle as the feed draws it), the Webrat's Anträge (newest first, as the live list; the
// applicant's name where the answer has their Garnrolle) and the Ortskonto's balance.
function toDay(a: Answer): Day {
  const c = emptyContent();
  for (const g of a.garnrollen) c.garnrollen.set(g.id, g);
  for (const k of a.knoten) c.knoten.set(k.id, k);
  for (const f of a.faeden) c.faeden.set(f.id, { ...f, account_position: f.account_position ?? c.garnrollen.get(f.account_id)?.position ?? null });
  for (const g of a.goldfaeden) c.goldfaeden.set(g.id, g);
  const antraege = (a.antraege ?? [])
    .map((x) => ({ ...x, applicant: { id: x.applicant.id, name: x.applicant.name ?? c.garnrollen.get(x.applicant.id)?.name ?? "" } }))
    .sort((x, y) => Date.parse(y.opened_at) - Date.parse(x.opened_at) || x.id.localeCompare(y.id));
  const konto = a.ortskonto ? { balance_cents: a.ortskonto.balance_cents } : a.ortskonto;
  return { content: c, antraege, ortskonto: konto };
}
