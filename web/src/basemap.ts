// What lies under the pins: the instance's PMTiles basemap when it has one (rendered by
// protomaps-leaflet, loaded only then), otherwise a plain background with Natural Earth
// coastlines and borders built into the app. Either way the Ortsweberei's bounds are drawn.
import * as L from "leaflet";

declare const __OUTLINE__: { world: string; tiles: string; keys: string; deg: number };

export async function addBasemap(map: L.Map, url: string | undefined) {
  if (url) {
    try {
      (window as any).L = { GridLayer: L.GridLayer, DomUtil: L.DomUtil }; // protomaps-leaflet extends the global Leaflet
      const [{ leafletLayer, CenteredTextSymbolizer }, { PMTiles }] = await Promise.all([import("protomaps-leaflet"), import("pmtiles")]);
      // Beyond the archive's deepest zoom its tiles are drawn enlarged (extracts end at 14 or 15).
      const archive = new PMTiles(url);
      const { maxZoom } = await archive.getHeader();
      const layer = leafletLayer({ url: archive, maxDataZoom: maxZoom, flavor: "light", lang: "de", attribution: "© OpenStreetMap-Mitwirkende, Protomaps" } as any) as any;
      // House numbers are in the tiles (buildings layer, kind "address", from zoom 15) but the
      // light theme has no rule for them; residents find their own door by them. The labeler
      // holds this same array, so the rule takes part in placing labels like the theme's own.
      layer.labelRules.push({
        dataLayer: "buildings",
        minzoom: 17,
        symbolizer: new CenteredTextSymbolizer({ labelProps: ["addr_housenumber"], fill: "#91888b", stroke: "#ffffff", width: 2, font: "400 10px sans-serif" }),
        filter: (_z: number, f: { props: Record<string, unknown> }) => f.props.kind === "address",
      });
      layer.addTo(map);
      map.getContainer().classList.add("has-basemap");
      return;
    } catch (e) {
      console.error("basemap", e);
    }
  }
  addOutline(map);
}

function decode(line: number[]): L.LatLngTuple[] {
  const out: L.LatLngTuple[] = [];
  let x = 0, y = 0;
  for (let i = 0; i < line.length; i += 2) {
    x += line[i];
    y += line[i + 1];
    out.push([y / 1000, x / 1000]);
  }
  return out;
}

type Lines = { coast: number[][]; border: number[][] };

function linesLayer(data: Lines, renderer: L.Renderer): L.LayerGroup {
  return L.layerGroup([
    L.polyline(data.coast.map(decode), { renderer, color: "#8fa7b3", weight: 1.3, interactive: false, attribution: "Umrisse: Natural Earth" }),
    L.polyline(data.border.map(decode), { renderer, color: "#a89a80", weight: 1, dashArray: "5 3", interactive: false }),
  ]);
}

// Zoomed in to a town, Natural Earth's coastlines and borders are off by more than a street:
// the outline is drawn only while zoomed out (below OUTLINE_MAX_ZOOM).
const OUTLINE_MAX_ZOOM = 10;

function addOutline(map: L.Map) {
  const o = __OUTLINE__;
  const renderer = L.canvas({ pane: "outline", padding: 0.1 });
  const keys = new Set(o.keys.split(","));
  const loaded = new Map<string, L.LayerGroup | null>();
  let world: L.LayerGroup | null = null;

  const fetchLines = (url: string) => fetch(url).then((r) => (r.ok ? (r.json() as Promise<Lines>) : null)).catch(() => null);

  const update = async () => {
    if (map.getZoom() >= OUTLINE_MAX_ZOOM) {
      world?.remove();
      loaded.forEach((l) => l?.remove());
      return;
    }
    const fine = map.getZoom() >= 5;
    if (!fine) {
      loaded.forEach((l) => l?.remove());
      if (!world) {
        const data = await fetchLines(o.world);
        if (!data) return;
        world = linesLayer(data, renderer);
      }
      if (map.getZoom() < 5) world.addTo(map);
      return;
    }
    world?.remove();
    const b = map.getBounds();
    const d = o.deg;
    for (let x = Math.floor(Math.max(-180, b.getWest()) / d); x <= Math.floor(Math.min(179.9, b.getEast()) / d); x++) {
      for (let y = Math.floor(Math.max(-90, b.getSouth()) / d); y <= Math.floor(Math.min(89.9, b.getNorth()) / d); y++) {
        const key = `${x}_${y}`;
        if (!keys.has(key)) continue;
        if (loaded.has(key)) {
          loaded.get(key)?.addTo(map);
          continue;
        }
        loaded.set(key, null);
        fetchLines(o.tiles + key + ".json").then((data) => {
          if (!data) return loaded.delete(key);
          const layer = linesLayer(data, renderer);
          loaded.set(key, layer);
          const z = map.getZoom();
          if (z >= 5 && z < OUTLINE_MAX_ZOOM) layer.addTo(map);
        });
      }
    }
  };
  map.on("moveend", update);
  update();
}

export function addBounds(map: L.Map, bounds: GeoJSON.MultiPolygon | null) {
  if (!bounds) return;
  const outer = bounds.coordinates.map((poly) => poly[0].map(([lon, lat]) => [lat, lon] as L.LatLngTuple));
  const world: L.LatLngTuple[] = [[-89, -359], [-89, 359], [89, 359], [89, -359]];
  L.polygon([world, ...outer], { pane: "bounds", stroke: false, fillColor: "#26306b", fillOpacity: 0.08, interactive: false }).addTo(map);
  L.polygon(outer, { pane: "bounds", color: "#26306b", weight: 2, dashArray: "8 5", fill: false, interactive: false }).addTo(map);
}
