// The web app's budget, measured (`make bench-web`): first-load JavaScript and CSS gzipped, and
// time to interactive of a cold first visit in headless Debian Chromium with a throttled mobile
// profile: 4× CPU slowdown and slow 4G, against a dev instance with the demo data.
//
//   node scripts/budget.mjs [--bin ../bin/weltgewebe | --url http://127.0.0.1:8080] [--runs 5]
//
// Without --url it starts `weltgewebe serve --dev --demo` on a free loopback port with a fresh
// data directory, and stops it at the end. WG_BENCH_DEBUG=1 prints each run's long tasks.
//
// TTI follows Lighthouse's definition: from first contentful paint, the first 5 s window with
// no long task (> 50 ms on the main thread) and at most two requests in flight; TTI is the end
// of the last long task before that window (at least FCP and DOMContentLoaded). "Map ready" is
// when the app has drawn the feed's first state (the app's performance mark wg-ready).
import { spawn } from "node:child_process";
import { chmodSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";
import { chromium } from "playwright-core";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const args = Object.fromEntries(
  process.argv.slice(2).reduce((acc, a, i, all) => (a.startsWith("--") ? [...acc, [a.slice(2), all[i + 1]]] : acc), []),
);
const runs = Number(args.runs || 5);

// The two network profiles: the figures named in the issue, and the same as Chrome DevTools
// applies them for Lighthouse's "slow 4G" (latency × 3.75, throughput × 0.9), which is harsher.
const profiles = [
  { name: "slow 4G: 150 ms RTT, 1.6 Mbit/s down, 750 kbit/s up", latency: 150, down: 1.6e6, up: 750e3 },
  { name: "slow 4G as DevTools applies it: 562.5 ms, 1.47 Mbit/s, 675 kbit/s", latency: 562.5, down: 1.6e6 * 0.9, up: 750e3 * 0.9 },
];

function firstLoad() {
  const dist = join(root, "dist");
  const html = readFileSync(join(dist, "index.html"), "utf8");
  const files = [...html.matchAll(/<(?:script[^>]*\ssrc|link[^>]*\shref)="(\/assets\/[^"]+\.(?:js|css))"/g)].map((m) => m[1]);
  let js = 0, css = 0;
  for (const f of files) {
    const gz = gzipSync(readFileSync(join(dist, f)), { level: 9 }).length;
    if (f.endsWith(".js")) js += gz;
    else css += gz;
  }
  return { js, css, files };
}

async function freePort() {
  return new Promise((resolve) => {
    const s = createServer().listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

async function startInstance(bin) {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), "wg-bench-web-"));
  chmodSync(dir, 0o755); // as root, the embedded PostgreSQL runs as postgres and must get in
  const child = spawn(bin, ["serve", "--dev", "--demo", "--listen", `127.0.0.1:${port}`, "--data-dir", join(dir, "data")], { stdio: ["ignore", "ignore", "pipe"] });
  let log = "";
  child.stderr.on("data", (d) => (log += d));
  const url = `http://127.0.0.1:${port}`;
  for (let i = 0; i < 240; i++) {
    try {
      if ((await fetch(url + "/healthz")).ok) return { url, stop: () => stop(child, dir) };
    } catch {
      // not yet
    }
    if (child.exitCode !== null) break;
    await new Promise((r) => setTimeout(r, 250));
  }
  child.kill("SIGINT");
  throw new Error("the instance did not come up:\n" + log);
}

async function stop(child, dir) {
  if (child.exitCode === null) {
    child.kill("SIGINT");
    await new Promise((r) => child.once("exit", r));
  }
  rmSync(dir, { recursive: true, force: true });
}

// Runs in the page before anything else: records long tasks.
function observe() {
  const w = window;
  w.__longtasks = [];
  new PerformanceObserver((list) => {
    for (const e of list.getEntries()) w.__longtasks.push([e.startTime, e.startTime + e.duration]);
  }).observe({ type: "longtask", buffered: true });
}

function tti({ fcp, dcl, longtasks, requests }) {
  // Busy: a long task, or a time with more than two requests in flight.
  const points = requests.flatMap(([s, e]) => [[s, 1], [e, -1]]).sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  const netBusy = [];
  let inflight = 0, since = 0;
  for (const [t, d] of points) {
    const before = inflight;
    inflight += d;
    if (before <= 2 && inflight > 2) since = t;
    if (before > 2 && inflight <= 2) netBusy.push([since, t]);
  }
  const busy = [...longtasks, ...netBusy].sort((a, b) => a[0] - b[0]);
  let start = fcp;
  for (const [s, e] of busy) {
    if (e <= start) continue;
    if (s >= start + 5000) break;
    start = Math.max(start, e);
  }
  const lastTask = longtasks.filter(([, e]) => e <= start).reduce((m, [, e]) => Math.max(m, e), 0);
  return { tti: Math.max(fcp, dcl, lastTask), quietFrom: start };
}

async function measure(browser, url, p) {
  const ctx = await browser.newContext({ viewport: { width: 360, height: 740 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true, locale: "de-DE" });
  await ctx.addInitScript(observe);
  await ctx.addInitScript(() => localStorage.setItem("wg.onboarded", "1"));
  const page = await ctx.newPage();
  const cdp = await ctx.newCDPSession(page);
  await cdp.send("Network.enable");
  await cdp.send("Network.emulateNetworkConditions", { offline: false, latency: p.latency, downloadThroughput: p.down / 8, uploadThroughput: p.up / 8 });
  await cdp.send("Emulation.setCPUThrottlingRate", { rate: 4 });
  // Polled through CDP with plain expressions: Playwright's own selector engine would run
  // its injected script in the page and show up as long tasks.
  const value = async (expression) => (await cdp.send("Runtime.evaluate", { expression, returnByValue: true })).result.value;
  await page.goto(url, { waitUntil: "load", timeout: 60000 });
  for (const until = Date.now() + 60000; !(await value("document.documentElement.dataset.ready === '1'")); ) {
    if (Date.now() > until) throw new Error("the map did not become ready");
    await new Promise((r) => setTimeout(r, 100));
  }
  // Then wait for 5 s without a long task or a new request, at most 30 s.
  let last = { n: -1, at: Date.now() };
  for (const until = Date.now() + 30000; Date.now() < until; ) {
    await new Promise((r) => setTimeout(r, 500));
    const n = await value("window.__longtasks.length + performance.getEntriesByType('resource').length");
    if (n !== last.n) last = { n, at: Date.now() };
    else if (Date.now() - last.at >= 5500) break;
  }
  const t = await page.evaluate(() => {
    const nav = performance.getEntriesByType("navigation")[0];
    const fcp = performance.getEntriesByName("first-contentful-paint")[0]?.startTime ?? 0;
    const res = performance.getEntriesByType("resource");
    return {
      fcp,
      dcl: nav.domContentLoadedEventEnd,
      load: nav.loadEventEnd,
      ready: performance.getEntriesByName("wg-ready")[0]?.startTime ?? 0,
      longtasks: window.__longtasks,
      requests: [[0, nav.responseEnd], ...res.map((r) => [r.startTime, r.responseEnd])],
      bytes: nav.transferSize + res.reduce((s, r) => s + r.transferSize, 0),
      count: res.length + 1,
    };
  });
  await ctx.close();
  if (process.env.WG_BENCH_DEBUG) console.error(JSON.stringify({ ...t, ...tti(t) }));
  return { ...t, ...tti(t) };
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const ms = (x) => `${Math.round(x)} ms`;

const sizes = firstLoad();
console.log(`first load: ${(sizes.js / 1024).toFixed(1)} KiB JavaScript (${sizes.js} B), ${(sizes.css / 1024).toFixed(1)} KiB CSS (${sizes.css} B), gzipped`);
console.log(`  ${sizes.files.join(", ")}`);

const inst = args.url ? { url: args.url, stop: async () => {} } : await startInstance(args.bin || join(root, "..", "bin", "weltgewebe"));
const browser = await chromium.launch({
  executablePath: process.env.WG_CHROMIUM || "/usr/bin/chromium",
  headless: true,
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
let failed = false;
try {
  const version = browser.version();
  console.log(`Chromium ${version}, 360×740 phone viewport, cold cache, 4× CPU slowdown, ${runs} runs per profile\n`);
  console.log("| network profile | FCP | map ready | TTI (median) | TTI (max) | transferred |");
  console.log("|---|--:|--:|--:|--:|--:|");
  for (const p of profiles) {
    const all = [];
    for (let i = 0; i < runs; i++) all.push(await measure(browser, inst.url, p));
    const m = (k) => median(all.map((r) => r[k]));
    const maxTTI = Math.max(...all.map((r) => r.tti));
    console.log(`| ${p.name} | ${ms(m("fcp"))} | ${ms(m("ready"))} | **${ms(m("tti"))}** | ${ms(maxTTI)} | ${(m("bytes") / 1024).toFixed(0)} KiB in ${m("count")} requests |`);
    if (p === profiles[0] && m("tti") >= 2500) failed = true;
  }
} finally {
  await browser.close();
  await inst.stop();
}
const over = sizes.js > 150000 || sizes.css > 60000;
if (over || failed) {
  console.error(`\nover budget (JS ≤ 150 KB, CSS ≤ 60 KB gzipped, TTI < 2.5 s)`);
  process.exit(1);
}
console.log(`\nwithin budget: JS ≤ 150 KB, CSS ≤ 60 KB gzipped, TTI < 2.5 s`);
