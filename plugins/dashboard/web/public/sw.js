// The dashboard's service worker: keeps the app shell (index.html and the
// content-hashed assets it names) so that the console opens offline or on a
// flaky link. API calls and the WebSocket are never cached: live data is live.
const SHELL = 'hive-shell-v1';

// The page names its hashed script and stylesheet: keep them with it, so that
// the first visit already leaves a shell that opens offline.
async function keepShell() {
  const cache = await caches.open(SHELL);
  const page = await fetch('/dashboard/', { cache: 'no-cache' });
  const text = await page.clone().text();
  const assets = [...new Set(text.match(/\/dashboard\/assets\/[A-Za-z0-9._-]+/g) || [])];
  await cache.put('/dashboard/', page);
  await cache.addAll([...assets, '/dashboard/manifest.webmanifest', '/dashboard/icon.svg']);
}

self.addEventListener('install', (event) => {
  event.waitUntil(keepShell().then(() => self.skipWaiting()));
});

self.addEventListener('activate', (event) => {
  event.waitUntil(
    caches
      .keys()
      .then((names) => Promise.all(names.filter((name) => name !== SHELL).map((name) => caches.delete(name))))
      .then(() => self.clients.claim()),
  );
});

self.addEventListener('fetch', (event) => {
  const url = new URL(event.request.url);
  if (event.request.method !== 'GET' || url.origin !== self.location.origin) return;
  if (url.pathname.startsWith('/dashboard/assets/')) {
    // Hashed names never change content: the cache is the truth once filled.
    event.respondWith(
      caches.match(event.request).then(
        (hit) =>
          hit ||
          fetch(event.request).then((response) => {
            if (response.ok) {
              const copy = response.clone();
              caches.open(SHELL).then((cache) => cache.put(event.request, copy));
            }
            return response;
          }),
      ),
    );
  } else if (event.request.mode === 'navigate' && url.pathname.startsWith('/dashboard/')) {
    // The page itself: the network first (a new build), the cached shell offline.
    event.respondWith(
      fetch(event.request)
        .then((response) => {
          if (response.ok) {
            const copy = response.clone();
            caches.open(SHELL).then((cache) => cache.put('/dashboard/', copy));
          }
          return response;
        })
        .catch(() => caches.match('/dashboard/')),
    );
  }
});
