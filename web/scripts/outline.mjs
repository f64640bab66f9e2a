// The outline basemap for instances without a PMTiles file, built from Natural Earth through
// the world-atlas package (public domain data; world-atlas is ISC): coastlines and country
// borders as lines, no fill, so the app can draw them over a plain background.
//
// world: the 1:110m lines for the whole world (zoomed far out).
// tiles: the 1:50m lines cut into 20°×20° tiles, keyed "x_y" (x = floor(lon/20),
//        y = floor(lat/20)), fetched for the tiles in view when zoomed in.
//
// Format: {"coast": [line, …], "border": [line, …]}, each line [lon0, lat0, dlon1, dlat1, …]
// in integer thousandths of a degree, the first point absolute and the rest as differences.
import { createRequire } from "node:module";
import { mesh } from "topojson-client";

const require = createRequire(import.meta.url);

function lines(topo) {
  const countries = topo.objects.countries;
  return {
    coast: mesh(topo, topo.objects.land).coordinates,
    border: mesh(topo, countries, (a, b) => a !== b).coordinates,
  };
}

const q = (v) => Math.round(v * 1000);

function encode(line) {
  const out = [];
  let px = null, py = null;
  for (const [lon, lat] of line) {
    const x = q(lon), y = q(lat);
    if (px === null) out.push(x, y);
    else if (x !== px || y !== py) out.push(x - px, y - py);
    else continue;
    px = x; py = y;
  }
  return out.length >= 4 ? out : null;
}

export const TILE_DEG = 20;

const tileKey = (lon, lat) =>
  `${Math.min(8, Math.floor(lon / TILE_DEG))}_${Math.min(4, Math.floor(lat / TILE_DEG))}`;

// Cuts each line where it crosses into another tile; the crossing segment goes into both.
function cut(kinds) {
  const tiles = new Map();
  const add = (key, kind, line) => {
    if (!tiles.has(key)) tiles.set(key, { coast: [], border: [] });
    const enc = encode(line);
    if (enc) tiles.get(key)[kind].push(enc);
  };
  for (const [kind, all] of Object.entries(kinds)) {
    for (const line of all) {
      let key = tileKey(...line[0]);
      let piece = [line[0]];
      for (let i = 1; i < line.length; i++) {
        const k = tileKey(...line[i]);
        piece.push(line[i]);
        if (k !== key) {
          add(key, kind, piece);
          key = k;
          piece = [line[i - 1], line[i]];
        }
      }
      add(key, kind, piece);
    }
  }
  return tiles;
}

export function buildOutline() {
  const w = lines(require("world-atlas/countries-110m.json"));
  const world = {
    coast: w.coast.map(encode).filter(Boolean),
    border: w.border.map(encode).filter(Boolean),
  };
  const tiles = cut(lines(require("world-atlas/countries-50m.json")));
  return { world, tiles };
}
