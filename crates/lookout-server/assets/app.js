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
