// The automation builder: the draft as cards top to bottom (branches side by side), + between cards, a side panel
// per step; the whole draft is posted back on save.
(() => {
  const root = document.getElementById("builder");
  if (!root) return;
  const data = JSON.parse(document.getElementById("flow").dataset.builder);
  const L = JSON.parse(document.getElementById("flow").dataset.labels);
  const editable = root.dataset.editable === "true";
  const flow = document.getElementById("flow");
  const panel = document.getElementById("side-panel");
  const stateBox = document.getElementById("save-state");
  let draft = data.draft && typeof data.draft === "object" ? data.draft : {};
  draft.steps = draft.steps || {};
  let messages = data.messages || {};
  const asCard = (step) => (["entry", "exit", "quiet_hours"].includes(step) ? "trigger" : step || null);
  let selected = asCard(root.dataset.errorStep);
  let errorStep = asCard(root.dataset.errorStep);
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
  const fill = (text, values) => text.replace(/%\((\w+)\)s/g, (_m, k) => String(values[k] ?? ""));
  // Edited while active: activating the draft would start a new version (the page hides the button until then).
  const edited = () => {
    dirty = true; stateBox.textContent = L.unsaved;
    const activate = document.querySelector(".status-form[data-action=activate]");
    if (activate) activate.hidden = false;
  };
  const markDirty = () => { edited(); render(); };

  // A card's detail under its kind (the kind is the card's title): 30日, the subject, the condition; none for a goal.
  const duration = (step) => ["days", "hours", "minutes"].filter((k) => step[k]).map((k) => fill(L.durations[k], { n: step[k] })).join(" ");
  function summary(step) {
    if (step.type === "wait") {
      const mode = step.mode || "duration";
      if (mode === "duration") return duration(step);
      return `${L.modes[mode]} — N=${step.days ?? step.offset_days ?? ""} ${step.at || "09:00"}`;
    }
    if (step.type === "wait_event") return `${step.event}${step.property ? ` (${step.property.key}=${step.property.value})` : ""} · ${duration(step) || fill(L.durations.days, { n: 0 })}`;
    if (step.type === "condition") return step.expression || JSON.stringify(step.rule || {});
    if (step.type === "send") { const m = messages[String(step.campaign_id)]; return m ? m.subject : L.no_mail; }
    if (step.type === "split") return (step.branches || []).map((b) => b.percent + "%").join(" / ");
    return "";
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
    el("span", { class: "step-title" }, title), body ? el("span", { class: "step-summary" }, body) : null);
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

  function triggerSummary(t) {
    const C = data.choices || {};
    const named = (items, id) => ((items || []).find((i) => i.id === id) || {}).name || (id ? `#${id}` : "?");
    let detail = "";
    if (t.kind === "event") {
      const p = t.property;
      detail = p ? fill(L.event_where, { event: t.event || "?", match: fill(L.matches[p.op] || L.matches.eq, p) }) : t.event || "?";
    }
    else if (t.kind === "subscribed") detail = named(C.lists, t.list_id);
    else if (t.kind === "segment") detail = named(C.segments, t.segment_id);
    else if (t.kind === "campaign") detail = `${named(C.campaigns, t.campaign_id)} · ${L.actions[t.action] || ""}`;
    else if (t.kind === "date") detail = `${t.attribute || "?"} ${t.at || "09:00"}`;
    return `${L.triggers[t.kind] || "?"}${detail ? `: ${detail}` : ""}`;
  }

  function render() {
    const trigger = draft.trigger || {};
    flow.replaceChildren(card("trigger", L.trigger, triggerSummary(trigger)),
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

  const C = data.choices || { lists: [], segments: [], campaigns: [] };
  const options = (items, label) => Object.fromEntries([["", items.length ? L.f.choose : L.f.none_yet],
    ...items.map((i) => [String(i.id), label ? label(i) : i.name])]);
  const check = (label, name, on) => {
    const box = el("input", { type: "checkbox", id: `f-${name}`, name, value: "on" });
    box.checked = Boolean(on);
    return el("div", { class: "field checkbox" }, box, " ", el("label", { for: `f-${name}` }, label));
  };
  const fieldset = (legend, ...children) => el("fieldset", { class: "panel-group" }, el("legend", {}, legend), ...children);

  // The trigger card's panel: what starts the automation (fields per kind), who may start again, leaving early,
  // quiet hours.
  function triggerFields(form) {
    const t = draft.trigger || { kind: "manual" };
    const p = t.property || {};
    const entry = draft.entry || { mode: "once" };
    const exit = { on_unsubscribe: true, events: [], ...(draft.exit || {}) };
    const quiet = draft.quiet_hours === undefined ? { start: "21:00", end: "08:00", carriers_only: true } : draft.quiet_hours;
    const kinds = el("div", { "data-kinds": "" });
    const byKind = {
      event: [field(L.f.event, "t_event", t.event, { placeholder: "purchase" }),
        el("div", { class: "field-row" }, field(L.f.prop_key, "t_prop_key", p.key, { placeholder: "category" }),
          choice(L.f.prop_op, "t_prop_op", L.ops, p.op || "eq"), field(L.f.prop_value, "t_prop_value", p.value, { placeholder: "printer" })),
        el("p", { class: "muted hint" }, L.f.prop_hint)],
      subscribed: [choice(L.f.list, "t_list_id", options(C.lists), t.list_id ?? "")],
      date: [field(L.f.attribute, "t_attribute", t.attribute, { placeholder: "birthday" }), check(L.f.yearly, "t_yearly", t.yearly),
        field(L.f.trig_offset, "t_offset_days", t.offset_days ?? 0, { type: "number", min: "-365", max: "365" }),
        field(L.f.trig_at, "t_at", t.at || "09:00", { placeholder: "09:00", pattern: "\\d\\d:\\d\\d", inputmode: "numeric" })],
      segment: [choice(L.f.segment, "t_segment_id", options(C.segments), t.segment_id ?? "")],
      campaign: [choice(L.f.campaign, "t_campaign_id", options(C.campaigns, (c) => c.automation ? `${c.name} (${L.f.automation_mail})` : c.name), t.campaign_id ?? ""),
        choice(L.f.action, "t_action", L.actions, t.action || "opened"),
        field(L.f.within_days, "t_within_days", t.within_days ?? 3, { type: "number", min: "1", max: "365" })],
      manual: [el("p", { class: "muted hint" }, L.f.manual_hint)],
    };
    for (const [kind, nodes] of Object.entries(byKind)) kinds.append(el("div", { "data-kind": kind }, ...nodes));
    form.append(choice(L.f.kind, "t_kind", L.triggers, t.kind || "manual"), kinds);
    form.append(fieldset(L.f.entry, choice(L.f.entry_mode, "entry_mode", L.entries, entry.mode || "once"),
      field(L.f.entry_days, "entry_days", entry.days, { type: "number", min: "1" }),
      field(L.f.dedupe, "entry_dedupe", entry.dedupe_property, { placeholder: "order_id" })));
    form.append(fieldset(L.f.exit, check(L.f.on_unsubscribe, "exit_unsubscribe", exit.on_unsubscribe),
      field(L.f.exit_events, "exit_events", (exit.events || []).map((e) => e.event).join(", "), { placeholder: "refund" })));
    form.append(fieldset(L.f.quiet, check(L.f.quiet_on, "quiet_on", quiet),
      el("div", { class: "field-row" }, field(L.f.quiet_start, "quiet_start", (quiet || {}).start || "21:00", { placeholder: "21:00", pattern: "\\d\\d:\\d\\d", inputmode: "numeric" }),
        field(L.f.quiet_end, "quiet_end", (quiet || {}).end || "08:00", { placeholder: "08:00", pattern: "\\d\\d:\\d\\d", inputmode: "numeric" })),
      check(L.f.carriers_only, "quiet_carriers", quiet ? quiet.carriers_only !== false : true)));
    const show = () => {
      const kind = form.querySelector("[name=t_kind]").value;
      for (const box of kinds.children) box.hidden = box.dataset.kind !== kind;
      const mode = form.querySelector("[name=entry_mode]").value;
      form.querySelector("[name=entry_days]").closest(".field").hidden = mode !== "again_after";
      form.querySelector("[name=entry_dedupe]").closest(".field").hidden = mode !== "every_time";
      form.querySelector("[name=exit_unsubscribe]").closest(".field").hidden = kind !== "subscribed";
      const on = form.querySelector("[name=quiet_on]").checked;
      for (const name of ["quiet_start", "quiet_end", "quiet_carriers"]) form.querySelector(`[name=${name}]`).disabled = !on || !editable;
    };
    form.addEventListener("change", show);
    queueMicrotask(show);
  }

  function applyTrigger(get, values) {
    const kind = get("t_kind");
    const t = { kind };
    const id = (k) => num(get(k));
    if (kind === "event") {
      t.event = get("t_event");
      if (get("t_prop_key")) {
        const op = get("t_prop_op");
        const raw = get("t_prop_value");
        const numeric = ["gt", "gte", "lt", "lte"].includes(op) && raw !== "" && !Number.isNaN(Number(raw));
        t.property = { key: get("t_prop_key"), op, value: numeric ? Number(raw) : raw };
      }
    } else if (kind === "subscribed") t.list_id = id("t_list_id");
    else if (kind === "segment") t.segment_id = id("t_segment_id");
    else if (kind === "date") {
      Object.assign(t, { attribute: get("t_attribute"), offset_days: num(get("t_offset_days")) || 0, at: get("t_at") || "09:00" });
      if (values.get("t_yearly")) t.yearly = true;
    } else if (kind === "campaign") {
      Object.assign(t, { campaign_id: id("t_campaign_id"), action: get("t_action") });
      if (t.action === "not_opened") t.within_days = num(get("t_within_days"));
    }
    draft.trigger = t;
    const mode = get("entry_mode");
    draft.entry = { mode };
    if (mode === "again_after") draft.entry.days = num(get("entry_days"));
    if (mode === "every_time" && get("entry_dedupe")) draft.entry.dedupe_property = get("entry_dedupe");
    const before = Object.fromEntries(((draft.exit || {}).events || []).map((e) => [e.event, e]));  // keeps a property set by the API
    draft.exit = { on_unsubscribe: Boolean(values.get("exit_unsubscribe")),
      events: get("exit_events").split(/[,、\s]+/).filter(Boolean).map((event) => before[event] || { event }) };
    draft.quiet_hours = values.get("quiet_on")
      ? { start: get("quiet_start") || "21:00", end: get("quiet_end") || "08:00", carriers_only: Boolean(values.get("quiet_carriers")) }
      : null;
  }

  function renderPanel() {
    if (!selected || (selected !== "trigger" && !draft.steps[selected])) { panel.hidden = true; return; }
    panel.hidden = false;
    const form = el("form", { class: "panel-form", novalidate: "" });
    const head = el("div", { class: "panel-head" }, el("h2", {}, selected === "trigger" ? L.trigger : L.types[draft.steps[selected].type]),
      el("button", { type: "button", class: "link", onclick: () => { selected = null; render(); } }, L.close));
    if (selected === "trigger") {
      triggerFields(form);
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
        // The step's sending window: outside it a run waits at this step until it opens (the campaigns' window too).
        form.append(fieldset(L.f.window, el("div", { class: "field-row" },
          field(L.f.window_start, "window_start", (s.window || {}).start, { placeholder: "09:00", pattern: "\\d\\d:\\d\\d", inputmode: "numeric" }),
          field(L.f.window_end, "window_end", (s.window || {}).end, { placeholder: "20:00", pattern: "\\d\\d:\\d\\d", inputmode: "numeric" })),
          el("p", { class: "muted hint" }, L.f.window_hint)));
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
      applyTrigger(get, values);
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
    } else if (s.type === "send") {
      if (get("window_start") || get("window_end")) s.window = { start: get("window_start"), end: get("window_end") };
      else delete s.window;
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
      body: JSON.stringify({ name: nameInput ? nameInput.value : data.name, draft }) });
    const answer = await response.json();
    stateBox.textContent = answer.message;
    stateBox.classList.toggle("error", !response.ok);
    if (response.ok) {
      draft = answer.draft; messages = answer.messages; dirty = false; errorStep = null;
      if (nameInput) { data.name = nameInput.value.trim(); document.querySelector("h1").textContent = data.name; }
    }
    else { errorStep = asCard(answer.step); selected = errorStep || selected; }
    render();
    return response.ok;
  }

  const nameInput = document.getElementById("automation-name");
  if (nameInput) nameInput.addEventListener("input", () => { dirty = true; stateBox.textContent = L.unsaved; });
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
