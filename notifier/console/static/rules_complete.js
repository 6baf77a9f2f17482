// Completion in the rules editor (/rules/edit) from the rules file's JSON Schema, the one
// `notifier schema` prints (served at /rules/schema.json). Where a key is being typed, it
// offers the keys the schema allows at the cursor's indentation: the top-level keys, a
// rule's keys, the fields and operators of a rule's `when` (for the rule's `event`), a
// channel's keys (for its `type`); after `key: `, the values it allows (event kinds,
// channel types, enums, true/false). Arrow keys move in the list, Enter or Tab inserts,
// Escape closes; Ctrl+Space asks with nothing typed. A file of this origin (the CSP runs
// no inline script); without it the editor is a plain textarea.
(function () {
  "use strict";
  var draft = document.getElementById("draft");
  var box = document.getElementById("completions");
  if (!draft || !box || !window.fetch) { return; }
  var schema = null;
  var shown = [];    // [{text, insert}]
  var chosen = 0;
  var from = 0;      // the typed prefix's start, replaced on insert
  var ITEM = {};     // a path step into a list's item
  var MAX = 12;

  fetch("/rules/schema.json", { credentials: "same-origin" })
    .then(function (r) { return r.ok ? r.json() : null; })
    .then(function (s) { schema = s; })
    .catch(function () { /* no completion; the editor still works */ });

  function lookup(ref) {
    var node = schema;
    ref.replace(/^#\//, "").split("/").forEach(function (part) {
      node = node && node[part.replace(/~1/g, "/").replace(/~0/g, "~")];
    });
    return node;
  }

  // A schema node and what it may be (its $ref, anyOf and oneOf), flattened.
  function alts(node) {
    if (!node || typeof node !== "object") { return []; }
    if (node.$ref) { return alts(lookup(node.$ref)); }
    var out = [node];
    ["anyOf", "oneOf"].forEach(function (k) {
      (node[k] || []).forEach(function (n) { out = out.concat(alts(n)); });
    });
    return out;
  }

  // Whether an `if` holds for the mapping whose keys are `siblings` (event: ..., type: ...).
  function holds(cond, siblings) {
    var props = (cond && cond.properties) || {};
    return Object.keys(props).every(function (k) {
      return props[k].const !== undefined && siblings[k] === String(props[k].const);
    });
  }

  // Whether a channel type's schema fits the mapping's `type:` (when it has one).
  function fits(alt, siblings) {
    var type = alt.properties && alt.properties.type;
    if (!type || siblings.type === undefined) { return true; }
    var allowed = type.const !== undefined ? [type.const] : type.enum;
    return !allowed || allowed.map(String).indexOf(siblings.type) >= 0;
  }

  // The properties a mapping may have: [name, schema] pairs, refined by `allOf` if/then.
  function properties(nodes, siblings) {
    var found = [];
    nodes.forEach(function (n) {
      alts(n).forEach(function (a) {
        if (!fits(a, siblings)) { return; }
        Object.keys(a.properties || {}).forEach(function (k) { found.push([k, a.properties[k]]); });
        (a.allOf || []).forEach(function (c) {
          if (c.then && c.then.properties && holds(c.if, siblings)) {
            Object.keys(c.then.properties).forEach(function (k) {
              found.push([k, c.then.properties[k]]);
            });
          }
        });
      });
    });
    return found;
  }

  function child(nodes, key, siblings) {
    var out = [];
    properties(nodes, siblings).forEach(function (p) {
      if (p[0] === key && p[1] !== false) { out.push(p[1]); }
    });
    if (!out.length) {  // a name of one's own: a channel under `channels`
      nodes.forEach(function (n) {
        alts(n).forEach(function (a) {
          if (a.additionalProperties && typeof a.additionalProperties === "object") {
            out.push(a.additionalProperties);
          }
        });
      });
    }
    return out;
  }

  function items(nodes) {
    var out = [];
    nodes.forEach(function (n) {
      alts(n).forEach(function (a) { if (a.items) { out.push(a.items); } });
    });
    return out;
  }

  function values(nodes) {
    var out = [];
    nodes.forEach(function (n) {
      alts(n).forEach(function (a) {
        (a.enum || []).forEach(function (v) { if (v !== null) { out.push(String(v)); } });
        if (a.const !== undefined) { out.push(String(a.const)); }
        if (a.type === "boolean") { out.push("true", "false"); }
      });
    });
    return out;
  }

  // One line of YAML as far as completion needs it: where it starts, its `- `, its key.
  function info(line) {
    if (!/\S/.test(line) || /^\s*#/.test(line)) { return null; }
    var indent = line.match(/^ */)[0].length;
    var dash = line.match(/^ *- +/);
    var col = dash ? dash[0].length : indent;
    var key = line.slice(col).match(/^([A-Za-z_][\w.-]*|"[^"]*"|'[^']*')\s*:(\s+(.*))?$/);
    return {
      indent: indent,
      dash: !!dash,
      col: col,
      key: key ? key[1].replace(/^["']|["']$/g, "") : null,
      value: key && key[3] ? key[3].replace(/\s+#.*$/, "").replace(/^["']|["']$/g, "") : ""
    };
  }

  // The keys beside line `at` at column `col` in its mapping, with their values.
  function siblings(lines, at, col) {
    var found = {};
    var own = info(lines[at]);
    [-1, 1].forEach(function (step) {
      if (step < 0 && own && own.dash) { return; }  // a new item: what is above is another's
      for (var i = at + step; i >= 0 && i < lines.length; i += step) {
        var l = info(lines[i]);
        if (!l) { continue; }
        if (step > 0 && l.dash && l.indent < col) { break; }  // the next item of a list
        if (l.key !== null && l.col === col) { found[l.key] = l.value; }
        if (l.col < col || (l.dash && l.indent < col)) { break; }
      }
    });
    return found;
  }

  // The schema nodes for a key at column `col` on line `at`: its parents, found upwards.
  function context(lines, at, col) {
    var path = [];
    var target = col;
    for (var i = at - 1; i >= 0 && target > 0; i--) {
      var l = info(lines[i]);
      if (!l) { continue; }
      if (l.key !== null && l.col < target) {
        path.unshift({ key: l.key, line: i, col: l.col });
        target = l.col;
      }
      if (l.dash && l.indent < target) {
        path.unshift(ITEM);
        target = l.indent;
      }
    }
    var nodes = [schema];
    path.forEach(function (step) {
      nodes = step === ITEM ? items(nodes) : child(nodes, step.key, siblings(lines, step.line, step.col));
    });
    return nodes;
  }

  function candidates(asked) {
    if (!schema) { return []; }
    var at = draft.selectionStart;
    if (at !== draft.selectionEnd) { return []; }
    var text = draft.value;
    var start = text.lastIndexOf("\n", at - 1) + 1;
    var before = text.slice(start, at);
    var after = text.slice(at, text.indexOf("\n", at) < 0 ? text.length : text.indexOf("\n", at));
    if (/\S/.test(after)) { return []; }  // only at a line's end
    var lines = text.slice(0, start).split("\n");
    lines.pop();
    var row = lines.length;
    lines.push(before);
    lines = lines.concat(text.slice(at).split("\n").slice(1));
    var keyed = before.match(/^( *)(- +)?([A-Za-z_][\w.-]*)?$/);
    var valued = before.match(/^( *)(- +)?([A-Za-z_][\w.-]*): +([\w.#-]*)$/);
    var col, prefix, list;
    if (keyed) {
      col = keyed[1].length + (keyed[2] ? keyed[2].length : 0);
      prefix = keyed[3] || "";
      var here = siblings(lines, row, col);
      var seen = {};
      list = properties(context(lines, row, col), here)
        .filter(function (p) {
          var fresh = p[1] !== false && !seen[p[0]] && here[p[0]] === undefined;
          seen[p[0]] = true;
          return fresh;
        })
        .map(function (p) { return { text: p[0], insert: p[0] + ": " }; });
    } else if (valued) {
      col = valued[1].length + (valued[2] ? valued[2].length : 0);
      prefix = valued[4];
      var nodes = child(context(lines, row, col), valued[3], siblings(lines, row, col));
      list = values(nodes).map(function (v) { return { text: v, insert: v }; });
    } else {
      return [];
    }
    if (!prefix && !asked) { return []; }
    from = at - prefix.length;
    var low = prefix.toLowerCase();
    var unique = {};
    return list.filter(function (c) {
      var fits = c.text.toLowerCase().indexOf(low) === 0 && c.text !== prefix && !unique[c.text];
      unique[c.text] = true;
      return fits;
    }).slice(0, MAX);
  }

  function place() {
    var style = window.getComputedStyle(draft);
    var line = parseFloat(style.lineHeight) || 18;
    var probe = document.createElement("span");
    probe.style.font = style.font;
    probe.style.visibility = "hidden";
    probe.style.position = "absolute";
    probe.textContent = "MMMMMMMMMM";
    document.body.appendChild(probe);
    var width = probe.getBoundingClientRect().width / 10 || 8;
    document.body.removeChild(probe);
    var upto = draft.value.slice(0, from);
    var row = upto.split("\n").length;
    var col = from - upto.lastIndexOf("\n") - 1;
    var top = draft.offsetTop + parseFloat(style.paddingTop) + row * line - draft.scrollTop;
    var left = draft.offsetLeft + parseFloat(style.paddingLeft) + col * width - draft.scrollLeft;
    box.style.top = Math.max(0, Math.min(top, draft.offsetTop + draft.clientHeight)) + "px";
    box.style.left = Math.max(0, left) + "px";
  }

  function render() {
    box.textContent = "";
    if (!shown.length) {
      box.hidden = true;
      draft.removeAttribute("aria-activedescendant");
      return;
    }
    shown.forEach(function (c, i) {
      var li = document.createElement("li");
      li.id = "completion-" + i;
      li.setAttribute("role", "option");
      li.setAttribute("aria-selected", i === chosen ? "true" : "false");
      li.className = i === chosen ? "chosen" : "";
      li.textContent = c.text;
      li.addEventListener("mousedown", function (e) { e.preventDefault(); accept(i); });
      box.appendChild(li);
    });
    box.hidden = false;
    draft.setAttribute("aria-activedescendant", "completion-" + chosen);
    place();
  }

  function update(asked) {
    shown = candidates(asked);
    chosen = 0;
    render();
  }

  function accept(i) {
    var c = shown[i];
    var at = draft.selectionStart;
    shown = [];
    render();
    draft.setRangeText(c.insert, from, at, "end");
    draft.dispatchEvent(new Event("input", { bubbles: true }));  // the check and the gutter
  }

  draft.addEventListener("input", function (e) {
    if (e.isTrusted) { update(false); }
  });
  draft.addEventListener("keydown", function (e) {
    if (e.key === " " && e.ctrlKey) { e.preventDefault(); update(true); return; }
    if (box.hidden) { return; }
    if (e.key === "ArrowDown" || e.key === "ArrowUp") {
      e.preventDefault();
      chosen = (chosen + (e.key === "ArrowDown" ? 1 : shown.length - 1)) % shown.length;
      render();
    } else if (e.key === "Enter" || e.key === "Tab") {
      e.preventDefault();
      accept(chosen);
    } else if (e.key === "Escape") {
      e.preventDefault();
      shown = [];
      render();
    }
  });
  draft.addEventListener("blur", function () { shown = []; render(); });
  draft.addEventListener("scroll", function () { if (!box.hidden) { place(); } });
})();
