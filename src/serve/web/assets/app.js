// reservnod: the pages work without this script. With it: the inbox refreshes itself, the
// patient id is checked as it is typed, and an idle session is warned about before it ends,
// with "Förläng". Nothing is fetched from any other origin.
(function () {
  "use strict";
  var body = document.body;
  var csrf = body.getAttribute("data-csrf") || "";
  var poll = parseInt(body.getAttribute("data-poll-ms") || "3000", 10);

  // Live inbox: fetch the lists, replace them when they changed, say so to screen readers.
  var live = document.getElementById("live");
  if (live) {
    var src = live.getAttribute("data-src");
    var status = document.getElementById("live-status");
    var last = null;
    var tick = function () {
      fetch(src, { headers: { "x-reservnod-poll": "1" }, credentials: "same-origin", redirect: "error" })
        .then(function (r) { if (!r.ok) { throw new Error(String(r.status)); } return r.text(); })
        .then(function (html) {
          if (last !== null && html !== last) {
            var focused = document.activeElement && document.activeElement.getAttribute("href");
            live.innerHTML = html;
            if (focused) {
              var again = live.querySelector('a[href="' + focused + '"]');
              if (again) { again.focus(); }
            }
            if (status) { status.textContent = "Inkorgen har uppdaterats."; }
          }
          last = html;
        })
        .catch(function () { if (status) { status.textContent = ""; } })
        .then(function () { setTimeout(tick, poll); });
    };
    // The page as served is the first state: start from its lists.
    fetch(src, { headers: { "x-reservnod-poll": "1" }, credentials: "same-origin", redirect: "error" })
      .then(function (r) { return r.ok ? r.text() : null; })
      .then(function (html) { last = html; })
      .catch(function () {})
      .then(function () { setTimeout(tick, poll); });
  }

  // The id check as typed: the node's own answer (the same rules as `id check`).
  var inputs = document.querySelectorAll("[data-id-check]");
  Array.prototype.forEach.call(inputs, function (input) {
    var out = document.getElementById(input.getAttribute("aria-describedby").split(" ")[0]);
    var timer = null;
    input.addEventListener("input", function () {
      clearTimeout(timer);
      timer = setTimeout(function () {
        var v = input.value.trim();
        if (!v) { out.textContent = ""; out.className = "check"; input.removeAttribute("aria-invalid"); return; }
        fetch("/api/v1/id-check?id=" + encodeURIComponent(v), { headers: { "x-reservnod-poll": "1" }, credentials: "same-origin" })
          .then(function (r) { return r.json(); })
          .then(function (j) {
            if (j.valid) {
              out.textContent = "Giltigt " + j.kind + ": " + j.canonical;
              out.className = "check good";
              input.removeAttribute("aria-invalid");
            } else {
              out.textContent = j.error ? "Ogiltigt: " + j.error : "Ogiltigt";
              out.className = "check bad";
              input.setAttribute("aria-invalid", "true");
            }
          })
          .catch(function () {});
      }, 300);
    });
  });

  // Idle warning: count down locally; "Förläng" asks the server and restarts the count.
  var idle = parseInt(body.getAttribute("data-idle-ms") || "0", 10);
  var warn = parseInt(body.getAttribute("data-warn-ms") || "0", 10);
  var box = document.getElementById("idle-warning");
  if (idle > 0 && box) {
    var ends = Date.now() + idle;
    var left = document.getElementById("idle-left");
    var button = document.getElementById("extend");
    var shown = false;
    var check = function () {
      var remain = ends - Date.now();
      if (remain <= 0) { window.location.assign("/logga-in?utgangen=1"); return; }
      if (remain <= warn) {
        var s = Math.ceil(remain / 1000);
        left.textContent = s >= 60 ? Math.ceil(s / 60) + " minuter" : s + " sekunder";
        if (!shown) { box.hidden = false; shown = true; button.focus(); }
      }
      setTimeout(check, 1000);
    };
    document.getElementById("extend-form").addEventListener("submit", function (e) {
      e.preventDefault();
      fetch("/forlang", { method: "POST", headers: { "x-csrf-token": csrf, "accept": "application/json" }, credentials: "same-origin" })
        .then(function (r) { return r.json(); })
        .then(function (j) {
          if (j.ends_ms) { ends = Date.now() + idle; box.hidden = true; shown = false; }
        })
        .catch(function () {});
    });
    setTimeout(check, 1000);
  }
})();
