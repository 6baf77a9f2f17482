// The rules editor (/rules/edit): line numbers beside the textarea, and the draft checked
// on the server as it is typed (debounced), its problems shown at their line. A file of
// this origin, as the Content-Security-Policy requires (no inline script). Without it the
// page still works: every button posts the form.
(function () {
  "use strict";
  var form = document.getElementById("rules-form");
  var draft = document.getElementById("draft");
  var gutter = document.getElementById("gutter");
  var list = document.getElementById("problems");
  if (!form || !draft || !gutter || !list) { return; }
  var csrf = form.querySelector('input[name="csrf"]').value;
  var timer = null;
  var asked = 0;

  function numbers(bad) {
    var lines = draft.value.split("\n").length;
    gutter.textContent = "";
    for (var n = 1; n <= lines; n++) {
      var span = document.createElement("span");
      span.textContent = String(n);
      if (bad[n]) { span.className = "bad"; span.title = bad[n]; }
      gutter.appendChild(span);
      gutter.appendChild(document.createTextNode("\n"));
    }
    gutter.scrollTop = draft.scrollTop;
  }

  function show(problems) {
    var bad = {};
    list.textContent = "";
    var p = document.createElement("p");
    if (!problems.length) {
      p.className = "ok";
      p.textContent = "No problems: the draft loads.";
      list.appendChild(p);
      numbers(bad);
      return;
    }
    p.className = "error";
    p.textContent = problems.length + (problems.length === 1 ? " problem:" : " problems:");
    list.appendChild(p);
    var ul = document.createElement("ul");
    problems.forEach(function (q) {
      var li = document.createElement("li");
      li.className = "problem";
      var a = document.createElement("a");
      a.href = "#draft";
      a.textContent = "line " + q.line + ", column " + q.col;
      a.addEventListener("click", function (e) { e.preventDefault(); go(q.line, q.col); });
      li.appendChild(a);
      li.appendChild(document.createTextNode(": " + q.message + (q.hint ? " (" + q.hint + ")" : "")));
      ul.appendChild(li);
      bad[q.line] = (bad[q.line] ? bad[q.line] + "; " : "") + q.message;
    });
    list.appendChild(ul);
    numbers(bad);
  }

  function go(line, col) {
    var lines = draft.value.split("\n");
    var at = 0;
    for (var i = 0; i < line - 1 && i < lines.length; i++) { at += lines[i].length + 1; }
    at += Math.max(0, col - 1);
    draft.focus();
    draft.setSelectionRange(at, at);
  }

  function check() {
    var mine = ++asked;
    var body = new URLSearchParams();
    body.set("csrf", csrf);
    body.set("draft", draft.value);
    fetch("/rules/check", { method: "POST", body: body, credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (data) { if (data && mine === asked) { show(data.problems); } })
      .catch(function () { /* the next keystroke asks again */ });
  }

  draft.addEventListener("input", function () {
    numbers({});
    if (timer) { clearTimeout(timer); }
    timer = setTimeout(check, 400);
  });
  draft.addEventListener("scroll", function () { gutter.scrollTop = draft.scrollTop; });
  list.querySelectorAll("a[data-line]").forEach(function (a) {
    a.addEventListener("click", function (e) {
      e.preventDefault();
      go(Number(a.getAttribute("data-line")), Number(a.getAttribute("data-col")));
    });
  });
})();
