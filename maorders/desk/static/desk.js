// The staff desk: the banner and sound for a new internet order, and confirmations.
// No inline script anywhere (the Content-Security-Policy forbids it).
(function () {
  "use strict";
  var SEEN = "maorders-desk-banner-seen", SOUND = "maorders-desk-sound";

  function newest(root) {
    var rows = root.querySelectorAll("[data-banner]"), best = null;
    rows.forEach(function (row) {
      if (!best || Number(row.dataset.banner) > Number(best.dataset.banner)) { best = row; }
    });
    return best;
  }

  // browsers let a page play sound only after a person touched it: the context is made on a click
  var audio = null;
  function unlockAudio() {
    if (audio || localStorage.getItem(SOUND) !== "on") { return; }
    try { audio = new (window.AudioContext || window.webkitAudioContext)(); } catch (e) { audio = null; }
  }

  function beep() {
    if (localStorage.getItem(SOUND) !== "on" || !audio) { return; }
    try {
      audio.resume();
      var osc = audio.createOscillator();
      osc.frequency.value = 880; osc.connect(audio.destination); osc.start(); osc.stop(audio.currentTime + 0.4);
    } catch (e) { /* no audio device: the banner is enough */ }
  }

  function check(root, announce) {
    var row = newest(root), seen = Number(sessionStorage.getItem(SEEN) || 0);
    if (!row || Number(row.dataset.banner) <= seen) { return; }
    sessionStorage.setItem(SEEN, row.dataset.banner);
    if (!announce) { return; }
    var banner = document.getElementById("banner");
    if (!banner) { return; }
    document.getElementById("banner-text").textContent = row.dataset.text;  // text, never HTML
    var link = document.getElementById("banner-link");
    link.hidden = !row.dataset.link;
    link.setAttribute("href", row.dataset.link || "#");
    banner.hidden = false;
    beep();
  }

  document.addEventListener("DOMContentLoaded", function () {
    var needs = document.getElementById("needs");
    if (needs) {
      // what was there when the page opened is not news; what arrives while it is open is
      if (sessionStorage.getItem(SEEN) === null) {
        var row = newest(needs);
        sessionStorage.setItem(SEEN, row ? row.dataset.banner : "0");
      }
      check(needs, true);
      var sound = document.getElementById("sound-on");
      sound.checked = localStorage.getItem(SOUND) === "on";
      sound.addEventListener("change", function () {
        localStorage.setItem(SOUND, sound.checked ? "on" : "off");
        unlockAudio();
      });
      document.addEventListener("click", unlockAudio);
      document.getElementById("banner-close").addEventListener("click", function () {
        document.getElementById("banner").hidden = true;
      });
    }
    document.body.addEventListener("htmx:afterSwap", function (event) {
      var swapped = document.getElementById("needs");
      if (swapped) { check(swapped, true); }
    });
    document.querySelectorAll("form[data-confirm]").forEach(function (form) {
      form.addEventListener("submit", function (event) {
        if (!window.confirm(form.dataset.confirm)) { event.preventDefault(); }
      });
    });
  });
})();
