// Sauti offline kiosk (issue 4; docs/offline-kiosk.md). Loaded by kiosk.js after the first load.
// - installs the service worker (/sw.js) and asks it to keep this site's kiosk on the device;
// - registers the device as a kiosk once (a token in localStorage) and keeps a batch of reserved
//   tracking codes in IndexedDB;
// - when the network is down (or the server runs another version), renders the steps itself
//   from the flow texts the server gave while online, stores the submission in IndexedDB and
//   gives a receipt with a reserved code;
// - sends the queue, oldest first, when the network returns (retries with back-off; a
//   submission the server refuses for good is kept aside as "rejected", never dropped).
(function () {
  "use strict";
  var body = document.body;
  var K = window.SautiKiosk;
  if (!K || K.offline) return;
  var SITE = body.dataset.site, VERSION = body.dataset.version, FLOW = body.dataset.flow;
  var API = {}; // the kiosk API's URLs, from the flow texts
  var TOKEN_KEY = "sauti-kiosk-token:" + SITE;
  var CODES_WANTED = 45; // top up (to the server's batch of 50) below this
  var KEEP_HIDDEN = ["csrf_token", "step", "has_voice"];
  var csrf = "";
  try { csrf = JSON.parse(body.getAttribute("hx-headers"))["X-CSRF-Token"]; } catch (e) { /* none */ }

  var flows = {};        // lang -> the flow texts of this version
  var active = false;    // the device renders the steps (offline, or the server runs another version)
  var answers = null;    // the answers of the person using the device-rendered flow
  var siteCached = false, pendingActivation = null, pendingReload = false, syncing = false;
  K.offline = true;

  // ---- IndexedDB: the queue and the reserved codes ----
  var dbPromise = null;
  function openDb() {
    return dbPromise || (dbPromise = new Promise(function (resolve, reject) {
      var req = indexedDB.open("sauti-kiosk", 1);
      req.onupgradeneeded = function () {
        req.result.createObjectStore("queue", { keyPath: "id", autoIncrement: true });
        req.result.createObjectStore("codes", { keyPath: "code" });
      };
      req.onsuccess = function () { resolve(req.result); };
      req.onerror = function () { reject(req.error); };
    }));
  }
  // Runs work(transaction, out) and resolves with out.value once the transaction has committed.
  function tx(stores, mode, work) {
    return openDb().then(function (db) {
      return new Promise(function (resolve, reject) {
        var t = db.transaction(stores, mode), out = {};
        t.oncomplete = function () { resolve(out.value); };
        t.onerror = t.onabort = function () { reject(t.error); };
        work(t, out);
      });
    });
  }
  function all(store) {
    return tx([store], "readonly", function (t, out) {
      t.objectStore(store).getAll().onsuccess = function (e) {
        out.value = e.target.result.filter(function (r) { return r.site === SITE; });
      };
    });
  }
  function put(store, value) { return tx([store], "readwrite", function (t) { t.objectStore(store).put(value); }); }

  function usable(codes) {
    var now = new Date().toISOString();
    return codes.filter(function (c) { return !c.usedAt && c.expiresAt > now; })
      .sort(function (a, b) { return a.expiresAt < b.expiresAt ? -1 : a.expiresAt > b.expiresAt ? 1 : 0; });
  }
  function counts() {
    return Promise.all([all("queue"), all("codes")]).then(function (r) {
      var q = r[0];
      return {
        queued: q.filter(function (i) { return i.state === "queued"; }).length,
        rejected: q.filter(function (i) { return i.state === "rejected"; }).length,
        codes: usable(r[1]).length
      };
    });
  }
  // ---- Network status: icon and colour plus text, on every screen ----
  var net = document.querySelector("[data-net-status]"), waiting = 0, texts = null, icons = "";
  function showNet() {
    if (!net || !texts) return;
    var on = online(), text = texts[on ? "online" : "offline"];
    if (waiting) text += " — " + texts.waiting.replace("{n}", waiting);
    if (!net.firstElementChild) net.innerHTML = icons + "<span></span>";
    net.className = "net-status " + (on ? "is-online" : "is-offline");
    net.lastElementChild.textContent = text;
    net.hidden = false;
  }
  function refreshCount() {
    return counts().then(function (c) {
      waiting = c.queued;
      showNet();
      body.dataset.queued = c.queued;
      body.dataset.codes = c.codes;
      return c;
    });
  }

  // ---- The device's registration and its reserved codes ----
  function token() { return localStorage.getItem(TOKEN_KEY); }
  function auth(extra) {
    var h = { "Authorization": "Bearer " + token(), "X-App-Version": VERSION };
    for (var k in extra || {}) h[k] = extra[k];
    return h;
  }
  function online() { return navigator.onLine !== false; }
  function ensureToken() {
    if (token()) return Promise.resolve(token());
    if (!online()) return Promise.reject(new Error("offline"));
    return fetch(API.register, {
      method: "POST", body: "{}",
      headers: { "X-CSRF-Token": csrf, "X-App-Version": VERSION, "Content-Type": "application/json" }
    }).then(function (r) {
      if (r.status === 409) versionChanged();
      if (!r.ok) throw new Error("register " + r.status);
      return r.json();
    }).then(function (d) { localStorage.setItem(TOKEN_KEY, d.token); return d.token; });
  }
  function answered(r) { // what every token-authenticated answer may mean
    if (r.status === 409) versionChanged();
    if (r.status === 401) localStorage.removeItem(TOKEN_KEY); // withdrawn: register again later
    return r;
  }
  function topUp() {
    return all("codes").then(function (mine) {
      if (usable(mine).length >= CODES_WANTED || !token() || !online()) return null;
      return fetch(API.codes, { method: "POST", headers: auth() }).then(answered).then(function (r) {
        if (!r.ok) return null;
        return r.json().then(function (d) {
          var known = {}, held = {};
          mine.forEach(function (c) { known[c.code] = c; });
          d.codes.forEach(function (c) { held[c.code] = true; });
          return tx(["codes"], "readwrite", function (t) {
            var store = t.objectStore("codes");
            d.codes.forEach(function (c) {
              if (!known[c.code]) store.put({ code: c.code, site: SITE, expiresAt: c.expires_at, qr: c.qr, usedAt: null });
            });
            // Gone from the server and never used here (expired): forget it.
            mine.forEach(function (c) { if (!held[c.code] && !c.usedAt) store.delete(c.code); });
          });
        });
      });
    }).then(refreshCount);
  }
  function heartbeat() {
    if (!token() || !online()) return Promise.resolve();
    return counts().then(function (c) {
      return fetch(API.heartbeat, {
        method: "POST", headers: auth({ "Content-Type": "application/json" }),
        body: JSON.stringify({ queued_count: c.queued, rejected_count: c.rejected, codes_left: c.codes })
      });
    }).then(answered).then(function (r) { return r.ok ? topUp() : null; }, function () { return null; });
  }

  // ---- Sending the queue: oldest first, each exactly once (idempotency key), with back-off ----
  function extension(type) { return type.indexOf("ogg") >= 0 ? "ogg" : type.indexOf("mp4") >= 0 ? "m4a" : "webm"; }
  function later(item) {
    item.attempts = (item.attempts || 0) + 1;
    var wait = Math.min(5000 * Math.pow(2, item.attempts - 1), 10 * 60 * 1000);
    item.nextTryAt = Date.now() + wait * (0.8 + Math.random() * 0.4);
    return put("queue", item).then(function () { return "stop"; });
  }
  function send(item) {
    var form = new FormData();
    Object.keys(item.fields).forEach(function (k) { form.append(k, item.fields[k]); });
    form.set("idempotency_key", item.key);
    form.append("submitted_at", item.submittedAt);
    if (item.code) form.append("reserved_code", item.code);
    if (item.voice) form.append("voice", new File([item.voice], "voice." + extension(item.voiceType), { type: item.voiceType }));
    return fetch(API.sync, { method: "POST", headers: auth(), body: form }).then(answered).then(function (r) {
      if (r.status === 200 || r.status === 201) {
        return tx(["queue", "codes"], "readwrite", function (t) {
          t.objectStore("queue").delete(item.id);
          if (item.code) t.objectStore("codes").delete(item.code);
        }).then(function () { return "next"; });
      }
      if (r.status === 401 || r.status === 409) return "stop"; // kept: sent after registering / reloading
      if (r.status === 408 || r.status === 429 || r.status >= 500 || r.status < 400) return later(item);
      // Refused for a reason that will not change: kept aside for staff, never dropped.
      return r.json().catch(function () { return {}; }).then(function (answer) {
        item.state = "rejected";
        item.rejectedAt = new Date().toISOString();
        item.reason = { status: r.status, errors: answer.errors || answer.error || "" };
        return put("queue", item).then(function () { return "next"; });
      });
    }, function () { return later(item); });
  }
  function sync(force) {
    if (syncing || !token() || !online()) return Promise.resolve();
    syncing = true;
    var sent = 0;
    return all("queue").then(function (items) {
      var queue = items.filter(function (i) { return i.state === "queued"; }).sort(function (a, b) { return a.id - b.id; });
      function step(i) {
        if (i >= queue.length) return null;
        if (!force && queue[i].nextTryAt > Date.now()) return null; // keep the order: wait for the oldest
        force = false;
        return send(queue[i]).then(function (outcome) {
          if (outcome !== "next") return null;
          sent += 1;
          return step(i + 1);
        });
      }
      return step(0);
    }).catch(function () { return null; }).then(function () {
      syncing = false;
      return refreshCount();
    }).then(function () { return sent ? heartbeat() : null; });
  }

  // ---- Versions: the page, the service worker's cache and the server stay one version ----
  function atRest() { // the start screen, no one's answers on it (a receipt is left to be read)
    return !active && !!document.querySelector("#flow[data-step=language]");
  }
  function activateWhenSafe(reg) {
    pendingActivation = reg;
    if (atRest() && online() && reg.waiting) { reg.waiting.postMessage({ type: "skip-waiting" }); pendingActivation = null; }
  }
  function versionChanged() {
    navigator.serviceWorker.getRegistration(body.dataset.home).then(function (reg) { if (reg) reg.update(); });
  }
  setInterval(function () {
    if (pendingActivation) activateWhenSafe(pendingActivation);
    if (pendingReload && atRest()) location.reload();
  }, 3000);

  function onMessage(e) {
    var data = e.data || {};
    if (data.type !== "site-cached" && data.type !== "site-not-cached") return;
    if (data.version !== VERSION) { pendingReload = true; versionChanged(); return; }
    if (data.type === "site-cached") { siteCached = true; preload().then(checkReady); }
  }
  function cacheSite() {
    var sw = navigator.serviceWorker.controller;
    if (sw) sw.postMessage({ type: "cache-site", site: SITE });
    else navigator.serviceWorker.ready.then(function (reg) { reg.active.postMessage({ type: "cache-site", site: SITE }); });
  }
  function installWorker() {
    var home = body.dataset.home;
    var scope = home.slice(0, home.lastIndexOf("/") + 1);
    navigator.serviceWorker.addEventListener("message", onMessage);
    // A new worker took over: the page asks again; an old page reloads as soon as no one uses it.
    navigator.serviceWorker.addEventListener("controllerchange", cacheSite);
    navigator.serviceWorker.register(API.service_worker, { scope: scope }).then(function (reg) {
      if (reg.waiting && navigator.serviceWorker.controller) activateWhenSafe(reg);
      reg.addEventListener("updatefound", function () {
        var worker = reg.installing;
        if (worker) worker.addEventListener("statechange", function () {
          if (worker.state === "installed" && navigator.serviceWorker.controller) activateWhenSafe(reg);
        });
      });
      if (online()) cacheSite();
      else if (navigator.serviceWorker.controller) { siteCached = true; preload().then(checkReady); }
    });
  }
  function checkReady() {
    return refreshCount().then(function (c) {
      var ready = siteCached && !!navigator.serviceWorker.controller && !!token() && c.codes > 0 && allFlows();
      if (ready) body.dataset.offlineReady = "1";
    });
  }

  // ---- The flow rendered on the device, with the texts the server gave in each language ----
  function getFlow(lang) {
    if (flows[lang]) return Promise.resolve(flows[lang]);
    return fetch(FLOW.replace("LANG", lang) + "?v=" + VERSION).then(function (r) {
      if (!r.ok) throw new Error("flow " + r.status);
      return r.json();
    }).then(function (flow) {
      if (flow.version !== VERSION) throw new Error("version");
      flows[lang] = flow;
      return flow;
    });
  }
  function preload() { // every language in memory: offline, a person may choose any of them
    return getFlow(document.documentElement.lang).then(function (flow) {
      return Promise.all(flow.locales.map(function (l) { return getFlow(l).catch(function () { return null; }); }));
    }).catch(function () { return null; });
  }
  function allFlows() {
    var flow = flows[document.documentElement.lang];
    return !!flow && flow.locales.every(function (l) { return !!flows[l]; });
  }

  function newKey() {
    var bytes = new Uint8Array(24);
    crypto.getRandomValues(bytes);
    return btoa(String.fromCharCode.apply(null, bytes)).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }
  function phone(raw) { // a Mali number in E.164, null when empty, "" when not a number (the server checks again)
    var d = (raw || "").replace(/[\s().\-]/g, "");
    if (!d) return null;
    if (d.indexOf("+223") === 0) d = d.slice(4);
    else if (d.indexOf("00223") === 0) d = d.slice(5);
    else if (/^223\d{8}$/.test(d)) d = d.slice(3);
    return /^[2-9]\d{7}$/.test(d) ? "+223" + d : "";
  }
  function check(flow, step) { // the same checks as web/intake_flow.check_step
    var a = answers, m = flow.messages, r = flow.review;
    switch (step) {
      case "language": return flow.locales.indexOf(a.lang) < 0 ? { lang: m.lang } : null;
      case "type": return r.feedback_type[a.feedback_type] ? null : { feedback_type: m.feedback_type };
      case "topic": return flow.topics.indexOf(a.topic) < 0 ? { topic: m.topic } : null;
      case "say":
        if (a.has_voice !== "1") delete a.has_voice;
        if (!a.text && !a.has_voice) return { text: m.text_empty };
        return Array.from(a.text || "").length > 5000 ? { text: m.text_long } : null;
      case "contact":
        if (a.contact_consent !== "yes" && a.contact_consent !== "no") return { contact_consent: m.contact_consent };
        if (a.contact_consent === "no") { delete a.contact_phone; return null; }
        var p = phone(a.contact_phone);
        if (p === null) return { contact_phone: m.phone_missing };
        if (!p) return { contact_phone: m.phone_invalid };
        a.contact_phone = p;
        return null;
      case "publish": return a.publish_consent === "yes" || a.publish_consent === "no" ? null : { publish_consent: m.publish_consent };
      case "gender": return r.gender[a.gender] ? null : { gender: m.gender };
      case "age": return r.age_band[a.age_band] ? null : { age_band: m.age_band };
    }
    return null;
  }

  function el(tag, cls, text) {
    var node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text) node.textContent = text;
    return node;
  }
  function fillReview(flow, root) {
    var a = answers, r = flow.review;
    function dd(name) { return root.querySelector("[data-answer=" + name + "]"); }
    dd("type").innerHTML = r.feedback_type[a.feedback_type] || "";
    dd("topic").innerHTML = r.topic[a.topic] || "";
    var say = dd("say");
    say.textContent = "";
    say.appendChild(a.text ? el("span", "message", a.text) : el("span", "muted", r.no_text));
    if (a.has_voice === "1") {
      var v = el("span", "voice-review");
      v.setAttribute("data-voice-review", "");
      v.innerHTML = r.voice;
      say.appendChild(v);
    }
    var contact = dd("contact");
    if (a.contact_consent === "yes") {
      contact.innerHTML = r.contact_yes;
      contact.appendChild(document.createTextNode(" " + (a.contact_phone || "")));
    } else contact.innerHTML = r.contact_no;
    dd("publish").textContent = r.publish_consent[a.publish_consent === "yes" ? "yes" : "no"];
    dd("gender").textContent = r.gender[a.gender] || "";
    dd("age").textContent = r.age_band[a.age_band] || "";
  }
  function applyTexts(flow) {
    document.documentElement.lang = flow.lang;
    var t = flow.texts, dialog = document.getElementById("idle-warning");
    if (dialog) {
      dialog.querySelector("#idle-title").textContent = t.idle_title;
      var p = dialog.querySelector("[data-countdown]").parentNode;
      p.firstChild.textContent = t.idle_text + " ";
      dialog.querySelector("[data-more-time] span").textContent = t.more_time;
    }
    texts = t;
    showNet();
  }
  function show(flow, step, errors) {
    var template = document.createElement("template");
    template.innerHTML = step === "receipt" ? flow.receipt : flow.screens[step];
    var root = template.content.querySelector("#flow");
    root.querySelectorAll("input[type=hidden]").forEach(function (input) {
      if (KEEP_HIDDEN.indexOf(input.name) < 0) input.remove();
    });
    root.querySelectorAll("button.choice").forEach(function (b) {
      if (b.name !== "lang" && answers && answers[b.name] === b.value) {
        b.classList.add("chosen");
        b.appendChild(el("span", "visually-hidden", " (" + flow.texts.your_answer + ")"));
      }
    });
    var a = answers || {};
    var text = root.querySelector("#text"), tel = root.querySelector("#contact_phone"), flag = root.querySelector("[data-has-voice]");
    if (text) text.value = a.text || "";
    if (tel) tel.value = a.contact_phone || "";
    if (flag) flag.value = a.has_voice || "";
    if (errors) {
      var summary = el("div", "error-summary");
      summary.setAttribute("role", "alert");
      Object.keys(errors).forEach(function (field) {
        var p = el("p");
        p.innerHTML = flow.warning_icon;
        p.appendChild(document.createTextNode(" " + errors[field]));
        summary.appendChild(p);
        var input = root.querySelector("[name=" + field + "]:not([type=hidden]):not(button)");
        if (input) input.setAttribute("aria-invalid", "true");
      });
      root.querySelector("h1").after(summary);
    }
    if (step === "review") fillReview(flow, root);
    document.getElementById("main").replaceChildren(root);
    document.title = flow.titles[step];
    applyTexts(flow);
    window.scrollTo(0, 0);
    K.swapped();
    return root;
  }

  function display(code) { return code.match(/.{1,3}/g).join("-"); }
  function finish(flow) {
    var voice = K.voice();
    if (answers.has_voice === "1" && !voice) { // lost (e.g. the page was reloaded): record again
      delete answers.has_voice;
      if (!answers.text) return show(flow, "say", { text: flow.messages.text_empty });
    }
    var fields = {};
    flow.state_fields.forEach(function (n) { if (answers[n] !== undefined) fields[n] = answers[n]; });
    var item = {
      site: SITE, fields: fields, key: answers.idempotency_key, submittedAt: new Date().toISOString(),
      voice: voice ? voice.blob : null, voiceType: voice ? voice.type : "", state: "queued", attempts: 0, nextTryAt: 0
    };
    var taken = null;
    // The code is taken and the submission stored in one transaction: neither without the other.
    return tx(["codes", "queue"], "readwrite", function (t) {
      t.objectStore("codes").getAll().onsuccess = function (e) {
        var free = usable(e.target.result.filter(function (c) { return c.site === SITE; }));
        if (free.length) {
          taken = free[0];
          taken.usedAt = item.submittedAt;
          t.objectStore("codes").put(taken);
          item.code = taken.code;
        }
        t.objectStore("queue").add(item);
      };
    }).then(function () {
      K.forgetVoice();
      answers = null;
      var root = show(flow, "receipt");
      var receipt = root.querySelector("[data-receipt]");
      receipt.setAttribute("data-submitted-at", item.submittedAt);
      var place = receipt.querySelector(".receipt-site");
      if (place) place.textContent = place.textContent.trim() + " " + new Date().toLocaleDateString(flow.lang === "bm" ? "fr" : flow.lang);
      if (taken) {
        var code = receipt.querySelector(".tracking-code");
        code.textContent = display(taken.code);
        code.setAttribute("aria-label", taken.code.split("").join(" "));
        receipt.querySelector(".qr").innerHTML = taken.qr;
        receipt.querySelector(".track-url").textContent = flow.track_url.replace("CODE", taken.code);
      } else {
        var code2 = receipt.querySelector(".tracking-code");
        [code2.previousElementSibling, code2, receipt.querySelector(".qr"), receipt.querySelector(".receipt-hint"),
          receipt.querySelector(".track-url"), receipt.querySelector("[data-offline-note]")].forEach(function (n) { if (n) n.hidden = true; });
        receipt.querySelector("[data-no-code]").hidden = false;
      }
      refreshCount();
      sync();
    });
  }

  function decide(flow, step, nav, goto) {
    var steps = flow.steps;
    if (steps.indexOf(step) < 0) step = steps[0];
    var i = steps.indexOf(step);
    if (nav === "back") return show(flow, steps[Math.max(i - 1, 0)]);
    if (step === "review" && goto && steps.indexOf(goto) >= 0 && goto !== "review") return show(flow, goto);
    if (step !== "review") {
      var errors = check(flow, step);
      return show(flow, errors ? step : steps[Math.min(i + 1, steps.length - 1)], errors);
    }
    if (nav !== "send") return show(flow, "review");
    for (var s = 0; s < steps.length - 1; s++) {
      var problem = check(flow, steps[s]);
      if (problem) return show(flow, steps[s], problem);
    }
    return finish(flow);
  }

  // One step answered on the device: the form's fields join the answers, then the flow decides.
  function handle(form, submitter) {
    active = true;
    var data = new FormData(form);
    if (submitter && submitter.name) data.append(submitter.name, submitter.value);
    answers = answers || {};
    ["lang", "feedback_type", "topic", "text", "has_voice", "contact_consent", "contact_phone",
      "publish_consent", "gender", "age_band", "idempotency_key"].forEach(function (name) {
      if (data.has(name)) answers[name] = name === "text" ? String(data.get(name)).normalize("NFC") : String(data.get(name)).trim();
    });
    if (!answers.lang) answers.lang = document.documentElement.lang;
    // A new person starts at the language screen, which may be the cached start page: its key
    // was used before. Further on, the key is the one of this person's own (server) screens.
    if (form.querySelector("input[name=step][value=language]") ||
        !/^[A-Za-z0-9_-]{16,64}$/.test(answers.idempotency_key || "")) answers.idempotency_key = newKey();
    return getFlow(answers.lang).then(function (flow) {
      return decide(flow, String(data.get("step") || ""), String(data.get("nav") || ""), String(data.get("goto") || ""));
    }, function () {
      active = false; // nothing on the device to carry on with: the kiosk cannot work offline yet
      answers = null;
    });
  }

  document.addEventListener("submit", function (e) {
    var form = e.target;
    if (!form.classList || !form.classList.contains("step-form")) return;
    if (!active && online()) return; // the server renders the steps
    e.preventDefault();
    e.stopImmediatePropagation();
    handle(form, e.submitter);
  }, true);
  // The server could not be reached for a step: the device carries on with the same answers.
  document.addEventListener("htmx:sendError", function (e) {
    var last = K.lastSubmit;
    if (last && last.form === e.detail.elt) handle(last.form, last.submitter);
  });
  // The server runs another version: it must not mix its screens into this page.
  document.addEventListener("htmx:beforeOnLoad", function (e) {
    var xhr = e.detail.xhr, last = K.lastSubmit;
    if (xhr.status === 409 && xhr.getResponseHeader("X-App-Version") && last && last.form === e.detail.elt && flows[document.documentElement.lang]) {
      e.preventDefault();
      pendingReload = true;
      versionChanged();
      handle(last.form, last.submitter);
    }
  });

  // ---- Start: the flow texts of this page's language first (the network, or the worker's copy) ----
  getFlow(document.documentElement.lang).then(function (flow) {
    API = flow.urls;
    icons = flow.status_icons;
    texts = flow.texts;
    var styles = document.createElement("link");
    styles.rel = "stylesheet";
    styles.href = API.styles;
    document.head.appendChild(styles);
    window.addEventListener("online", function () { showNet(); sync(true); });
    window.addEventListener("offline", showNet);
    setInterval(function () { sync(false); }, 15000);
    setInterval(heartbeat, 60000);
    refreshCount();
    installWorker();
    if (K.pending) { var p = K.pending; K.pending = null; handle(p.form, p.submitter); }
    var hash = /#offline-lang=(\w+)/.exec(location.hash);
    if (hash) {
      history.replaceState(null, "", location.pathname);
      active = true;
      answers = { lang: hash[1], idempotency_key: newKey() };
      getFlow(answers.lang).then(function (f) { show(f, "type"); }, function () { active = false; answers = null; });
    }
    return ensureToken().then(topUp).then(heartbeat).then(function () { return sync(true); }).then(checkReady);
  }).catch(function () { return null; });
})();
