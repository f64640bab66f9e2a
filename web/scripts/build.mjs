// Builds the web app into dist/, which web/embed.go embeds into the binary:
//
//   dist/index.html             the app shell, naming the hashed assets (no-cache)
//   dist/assets/*-[hash].*      JavaScript, CSS, outline basemap (immutable)
//   dist/sw.js                  the service worker, with the list of shell files to cache
//   dist/manifest.webmanifest, dist/icons/
//   *.gz                        gzip of each compressible file, served when the client takes it
//
// First load is the entry script, the chunks it imports statically (preloaded) and the CSS;
// everything else (the PMTiles renderer, outline tiles) is fetched when needed.
import * as esbuild from "esbuild";
import { createHash } from "node:crypto";
import { cpSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";
import { buildOutline, TILE_DEG } from "./outline.mjs";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const dist = join(root, "dist");

mkdirSync(dist, { recursive: true });
for (const name of readdirSync(dist, { withFileTypes: true })) {
  if (name.name !== ".keep") rmSync(join(dist, name.name), { recursive: true, force: true });
}
mkdirSync(join(dist, "assets"), { recursive: true });
cpSync(join(root, "public"), dist, { recursive: true });

const hash = (buf) => createHash("sha256").update(buf).digest("hex").slice(0, 10);

// The outline basemap, for instances without a PMTiles file: coastlines and borders from
// Natural Earth (world-atlas), as one small world file and 20°×20° tiles of the finer scale.
const outline = buildOutline();
const worldBody = JSON.stringify(outline.world);
const tileBodies = [...outline.tiles].map(([key, data]) => [key, JSON.stringify(data)]);
const tilesHash = hash(tileBodies.map(([k, b]) => k + b).join("\n"));
const outlineFiles = {
  world: `/assets/outline-world-${hash(worldBody)}.json`,
  tiles: `/assets/outline-${tilesHash}-`,
  keys: tileBodies.map(([k]) => k).join(","),
  deg: TILE_DEG,
};
writeFileSync(join(dist, outlineFiles.world), worldBody);
for (const [key, body] of tileBodies) writeFileSync(join(dist, `${outlineFiles.tiles.slice(1)}${key}.json`), body);

// Leaflet as an ES module rather than its UMD file: no CommonJS shim, and no function wrapped
// around the whole library, which V8 tends to compile eagerly at start.
const leafletESM = {
  name: "leaflet-esm",
  setup(b) {
    b.onResolve({ filter: /^leaflet$/ }, () => ({ path: join(root, "node_modules/leaflet/dist/leaflet-src.esm.js") }));
  },
};

// The basemap's colours: protomaps-leaflet asks @protomaps/basemaps for a flavor by name, and
// that package is one module holding all five flavors and the MapLibre style code, which the
// bundler cannot take apart (6.6 KB gzipped). The app draws only "light" (basemap.ts), so the
// bundle gets a module made here from the package's own LIGHT object: same colours, ~1 KB.
const { LIGHT } = await import("@protomaps/basemaps");
const lightFlavor = {
  name: "light-flavor",
  setup(b) {
    b.onResolve({ filter: /^@protomaps\/basemaps$/ }, () => ({ path: "light", namespace: "flavor" }));
    b.onLoad({ filter: /.*/, namespace: "flavor" }, () => ({
      contents: `const LIGHT = ${JSON.stringify(LIGHT)};
export function namedFlavor(name) {
  if (name !== "light") throw new Error("flavor not built into the app: " + name);
  return LIGHT;
}`,
      loader: "js",
    }));
  },
};

// point-in-polygon-hao (the Ortsweberei's bounds, first load) needs orient2d alone, but imports
// it from robust-predicates' index, whose other predicates fill tables when loaded: the bundler
// must keep them (1 KB of the first load). The module that holds orient2d is imported directly.
const orient2dOnly = {
  name: "orient2d-only",
  setup(b) {
    b.onResolve({ filter: /^robust-predicates$/ }, () => ({ path: join(root, "node_modules/robust-predicates/esm/orient2d.js") }));
  },
};

// The captcha widget's stylesheet and SHA-256 worker (src/captcha.ts) as files of their own:
// "altcha-file:<path under node_modules/altcha/dist>" imports the file's URL. The page's policy
// takes styles and workers from our own origin only, not the <style> and blob: workers the
// widget's default build makes.
const altchaFiles = {
  name: "altcha-files",
  setup(b) {
    b.onResolve({ filter: /^altcha-file:/ }, (args) => ({ path: join(root, "node_modules/altcha/dist", args.path.slice("altcha-file:".length)) , namespace: "altcha-file" }));
    b.onLoad({ filter: /.*/, namespace: "altcha-file" }, (args) => ({ contents: readFileSync(args.path), loader: "file" }));
  },
};

// The captcha (src/captcha.ts, with the widget) is built on its own and imported by URL
// (__CAPTCHA__): within the app's build, the helpers its class fields need would land in the
// chunk every other module shares, and so in the first load.
const target = ["es2020", "chrome90", "firefox90", "safari15"];
const captchaBuild = await esbuild.build({
  absWorkingDir: root,
  entryPoints: { captcha: "src/captcha.ts" },
  bundle: true,
  format: "esm",
  minify: true,
  target,
  outdir: dist,
  entryNames: "assets/[name]-[hash]",
  assetNames: "assets/[name]-[hash]",
  publicPath: "/", // the files' URLs are the page's, not relative to the module
  plugins: [altchaFiles],
  metafile: true,
  legalComments: "none",
  logLevel: "warning",
});
const captchaOut = Object.keys(captchaBuild.metafile.outputs).find((k) => captchaBuild.metafile.outputs[k].entryPoint === "src/captcha.ts");
const captchaURL = "/" + relative(dist, join(root, captchaOut));

const result = await esbuild.build({
  absWorkingDir: root,
  entryPoints: { app: "src/main.ts" },
  bundle: true,
  splitting: true,
  format: "esm",
  minify: true,
  sourcemap: false,
  target,
  outdir: dist,
  entryNames: "assets/[name]-[hash]",
  chunkNames: "assets/[name]-[hash]",
  assetNames: "assets/[name]-[hash]",
  loader: { ".png": "file", ".svg": "file" },
  plugins: [leafletESM, lightFlavor, orient2dOnly],
  define: { __OUTLINE__: JSON.stringify(outlineFiles), __CAPTCHA__: JSON.stringify(captchaURL) },
  external: ["/assets/*"], // the captcha's URL, imported as it is
  metafile: true,
  legalComments: "none",
  logLevel: "warning",
});

const outputs = result.metafile.outputs;
const entry = Object.keys(outputs).find((k) => outputs[k].entryPoint === "src/main.ts");
const entryURL = "/" + relative(dist, join(root, entry));
const cssURL = outputs[entry].cssBundle ? "/" + relative(dist, join(root, outputs[entry].cssBundle)) : null;
const preload = outputs[entry].imports
  .filter((i) => i.kind === "import-statement")
  .map((i) => "/" + relative(dist, join(root, i.path)));

// The basemap renderer (protomaps-leaflet, pmtiles) is a lazy chunk, but a page whose instance
// has a basemap needs it at once: the instance then preloads it with the app (web/embed.go puts
// these links into the page), so both arrive together, and TestBudget counts them.
const renderer = new Set();
const follow = (out) => {
  if (renderer.has(out) || preload.includes("/" + relative(dist, join(root, out))) || out === entry) return;
  renderer.add(out);
  for (const i of outputs[out].imports) if (i.kind === "import-statement") follow(i.path);
};
for (const [out, o] of Object.entries(outputs)) {
  if (/node_modules\/(protomaps-leaflet|pmtiles)\//.test(o.entryPoint ?? "")) follow(out);
}
if (renderer.size === 0) throw new Error("build: the basemap renderer's chunks were not found");
writeFileSync(join(dist, ".basemap-preload.html"),
  [...renderer].sort().map((out) => `<link rel="modulepreload" href="/${relative(dist, join(root, out))}">`).join("\n") + "\n");

let html = readFileSync(join(root, "src", "index.html"), "utf8");
html = html
  .replace("<!--STYLES-->", cssURL ? `<link rel="stylesheet" href="${cssURL}">` : "")
  .replace(
    "<!--SCRIPTS-->",
    [...preload.map((p) => `<link rel="modulepreload" href="${p}">`), `<script type="module" src="${entryURL}"></script>`].join("\n"),
  );
writeFileSync(join(dist, "index.html"), html);

// The service worker caches the shell: the page, first-load assets, icons, manifest, and the
// world outline. Lazy chunks and outline tiles are cached when first fetched (they are
// hashed, so they never go stale). API responses, tiles and sockets are never cached.
// The parts of the app fetched when first used (the Knoten panel, the Webrat, the Ortskonto and
// its Kasse) belong to the shell too: an app started offline must open them although they were
// never used online.
const parts = new Set();
const part = (out) => {
  const url = "/" + relative(dist, join(root, out));
  if (parts.has(url) || preload.includes(url) || out === entry) return;
  parts.add(url);
  for (const i of outputs[out].imports) if (i.kind === "import-statement") part(i.path);
};
for (const [out, o] of Object.entries(outputs)) {
  if (["src/knotenpanel.ts", "src/webrat.ts", "src/ortskonto.ts", "src/kasse.ts"].includes(o.entryPoint)) part(out);
}
if (parts.size < 4) throw new Error("build: the lazily loaded parts of the app were not found");
const shell = ["/", ...preload, entryURL, ...parts, ...(cssURL ? [cssURL] : []), outlineFiles.world,
  "/manifest.webmanifest", "/icons/icon.svg", "/icons/icon-192.png"];
const version = hash(shell.join("\n") + html);
await esbuild.build({
  absWorkingDir: root,
  entryPoints: ["src/sw.ts"],
  bundle: true,
  minify: true,
  format: "iife",
  target: ["es2020"],
  outfile: join(dist, "sw.js"),
  define: { __SHELL__: JSON.stringify(shell), __VERSION__: JSON.stringify(version) },
  logLevel: "warning",
});

// Precompressed copies, so the instance needs no compression on the fly.
const compressible = /\.(js|css|json|svg|webmanifest)$/;
const sizes = [];
(function walk(dir) {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) walk(p);
    else if (compressible.test(e.name) && statSync(p).size > 512) {
      const gz = gzipSync(readFileSync(p), { level: 9 });
      writeFileSync(p + ".gz", gz);
      sizes.push([relative(dist, p), statSync(p).size, gz.length]);
    }
  }
})(dist);

const firstLoad = new Set([entryURL, ...preload, cssURL].filter(Boolean).map((u) => u.slice(1)));
let js = 0, css = 0;
for (const [file, , gz] of sizes) {
  if (!firstLoad.has(file)) continue;
  if (file.endsWith(".js")) js += gz;
  if (file.endsWith(".css")) css += gz;
}
console.log(`web: built dist/ — first load ${(js / 1024).toFixed(1)} KiB JS + ${(css / 1024).toFixed(1)} KiB CSS gzipped`);
