// The Weltgewebe web app: the live map of the Ortsweberei, with the Webrat, the Nähstübchen
// and the Ortskonto as sliders around it.
import "leaflet/dist/leaflet.css";
import "./styles.css";
import * as L from "leaflet";
import { ApiError, get, germanMessage } from "./api";
import { initAuth } from "./auth";
import { addBasemap, addBounds } from "./basemap";
import { setBounds } from "./bounds";
import { Chat } from "./chat";
import { $, h, replace } from "./dom";
import { MapFeed, type Content } from "./feed";
import type { KnotenPanel } from "./knotenpanel";
import type { Ortskonto } from "./ortskonto";
import type { Timeline } from "./timeline";
import type { Webrat } from "./webrat";
import { icon, knotenLabel, svg } from "./labels";
import { setLimits } from "./limits";
import { MapView } from "./mapview";
import { reportButton } from "./melden";
import { Placer } from "./place";
import { session } from "./session";
import { KNOTEN_TYPES, type Garnrolle, type Konto, type Ortsweberei, type PageConfig, type PastDay } from "./types";
import { toast } from "./toast";
import { closePanel, initUI, onSliderOpen, openPanel, openSlider, panelOpen } from "./ui";

const config: PageConfig = (() => {
  try {
    return JSON.parse(document.getElementById("wg-config")?.textContent || "{}");
  } catch {
    return {};
  }
})();

const wsURL = (path: string) => `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}${path}`;

// What the first screen needs is asked for at once, in parallel with setting up the map.
const feed = new MapFeed(wsURL("/ws/map"));
feed.start();
const ortsweberei = get<Ortsweberei>("/api/ortsweberei");
ortsweberei.catch(() => {});
session.load();

initUI();
// Parts of the app fetched when first used (for the first load's budget). A part that could not
// be fetched (offline before it was ever used, or a page older than the instance's update) is
// said so, and asked for again the next time.
function lazy<T>(load: () => Promise<T>): (use: (part: T) => void) => void {
  let part: Promise<T> | null = null;
  return (use) => {
    part ??= load().catch((e) => {
      part = null;
      throw e;
    });
    part.then(use, () => toast("Dieser Teil der App konnte nicht geladen werden. Bitte prüfe die Verbindung oder lade die Seite neu.", "error"));
  };
}

// A past day's map (the timeline), shown instead of the live feed's while the timeline is open;
// the feed keeps running underneath, so that going back to live is immediate.
let past: Content | null = null;
const shown = (): Content => past ?? feed.view();
// The rest of that day (its Anträge, its balance), for the Webrat and the Ortskonto.
let pastDay: PastDay | null = null;
const backToLive = () => timeline?.close();

// The Knoten panel, fetched when a Knoten is first opened.
let panel: KnotenPanel | null = null;
const withPanel = lazy(() =>
  import("./knotenpanel").then(({ KnotenPanel }) =>
    (panel = new KnotenPanel({
      feed,
      select: (id) => mapView.select(id),
      reveal: (k, cover, centre) => mapView.reveal(k.lat, k.lon, cover, centre),
      unreveal: () => mapView.unreveal(),
      fileAntrag: (k) => withWebrat((w) => w.fileAbout(k)),
    }))));
const openKnoten = (id: string, fromList = false) => withPanel((p) => void p.open(id, fromList));
// The Webrat (Anträge, votes, delegation: a fifth of the app's code), fetched when first opened.
let webrat: Webrat | null = null;
const withWebrat = lazy(() =>
  import("./webrat").then(({ Webrat }) => (webrat = new Webrat({ feed, showKnoten: (id) => showKnoten(id), past: () => pastDay, live: backToLive }))));
// The Ortskonto (balance, Goldfäden, donating, the treasurer's view), fetched when first opened.
let konto: Ortskonto | null = null;
const withKonto = lazy(() =>
  import("./ortskonto").then(({ Ortskonto }) =>
    (konto = new Ortskonto({
      feed,
      kontoAt: (p) => mapView.kontoAt(p),
      showAntrag: (id) => (openSlider("webrat"), withWebrat((w) => void w.showAntrag(id))),
      past: () => pastDay,
      live: backToLive,
    }))));

// The moderation panel (the public log for everyone; the queue for moderators; verification,
// the word list and address blocks for admins), fetched when first opened; with it the account
// dialog's warnings and sanction, which the account may appeal.
// Its openers say which tab in data-moderation.
const withModeration = lazy(() => import("./moderation").then(({ Moderation }) => new Moderation()));
// The livestreams (/streams, /streams/{id}), fetched when first opened; from then on they
// follow the address themselves.
const withStreams = lazy(() => import("./streampage"));
if (location.pathname.startsWith("/streams")) withStreams((s) => s.route());
document.addEventListener("click", (e) => {
  const t = e.target as HTMLElement;
  const b = t.closest<HTMLElement>("[data-moderation]");
  if (b) withModeration((m) => m.open(b.dataset.moderation as "log"));
  if (t.closest("#streams-link")) {
    e.preventDefault();
    withStreams((s) => s.go("/streams"));
  }
});
$("account-btn").addEventListener("click", () => session.me && withModeration((m) => void m.accountNotes($("account-moderation"))));

const mapView = new MapView($("map"), {
  knoten: (id) => openKnoten(id),
  garnrolle: (g) => garnrolleCard(g),
  konto: () => openSlider("ortskonto"),
  viewChanged: (b, z) => {
    updateCells(b, z);
    timeline?.viewChanged();
    saveView();
    renderList();
  },
  chrome: () => {
    const map = $("map").getBoundingClientRect();
    return { top: Math.max(0, $("chips").getBoundingClientRect().bottom - map.top), bottom: Math.max(0, map.bottom - $("place-btn").getBoundingClientRect().top) };
  },
});
const map = mapView.map;

new Placer(mapView, feed, (id) => openKnoten(id));
// The first opening loads it; its own hook, set as it is made, shows what is open from then on.
onSliderOpen("webrat", () => withWebrat((w) => w.reload()));
onSliderOpen("ortskonto", () => withKonto((k) => k.reload()));
// A link from elsewhere (a Fediverse post's "open original", /antraege/{id}) opens that Antrag.
const deepAntrag = location.pathname.match(/^\/antraege\/([0-9a-f-]{36})\/?$/i);
if (deepAntrag) {
  openSlider("webrat");
  withWebrat((w) => void w.showAntrag(deepAntrag[1]));
}
new Chat(wsURL("/ws/chat"));
initAuth({ view: () => map.getBounds(), basemap: config.basemap });

// Drawing follows the feed, at most once a frame.
let frame = 0;
let ready = false;
feed.onChange = () => {
  if (frame) return;
  frame = requestAnimationFrame(() => {
    frame = 0;
    const view = shown();
    mapView.render(view);
    panel?.refresh();
    konto?.feedChanged();
    renderList();
    if (!ready && feed.status === "live") {
      ready = true;
      document.documentElement.dataset.ready = "1";
      performance.mark("wg-ready");
    }
  });
};
feed.onStatus = (s) => {
  document.documentElement.dataset.feed = s;
  hint(s === "offline" ? "Verbindung unterbrochen – die Karte wird gleich wieder aktuell." : cellsHint);
};
feed.onError = (code, message) => {
  if (code === "too_many_cells") {
    feed.clear();
    hint(germanMessage(new ApiError(422, code, message)));
  } else console.warn("map feed:", code, message);
};
setInterval(() => mapView.fade(), 60000);

// Which cells to follow: the instance says which cover the view (no H3 in the browser).
let cellsSeq = 0;
let cellsHint: string | null = null;
async function updateCells(b: L.LatLngBounds, zoom: number) {
  const seq = ++cellsSeq;
  const clamp = (v: number, lo: number, hi: number) => Math.max(lo, Math.min(hi, v));
  const bbox = [clamp(b.getWest(), -180, 180), clamp(b.getSouth(), -85, 85), clamp(b.getEast(), -180, 180), clamp(b.getNorth(), -85, 85)].map((v) => v.toFixed(5)).join(",");
  try {
    const r = await get<{ resolution: number; cells: string[] }>(`/api/map/cells?bbox=${bbox}&zoom=${Math.round(zoom)}`);
    if (seq !== cellsSeq) return;
    cellsHint = null;
    feed.setCells(r.cells);
  } catch (e) {
    if (seq !== cellsSeq) return;
    const tooLarge = e instanceof ApiError && e.code === "too_many_cells";
    // The Knoten of the last view that could be followed would stand there unchanging, as if
    // live: the map shows none rather than stale ones.
    if (tooLarge) feed.clear();
    cellsHint = tooLarge ? "Zu großer Ausschnitt: zoom näher heran, um die Knoten zu sehen." : germanMessage(e);
  }
  if (feed.status !== "offline") hint(cellsHint);
}

function hint(text: string | null) {
  const el = $("map-hint");
  el.textContent = text ?? "";
  el.hidden = !text;
}

// Filter chips by Knoten type, remembered.
const FILTER_KEY = "wg.filter";
try {
  const saved = JSON.parse(localStorage.getItem(FILTER_KEY) || "null");
  if (Array.isArray(saved)) mapView.filter = new Set(saved.filter((t) => (KNOTEN_TYPES as readonly string[]).includes(t)));
} catch {
  // keep all
}
const chips = $("chips");
for (const t of KNOTEN_TYPES) {
  const b = h("button", { type: "button", class: `chip t-${t}`, "aria-pressed": String(mapView.filter.has(t)) }, icon(t), knotenLabel[t]);
  b.addEventListener("click", () => {
    const on = !mapView.filter.has(t);
    on ? mapView.filter.add(t) : mapView.filter.delete(t);
    b.setAttribute("aria-pressed", String(on));
    try {
      localStorage.setItem(FILTER_KEY, JSON.stringify([...mapView.filter]));
    } catch {
      // not remembered
    }
    mapView.render(shown());
    renderList();
  });
  chips.append(b);
}

// The timeline (the map of a past day), fetched when first opened.
let timeline: Timeline | null = null;
const withTimeline = lazy(() =>
  Promise.all([import("./timeline"), ortsweberei.catch(() => null)]).then(([{ Timeline }, ow]) =>
    (timeline = new Timeline({
      bbox: () => {
        const b = map.getBounds();
        const clamp = (v: number, lo: number, hi: number) => Math.max(lo, Math.min(hi, v));
        return [clamp(b.getWest(), -180, 180), clamp(b.getSouth(), -85, 85), clamp(b.getEast(), -180, 180), clamp(b.getNorth(), -85, 85)].map((v) => v.toFixed(5)).join(",");
      },
      now: () => mapView.now(),
      zone: ow?.timezone || "Europe/Berlin",
      show: (content, day) => {
        past = content;
        pastDay = day;
        const label = day?.label ?? null;
        const banner = $("past-banner");
        banner.textContent = label ?? "";
        banner.hidden = !label;
        document.documentElement.dataset.past = label ? "1" : "";
        $("timeline-btn").setAttribute("aria-expanded", String(!!label));
        feed.onChange();
        webrat?.pastChanged();
        konto?.pastChanged();
      },
    }))));
$("timeline-btn").addEventListener("click", () => withTimeline((t) => (t.isOpen ? t.close() : t.open())));

// The list of Knoten in view: the map's content for keyboards and screen readers.
const listPanel = $("list-panel");
$("list-btn").addEventListener("click", () => {
  if (panelOpen(listPanel)) return closePanel();
  openPanel(listPanel, () => $("list-btn").setAttribute("aria-expanded", "false"));
  $("list-btn").setAttribute("aria-expanded", "true");
  renderList();
});
function renderList() {
  if (!panelOpen(listPanel)) return;
  const items = mapView.visibleKnoten(shown()).sort((a, b) => a.title.localeCompare(b.title, "de"));
  replace(
    $("knoten-list"),
    items.length
      ? items.map((k) =>
          h("li", {}, h("button", { type: "button", class: "knoten-item", onclick: () => showKnoten(k.id) }, icon(k.type), h("span", {}, k.title), h("span", { class: "meta" }, knotenLabel[k.type]))),
        )
      : h("li", { class: "meta" }, "Keine Knoten in diesem Ausschnitt."),
  );
}

function showKnoten(id: string) {
  const k = shown().knoten.get(id);
  if (k) {
    map.setView([k.lat, k.lon], Math.max(map.getZoom(), 15), { animate: false });
    mapView.settle();
  }
  openKnoten(id, true);
}

function garnrolleCard(g: Garnrolle): HTMLElement {
  const me = session.me;
  return h(
    "div",
    { class: "rolle-card" },
    h("strong", {}, g.name),
    h("p", { class: "meta" }, g.verified ? "bestätigte Bewohnerin / bestätigter Bewohner" : "noch nicht bestätigt"),
    me && me.verified && g.verified && me.id !== g.id
      ? h("button", { type: "button", class: "small", onclick: () => (map.closePopup(), withWebrat((w) => w.delegateToResident(g.id, g.name))) }, "Stimme delegieren")
      : null,
    me?.id === g.id ? null : h("p", {}, reportButton({ id: g.id, what: `das Konto von ${g.name}` }, "Konto melden")),
  );
}

// Where the map starts: where it was last time, else the Ortsweberei's bounds, else its Knoten.
// What is remembered is the resident's view: not the Knoten panel's pan (which is undone when
// it closes), and never a view outside the Ortsweberei (a stray swipe must not decide where
// the app opens next time); nothing until the bounds are known.
const VIEW_KEY = "wg.view";
let home: L.LatLngBounds | null | undefined; // undefined: not known yet; null: no bounds
function saveView() {
  if (home === undefined) return;
  const c = mapView.restingCenter();
  if (home && !home.contains(c)) return;
  try {
    localStorage.setItem(VIEW_KEY, JSON.stringify([c.lat, c.lng, map.getZoom()]));
  } catch {
    // not remembered
  }
}

// "Zu meiner Ortsweberei": back to the whole Ortsweberei from wherever the map went.
function goHome() {
  mapView.settle();
  if (home) map.fitBounds(home, mapView.padding());
}
const HomeControl = L.Control.extend({
  onAdd() {
    const b = L.DomUtil.create("a", "home-control");
    b.href = "#";
    b.setAttribute("role", "button");
    b.setAttribute("aria-label", "Zu meiner Ortsweberei");
    b.title = "Zu meiner Ortsweberei";
    b.append(svg("", "0 0 24 24", "M12 3v3M12 18v3M3 12h3M18 12h3M12 8a4 4 0 1 0 0 8 4 4 0 0 0 0-8z"));
    L.DomEvent.disableClickPropagation(b);
    L.DomEvent.on(b, "click", (e) => {
      L.DomEvent.preventDefault(e);
      goHome();
    });
    const bar = L.DomUtil.create("div", "leaflet-bar");
    bar.append(b);
    return bar;
  },
});

async function start() {
  let restored: L.LatLng | null = null;
  try {
    const v = JSON.parse(localStorage.getItem(VIEW_KEY) || "null");
    if (Array.isArray(v) && v.length === 3 && v.every(Number.isFinite)) {
      map.setView([v[0], v[1]], v[2]);
      restored = L.latLng(v[0], v[1]);
    }
  } catch {
    // start afresh
  }
  let ow: Ortsweberei | null = null;
  try {
    ow = await ortsweberei;
  } catch (e) {
    hint(germanMessage(e));
  }
  if (ow) {
    $("ow-name").textContent = ow.name || "Weltgewebe";
    document.title = ow.name ? `${ow.name} – Weltgewebe` : "Weltgewebe";
    addBounds(map, ow.bounds);
    setBounds(ow.bounds);
    setLimits(ow.limits);
  }
  home = ow?.bounds ? L.geoJSON(ow.bounds).getBounds() : null;
  if (home) new HomeControl({ position: "topright" }).addTo(map);
  // A view saved outside the Ortsweberei (by an older version) is not where to open.
  if (restored && home && !home.contains(restored)) restored = null;
  if (restored) saveView();
  else {
    if (home) map.fitBounds(home, mapView.padding());
    else {
      try {
        // Framing the map needs only where the pins are: the lean form (docs/API.md).
        const { knoten } = await get<{ knoten: { lat: number; lon: number }[] }>("/api/knoten?limit=500&fields=pin");
        if (knoten.length) map.fitBounds(L.latLngBounds(knoten.map((k) => [k.lat, k.lon])), { padding: [40, 40], maxZoom: 16 });
        else map.setView([51.1657, 10.4515], 6);
      } catch {
        map.setView([51.1657, 10.4515], 6);
      }
    }
  }
  addBasemap(map, config.basemap);
  // The tutorial, fetched on a first visit only.
  let onboarded = false;
  try {
    onboarded = localStorage.getItem("wg.onboarded") === "1";
  } catch {
    // private mode: show it
  }
  if (!onboarded) import("./onboarding").then((m) => m.initOnboarding(), () => {});
  // The Ortskonto's marker, also before any Goldfaden leads to it.
  get<Konto>("/api/konto").then((k) => mapView.kontoAt(k.position), () => {});
}

// The dev clock can jump; fading follows the instance's time, not the device's.
if (config.dev) {
  const sync = () =>
    get<{ now: string }>("/api/dev/clock")
      .then((r) => (mapView.clockOffset = Date.parse(r.now) - Date.now()))
      .then(() => mapView.fade())
      .catch(() => {});
  sync();
  setInterval(sync, 20000);
}

start();

// The service worker caches the shell for the next start; its downloads wait until this start
// has settled.
if ("serviceWorker" in navigator) {
  window.addEventListener("load", () => setTimeout(() => navigator.serviceWorker.register("/sw.js").catch(() => {}), 4000));
}
