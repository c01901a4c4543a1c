/* The inbox's keyboard, composer and bulk behaviours. The page works without it (links and forms). */
(function () {
  "use strict";

  var root = document.querySelector("[data-inbox]");
  if (!root) return;

  function fitHeight() {
    var top = root.getBoundingClientRect().top + window.scrollY;
    document.documentElement.style.setProperty("--inbox-top", Math.ceil(top) + "px");
  }
  fitHeight();
  window.addEventListener("resize", fitHeight);

  function typing(target) {
    return target && (target.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(target.tagName));
  }
  function rows() { return Array.prototype.slice.call(document.querySelectorAll("[data-row]")); }
  function current() {
    return document.querySelector("[data-row].is-cursor") || document.querySelector("[data-row].is-selected");
  }
  function move(step) {
    var list = rows();
    if (!list.length) return;
    var index = list.indexOf(current());
    var next = list[Math.max(0, Math.min(list.length - 1, index + step))] || list[0];
    list.forEach(function (row) { row.classList.remove("is-cursor"); });
    next.classList.add("is-cursor");
    next.scrollIntoView({ block: "nearest" });
    var link = next.querySelector("[data-row-link]");
    if (link) link.click();
  }
  function markSelected(id) {
    rows().forEach(function (row) {
      row.classList.toggle("is-selected", row.getAttribute("data-id") === String(id));
    });
  }
  function composerTab(name) {
    var composer = document.querySelector("[data-composer]");
    if (!composer) return null;
    composer.querySelectorAll("[data-tab]").forEach(function (tab) {
      var on = tab.getAttribute("data-tab") === name;
      tab.classList.toggle("is-current", on);
      tab.setAttribute("aria-selected", on ? "true" : "false");
    });
    composer.querySelectorAll("[data-pane]").forEach(function (pane) {
      pane.hidden = pane.getAttribute("data-pane") !== name;
    });
    var area = composer.querySelector("[data-pane='" + name + "'] textarea");
    if (area) area.focus();
    return area;
  }

  var help = document.getElementById("inbox-help");
  function openHelp() { if (help && !help.open) help.showModal(); }

  var keys = {
    j: function () { move(1); },
    k: function () { move(-1); },
    r: function () { composerTab("reply"); },
    n: function () { composerTab("note"); },
    e: function () { var b = document.querySelector("[data-resolve]"); if (b) b.click(); },
    a: function () { var s = document.querySelector("[data-assign]"); if (s) { s.focus(); if (s.showPicker) { try { s.showPicker(); } catch (e) { /* not allowed here */ } } } },
    x: function () {
      var row = current();
      var box = row && row.querySelector(".inbox-check");
      if (box) { box.checked = !box.checked; box.dispatchEvent(new Event("change", { bubbles: true })); }
    },
    "/": function () { var s = document.querySelector("[data-search]"); if (s) { s.focus(); s.select(); } },
    "?": openHelp,
  };

  document.addEventListener("keydown", function (event) {
    if (event.key === "Escape" && typing(event.target)) { event.target.blur(); return; }
    if ((event.ctrlKey || event.metaKey) && event.key === "Enter" && event.target.tagName === "TEXTAREA") {
      var form = event.target.form;
      if (form) { event.preventDefault(); form.requestSubmit(); }
      return;
    }
    if (typing(event.target) || event.ctrlKey || event.metaKey || event.altKey) return;
    var action = keys[event.key];
    if (action) { event.preventDefault(); action(); }
  });
  document.addEventListener("click", function (event) {
    var opener = event.target.closest("[data-help-open]");
    if (opener) openHelp();
    var tab = event.target.closest("[data-tab]");
    if (tab) composerTab(tab.getAttribute("data-tab"));
    var link = event.target.closest("[data-row-link]");
    if (link) markSelected(link.closest("[data-row]").getAttribute("data-id"));
    var use = event.target.closest("[data-use-text]");
    if (use) insertText(use.getAttribute("data-use-text"), use.getAttribute("data-saved-reply-id"), !!use.closest("[data-picker]"));
  });

  /* Bulk selection survives the list's polling: ticked ids are kept and ticked again after each swap. */
  var ticked = new Set();
  function refreshBulk() {
    var bar = document.querySelector("[data-bulk-bar]");
    if (!bar) return;
    document.querySelectorAll(".inbox-check").forEach(function (box) { box.checked = ticked.has(box.value); });
    bar.hidden = ticked.size === 0;
    var count = bar.querySelector("[data-bulk-count]");
    if (count) count.textContent = ticked.size + " ✓";
    var action = bar.querySelector("select[name=action]");
    bar.querySelectorAll("[data-bulk-for]").forEach(function (el) {
      el.hidden = !action || el.getAttribute("data-bulk-for") !== action.value;
    });
  }
  document.addEventListener("change", function (event) {
    if (event.target.matches(".inbox-check")) {
      if (event.target.checked) ticked.add(event.target.value); else ticked.delete(event.target.value);
      refreshBulk();
    } else if (event.target.matches("[data-bulk-bar] select[name=action]")) {
      refreshBulk();
    }
  });
  document.addEventListener("submit", function (event) {
    if (!event.target.matches("[data-bulk]")) return;
    // Boxes on rows the last poll removed are still wanted: send them as hidden fields.
    ticked.forEach(function (id) {
      if (!event.target.querySelector(".inbox-check[value='" + id + "']")) {
        var input = document.createElement("input");
        input.type = "hidden"; input.name = "ids"; input.value = id;
        event.target.appendChild(input);
      }
    });
  });
  document.body.addEventListener("htmx:afterSwap", function (event) {
    refreshBulk();
    var conv = document.querySelector("[data-conversation]");
    if (conv) markSelected(conv.getAttribute("data-conversation"));
    if (event.target.id === "inbox-conversation") { bindComposer(); scrollTimeline(); }
  });
  document.body.addEventListener("htmx:oobAfterSwap", function (event) {
    if (event.target.id === "conv-timeline") scrollTimeline();
  });

  function scrollTimeline() {
    var timeline = document.getElementById("conv-timeline");
    if (timeline) timeline.scrollTop = timeline.scrollHeight;
  }

  /* Personal saved views: a name and the filter's query string, kept in this browser. */
  var storeKey = "communa.inbox.views." + root.getAttribute("data-workspace");
  function personalViews() { try { return JSON.parse(localStorage.getItem(storeKey) || "[]"); } catch (e) { return []; } }
  function drawViews() {
    var holder = document.querySelector("[data-personal-views]");
    if (!holder) return;
    holder.textContent = "";
    personalViews().forEach(function (view, index) {
      var a = document.createElement("a");
      a.className = "inbox-view inbox-view-personal";
      a.href = root.getAttribute("data-list-url") + (view.query ? "?" + view.query : "");
      a.textContent = view.name;
      if (location.search.replace(/^\?/, "") === view.query) a.classList.add("is-current");
      var remove = document.createElement("button");
      remove.type = "button"; remove.textContent = "×"; remove.className = "btn-ghost"; remove.title = "×";
      remove.style.cssText = "border:0;background:none;cursor:pointer;padding:0 0 0 .25rem;color:inherit";
      remove.addEventListener("click", function (event) {
        event.preventDefault();
        var views = personalViews(); views.splice(index, 1);
        localStorage.setItem(storeKey, JSON.stringify(views)); drawViews();
      });
      a.appendChild(remove);
      holder.appendChild(a);
    });
  }
  document.addEventListener("click", function (event) {
    var save = event.target.closest("[data-save-view]");
    if (!save) return;
    var form = save.closest("form");
    var params = new URLSearchParams(new FormData(form));
    Array.from(params.keys()).forEach(function (key) { if (!params.get(key)) params.delete(key); });
    if (params.get("state") === "open") params.delete("state");
    if (params.get("sort") === "priority") params.delete("sort");
    var name = window.prompt(save.getAttribute("data-prompt"));
    if (!name) return;
    var views = personalViews();
    views.push({ name: name.slice(0, 40), query: params.toString() });
    localStorage.setItem(storeKey, JSON.stringify(views.slice(-12)));
    drawViews();
  });
  drawViews();

  /* Composer: heartbeat while typing ("X is replying"), the "/" saved-reply menu, using a suggestion. */
  var beatAt = 0;
  function csrf() { var t = document.querySelector("[name=csrfmiddlewaretoken]"); return t ? t.value : ""; }
  function beat(composer, stop) {
    var body = new FormData();
    if (stop) body.append("stop", "1");
    fetch(composer.getAttribute("data-composing-url"), {
      method: "POST", body: body, headers: { "X-CSRFToken": csrf() }, credentials: "same-origin",
    }).catch(function () { /* best effort */ });
  }
  var pickerTimer = null;
  function slashToken(area) {
    var before = area.value.slice(0, area.selectionStart);
    var match = /(^|\s)\/([\w-]{0,60})$/.exec(before);
    return match ? match[2] : null;
  }
  function showPicker(composer, area) {
    var picker = composer.querySelector("[data-picker]");
    var token = slashToken(area);
    if (token === null) { picker.hidden = true; return; }
    clearTimeout(pickerTimer);
    pickerTimer = setTimeout(function () {
      fetch(composer.getAttribute("data-picker-url") + "?q=" + encodeURIComponent(token), { credentials: "same-origin" })
        .then(function (r) { return r.text(); })
        .then(function (html) { picker.innerHTML = html; picker.hidden = false; });
    }, 120);
  }
  function insertText(text, savedId, fromPicker) {
    var area = composerTab("reply");
    if (!area) return;
    if (fromPicker) {
      var before = area.value.slice(0, area.selectionStart).replace(/(^|\s)\/[\w-]{0,60}$/, "$1");
      area.value = before + text + area.value.slice(area.selectionStart);
    } else {
      area.value = area.value ? area.value.replace(/\s*$/, "\n\n") + text : text;
    }
    var composer = area.closest("[data-composer]");
    var hidden = composer.querySelector("[data-saved-reply]");
    if (hidden && savedId) hidden.value = savedId;
    var picker = composer.querySelector("[data-picker]");
    if (picker) picker.hidden = true;
    area.focus();
    area.setSelectionRange(area.value.length, area.value.length);
  }
  function bindComposer() {
    var composer = document.querySelector("[data-composer]");
    if (!composer || composer.dataset.bound) return;
    composer.dataset.bound = "1";
    var area = composer.querySelector("[data-reply-text]");
    area.addEventListener("input", function () {
      var now = Date.now();
      if (now - beatAt > 5000) { beatAt = now; beat(composer, false); }
      showPicker(composer, area);
    });
    area.addEventListener("keydown", function (event) {
      var picker = composer.querySelector("[data-picker]");
      if (picker.hidden) return;
      var items = Array.prototype.slice.call(picker.querySelectorAll(".picker-item"));
      var active = picker.querySelector(".picker-item.is-active");
      var index = items.indexOf(active);
      if (event.key === "ArrowDown" || event.key === "ArrowUp") {
        event.preventDefault();
        if (active) active.classList.remove("is-active");
        var next = items[(index + (event.key === "ArrowDown" ? 1 : items.length - 1)) % items.length];
        if (next) { next.classList.add("is-active"); next.scrollIntoView({ block: "nearest" }); }
      } else if ((event.key === "Enter" || event.key === "Tab") && active) {
        event.preventDefault();
        insertText(active.getAttribute("data-use-text"), active.getAttribute("data-saved-reply-id"), true);
      } else if (event.key === "Escape") {
        picker.hidden = true; event.stopPropagation();
      }
    });
    area.addEventListener("blur", function () {
      if (!area.value) { beatAt = 0; beat(composer, true); }
    });
  }
  bindComposer();
  scrollTimeline();
  refreshBulk();
})();
