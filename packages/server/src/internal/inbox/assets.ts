/**
 * The inbox's static assets: one stylesheet and one small script (live refresh of the list over
 * Server-Sent Events). Served from the server itself, so pages need nothing from elsewhere and run under a
 * strict Content-Security-Policy.
 */

export const script = `"use strict";
(function () {
  var list = document.getElementById("inbox-list");
  if (!list || !window.EventSource || !window.fetch) return;
  var status = document.getElementById("live-status");
  var busy = false;
  var again = false;
  function refresh() {
    if (busy) { again = true; return; }
    busy = true;
    var url = new URL(window.location.href);
    url.searchParams.set("partial", "1");
    fetch(url.toString(), { credentials: "same-origin", headers: { accept: "text/html" } })
      .then(function (response) { return response.ok ? response.text() : null; })
      .then(function (markup) {
        if (markup === null) return;
        var checked = {};
        list.querySelectorAll("input[name=item]:checked").forEach(function (box) { checked[box.value] = true; });
        list.innerHTML = markup;
        list.querySelectorAll("input[name=item]").forEach(function (box) { if (checked[box.value]) box.checked = true; });
        if (status) status.textContent = "Updated at " + new Date().toLocaleTimeString();
      })
      .catch(function () {})
      .then(function () {
        busy = false;
        if (again) { again = false; refresh(); }
      });
  }
  var source = new EventSource(list.getAttribute("data-live"));
  source.addEventListener("change", refresh);
})();
`

export const stylesheet = `
:root { font-family: system-ui, sans-serif; color: #1b1f24; background: #fbfbfc; }
body { margin: 0; }
header { display: flex; flex-wrap: wrap; gap: 1rem; align-items: center; padding: .75rem 1.5rem; background: #1f3a5f; color: #fff; }
header a { color: #fff; }
header .brand { font-weight: 700; text-decoration: none; margin-right: 1rem; }
header nav a { margin-right: .75rem; }
header .sign-out { margin-left: auto; display: flex; gap: .5rem; align-items: center; }
main { padding: 1rem 1.5rem 3rem; max-width: 72rem; }
table { border-collapse: collapse; margin: .5rem 0 1rem; width: 100%; background: #fff; }
caption { text-align: left; font-weight: 600; padding: .25rem 0; }
th, td { border: 1px solid #d7dbe0; padding: .35rem .5rem; text-align: left; vertical-align: top; }
thead th { background: #eef1f5; }
small { color: #59636e; }
pre { background: #f1f3f6; padding: .75rem; overflow: auto; border-radius: 4px; }
code.hash { word-break: break-all; }
.field { margin: .5rem 0; }
.field label { display: block; font-weight: 600; margin-bottom: .2rem; }
input[type=checkbox] + label { display: inline; }
textarea, input[type=text], input[type=number], input[type=password], select { font: inherit; padding: .3rem; min-width: 16rem; }
button { font: inherit; padding: .4rem .9rem; border-radius: 4px; border: 1px solid #1f3a5f; background: #1f3a5f; color: #fff; cursor: pointer; }
button[value=deny] { background: #8a1c1c; border-color: #8a1c1c; }
button[value=request-changes] { background: #7a5b00; border-color: #7a5b00; }
.filters { display: flex; gap: 1rem; align-items: end; flex-wrap: wrap; }
.banner, .error { padding: .75rem; border-radius: 4px; background: #fdecea; border: 1px solid #e0a19b; }
.banner.done, .notice { padding: .75rem; border-radius: 4px; background: #eaf5ea; border: 1px solid #9bc79b; }
.banner.stale { background: #fff4d6; border-color: #e0c36a; }
.facts { display: grid; grid-template-columns: max-content 1fr; gap: .25rem 1rem; }
.facts dt { font-weight: 600; }
.facts dd { margin: 0; }
.unavailable { color: #59636e; }
.live { min-height: 1.2em; color: #59636e; }
del { color: #8a1c1c; } ins { color: #1d6b1d; text-decoration: none; }
`
