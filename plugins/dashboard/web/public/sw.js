// The dashboard's service worker: keeps the app shell (index.html and the
// content-hashed assets it names) so that the console opens offline or on a
// flaky link. API calls and the WebSocket are never cached: live data is live.
const SHELL = 'hive-shell-v1';

self.addEventListener('install', (event) => {
  event.waitUntil(caches.open(SHELL).then((cache) => cache.addAll(['/dashboard/'])).then(() => self.skipWaiting()));
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
