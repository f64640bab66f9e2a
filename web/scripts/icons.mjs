// Draws the app icons (PNG, for the web manifest and iOS) without any image tool: a knot with
// three threads leading to three spools, on the app's indigo. Run by hand when the design
// changes (`node scripts/icons.mjs`); the PNGs it writes to public/icons/ are committed.
import { writeFileSync, mkdirSync } from "node:fs";
import { deflateSync } from "node:zlib";

const out = new URL("../public/icons/", import.meta.url);
mkdirSync(out, { recursive: true });

const bg = [0x26, 0x30, 0x6b];
const thread = [0xe0, 0x8a, 0x3c];
const knot = [0xf6, 0xf1, 0xe7];

// Shapes in a unit square (0..1), drawn back to front; each returns a signed distance.
const spools = [
  [0.22, 0.26],
  [0.8, 0.34],
  [0.38, 0.82],
];
const center = [0.52, 0.5];

function segDist(px, py, ax, ay, bx, by) {
  const dx = bx - ax, dy = by - ay;
  const t = Math.max(0, Math.min(1, ((px - ax) * dx + (py - ay) * dy) / (dx * dx + dy * dy)));
  return Math.hypot(px - ax - t * dx, py - ay - t * dy);
}

function shade(x, y, px, scale) {
  // Content shrinks into the maskable safe zone (80 %) when scale < 1.
  const u = 0.5 + (x - 0.5) / scale, v = 0.5 + (y - 0.5) / scale;
  let c = bg;
  const cover = (d, color) => {
    const a = Math.max(0, Math.min(1, 0.5 - d / (px / scale)));
    if (a > 0) c = c.map((ch, i) => ch * (1 - a) + color[i] * a);
  };
  for (const [sx, sy] of spools) cover(segDist(u, v, center[0], center[1], sx, sy) - 0.028, thread);
  for (const [sx, sy] of spools) {
    cover(Math.hypot(u - sx, v - sy) - 0.075, knot);
    cover(Math.hypot(u - sx, v - sy) - 0.035, thread);
  }
  const r = Math.hypot(u - center[0], v - center[1]);
  cover(r - 0.13, knot);
  cover(Math.abs(r - 0.07) - 0.02, bg);
  return c;
}

function png(size, scale, rounded) {
  const raw = Buffer.alloc((size * 4 + 1) * size);
  for (let y = 0; y < size; y++) {
    raw[y * (size * 4 + 1)] = 0;
    for (let x = 0; x < size; x++) {
      const fx = (x + 0.5) / size, fy = (y + 0.5) / size;
      let alpha = 1;
      if (rounded) {
        // Rounded square, radius 18 % of the side.
        const rr = 0.18, qx = Math.abs(fx - 0.5) - (0.5 - rr), qy = Math.abs(fy - 0.5) - (0.5 - rr);
        const d = Math.hypot(Math.max(qx, 0), Math.max(qy, 0)) + Math.min(Math.max(qx, qy), 0) - rr;
        alpha = Math.max(0, Math.min(1, 0.5 - d * size));
      }
      const [r, g, b] = shade(fx, fy, 1 / size, scale);
      const o = y * (size * 4 + 1) + 1 + x * 4;
      raw[o] = r; raw[o + 1] = g; raw[o + 2] = b; raw[o + 3] = Math.round(alpha * 255);
    }
  }
  const chunk = (type, data) => {
    const len = Buffer.alloc(4); len.writeUInt32BE(data.length);
    const td = Buffer.concat([Buffer.from(type), data]);
    const crc = Buffer.alloc(4); crc.writeUInt32BE(crc32(td) >>> 0);
    return Buffer.concat([len, td, crc]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(size, 0); ihdr.writeUInt32BE(size, 4);
  ihdr[8] = 8; ihdr[9] = 6; ihdr[10] = 0; ihdr[11] = 0; ihdr[12] = 0;
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk("IHDR", ihdr), chunk("IDAT", deflateSync(raw, { level: 9 })), chunk("IEND", Buffer.alloc(0)),
  ]);
}

const table = new Int32Array(256).map((_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c;
});
function crc32(buf) {
  let c = -1;
  for (const b of buf) c = table[(c ^ b) & 0xff] ^ (c >>> 8);
  return c ^ -1;
}

writeFileSync(new URL("icon-192.png", out), png(192, 1, true));
writeFileSync(new URL("icon-512.png", out), png(512, 1, true));
writeFileSync(new URL("maskable-512.png", out), png(512, 0.8, false));
writeFileSync(new URL("apple-touch-icon.png", out), png(180, 0.9, false));
console.log("icons written to public/icons/");
