// Sauti intake flow: voice prompts, voice notes, printing, and (on kiosks) the idle privacy reset.
// Everything here is an enhancement: the flow works with plain forms when this file does not run.
(function () {
  "use strict";
  var body = document.body;
  var voice = null; // {blob, type, url}: kept in memory only, sent with the final step
  var recorder = null;

  function $(sel, root) { return (root || document).querySelector(sel); }
  function show(el, on) { if (el) el.hidden = !on; }

  // ---- Idle privacy reset (kiosks only: <body data-idle data-warn data-home>) ----
  var idle = Number(body.dataset.idle || 0) * 1000;
  var warn = Number(body.dataset.warn || 0) * 1000;
  var home = body.dataset.home;
  var timer = null, countdown = null;
  function restart() { location.replace(home); }
  function startTimer() {
    clearTimeout(timer);
    if (!idle || !home) return;
    timer = setTimeout(warning, idle);
  }
  function activity() {
    var dialog = $("#idle-warning");
    if (dialog && dialog.open) return; // only the button answers the warning
    startTimer();
  }
  function warning() {
    if (recorder) { startTimer(); return; } // someone is speaking
    var dialog = $("#idle-warning");
    var left = Math.round(warn / 1000);
    var out = $("[data-countdown]", dialog);
    if (dialog.showModal) dialog.showModal(); else dialog.setAttribute("open", "");
    if (out) out.textContent = left;
    clearInterval(countdown);
    countdown = setInterval(function () {
      left -= 1;
      if (out) out.textContent = Math.max(left, 0);
      if (left <= 0) { clearInterval(countdown); restart(); }
    }, 1000);
  }
  function moreTime() {
    clearInterval(countdown);
    var dialog = $("#idle-warning");
    if (dialog.close) dialog.close(); else dialog.removeAttribute("open");
    startTimer();
  }
  if (idle && home) {
    ["pointerdown", "keydown", "input", "touchstart"].forEach(function (name) {
      document.addEventListener(name, activity, { passive: true, capture: true });
    });
    // A page brought back from the back/forward cache must not show the last person's answers.
    window.addEventListener("pageshow", function (e) { if (e.persisted) restart(); });
    startTimer();
  }

  // ---- Voice notes ----
  function setVoice(v) {
    if (voice && voice.url) URL.revokeObjectURL(voice.url);
    voice = v;
    var flag = $("[data-has-voice]");
    if (flag) flag.value = v ? "1" : "";
  }
  function fmt(s) { return Math.floor(s / 60) + ":" + String(s % 60).padStart(2, "0"); }
  function showRecorded(box) {
    show($("[data-record]", box), !voice);
    show($("[data-stop]", box), false);
    show($("[data-recorded]", box), !!voice);
    var audio = $("[data-playback]", box);
    if (audio) audio.src = voice ? voice.url : "";
  }
  function record(box) {
    var max = Number(box.dataset.maxSeconds || 120);
    navigator.mediaDevices.getUserMedia({ audio: true }).then(function (stream) {
      var type = ["audio/webm;codecs=opus", "audio/ogg;codecs=opus", "audio/mp4"].filter(function (t) {
        return MediaRecorder.isTypeSupported(t);
      })[0];
      var rec = new MediaRecorder(stream, type ? { mimeType: type, audioBitsPerSecond: 32000 } : {});
      var chunks = [], seconds = 0;
      var tick = setInterval(function () {
        seconds += 1;
        var t = $("[data-time]", box);
        if (t) t.textContent = fmt(seconds);
        if (seconds >= max) rec.stop(); // at most 2 minutes
      }, 1000);
      rec.ondataavailable = function (e) { if (e.data.size) chunks.push(e.data); };
      rec.onstop = function () {
        clearInterval(tick);
        stream.getTracks().forEach(function (t) { t.stop(); });
        recorder = null;
        var blob = new Blob(chunks, { type: rec.mimeType || "audio/webm" });
        setVoice(blob.size ? { blob: blob, type: blob.type, url: URL.createObjectURL(blob) } : null);
        showRecorded(box);
        startTimer();
      };
      recorder = rec;
      rec.start(1000);
      show($("[data-record]", box), false);
      show($("[data-stop]", box), true);
    }).catch(function () { show($("[data-mic-error]", box), true); });
  }

  // ---- Each screen, on load and after every htmx swap ----
  function enhance() {
    var box = $("[data-recorder]");
    if (box && window.MediaRecorder && navigator.mediaDevices) {
      if ($("[data-voice-error]")) setVoice(null); // refused by the server: record again
      var flag = $("[data-has-voice]");
      if (flag && flag.value === "1" && !voice) flag.value = ""; // lost with a reload
      if (flag && voice) flag.value = "1";
      show(box, true);
      showRecorded(box);
    }
    var review = $("[data-voice-review]");
    if (review && voice) {
      var audio = document.createElement("audio");
      audio.controls = true;
      audio.src = voice.url;
      review.appendChild(audio);
    }
    document.querySelectorAll("[data-prompt],[data-print]").forEach(function (b) { show(b, true); });
    if ($("[data-receipt]")) setVoice(null);
  }

  document.addEventListener("click", function (e) {
    var el = e.target.closest("button,a");
    if (!el) return;
    if (el.hasAttribute("data-prompt")) new Audio(el.dataset.prompt).play().catch(function () {});
    else if (el.hasAttribute("data-print")) window.print();
    else if (el.hasAttribute("data-more-time")) moreTime();
    else if (el.hasAttribute("data-record")) record(el.closest("[data-recorder]"));
    else if (el.hasAttribute("data-stop") && recorder) recorder.stop();
    else if (el.hasAttribute("data-discard")) { setVoice(null); showRecorded(el.closest("[data-recorder]")); }
    else if (el.hasAttribute("data-restart") && home) { e.preventDefault(); restart(); }
  });

  // The voice note joins the final step's request (multipart) as the field "voice".
  document.addEventListener("htmx:configRequest", function (e) {
    if (voice && e.detail.elt.hasAttribute("data-final")) {
      var ext = voice.type.indexOf("ogg") >= 0 ? "ogg" : voice.type.indexOf("mp4") >= 0 ? "m4a" : "webm";
      e.detail.parameters.voice = new File([voice.blob], "voice." + ext, { type: voice.type });
    }
  });
  // Error pages (403, 413, 429...) replace the screen instead of being silently dropped.
  document.addEventListener("htmx:beforeSwap", function (e) {
    if (e.detail.xhr.status >= 400 && e.detail.xhr.status !== 422) {
      e.detail.shouldSwap = true;
      e.detail.isError = false;
      e.detail.target = $("#main");
      e.detail.selectOverride = "#main";
      e.detail.swapOverride = "outerHTML";
    } else if (e.detail.xhr.status === 422) {
      e.detail.shouldSwap = true;
      e.detail.isError = false;
    }
  });
  function swapped() {
    enhance();
    var h = $("#main h1");
    if (h) h.focus();
    startTimer();
  }
  document.addEventListener("htmx:afterSwap", swapped);
  enhance();

  // ---- The offline kiosk (kiosk-offline.js): loaded after the first load, at once when offline ----
  var K = window.SautiKiosk = {
    voice: function () { return voice; },
    forgetVoice: function () { setVoice(null); },
    swapped: swapped
  };
  var offlineJs = body.dataset.offlineJs, loaded = false;
  function loadOffline() {
    if (loaded) return;
    loaded = true;
    var s = document.createElement("script");
    s.src = offlineJs;
    document.head.appendChild(s);
  }
  if (offlineJs && "serviceWorker" in navigator) {
    // A step that cannot reach the server is handed over to it: it renders the steps itself.
    document.addEventListener("submit", function (e) { K.lastSubmit = { form: e.target, submitter: e.submitter }; }, true);
    document.addEventListener("htmx:sendError", function () { if (!K.offline) { K.pending = K.lastSubmit; loadOffline(); } });
    window.addEventListener("offline", loadOffline);
    if (!navigator.onLine || location.hash.indexOf("offline") >= 0) loadOffline();
    else window.addEventListener("load", function () { setTimeout(loadOffline, 2000); });
  }
})();
