// Writes a tiny basemap for the browser test: a PMTiles v3 archive with vector tiles for zoom 0
// and 1 in the Protomaps basemap schema, layer "earth" holding Natural Earth's 1:110m land
// (world-atlas). protomaps-leaflet overzooms them at every zoom; coarse, but real tiles through
// the real code path: range requests, directory, MVT decoding, painting.
//
//   node e2e/pmtiles-fixture.mjs OUT.pmtiles
import { writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { zxyToTileId } from "pmtiles";
import { feature } from "topojson-client";

const require = createRequire(import.meta.url);
const EXTENT = 4096;

// Protocol buffers, only what MVT and PMTiles need.
function varint(out, v) {
  v = BigInt(v);
  while (v >= 0x80n) {
    out.push(Number((v & 0x7fn) | 0x80n));
    v >>= 7n;
  }
  out.push(Number(v));
}
const zigzag = (n) => (n << 1) ^ (n >> 31);
function field(out, num, type, payload) {
  varint(out, (num << 3) | type);
  if (type === 0) varint(out, payload);
  else {
    varint(out, payload.length);
    out.push(...payload);
  }
}
const bytes = (s) => [...Buffer.from(s)];

// Web Mercator into tile z/x/y's coordinates (the polygons may reach beyond the tile).
const projector = (z, tx, ty) => ([lon, lat]) => {
  const la = Math.max(-85, Math.min(85, lat)) * (Math.PI / 180);
  const x = ((lon + 180) / 360) * EXTENT * 2 ** z - tx * EXTENT;
  const y = ((1 - Math.log(Math.tan(la) + 1 / Math.cos(la)) / Math.PI) / 2) * EXTENT * 2 ** z - ty * EXTENT;
  return [Math.round(x), Math.round(y)];
};

function area(ring) {
  let a = 0;
  for (let i = 0; i < ring.length; i++) {
    const [x1, y1] = ring[i], [x2, y2] = ring[(i + 1) % ring.length];
    a += x1 * y2 - x2 * y1;
  }
  return a / 2;
}

// Polygon geometry: exterior rings clockwise in tile space (positive area, y down), holes not.
function polygonGeometry(polygons, project) {
  const g = [];
  let cx = 0, cy = 0;
  for (const rings of polygons) {
    rings.forEach((ring, i) => {
      let pts = ring.slice(0, -1).map(project).filter((p, j, all) => j === 0 || p[0] !== all[j - 1][0] || p[1] !== all[j - 1][1]);
      if (pts.length < 3) return;
      if ((area(pts) > 0) !== (i === 0)) pts = pts.reverse();
      g.push(1 | (1 << 3), zigzag(pts[0][0] - cx), zigzag(pts[0][1] - cy));
      [cx, cy] = pts[0];
      g.push(2 | ((pts.length - 1) << 3));
      for (const [x, y] of pts.slice(1)) {
        g.push(zigzag(x - cx), zigzag(y - cy));
        cx = x; cy = y;
      }
      g.push(7 | (1 << 3));
    });
  }
  return g;
}

const land = feature(require("world-atlas/land-110m.json"), require("world-atlas/land-110m.json").objects.land);
const polygons = land.features.flatMap((f) => (f.geometry.type === "Polygon" ? [f.geometry.coordinates] : f.geometry.coordinates));

function encodeTile(z, x, y) {
  const feat = [];
  field(feat, 1, 0, 1); // id
  const geom = [];
  for (const v of polygonGeometry(polygons, projector(z, x, y))) varint(geom, v);
  field(feat, 3, 0, 3); // POLYGON
  field(feat, 4, 2, geom);
  const layer = [];
  field(layer, 15, 0, 2);
  field(layer, 1, 2, bytes("earth"));
  field(layer, 2, 2, feat);
  field(layer, 5, 0, EXTENT);
  const tile = [];
  field(tile, 3, 2, layer);
  return Buffer.from(tile);
}

const tiles = [[0, 0, 0], [1, 0, 0], [1, 1, 0], [1, 0, 1], [1, 1, 1]]
  .map(([z, x, y]) => ({ id: zxyToTileId(z, x, y), data: encodeTile(z, x, y) }))
  .sort((a, b) => a.id - b.id);
const tileData = Buffer.concat(tiles.map((t) => t.data));

// PMTiles v3: header, root directory, metadata, tile data; nothing compressed.
const dir = [];
varint(dir, tiles.length);
let last = 0;
for (const t of tiles) {
  varint(dir, t.id - last); // tile ids, delta-coded
  last = t.id;
}
for (const _ of tiles) varint(dir, 1); // run lengths
for (const t of tiles) varint(dir, t.data.length);
tiles.forEach((_, i) => varint(dir, i === 0 ? 1 : 0)); // offset + 1, then 0: right after the previous
const rootDir = Buffer.from(dir);
const metadata = Buffer.from(JSON.stringify({ name: "weltgewebe test basemap", vector_layers: [{ id: "earth", fields: {} }], attribution: "Natural Earth" }));

const header = Buffer.alloc(127);
header.write("PMTiles", 0, "ascii");
header.writeUInt8(3, 7);
let off = 127;
const put = (pos, v) => header.writeBigUInt64LE(BigInt(v), pos);
put(8, off); put(16, rootDir.length); off += rootDir.length;
put(24, off); put(32, metadata.length); off += metadata.length;
put(40, 0); put(48, 0);
put(56, off); put(64, tileData.length);
put(72, tiles.length); put(80, tiles.length); put(88, tiles.length);
header.writeUInt8(1, 96); // clustered
header.writeUInt8(1, 97); // internal compression: none
header.writeUInt8(1, 98); // tile compression: none
header.writeUInt8(1, 99); // MVT
header.writeUInt8(0, 100); // min zoom
header.writeUInt8(1, 101); // max zoom
header.writeInt32LE(-180e7, 102);
header.writeInt32LE(-85e7, 106);
header.writeInt32LE(180e7, 110);
header.writeInt32LE(85e7, 114);
header.writeUInt8(0, 118);
header.writeInt32LE(0, 119);
header.writeInt32LE(0, 123);

const out = process.argv[2];
if (!out) {
  console.error("usage: node e2e/pmtiles-fixture.mjs OUT.pmtiles");
  process.exit(2);
}
writeFileSync(out, Buffer.concat([header, rootDir, metadata, tileData]));
console.log(`wrote ${out}: ${127 + rootDir.length + metadata.length + tileData.length} bytes, ${tiles.length} tiles (z0–1) with ${polygons.length} land polygons`);
