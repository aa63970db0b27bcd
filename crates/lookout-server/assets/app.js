// Lookout's only script: progressive enhancement, nothing depends on it.
// Shows absolute times in the reader's own time zone on hover (the server
// renders them in UTC).
"use strict";
document.querySelectorAll("time[datetime]").forEach(function (el) {
  var d = new Date(el.getAttribute("datetime"));
  if (!isNaN(d.getTime())) {
    el.title = d.toLocaleString(undefined, { dateStyle: "medium", timeStyle: "long" });
  }
});

// Monitor forms (issue #5): validate as you type. The server checks the
// definition (URL, conditions, cron, time zone…) at POST /monitors/validate
// and answers each problem with its field, position and reason; they are
// listed above the button and the fields are marked. Saving still
// validates on the server, so nothing depends on this.
(function () {
  var form = document.getElementById("monitor-form");
  if (!form || !window.fetch) return;
  var box = document.createElement("div");
  box.id = "live-errors";
  box.className = "error";
  box.setAttribute("aria-live", "polite");
  var button = form.querySelector("button[type=submit]");
  form.insertBefore(box, button);
  var timer = null;
  function check() {
    var body = new URLSearchParams(new FormData(form));
    fetch("/monitors/validate", { method: "POST", body: body, credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (res) {
        if (!res) return;
        form.querySelectorAll("[aria-invalid]").forEach(function (el) { el.removeAttribute("aria-invalid"); });
        box.textContent = "";
        res.errors.forEach(function (e) {
          var name = e.field.replace(/\[\d+\]$/, "");
          var input = form.querySelector("[name='" + name + "']");
          if (input) input.setAttribute("aria-invalid", "true");
          var p = document.createElement("p");
          p.className = "live-error";
          p.textContent = e.text;
          box.appendChild(p);
        });
      })
      .catch(function () {});
  }
  form.addEventListener("input", function () {
    clearTimeout(timer);
    timer = setTimeout(check, 350);
  });
})();

// Alert rule and channel forms (issue #6): show only the fields of the
// chosen condition or channel kind. The server renders them all and reads
// only the chosen kind's, so nothing depends on this.
["rule-form", "channel-form"].forEach(function (id) {
  var form = document.getElementById(id);
  if (!form) return;
  var kind = form.querySelector("select[name=kind]");
  if (!kind) return;
  function sync() {
    form.querySelectorAll("[data-kinds]").forEach(function (el) {
      el.hidden = el.getAttribute("data-kinds").split(" ").indexOf(kind.value) < 0;
    });
    // A fieldset left with nothing to fill in is hidden too.
    form.querySelectorAll("fieldset").forEach(function (fs) {
      var fields = fs.querySelectorAll("[data-kinds]");
      if (!fields.length) return;
      fs.hidden = Array.prototype.every.call(fields, function (el) { return el.hidden; });
    });
  }
  kind.addEventListener("change", sync);
  sync();
});
