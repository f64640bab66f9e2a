// The service worker: the app shell works offline and starts fast. It caches the page and the
// hashed assets, never API answers, tiles, sockets or a livestream's HLS.
declare const __SHELL__: string[];
declare const __VERSION__: string;

const sw = self as any;
const CACHE = "wg-shell-" + __VERSION__;

sw.addEventListener("install", (e: any) => {
  e.waitUntil(
    caches
      .open(CACHE)
      .then((c) => c.addAll(__SHELL__))
      .then(() => sw.skipWaiting()),
  );
});

sw.addEventListener("activate", (e: any) => {
  e.waitUntil(
    caches
      .keys()
      .then((keys) => Promise.all(keys.filter((k) => k.startsWith("wg-shell-") && k !== CACHE).map((k) => caches.delete(k))))
      .then(() => sw.clients.claim()),
  );
});

sw.addEventListener("fetch", (e: any) => {
  const req: Request = e.request;
  if (req.method !== "GET") return;
  const url = new URL(req.url);
  if (url.origin !== location.origin) return;
  if (/^\/(api|ws|tiles|hls|ap|\.well-known)\//.test(url.pathname) || /^\/(healthz|livez|readyz)$/.test(url.pathname)) return;

  if (req.mode === "navigate") {
    // The page: fresh from the instance when it answers (it carries the configuration),
    // the cached shell when offline.
    e.respondWith(fetch(req).catch(() => caches.match("/", { cacheName: CACHE }).then((r) => r || Response.error())));
    return;
  }
  if (url.pathname.startsWith("/assets/") || url.pathname.startsWith("/icons/")) {
    e.respondWith(
      caches.open(CACHE).then((c) =>
        c.match(req).then(
          (hit) =>
            hit ||
            fetch(req).then((res) => {
              if (res.ok) c.put(req, res.clone());
              return res;
            }),
        ),
      ),
    );
  }
});
