// Kairan's own small scripts. Pages work without them; they only make waiting nicer.
"use strict";

// Forms (or their buttons) with data-confirm ask before they submit (deleting, sending, cancelling).
document.addEventListener("submit", (event) => {
  const question = (event.submitter && event.submitter.dataset.confirm) || (event.target.dataset && event.target.dataset.confirm);
  if (question && !window.confirm(question)) event.preventDefault();
});

// Frames that show a whole message (the Outbox, the click map) take its height, so its last line is never cut
// off behind a fixed height. They are sandboxed without scripts but same-origin, so the height can be read.
(function () {
  function fit(frame) {
    const page = frame.contentDocument && frame.contentDocument.documentElement;
    if (!page) return;
    frame.style.height = "0px"; // measure the message, not the frame it sits in
    const body = frame.contentDocument.body;
    frame.style.height = `${Math.max(page.scrollHeight, body ? body.scrollHeight : 0) + 2}px`;
    frame.dataset.fitted = "true";
  }
  for (const frame of document.querySelectorAll("iframe[data-fit-content]")) {
    frame.addEventListener("load", () => {
      fit(frame);
      // Images arrive after the load of slow mail servers' pages; fit again when each one does.
      for (const image of frame.contentDocument.images) image.addEventListener("load", () => fit(frame));
    });
    const loaded = frame.contentDocument;
    if (loaded && loaded.readyState === "complete" && loaded.URL !== "about:blank") fit(frame); // loaded before this ran
  }
  window.addEventListener("resize", () => document.querySelectorAll("iframe[data-fit-content]").forEach(fit));
})();

// A refused form's error summary (macros.html) takes the focus, so a screen reader reads it and the page starts
// there; each of its links puts the focus in its field, with the field's label in sight.
(function () {
  const summary = document.querySelector("[data-error-summary]");
  if (!summary) return;
  summary.focus();
  summary.addEventListener("click", (event) => {
    const link = event.target.closest && event.target.closest("a[data-field]");
    const field = link && document.getElementById(link.dataset.field);
    if (!field) return;
    event.preventDefault();
    (field.closest(".field") || field).scrollIntoView();
    field.focus({ preventScroll: true });
  });
})();

// The content security policy allows no inline handlers, so these small behaviours are declared as data attributes.
document.addEventListener("change", (event) => {
  if (event.target.matches && event.target.matches("select[data-autosubmit]")) event.target.form.submit();
});
document.addEventListener("click", (event) => {
  if (!event.target.closest) return;
  const closer = event.target.closest("[data-close-dialog]");
  if (closer) closer.closest("dialog").close();
  if (event.target.matches("[data-select-all]")) event.target.select();
});

// Live progress (imports, campaigns): poll the JSON at data-progress-url and fill each [data-field]
// with the number of that name, until the status is no longer one of data-running.
(function () {
  const card = document.querySelector("[data-progress-url]");
  if (!card) return;
  const running = (status) => (card.dataset.running || "queued importing").split(" ").includes(status);
  if (!running(card.dataset.status)) return;
  const number = new Intl.NumberFormat(document.documentElement.lang || undefined);
  async function poll() {
    try {
      const response = await fetch(card.dataset.progressUrl, { headers: { Accept: "application/json" } });
      const data = (await response.json()).data;
      card.querySelector(".progress-bar").style.width = `${data.percent}%`;
      card.querySelector(".progress").setAttribute("aria-valuenow", data.percent);
      for (const field of card.querySelectorAll("[data-field]")) {
        const value = data[field.dataset.field];
        if (typeof value === "number") field.textContent = number.format(value);
        else if (typeof value === "string") field.textContent = value; // a sentence the server wrote
        else if (value === null) field.textContent = "—";
      }
      if (!running(data.status)) { window.location.reload(); return; }
    } catch (error) {
      // A missed poll is retried below; the page itself stays correct on reload.
    }
    window.setTimeout(poll, 1000);
  }
  window.setTimeout(poll, 500);
})();

// Segment editor: one row per rule, a live count while editing, the rules sent as JSON on save.
(function () {
  const form = document.getElementById("segment-form");
  if (!form) return;
  const labels = JSON.parse(form.dataset.labels);
  const lists = JSON.parse(form.dataset.lists);
  const fields = JSON.parse(form.dataset.fields);
  const initial = JSON.parse(form.dataset.rules);
  const rows = document.getElementById("rule-rows");
  const match = document.getElementById("match");
  const expression = document.getElementById("expression");
  const countBox = document.getElementById("segment-count");
  const addButton = document.getElementById("add-rule");
  const readOnly = match.disabled;
  const TEXT = ["eq", "ne", "contains", "not_contains", "starts_with", "ends_with"];
  const DATES = ["before", "after", "within_days", "not_within_days"];
  const OPS = { email: TEXT, name: TEXT, status: ["eq", "ne"], created_at: DATES, list: ["member", "not_member"],
    event: ["did", "did_not"] };
  const ATTRIBUTE_OPS = {
    text: [...TEXT, "exists", "not_exists"],
    number: ["eq", "ne", "gt", "gte", "lt", "lte", "exists", "not_exists"],
    date: [...DATES, "exists", "not_exists"],
  };
  const nested = (initial.rules || []).some((rule) => Array.isArray(rule.rules));

  function element(tag, attributes, text) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attributes || {})) node.setAttribute(name, value);
    if (text) node.textContent = text;
    if (readOnly && ["INPUT", "SELECT", "BUTTON"].includes(node.tagName)) node.disabled = true;
    return node;
  }
  function fill(select, options, value) {
    select.replaceChildren(...options.map(([optionValue, label]) => {
      const option = element("option", { value: optionValue }, label);
      option.selected = String(optionValue) === String(value);
      return option;
    }));
  }

  function addRow(rule) {
    const kind = (rule.field || "attribs.").startsWith("attribs.") ? "attribute" : rule.field;
    const row = element("div", { class: "rule-row" });
    const field = element("select", { class: "field", "aria-label": labels.attribute });
    fill(field, fields.map((f) => [f, labels[f]]), kind);
    const key = element("input", { class: "key", placeholder: labels.key, "aria-label": labels.key });
    key.value = kind === "attribute" ? (rule.field || "").slice("attribs.".length) : "";
    const type = element("select", { class: "type", "aria-label": labels.text });
    fill(type, ["text", "number", "date"].map((t) => [t, labels[t]]), rule.type || "text");
    const op = element("select", { class: "op", "aria-label": labels.eq });
    const value = element("input", { class: "value", placeholder: labels.value, "aria-label": labels.value });
    value.value = rule.value === undefined || ["status", "list", "event"].includes(kind) ? "" : rule.value;
    // An event rule: its name, did or did not, at least N times, in the last N days. What the row does not show
    // (a property condition, from/to written as JSON or an expression) is kept as it was.
    const event = kind === "event" && rule.value && typeof rule.value === "object" ? rule.value : {};
    const eventName = element("input", { class: "event-name", placeholder: labels.event_name, "aria-label": labels.event_name });
    eventName.value = event.name || "";
    const minCount = element("input", { class: "min-count", type: "number", min: "1", max: "1000",
      placeholder: labels.min_count, title: labels.min_count, "aria-label": labels.min_count });
    minCount.value = event.min_count || "";
    const days = element("input", { class: "days", type: "number", min: "1", max: "3650",
      placeholder: labels.days, title: labels.days, "aria-label": labels.days });
    days.value = event.within_days || "";
    // What the two numbers mean stays on screen once they are filled in (a placeholder then disappears).
    const countPart = element("label", { class: "event-part" });
    countPart.append(minCount, element("span", {}, labels.times_or_more));
    const daysPart = element("label", { class: "event-part" });
    daysPart.append(element("span", {}, labels.in_the_last), days, element("span", {}, labels.days_unit));
    const choice = element("select", { class: "choice", "aria-label": labels.value });
    const subscription = element("select", { class: "subscription", "aria-label": labels.any_status });
    fill(subscription, [["", labels.any_status], ...["confirmed", "unconfirmed", "unsubscribed"].map((s) => [s, labels[s]])],
      rule.status || "");
    const remove = element("button", { type: "button", class: "link danger" }, labels.remove);
    let chosen = rule.value;

    function refresh() {
      const f = field.value;
      const ops = f === "attribute" ? ATTRIBUTE_OPS[type.value] : OPS[f];
      fill(op, ops.map((o) => [o, labels[o]]), ops.includes(op.value) ? op.value : (ops.includes(rule.op) ? rule.op : ops[0]));
      key.hidden = type.hidden = f !== "attribute";
      eventName.hidden = countPart.hidden = daysPart.hidden = f !== "event";
      subscription.hidden = f !== "list";
      choice.hidden = !(f === "status" || f === "list");
      if (f === "status") fill(choice, ["enabled", "disabled", "blocklisted"].map((s) => [s, labels[s]]), chosen);
      if (f === "list") fill(choice, lists.map((l) => [l.id, l.name]), chosen);
      value.hidden = !choice.hidden || f === "event" || ["exists", "not_exists"].includes(op.value);
      const dated = f === "created_at" || (f === "attribute" && type.value === "date");
      value.type = op.value.includes("within_days") || (f === "attribute" && type.value === "number") ? "number"
        : dated ? "date" : "text";
    }
    row.rule = function () {
      const f = field.value;
      if (f === "attribute") {
        const result = { field: `attribs.${key.value.trim()}`, type: type.value, op: op.value };
        if (!["exists", "not_exists"].includes(op.value)) result.value = type.value === "number" ? Number(value.value) : value.value;
        return result;
      }
      if (f === "list") return { field: f, op: op.value, value: Number(choice.value), status: subscription.value || undefined };
      if (f === "event") {
        const result = { ...event, name: eventName.value.trim() };
        delete result.min_count;
        if (minCount.value) result.min_count = Number(minCount.value);
        if (days.value) {
          result.within_days = Number(days.value);
          delete result.from;
          delete result.to;
        } else delete result.within_days;
        return { field: f, op: op.value, value: result };
      }
      if (f === "status") return { field: f, op: op.value, value: choice.value };
      return { field: f, op: op.value, value: op.value.includes("within_days") ? Number(value.value) : value.value };
    };
    for (const input of [field, key, type, op, value, choice, subscription, eventName, minCount, days]) {
      input.addEventListener("change", () => { chosen = choice.value; refresh(); scheduleCount(); });
      input.addEventListener("input", scheduleCount);
    }
    remove.addEventListener("click", () => { row.remove(); scheduleCount(); });
    row.append(field, key, type, eventName, op, countPart, daysPart, value, choice, subscription, remove);
    rows.append(row);
    refresh();
  }

  function currentRules() {
    if (nested) return initial;
    return { match: match.value, rules: [...rows.children].map((row) => row.rule()) };
  }

  let timer = null;
  function scheduleCount() {
    window.clearTimeout(timer);
    timer = window.setTimeout(updateCount, 400);
  }
  async function updateCount() {
    const body = expression && expression.value.trim() ? { expression: expression.value } : { rules: currentRules() };
    try {
      const response = await fetch(form.dataset.countUrl, {
        method: "POST",
        headers: { "Content-Type": "application/json", "X-CSRFToken": form.dataset.csrf },
        body: JSON.stringify(body),
      });
      const answer = await response.json();
      countBox.parentElement.classList.toggle("error", !response.ok);
      countBox.textContent = response.ok ? new Intl.NumberFormat(document.documentElement.lang).format(answer.data.count)
        : answer.message;
    } catch (error) {
      countBox.textContent = "—";
    }
  }

  match.value = initial.match === "any" ? "any" : "all";
  if (nested) {
    rows.append(element("p", { class: "muted" }, labels.nested));
    match.disabled = true;
    if (addButton) addButton.hidden = true;
  } else {
    for (const rule of initial.rules || []) addRow(rule);
  }
  if (addButton) addButton.addEventListener("click", () => { addRow({ field: "attribs.", type: "text", op: "eq" }); scheduleCount(); });
  match.addEventListener("change", scheduleCount);
  if (expression) expression.addEventListener("input", scheduleCount);
  form.addEventListener("submit", () => { document.getElementById("rules-json").value = JSON.stringify(currentRules()); });
  updateCount();
})();

// Attribute editor: rows of name / value / kind over the JSON textarea, which stays the source
// of truth (and the editor for nested values, or when scripts are off).
(function () {
  const textarea = document.querySelector("textarea[name=attribs][data-rows]");
  if (!textarea) return;
  const labels = JSON.parse(textarea.dataset.rows);
  let data;
  try { data = JSON.parse(textarea.value || "{}"); } catch (error) { return; }
  const flat = data && typeof data === "object" && !Array.isArray(data)
    && Object.values(data).every((v) => v === null || ["string", "number", "boolean"].includes(typeof v));
  if (!flat) return;
  const box = document.createElement("div");
  box.className = "attribute-rows";
  const add = document.createElement("button");
  add.type = "button";
  add.textContent = `+ ${labels.add}`;
  const toggle = document.createElement("button");
  toggle.type = "button";
  toggle.className = "link attribute-json";
  toggle.textContent = labels.json;

  function kindOf(value) { return typeof value === "number" ? "number" : typeof value === "boolean" ? "boolean" : "text"; }
  function write() {
    const result = {};
    for (const row of box.querySelectorAll(".attribute-row")) {
      const key = row.querySelector(".key").value.trim();
      if (!key) continue;
      const kind = row.querySelector(".kind").value;
      const raw = row.querySelector(".value").value;
      result[key] = kind === "number" && raw.trim() !== "" && !Number.isNaN(Number(raw)) ? Number(raw)
        : kind === "boolean" ? raw === "true" : raw;
    }
    textarea.value = JSON.stringify(result, null, 2);
  }
  function addRow(key, value) {
    const row = document.createElement("div");
    row.className = "attribute-row";
    const name = Object.assign(document.createElement("input"), { className: "key", value: key, placeholder: labels.key });
    name.setAttribute("aria-label", labels.key);
    const kind = document.createElement("select");
    kind.className = "kind";
    kind.setAttribute("aria-label", labels.kind);
    for (const k of ["text", "number", "boolean"]) kind.append(new Option(labels[k], k, false, k === kindOf(value)));
    let input;
    function makeInput() {
      const next = kind.value === "boolean" ? document.createElement("select") : document.createElement("input");
      next.className = "value";
      next.setAttribute("aria-label", labels.value);
      if (kind.value === "boolean") {
        next.append(new Option(labels.yes, "true", false, value === true), new Option(labels.no, "false", false, value !== true));
      } else {
        next.type = kind.value === "number" ? "number" : "text";
        next.value = value === null || value === undefined || typeof value === "boolean" ? "" : String(value);
      }
      next.addEventListener("input", write);
      next.addEventListener("change", write);
      if (input) input.replaceWith(next); else row.append(next);
      input = next;
    }
    const remove = Object.assign(document.createElement("button"), { type: "button", className: "link danger", textContent: labels.remove });
    remove.addEventListener("click", () => { row.remove(); write(); });
    name.addEventListener("input", write);
    kind.addEventListener("change", () => { value = input.value; makeInput(); write(); });
    row.append(name, kind);
    makeInput();
    row.append(remove);
    box.append(row);
  }
  for (const [key, value] of Object.entries(data)) addRow(key, value);
  add.addEventListener("click", () => { addRow("", ""); });
  toggle.addEventListener("click", () => { textarea.hidden = !textarea.hidden; });
  textarea.hidden = true;
  textarea.before(box, add, toggle);
})();

// Campaign list: the running rows' sent counts follow GET /api/campaigns/running/stats; once one
// stops running, the page reloads so its status and buttons are current.
(function () {
  const table = document.querySelector("table[data-stats-url]");
  const rows = table ? [...table.querySelectorAll("tr[data-running-id]")] : [];
  if (!rows.length) return;
  const number = new Intl.NumberFormat(document.documentElement.lang || undefined);
  const url = `${table.dataset.statsUrl}?${rows.map((row) => `campaign_id=${row.dataset.runningId}`).join("&")}`;
  async function poll() {
    try {
      const response = await fetch(url, { headers: { Accept: "application/json" } });
      for (const stats of (await response.json()).data) {
        if (stats.status !== "running") { window.location.reload(); return; }
        const row = table.querySelector(`tr[data-running-id="${stats.id}"]`);
        const percent = stats.to_send ? Math.round((100 * stats.sent) / stats.to_send) : 100;
        row.querySelector("[data-sent]").textContent = number.format(stats.sent);
        row.querySelector(".progress-bar").style.width = `${percent}%`;
        row.querySelector(".progress").setAttribute("aria-valuenow", percent);
      }
    } catch (error) {
      // A missed poll is retried below; the page itself stays correct on reload.
    }
    window.setTimeout(poll, 3000);
  }
  window.setTimeout(poll, 1000);
})();

// The admin's menu in the top bar closes when a click or Escape goes elsewhere, as menus do.
document.addEventListener("click", (event) => {
  for (const menu of document.querySelectorAll("details.nav-menu[open]")) {
    if (!menu.contains(event.target)) menu.open = false;
  }
});
document.addEventListener("keydown", (event) => {
  if (event.key !== "Escape") return;
  for (const menu of document.querySelectorAll("details.nav-menu[open]")) {
    menu.open = false;
    menu.querySelector("summary").focus();
  }
});
