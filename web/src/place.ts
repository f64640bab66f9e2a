// Knüpfen: pick a point (tap on the map, or the map's centre), then the form.
import type L from "leaflet";
import { ApiError, germanMessage, post } from "./api";
import { requireLogin } from "./auth";
import { $, formError, h, parseDecimal } from "./dom";
import type { MapFeed } from "./feed";
import { knotenLabel } from "./labels";
import type { MapView } from "./mapview";
import { session } from "./session";
import { toast } from "./toast";
import { KNOTEN_TYPES, type Knoten } from "./types";
import { openDialog } from "./ui";

export class Placer {
  private bar = $("pick-bar");
  private done: ((p: { lat: number; lon: number } | null) => void) | null = null;

  constructor(private view: MapView, private feed: MapFeed, private opened: (id: string) => void) {
    const form = $<HTMLFormElement>("knoten-form");
    const select = form.elements.namedItem("type") as HTMLSelectElement;
    for (const t of KNOTEN_TYPES) select.append(h("option", { value: t }, knotenLabel[t]));

    $("place-btn").addEventListener("click", () => {
      if (!requireLogin("Zum Knüpfen eines Knotens bitte anmelden.")) return;
      this.pick((p) => p && this.form(p));
    });
    $("pick-center").addEventListener("click", () => this.finish(this.center()));
    $("pick-cancel").addEventListener("click", () => this.finish(null));
    document.addEventListener("keydown", (e) => {
      if (e.key === "Escape" && this.done && !document.querySelector("dialog[open]")) {
        e.preventDefault();
        this.finish(null);
      }
    }, true);
    // A long press (or right click) on the map knüpft right there.
    view.map.on("contextmenu", (e: L.LeafletMouseEvent) => {
      if (this.done || !requireLogin("Zum Knüpfen eines Knotens bitte anmelden.")) return;
      this.form({ lat: e.latlng.lat, lon: e.latlng.lng });
    });

    form.addEventListener("submit", (e) => (e.preventDefault(), this.submit(form)));
    $<HTMLDialogElement>("dlg-knoten").addEventListener("close", () => this.view.showPicked(null));
  }

  center() {
    const c = this.view.map.getCenter();
    return { lat: c.lat, lon: c.lng };
  }

  /** Asks for a point on the map; done(null) when cancelled. */
  pick(done: (p: { lat: number; lon: number } | null) => void, text = "Tippe auf die Karte, wo der Knoten hin soll.") {
    this.done = done;
    $("pick-text").textContent = text;
    this.bar.hidden = false;
    this.view.picking((ll) => this.finish({ lat: ll.lat, lon: ll.lng }));
    $("pick-center").focus();
  }

  private finish(p: { lat: number; lon: number } | null) {
    const done = this.done;
    this.done = null;
    this.bar.hidden = true;
    this.view.picking(null);
    done?.(p);
  }

  private form(p: { lat: number; lon: number }) {
    const form = $<HTMLFormElement>("knoten-form");
    formError(form, null);
    (form.elements.namedItem("lat") as HTMLInputElement).value = p.lat.toFixed(6);
    (form.elements.namedItem("lon") as HTMLInputElement).value = p.lon.toFixed(6);
    this.view.showPicked([p.lat, p.lon]);
    openDialog($<HTMLDialogElement>("dlg-knoten"));
    (form.elements.namedItem("type") as HTMLElement).focus();
  }

  private async submit(form: HTMLFormElement) {
    const f = new FormData(form);
    try {
      const k = await post<Knoten>("/api/knoten", {
        type: f.get("type"),
        title: String(f.get("title")).trim(),
        description: String(f.get("description") ?? "").trim(),
        lat: parseDecimal(String(f.get("lat"))),
        lon: parseDecimal(String(f.get("lon"))),
      });
      $<HTMLDialogElement>("dlg-knoten").close();
      form.reset();
      const position = session.me?.position ?? null;
      this.feed.upsertLocal({ knoten: k, faeden: k.faden ? [{ ...k.faden, account_position: position }] : [] });
      toast(`Knoten „${k.title}“ geknüpft.`);
      this.opened(k.id);
    } catch (err) {
      formError(form, germanMessage(err), err instanceof ApiError ? err.field : undefined);
    }
  }
}
