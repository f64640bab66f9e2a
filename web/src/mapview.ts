// The map: Knoten pins, Fäden and Garn as lines from the spinner's Garnrolle to the Knoten,
// Garnrollen as small circles, Goldfäden (visible donations) as gold lines from the donor's
// Garnrolle to the Ortskonto. It draws whatever the feed holds, diffing by id, so a delta
// touches only the layers that changed.
import * as L from "leaflet";
import Supercluster from "supercluster";
import type { Content } from "./feed";
import { h } from "./dom";
import { icon, knotenLabel, svg } from "./labels";
import { KNOTEN_TYPES, type Faden, type Garnrolle, type Goldfaden, type Knoten, type KnotenType, type Point } from "./types";

const WEEK_MS = 7 * 24 * 3600 * 1000;
const PIN_SHAPE = "M16 39C16 39 3 24.5 3 15a13 13 0 0 1 26 0c0 9.5-13 24-13 24z";

export interface MapHandlers {
  knoten(id: string): void;
  garnrolle(g: Garnrolle): HTMLElement;
  /** The Ortskonto's marker was chosen. */
  konto(): void;
  viewChanged(bounds: L.LatLngBounds, zoom: number): void;
  /** How many pixels of the map the app's chrome covers: filter chips on top, buttons below. */
  chrome(): { top: number; bottom: number };
}

// Clustering: pins closer than RADIUS pixels merge into a cluster once MIN_POINTS of them meet,
// up to CLUSTER_MAX_ZOOM; closer in, every pin is its own. Only what lies in the view (and a
// margin) is drawn, so thousands of Knoten stay a few dozen markers.
const RADIUS = 56;
const MIN_POINTS = 5;
const CLUSTER_MAX_ZOOM = 16;

type Pin = { kind: "pin"; k: Knoten } | { kind: "cluster"; id: number; count: number; lat: number; lon: number };

type Entry<T extends L.Layer> = { layer: T; key: string };

type Gold = Goldfaden & { account_position: Point; bend: number };

export class MapView {
  readonly map: L.Map;
  filter = new Set<KnotenType>(KNOTEN_TYPES);
  /** Milliseconds to add to this device's clock to get the instance's (the dev clock moves). */
  clockOffset = 0;

  private markers = new Map<string, Entry<L.Marker>>(); // by Knoten id, or "c…" for a cluster
  private index: Supercluster<{ id: string }> | null = null;
  private indexed: Map<string, Knoten> = new Map();
  private indexKey = "";
  /** The pan the Knoten panel caused (pixels), undone when it closes, left out of saved views. */
  private shift = L.point(0, 0);
  private threads = new Map<string, Entry<L.Polyline | L.LayerGroup> & { faden: Faden }>();
  private rollen = new Map<string, Entry<L.CircleMarker>>();
  private gold = new Map<string, Entry<L.Polyline>>();
  private kontoPin: L.Marker | null = null;
  private threadLayer = L.layerGroup();
  private rollenLayer = L.layerGroup();
  private markerLayer = L.layerGroup();
  private pick: ((ll: L.LatLng) => void) | null = null;
  private pickMarker: L.CircleMarker | null = null;
  private selected: string | null = null;

  constructor(el: HTMLElement, private on: MapHandlers) {
    const calm = matchMedia("(prefers-reduced-motion: reduce)").matches;
    this.map = L.map(el, { zoomControl: false, zoomAnimation: !calm, fadeAnimation: !calm, zoomSnap: 0.25, minZoom: 3, maxZoom: 19, worldCopyJump: false, maxBounds: [[-85, -200], [85, 200]], maxBoundsViscosity: 0.8 });
    L.control.zoom({ position: "topright", zoomInTitle: "Hineinzoomen", zoomOutTitle: "Herauszoomen" }).addTo(this.map);
    this.map.attributionControl.setPrefix(false);
    this.map.createPane("outline").style.zIndex = "250";
    this.map.createPane("bounds").style.zIndex = "300";
    this.map.createPane("rollen").style.zIndex = "450";
    this.threadLayer.addTo(this.map);
    this.rollenLayer.addTo(this.map);
    this.markerLayer.addTo(this.map);

    // The first view is asked for at once, later ones when panning has paused.
    let timer = 0;
    let first = true;
    this.map.on("moveend", () => {
      clearTimeout(timer);
      const changed = () => this.on.viewChanged(this.map.getBounds(), this.map.getZoom());
      if (first) {
        first = false;
        changed();
      } else timer = window.setTimeout(changed, 250);
    });
    this.map.on("click", (e: L.LeafletMouseEvent) => {
      if (this.pick) this.pick(e.latlng);
    });
    this.map.on("moveend", () => this.drawPins());
  }

  /** Padding that keeps what is fitted into the view clear of the chrome. */
  padding(extra = 8): L.FitBoundsOptions {
    const c = this.on.chrome();
    return { paddingTopLeft: [extra, c.top + extra], paddingBottomRight: [extra, c.bottom + extra] };
  }

  /** The view as the resident left it: without the pan that the Knoten panel caused. */
  restingCenter(): L.LatLng {
    return this.map.containerPointToLatLng(this.map.getSize().divideBy(2).subtract(this.shift));
  }

  /** Undoes the Knoten panel's pan (the panel closed). */
  unreveal() {
    if (this.shift.x || this.shift.y) this.map.panBy(this.shift.multiplyBy(-1));
    this.shift = L.point(0, 0);
  }

  /** Forgets the panel's pan without undoing it (the resident went elsewhere on purpose). */
  settle() {
    this.shift = L.point(0, 0);
  }

  now() {
    return Date.now() + this.clockOffset;
  }

  /** The next tap on the map goes to fn (null: back to normal). */
  picking(fn: ((ll: L.LatLng) => void) | null) {
    this.pick = fn;
    this.map.getContainer().classList.toggle("picking", !!fn);
  }

  showPicked(ll: L.LatLngExpression | null) {
    this.pickMarker?.remove();
    this.pickMarker = ll ? L.circleMarker(ll, { radius: 9, color: "#26306b", weight: 3, fillColor: "#e08a3c", fillOpacity: 0.9, interactive: false }).addTo(this.map) : null;
  }

  select(id: string | null) {
    if (this.selected) this.markers.get(this.selected)?.layer.getElement()?.classList.remove("selected");
    this.selected = id;
    if (id) this.markers.get(id)?.layer.getElement()?.classList.add("selected");
  }

  /**
   * Pans so that the point is seen between the chrome on top and a panel covering the bottom
   * `cover` pixels: to the middle of that part if `centre`, else only when it is hidden.
   */
  reveal(lat: number, lon: number, cover: number, centre = false) {
    const size = this.map.getSize();
    const p = this.map.latLngToContainerPoint([lat, lon]);
    const top = this.on.chrome().top;
    const bottom = Math.max(top + 80, size.y - cover);
    // The pin stands 40 px above its point: its middle is what is centred.
    const y = p.y - 20;
    const hidden = p.y - 40 < top + 4 || p.y > bottom - 4 || p.x < 16 || p.x > size.x - 16;
    if (!centre && !hidden) return;
    const d = L.point(Math.round(p.x - size.x / 2), Math.round(y - (top + bottom) / 2));
    if (!d.x && !d.y) return;
    this.shift = this.shift.add(d);
    this.map.panBy(d);
  }

  visibleKnoten(view: Content): Knoten[] {
    const b = this.map.getBounds();
    return [...view.knoten.values()].filter((k) => this.filter.has(k.type) && b.contains([k.lat, k.lon]));
  }

  render(view: Content) {
    const shown = new Map<string, Knoten>();
    for (const k of view.knoten.values()) if (this.filter.has(k.type)) shown.set(k.id, k);

    this.cluster(shown);
    this.drawPins();

    const lines = new Map<string, Faden & { to: Knoten }>();
    for (const f of view.faeden.values()) {
      const to = shown.get(f.knoten_id);
      if (to && f.account_position) lines.set(f.id, { ...f, to });
    }
    sync(
      this.threads,
      lines,
      (f) => `${f.is_twisted}|${f.account_position!.lat},${f.account_position!.lon}|${f.to.lat},${f.to.lon}|${f.expires_at}`,
      (f) => this.thread(f),
      this.threadLayer,
      (e, f) => (e.faden = f),
    );

    const rollen = new Map<string, Garnrolle & { position: { lat: number; lon: number } }>();
    for (const g of view.garnrollen.values()) if (g.position) rollen.set(g.id, g as Garnrolle & { position: { lat: number; lon: number } });
    const gold = new Map<string, Gold>();
    const at = (p: Point) => `${p.lat},${p.lon}`;
    // A resident who gave more than once: each further Goldfaden bends aside, by turns left and right.
    const fan = new Map<string, number>();
    for (const g of view.goldfaeden.values()) {
      this.kontoAt(g.konto_position);
      if (!g.account_position || g.status === "failed") continue;
      const n = fan.get(at(g.account_position)) ?? 0;
      fan.set(at(g.account_position), n + 1);
      gold.set(g.id, { ...g, account_position: g.account_position, bend: n % 2 ? Math.ceil(n / 2) : -n / 2 });
    }
    sync(this.gold, gold, (g) => `${g.status}|${at(g.account_position)}|${at(g.konto_position)}|${g.bend}`, (g) => this.goldfaden(g), this.threadLayer);
    sync(this.rollen, rollen, (g) => `${g.name}|${g.verified}|${g.position.lat},${g.position.lon}`, (g) => this.rolle(g), this.rollenLayer);
    this.fade();
    if (this.selected) this.select(this.selected);
  }

  /** Fäden grow fainter as their seven days run out; Garn does not fade. */
  fade() {
    const now = this.now();
    for (const e of this.threads.values()) {
      const f = e.faden;
      if (f.is_twisted || !f.expires_at || !(e.layer instanceof L.Polyline)) continue;
      const left = Math.max(0, Math.min(1, (Date.parse(f.expires_at) - now) / WEEK_MS));
      e.layer.setStyle({ opacity: 0.15 + 0.8 * left, dashArray: left < 1 / 7 ? "5 6" : undefined });
    }
  }

  // The cluster index follows the Knoten shown; rebuilt only when they changed.
  private cluster(shown: Map<string, Knoten>) {
    let key = "";
    for (const k of shown.values()) key += `${k.id}${k.lat}${k.lon};`;
    this.indexed = shown;
    if (key === this.indexKey) return;
    this.indexKey = key;
    const index = new Supercluster<{ id: string }>({ radius: RADIUS, minPoints: MIN_POINTS, maxZoom: CLUSTER_MAX_ZOOM });
    index.load([...shown.values()].map((k) => ({ type: "Feature", properties: { id: k.id }, geometry: { type: "Point", coordinates: [k.lon, k.lat] } })));
    this.index = index;
  }

  /** The markers for the view: pins, and clusters where pins crowd. */
  private drawPins() {
    if (!this.index) return;
    const b = this.map.getBounds().pad(0.3);
    const zoom = Math.floor(this.map.getZoom());
    const items = new Map<string, Pin>();
    const clamp = (v: number, lo: number, hi: number) => Math.max(lo, Math.min(hi, v));
    for (const f of this.index.getClusters([clamp(b.getWest(), -180, 180), clamp(b.getSouth(), -85, 85), clamp(b.getEast(), -180, 180), clamp(b.getNorth(), -85, 85)], zoom)) {
      const [lon, lat] = f.geometry.coordinates;
      const p = f.properties as { cluster?: boolean; cluster_id?: number; point_count?: number; id?: string };
      if (p.cluster) items.set(`c${zoom}:${p.cluster_id}`, { kind: "cluster", id: p.cluster_id!, count: p.point_count!, lat, lon });
      else {
        const k = this.indexed.get(p.id!);
        if (k) items.set(k.id, { kind: "pin", k });
      }
    }
    sync(
      this.markers,
      items,
      // A cluster's id and count can stay when a Knoten inside it moved: its place is in the key.
      (i) => (i.kind === "pin" ? `${i.k.type}|${i.k.title}|${i.k.lat},${i.k.lon}|${i.k.permanent}` : `${i.count}|${i.lat},${i.lon}`),
      (i) => (i.kind === "pin" ? this.pin(i.k) : this.clusterMarker(i)),
      this.markerLayer,
    );
    if (this.selected) this.select(this.selected);
  }

  private clusterMarker(c: { id: number; count: number; lat: number; lon: number }): L.Marker {
    const label = `${c.count} Knoten – näher heranzoomen`;
    const size = c.count < 10 ? 34 : c.count < 100 ? 40 : 48;
    const m = L.marker([c.lat, c.lon], {
      icon: L.divIcon({ className: "cluster", html: h("span", {}, String(c.count)), iconSize: [size, size], iconAnchor: [size / 2, size / 2] }),
      title: label,
      keyboard: true,
    });
    const open = () => {
      const z = Math.min(this.index?.getClusterExpansionZoom(c.id) ?? this.map.getZoom() + 2, this.map.getMaxZoom());
      this.map.setView([c.lat, c.lon], z);
    };
    m.on("click", open);
    m.on("add", () => {
      const el = m.getElement();
      if (!el) return;
      el.setAttribute("aria-label", label);
      el.setAttribute("role", "button");
      el.addEventListener("keydown", (ev) => {
        if (ev.key === "Enter" || ev.key === " ") {
          ev.preventDefault();
          open();
        }
      });
    });
    return m;
  }

  private pin(k: Knoten): L.Marker {
    const label = `${knotenLabel[k.type] ?? k.type}: ${k.title}`;
    // The pin's pictures as DOM (Leaflet would parse a string as HTML).
    const art = h("span", { class: "pin-art" }, svg("pin-shape", "0 0 32 40", PIN_SHAPE), icon(k.type));
    const pinIcon = L.divIcon({
      className: `pin pin-${k.type}${k.permanent ? " permanent" : ""}`,
      html: art,
      iconSize: [32, 40],
      iconAnchor: [16, 39],
    });
    const m = L.marker([k.lat, k.lon], { icon: pinIcon, title: label, keyboard: true, riseOnHover: true });
    m.on("click", () => this.on.knoten(k.id));
    m.on("add", () => {
      const el = m.getElement();
      if (!el) return;
      el.setAttribute("aria-label", label);
      el.dataset.knoten = k.id;
      el.addEventListener("keydown", (ev) => {
        if (ev.key === "Enter" || ev.key === " ") {
          ev.preventDefault();
          this.on.knoten(k.id);
        }
      });
    });
    return m;
  }

  private thread(f: Faden & { to: Knoten }): L.Polyline | L.LayerGroup {
    const path: L.LatLngExpression[] = [[f.account_position!.lat, f.account_position!.lon], [f.to.lat, f.to.lon]];
    if (f.is_twisted) {
      // Garn: a thick golden strand with a light twist drawn over it.
      return L.layerGroup([
        L.polyline(path, { color: "#a8741a", weight: 6, opacity: 0.95, interactive: false, className: "garn" }),
        L.polyline(path, { color: "#ffe9b8", weight: 2, opacity: 1, dashArray: "3 6", lineCap: "butt", interactive: false, className: "garn-twist" }),
      ]);
    }
    return L.polyline(path, { color: "#b3432b", weight: 2.5, interactive: false, className: "faden" });
  }

  /** Puts the Ortskonto's marker where it stands. */
  kontoAt(p: Point | null) {
    if (!p) return;
    if (this.kontoPin) return void this.kontoPin.setLatLng([p.lat, p.lon]);
    const m = (this.kontoPin = L.marker([p.lat, p.lon], {
      icon: L.divIcon({ className: "konto-pin", html: h("span", {}, "€"), iconSize: [30, 30] }),
      title: "Ortskonto",
      // Not a stop of its own for the keyboard: the top bar's "Ortskonto" opens the same slider.
      keyboard: false,
    }));
    m.on("click", () => this.on.konto());
    m.addTo(this.map);
  }

  // Gold, solid once the money is booked; dashed and "ausstehend" before; grey, dashed and
  // struck through when reversed.
  private goldfaden(g: Gold): L.Polyline {
    const label = g.status === "settled" ? "" : g.status === "reversed" ? "storniert" : "ausstehend";
    const a = g.account_position, k = g.konto_position, b = g.bend * 0.15;
    const line = L.polyline(
      [[a.lat, a.lon], [(a.lat + k.lat) / 2 - (k.lon - a.lon) * b, (a.lon + k.lon) / 2 + (k.lat - a.lat) * b], [k.lat, k.lon]],
      { color: g.status === "reversed" ? "#8c8c8c" : "#d9a521", weight: 4, dashArray: label ? "8 7" : undefined, interactive: false, className: `goldfaden ${g.status} gf-${g.id}` },
    );
    if (label) line.bindTooltip(label, { permanent: true, direction: "center", className: "gf-label " + g.status });
    return line;
  }

  private rolle(g: Garnrolle & { position: { lat: number; lon: number } }): L.CircleMarker {
    const m = L.circleMarker([g.position.lat, g.position.lon], {
      pane: "rollen",
      radius: 7,
      color: "#26306b",
      weight: 2.5,
      fillColor: g.verified ? "#26306b" : "#ffffff",
      fillOpacity: 1,
      // The account in the class, as the Goldfäden carry theirs: one resident's Garnrolle can be found.
      className: `garnrolle gr-${g.id}`,
    });
    // An element, not a string: Leaflet puts a string in as HTML, and a name is anyone's text.
    m.bindTooltip(h("span", {}, g.name + (g.verified ? "" : " (unbestätigt)")), { direction: "top", offset: [0, -6] });
    // The popup opens upwards: it must come to rest below the filter chips, not under them.
    m.bindPopup(() => this.on.garnrolle(g), { autoPanPaddingTopLeft: L.point(10, this.on.chrome().top + 10), autoPanPaddingBottomRight: L.point(10, this.on.chrome().bottom + 10) });
    return m;
  }
}

// Brings the layers in line with the objects: adds new ones, replaces changed ones (by key),
// removes the rest.
function sync<T, L2 extends L.Layer, E extends Entry<L2>>(
  entries: Map<string, E>,
  objects: Map<string, T>,
  keyOf: (o: T) => string,
  make: (o: T) => L2,
  group: L.LayerGroup,
  extra?: (e: E, o: T) => void,
) {
  for (const [id, e] of entries) {
    if (!objects.has(id)) {
      group.removeLayer(e.layer);
      entries.delete(id);
    }
  }
  for (const [id, o] of objects) {
    const key = keyOf(o);
    const e = entries.get(id);
    if (e && e.key === key) {
      extra?.(e, o);
      continue;
    }
    if (e) group.removeLayer(e.layer);
    const fresh = { layer: make(o), key } as E;
    extra?.(fresh, o);
    entries.set(id, fresh);
    group.addLayer(fresh.layer);
  }
}
