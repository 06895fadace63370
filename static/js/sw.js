// Sauti offline kiosk: the service worker, served as /sw.js with CONFIG prepended by the server
// (feedback/web/offline.py). One cache per app version: a new version installs next to the old
// one, takes over only when the kiosk page says it is safe (no one in the middle of the flow),
// and then deletes the old cache, so a page and the files it uses always come from one version.
/* global CONFIG */
"use strict";
var CACHE = "sauti-" + CONFIG.version;
var NETWORK_WAIT = 6000; // a page from the network, or from the cache when the network hangs

// A new version is installed complete or not at all: the files, and the kiosk of every site the
// old version kept, so that it can take over even if the network drops just after.
self.addEventListener("install", function (event) {
  event.waitUntil(caches.open(CACHE).then(function (cache) { return cache.addAll(CONFIG.precache); })
    .then(knownSites).then(function (sites) { return Promise.all(sites.map(cacheSite)); }));
});

function knownSites() {
  return caches.keys().then(function (keys) {
    return Promise.all(keys.filter(function (k) { return k.indexOf("sauti-") === 0 && k !== CACHE; })
      .map(function (k) { return caches.open(k).then(function (c) { return c.keys(); }); }));
  }).then(function (lists) {
    var sites = [];
    lists.forEach(function (requests) {
      requests.forEach(function (request) {
        var url = new URL(request.url);
        var site = isKioskPage(url) ? decodeURIComponent(url.pathname.slice(CONFIG.scope.length)) : null;
        if (site && sites.indexOf(site) < 0) sites.push(site);
      });
    });
    return sites;
  });
}

self.addEventListener("activate", function (event) {
  event.waitUntil(caches.keys().then(function (keys) {
    return Promise.all(keys.filter(function (k) { return k.indexOf("sauti-") === 0 && k !== CACHE; })
      .map(function (k) { return caches.delete(k); }));
  }).then(function () { return self.clients.claim(); }));
});

function shellUrl(site) { return CONFIG.shell.replace("{site}", site); }
function flowUrl(site, lang) {
  return CONFIG.flow.replace("{site}", site).replace("{lang}", lang) + "?v=" + CONFIG.version;
}
function sameVersion(response) {
  return response.ok && response.headers.get("X-App-Version") === CONFIG.version;
}

// Everything one site's kiosk needs offline: its start page, the flow in every language, the
// recorded voice prompts. Fetched afresh at each online visit (topics and prompts change).
function cacheSite(site) {
  return caches.open(CACHE).then(function (cache) {
    var urls = [shellUrl(site)].concat(CONFIG.langs.map(function (l) { return flowUrl(site, l); }));
    return Promise.all(urls.map(function (url) {
      return fetch(url, { credentials: "same-origin", cache: "no-store" }).then(function (response) {
        if (!sameVersion(response)) { self.registration.update(); throw new Error("version"); }
        var copy = response.clone();
        return cache.put(url, response).then(function () {
          if (url === urls[0]) return null;
          return copy.json().then(function (flow) {
            var prompts = Object.keys(flow.prompts).map(function (s) { return flow.prompts[s]; });
            return Promise.all(prompts.map(function (p) {
              return fetch(p).then(function (r) { return r.ok ? cache.put(p, r) : null; });
            }));
          });
        });
      });
    }));
  });
}

self.addEventListener("message", function (event) {
  var data = event.data || {};
  if (data.type === "skip-waiting") self.skipWaiting();
  if (data.type === "cache-site" && data.site) {
    event.waitUntil(cacheSite(data.site).then(function () {
      event.source.postMessage({ type: "site-cached", version: CONFIG.version });
    }, function (error) {
      event.source.postMessage({ type: "site-not-cached", version: CONFIG.version, error: String(error) });
    }));
  }
});

function isKioskPage(url) {
  var rest = url.pathname.slice(CONFIG.scope.length);
  return url.pathname.indexOf(CONFIG.scope) === 0 && rest && rest.indexOf("/") < 0;
}

function fromCache(request) {
  return caches.open(CACHE).then(function (cache) {
    return cache.match(request, { ignoreSearch: true, ignoreVary: true });
  });
}

// A kiosk start page: the network first (the freshest page, kept for next time), else the copy.
function startPage(event, url) {
  var key = url.origin + url.pathname;
  var network = fetch(event.request).then(function (response) {
    if (sameVersion(response)) {
      var copy = response.clone();
      event.waitUntil(caches.open(CACHE).then(function (cache) { return cache.put(key, copy); }));
    }
    return response;
  });
  var timeout = new Promise(function (resolve) { setTimeout(resolve, NETWORK_WAIT); });
  return Promise.race([network.catch(function () { return null; }), timeout]).then(function (response) {
    return response || fromCache(key).then(function (cached) { return cached || network; });
  });
}

// A step posted as a whole page (the language screen) while the network is down: back to the
// start page from the cache, with the chosen language, and the device carries on by itself.
function postedStep(event, url) {
  var copy = event.request.clone();
  return fetch(event.request).catch(function () {
    return copy.formData().then(function (form) {
      var lang = encodeURIComponent(String(form.get("lang") || ""));
      return Response.redirect(url.origin + url.pathname + "#offline-lang=" + lang, 303);
    });
  });
}

self.addEventListener("fetch", function (event) {
  var request = event.request;
  var url = new URL(request.url);
  if (url.origin !== self.location.origin) return;
  if (request.mode === "navigate" && isKioskPage(url)) {
    if (request.method === "GET") event.respondWith(startPage(event, url));
    else if (request.method === "POST") event.respondWith(postedStep(event, url));
    return;
  }
  if (request.method !== "GET") return;
  // Versioned static files, the flow texts and the voice prompts: the cache, else the network.
  event.respondWith(fromCache(request).then(function (cached) { return cached || fetch(request); }));
});
