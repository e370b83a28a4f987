// The automation builder: the draft as cards top to bottom (branches side by side), + between cards, a side panel
// per step; the whole draft is posted back on save.
(() => {
  const root = document.getElementById("builder");
  if (!root) return;
  const data = JSON.parse(document.getElementById("builder-data").textContent);
  const L = JSON.parse(document.getElementById("builder-labels").textContent);
  const editable = root.dataset.editable === "true";
  const flow = document.getElementById("flow");
  const panel = document.getElementById("side-panel");
  const stateBox = document.getElementById("save-state");
  let draft = data.draft && typeof data.draft === "object" ? data.draft : {};
  draft.steps = draft.steps || {};
  let messages = data.messages || {};
  let selected = root.dataset.errorStep || null;
  let errorStep = root.dataset.errorStep || null;
  let dirty = false;
  const WAYS = { wait: ["next"], wait_event: ["next", "timeout"], condition: ["yes", "no"], send: ["next"],
    update: ["next"], notify: ["next"], goal: [], exit: [] };
  const WAY_LABELS = { yes: L.yes, no: L.no, next: L.event, timeout: L.timeout };

  const el = (tag, attrs = {}, ...children) => {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs)) {
      if (k === "class") node.className = v; else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
      else node.setAttribute(k, v);
    }
    for (const c of children) if (c !== null && c !== undefined) node.append(c);
    return node;
  };
  const ways = (step) => step.type === "split" ? (step.branches || []).map((_b, i) => i) : (WAYS[step.type] || []);
  const target = (step, way) => step.type === "split" ? (step.branches[way] || {}).next : step[way];
  const setTarget = (step, way, key) => {
    if (step.type === "split") step.branches[way].next = key; else step[way] = key;
  };
  const markDirty = () => { dirty = true; stateBox.textContent = L.unsaved; render(); };

  function summary(step) {
    const t = L.types[step.type] || step.type;
    if (step.type === "wait") {
      const mode = step.mode || "duration";
      if (mode === "duration") return `${t}: ${[step.days && `${step.days}${L.f.days}`, step.hours && `${step.hours}${L.f.hours}`, step.minutes && `${step.minutes}${L.f.minutes}`].filter(Boolean).join(" ")}`;
      return `${L.modes[mode]} — N=${step.days ?? step.offset_days ?? ""} ${step.at || "09:00"}`;
    }
    if (step.type === "wait_event") return `${t}: ${step.event}${step.property ? ` (${step.property.key}=${step.property.value})` : ""} · ${step.days || 0}${L.f.days} ${step.hours ? step.hours + L.f.hours : ""}`;
    if (step.type === "condition") return `${t}: ${step.expression || JSON.stringify(step.rule || {})}`;
    if (step.type === "send") { const m = messages[String(step.campaign_id)]; return `${t}: ${m ? m.subject : L.no_mail}`; }
    if (step.type === "split") return `${t}: ${(step.branches || []).map((b) => b.percent + "%").join(" / ")}`;
    return t;
  }

  function counts(key) {
    const c = (data.counts || {})[key];
    if (!c) return null;
    return el("dl", { class: "counts" }, ...["entered", "waiting", "sent", "converted"].flatMap((k) =>
      [el("dt", {}, L[k]), el("dd", { "data-count": k }, String(c[k]))]));
  }

  function plus(from, way) {
    if (!editable) return el("div", { class: "connector" });
    return el("div", { class: "connector" }, el("button", { type: "button", class: "add-step", title: L.add, "aria-label": L.add,
      onclick: (e) => chooseType(e.currentTarget, from, way) }, "+"));
  }

  function chooseType(button, from, way) {
    const select = el("select", { class: "new-step-type", "aria-label": L.choose_type },
      el("option", { value: "" }, L.choose_type), ...Object.entries(L.types).map(([k, v]) => el("option", { value: k }, v)));
    select.addEventListener("change", () => select.value && insert(from, way, select.value));
    button.replaceWith(select);
    select.focus();
  }

  async function insert(from, way, type) {
    let n = 1;
    while (draft.steps[`${type}${n}`]) n += 1;
    const key = `${type}${n}`;
    const after = from === null ? draft.start : target(draft.steps[from], way);
    const step = { type };
    if (type === "wait") Object.assign(step, { mode: "duration", days: 1 });
    if (type === "wait_event") Object.assign(step, { event: "purchase", days: 7, timeout: null });
    if (type === "condition") Object.assign(step, { expression: "engaged(within_days=30)", no: null });
    if (type === "split") step.branches = [{ percent: 50, next: null }, { percent: 50, next: null }];
    if (type === "notify") Object.assign(step, { to: "", subject: "" });
    if (type === "update") step.attributes = {};
    if (type === "send") {
      const response = await fetch(root.dataset.messageUrl, { method: "POST", headers: { "X-CSRFToken": root.dataset.csrf } });
      const answer = await response.json();
      step.campaign_id = answer.id;
      messages[String(answer.id)] = answer.message;
    }
    const first = ways({ ...step, branches: step.branches })[0];
    if (first !== undefined && after) setTarget(step, first, after);
    draft.steps[key] = step;
    if (from === null) draft.start = key; else setTarget(draft.steps[from], way, key);
    selected = key;
    markDirty();
  }

  function card(key, title, body, extra) {
    const node = el("button", { type: "button", class: `step-card${key === selected ? " selected" : ""}${key === errorStep ? " has-error" : ""}`,
      "data-step": key, onclick: () => { selected = key; render(); } },
    el("span", { class: "step-title" }, title), el("span", { class: "step-summary" }, body));
    const wrap = el("div", { class: "step" }, node);
    if (extra) wrap.append(extra);
    return wrap;
  }

  function branch(key, seen) {
    const column = el("div", { class: "branch-flow" });
    let current = key;
    while (current && draft.steps[current]) {
      if (seen.has(current)) { column.append(el("p", { class: "goes-to" }, L.goes_to.replace("%(step)s", current))); return column; }
      seen.add(current);
      const step = draft.steps[current];
      column.append(card(current, L.types[step.type] || step.type, summary(step), counts(current)));
      const w = ways(step);
      if (w.length === 1) { column.append(plus(current, w[0])); current = step[w[0]]; continue; }
      if (w.length === 0) return column;
      const columns = el("div", { class: "branches" });
      for (const way of w) {
        const label = step.type === "split" ? `${L.branch} ${way + 1} (${step.branches[way].percent}%)` : WAY_LABELS[way];
        columns.append(el("div", { class: "branch" }, el("p", { class: "way-label" }, label), plus(current, way),
          branch(target(step, way), seen)));
      }
      column.append(columns);
      return column;
    }
    column.append(el("p", { class: "end muted" }, L.end));
    return column;
  }

  function render() {
    const trigger = draft.trigger || {};
    flow.replaceChildren(card("trigger", L.trigger, `${L.triggers[trigger.kind] || "?"}${trigger.event ? `: ${trigger.event}` : ""}${trigger.property ? ` (${trigger.property.key}=${trigger.property.value})` : ""}`),
      plus(null, null), branch(draft.start, new Set()));
    renderPanel();
  }

  function field(label, name, value, attrs = {}) {
    const id = `f-${name}`;
    return el("div", { class: "field" }, el("label", { for: id }, label),
      el("input", { id, name, value: value ?? "", ...attrs }));
  }
  function choice(label, name, options, value) {
    const id = `f-${name}`;
    return el("div", { class: "field" }, el("label", { for: id }, label),
      el("select", { id, name }, ...Object.entries(options).map(([k, v]) => {
        const o = el("option", { value: k }, v); if (k === String(value)) o.selected = true; return o; })));
  }
  const num = (v) => (v === "" || v === null || v === undefined ? undefined : Number(v));

  function renderPanel() {
    if (!selected || (selected !== "trigger" && !draft.steps[selected])) { panel.hidden = true; return; }
    panel.hidden = false;
    const form = el("form", { class: "panel-form", novalidate: "" });
    const head = el("div", { class: "panel-head" }, el("h2", {}, selected === "trigger" ? L.trigger : L.types[draft.steps[selected].type]),
      el("button", { type: "button", class: "link", onclick: () => { selected = null; render(); } }, L.close));
    if (selected === "trigger") {
      form.append(el("div", { class: "field" }, el("label", { for: "f-json" }, L.f.json),
        el("textarea", { id: "f-json", name: "json", rows: "10" }, JSON.stringify({ trigger: draft.trigger || {}, entry: draft.entry, exit: draft.exit }, null, 2))));
    } else {
      const s = draft.steps[selected];
      form.append(el("p", { class: "muted" }, `${L.f.key}: ${selected}`));
      if (s.type === "wait") {
        form.append(choice(L.f.mode, "mode", L.modes, s.mode || "duration"), field(L.f.days, "days", s.days, { type: "number", min: "0" }),
          field(L.f.hours, "hours", s.hours, { type: "number", min: "0" }), field(L.f.at, "at", s.at, { placeholder: "09:00" }),
          field(L.f.weekday, "weekday", s.weekday, { type: "number", min: "0", max: "6" }), field(L.f.attribute, "attribute", s.attribute),
          field(L.f.offset_days, "offset_days", s.offset_days, { type: "number" }));
      } else if (s.type === "wait_event") {
        form.append(field(L.f.event, "event", s.event), field(L.f.prop_key, "prop_key", s.property && s.property.key),
          field(L.f.prop_value, "prop_value", s.property && s.property.value), field(L.f.days, "days", s.days, { type: "number", min: "0" }),
          field(L.f.hours, "hours", s.hours, { type: "number", min: "0" }));
      } else if (s.type === "condition") {
        form.append(field(L.f.expression, "expression", s.expression || ""), el("p", { class: "muted hint" }, L.f.expression_hint));
      } else if (s.type === "split") {
        form.append(field(L.f.percents, "percents", (s.branches || []).map((b) => b.percent).join(",")));
      } else if (s.type === "send") {
        const m = messages[String(s.campaign_id)];
        form.append(el("p", {}, `${L.subject}: ${m ? m.subject : L.no_mail}`));
        if (m) form.append(el("p", {}, el("a", { class: "button", href: m.edit, id: "edit-mail" }, L.edit_mail)));
      } else if (s.type === "update") {
        form.append(el("div", { class: "field" }, el("label", { for: "f-attributes" }, L.f.attributes),
          el("textarea", { id: "f-attributes", name: "attributes", rows: "4" }, JSON.stringify(s.attributes || {}))));
      } else if (s.type === "notify") {
        form.append(field(L.f.to, "to", s.to, { type: "email" }), field(L.subject, "subject", s.subject));
      }
    }
    if (editable) {
      form.append(el("div", { class: "actions-row" }, el("button", { type: "submit", class: "primary", id: "apply-step" }, L.apply),
        selected !== "trigger" ? el("button", { type: "button", class: "danger", onclick: removeStep }, L.remove) : null));
      form.addEventListener("submit", (e) => { e.preventDefault(); apply(new FormData(form)); });
    } else {
      for (const input of form.querySelectorAll("input, select, textarea")) input.disabled = true;
    }
    panel.replaceChildren(head, form);
    const mode = form.querySelector("select[name=mode]");
    if (mode) {  // a wait shows only the fields of its mode
      const FIELDS = { duration: ["days", "hours", "at"], since_entry: ["days", "at"], since_last_mail: ["days", "at"],
        weekday: ["weekday", "at"], attribute: ["attribute", "offset_days", "at"] };
      const show = () => { for (const name of ["days", "hours", "at", "weekday", "attribute", "offset_days"]) {
        form.querySelector(`[name=${name}]`).closest(".field").hidden = !FIELDS[mode.value].includes(name); } };
      mode.addEventListener("change", show);
      show();
    }
  }

  function apply(values) {
    const get = (k) => { const v = values.get(k); return v === null ? undefined : String(v).trim(); };
    if (selected === "trigger") {
      try { Object.assign(draft, JSON.parse(get("json"))); } catch (error) { stateBox.textContent = error.message; return; }
      markDirty();
      return;
    }
    const s = draft.steps[selected];
    const set = (k, v) => { if (v === undefined || v === "" || Number.isNaN(v)) delete s[k]; else s[k] = v; };
    if (s.type === "wait") {
      s.mode = get("mode");
      for (const k of ["days", "hours", "weekday", "offset_days"]) set(k, num(get(k)));
      set("at", get("at")); set("attribute", get("attribute"));
    } else if (s.type === "wait_event") {
      s.event = get("event");
      set("days", num(get("days"))); set("hours", num(get("hours")));
      if (get("prop_key")) s.property = { key: get("prop_key"), op: "eq", value: get("prop_value") }; else delete s.property;
    } else if (s.type === "condition") {
      s.expression = get("expression");
    } else if (s.type === "split") {
      const percents = get("percents").split(",").map((p) => Number(p.trim()));
      s.branches = percents.map((percent, i) => ({ percent, next: (s.branches[i] || {}).next ?? null }));
    } else if (s.type === "update") {
      try { s.attributes = JSON.parse(get("attributes") || "{}"); } catch (error) { stateBox.textContent = error.message; return; }
    } else if (s.type === "notify") {
      s.to = get("to"); s.subject = get("subject");
    }
    markDirty();
  }

  function removeStep() {
    const s = draft.steps[selected];
    const w = ways(s);
    const after = w.length ? target(s, w[0]) ?? null : null;
    for (const other of Object.values(draft.steps)) for (const way of ways(other)) if (target(other, way) === selected) setTarget(other, way, after);
    if (draft.start === selected) draft.start = after;
    delete draft.steps[selected];
    selected = null;
    markDirty();
  }

  async function save() {
    stateBox.textContent = L.saving;
    const response = await fetch(root.dataset.saveUrl, { method: "POST",
      headers: { "Content-Type": "application/json", "X-CSRFToken": root.dataset.csrf },
      body: JSON.stringify({ name: data.name, draft }) });
    const answer = await response.json();
    stateBox.textContent = answer.message;
    stateBox.classList.toggle("error", !response.ok);
    if (response.ok) { draft = answer.draft; messages = answer.messages; dirty = false; errorStep = null; }
    else { errorStep = answer.step; selected = answer.step || selected; }
    render();
    return response.ok;
  }

  const saveButton = document.getElementById("save-draft");
  if (saveButton) saveButton.addEventListener("click", save);
  for (const form of document.querySelectorAll(".status-form")) {
    form.addEventListener("submit", async (e) => {
      if (!dirty) return;
      e.preventDefault();
      if (await save()) form.submit();
    });
  }
  window.addEventListener("beforeunload", (e) => { if (dirty) e.preventDefault(); });
  render();
})();
