// Knüpfen: pick a place (a tap on the map, the map's centre, or an address or place found by
// the search), then the form. A place outside the Ortsweberei is refused as it is chosen.
import type L from "leaflet";
import { ApiError, germanMessage, post } from "./api";
import type { AddressSearch } from "./adressen";
import { requireLogin } from "./auth";
import { inBounds, outsideText } from "./bounds";
import { $, formError, h } from "./dom";
import type { MapFeed } from "./feed";
import { knotenLabel } from "./labels";
import type { MapView } from "./mapview";
import { session } from "./session";
import { toast } from "./toast";
import { KNOTEN_TYPES, type Knoten, type Point } from "./types";
import { openDialog } from "./ui";

type Place = Point & { label?: string };

export class Placer {
  private bar = $("pick-bar");
  private done: ((p: Place | null) => void) | null = null;
  private place: Place | null = null;
  private search: Promise<AddressSearch> | null = null;

  constructor(private view: MapView, private feed: MapFeed, private opened: (id: string) => void) {
    const form = $<HTMLFormElement>("knoten-form");
    const select = form.elements.namedItem("type") as HTMLSelectElement;
    for (const t of KNOTEN_TYPES) select.append(h("option", { value: t }, knotenLabel[t]));

    $("place-btn").addEventListener("click", () => {
      if (!requireLogin("Zum Knüpfen eines Knotens bitte anmelden.")) return;
      this.pick((p) => p && this.form(p));
    });
    $("pick-center").addEventListener("click", () => this.offer(this.center()));
    $("pick-cancel").addEventListener("click", () => this.finish(null));
    document.addEventListener("keydown", (e) => {
      // Escape in the open suggestions closes them (the search field handles it), not the picking.
      const inList = (e.target as HTMLElement | null)?.getAttribute?.("aria-expanded") === "true";
      if (e.key === "Escape" && this.done && !inList && !document.querySelector("dialog[open]")) {
        e.preventDefault();
        this.finish(null);
      }
    }, true);
    // A long press (or right click) on the map knüpft right there.
    view.map.on("contextmenu", (e: L.LeafletMouseEvent) => {
      if (this.done || !requireLogin("Zum Knüpfen eines Knotens bitte anmelden.")) return;
      const p = { lat: e.latlng.lat, lon: e.latlng.lng };
      if (!inBounds(p)) return toast(outsideText);
      this.form(p);
    });

    $("knoten-ort-change").addEventListener("click", () => {
      $<HTMLDialogElement>("dlg-knoten").close();
      this.pick((p) => (p ? this.form(p) : this.place && this.form(this.place)));
    });
    form.addEventListener("submit", (e) => (e.preventDefault(), this.submit(form)));
    $<HTMLDialogElement>("dlg-knoten").addEventListener("close", () => this.view.showPicked(null));
  }

  center() {
    const c = this.view.map.getCenter();
    return { lat: c.lat, lon: c.lng };
  }

  /** Asks for a place; done(null) when cancelled. */
  pick(done: (p: Place | null) => void) {
    this.done = done;
    this.note(null);
    this.bar.hidden = false;
    this.view.picking((ll) => this.offer({ lat: ll.lat, lon: ll.lng }));
    this.search ??= import("./adressen").then(
      ({ AddressSearch }) =>
        new AddressSearch({
          input: $<HTMLInputElement>("pick-q"),
          list: $("pick-adressen"),
          status: $("pick-status"),
          none: "Nichts gefunden. Tippe den Ort auf der Karte an.",
          choose: (a) => {
            if (!a.inside) return this.note(`„${a.label}“ liegt außerhalb der Ortsweberei.`);
            this.view.map.setView([a.lat, a.lon], Math.max(this.view.map.getZoom(), 17));
            this.offer({ lat: a.lat, lon: a.lon, label: a.label });
          },
        }),
    );
    this.search.catch(() => (this.search = null));
    $("pick-center").focus();
  }

  /** A place chosen while picking: taken if it lies within the bounds, else refused right away. */
  private offer(p: Place) {
    if (!this.done) return;
    if (!inBounds(p)) return this.note(outsideText);
    this.finish(p);
  }

  private note(text: string | null) {
    const n = $("pick-note");
    n.textContent = text ?? "";
    n.hidden = !text;
  }

  private finish(p: Place | null) {
    const done = this.done;
    this.done = null;
    this.bar.hidden = true;
    this.note(null);
    void this.search?.then((s) => s.clear());
    ($("pick-q") as HTMLInputElement).value = "";
    this.view.picking(null);
    done?.(p);
  }

  private form(p: Place) {
    const form = $<HTMLFormElement>("knoten-form");
    formError(form, null);
    this.place = p;
    $("knoten-ort").textContent = p.label ?? "Der markierte Punkt auf der Karte";
    this.view.showPicked([p.lat, p.lon]);
    openDialog($<HTMLDialogElement>("dlg-knoten"));
    (form.elements.namedItem("type") as HTMLElement).focus();
  }

  private async submit(form: HTMLFormElement) {
    const p = this.place;
    if (!p || !inBounds(p)) return formError(form, outsideText);
    const f = new FormData(form);
    try {
      const k = await post<Knoten>("/api/knoten", {
        type: f.get("type"),
        title: String(f.get("title")).trim(),
        description: String(f.get("description") ?? "").trim(),
        lat: p.lat,
        lon: p.lon,
      });
      $<HTMLDialogElement>("dlg-knoten").close();
      form.reset();
      this.place = null;
      const position = session.me?.position ?? null;
      if (k.hidden) {
        // Held by the word filter: not on the public map until a moderator lets it through.
        toast(`Knoten „${k.title}“ geknüpft. Die Moderation prüft ihn; bis dahin siehst nur du ihn.`);
      } else {
        this.feed.upsertLocal({ knoten: k, faeden: k.faden ? [{ ...k.faden, account_position: position }] : [] });
        toast(`Knoten „${k.title}“ geknüpft.`);
      }
      this.opened(k.id);
    } catch (err) {
      const field = err instanceof ApiError && err.field !== "lat" && err.field !== "lon" ? err.field : undefined;
      formError(form, germanMessage(err), field);
    }
  }
}
