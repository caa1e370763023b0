// The care-plan form of the resident page: GET/PUT /api/residents/{id}/care-plan. Contacts and key-holders
// are listed in the order they are called (move them up or down). Operators see it read-only.
// window.residentPlan.show(id, editable, onSaved).
(() => {
  "use strict";
  const { $, el, api, t, toast } = window.telecareUI;
  const FLAGS = ["lives_alone", "heat_vulnerable", "cold_vulnerable", "dementia", "hearing_impaired",
                 "reduced_mobility", "recent_discharge"];
  let contacts = [];

  function field(label, input, cls = "") {
    const box = el("div", { class: "field " + cls });
    box.append(el("label", { for: input.id }, label), input);
    return box;
  }
  const input = (id, attrs, value) => { const i = el("input", { id, ...attrs }); i.value = value ?? ""; return i; };

  function select(id, options, value) {
    const s = el("select", { id });
    for (const [v, label] of options) s.append(el("option", { value: v }, label));
    s.value = String(value);
    return s;
  }

  function contactRows(box, editable) {
    box.replaceChildren();
    contacts.forEach((c, i) => {
      const row = el("div", { class: "contact", "data-contact": String(i) });
      const name = input(`contact-name-${i}`, { maxlength: "120", "aria-label": t("Name") }, c.name);
      const phone = input(`contact-phone-${i}`, { maxlength: "21", "aria-label": t("Phone") }, c.phone);
      const rel = input(`contact-relation-${i}`, { maxlength: "120", "aria-label": t("Relation") }, c.relation);
      const keyLabel = el("label", {});
      const key = el("input", { type: "checkbox", id: `contact-key-${i}` });
      key.checked = !!c.key_holder;
      keyLabel.append(key, " ", t("key-holder"));
      for (const [node, prop] of [[name, "name"], [phone, "phone"], [rel, "relation"]]) {
        node.addEventListener("input", () => { c[prop] = node.value; });
      }
      key.addEventListener("change", () => { c.key_holder = key.checked; });
      const move = (d) => { const j = i + d; [contacts[i], contacts[j]] = [contacts[j], contacts[i]]; contactRows(box, editable); };
      const up = el("button", { type: "button", class: "btn small", "aria-label": t("Call earlier") }, "↑");
      const down = el("button", { type: "button", class: "btn small", "aria-label": t("Call later") }, "↓");
      const del = el("button", { type: "button", class: "btn small ghost" }, t("Remove"));
      up.disabled = i === 0 || !editable;
      down.disabled = i === contacts.length - 1 || !editable;
      up.addEventListener("click", () => move(-1));
      down.addEventListener("click", () => move(1));
      del.addEventListener("click", () => { contacts.splice(i, 1); contactRows(box, editable); });
      row.append(name, phone, rel, keyLabel, up, down, del);
      box.append(row);
    });
  }

  function render(plan, editable) {
    const form = $("plan-form");
    form.replaceChildren();
    contacts = plan.contacts.map((c) => ({ ...c }));
    const flags = el("fieldset", { class: "full kinds" });
    flags.append(el("legend", {}, t("Risks")));
    for (const f of FLAGS) {
      const label = el("label", {});
      const box = el("input", { type: "checkbox", value: f, "data-flag": f });
      box.checked = plan.risk_flags.includes(f);
      label.append(box, " ", t(f.replace(/_/g, " ")));
      flags.append(label);
    }
    const rea = plan.reablement || {};
    form.append(
      field(t("Follow-up level"), select("plan-level", [["1", t("1 (every 15 days)")], ["2", t("2 (every 30 days)")],
                                                           ["3", t("3 (every 45 days)")]], plan.follow_up_level)),
      field(t("Language"), select("plan-language", [["ca", "Català"], ["es", "Español"], ["en", "English"]], plan.language)),
      field(t("Night starts"), input("plan-night-start", { type: "time" }, plan.night_start)),
      field(t("Night ends"), input("plan-night-end", { type: "time" }, plan.night_end)),
      field(t("Dose times (HH:MM, comma separated)"), input("plan-doses", {}, plan.dose_times.join(", "))),
      field(t("Inactivity alert after (hours)"), input("plan-inactivity", { type: "number", min: "1", max: "72", step: "0.5" },
                                                      plan.inactivity_hours)),
      field(t("Calls from"), input("plan-calling-start", { type: "time" }, plan.calling_start)),
      field(t("Calls until"), input("plan-calling-end", { type: "time" }, plan.calling_end)),
      field(t("Reablement calls per week"), input("plan-rea-calls", { type: "number", min: "1", max: "14" }, rea.calls_per_week)),
      field(t("Reablement until"), input("plan-rea-until", { type: "date" }, rea.until)),
      flags);
    const box = el("div", { class: "full", id: "plan-contacts" });
    form.append(el("h3", { class: "full" }, t("Contacts and key-holders, in the order they are called")), box);
    contactRows(box, editable);
    if (editable) {
      const add = el("button", { type: "button", class: "btn small" }, t("Add a contact"));
      add.addEventListener("click", () => { contacts.push({ name: "", phone: "", relation: "", key_holder: false });
                                            contactRows(box, editable); });
      const save = el("button", { type: "submit", class: "btn primary", id: "plan-save" }, t("Save care plan"));
      const actions = el("div", { class: "full inline-form" });
      actions.append(add, save);
      form.append(actions);
    }
    for (const node of form.querySelectorAll("input, select")) node.disabled = !editable;
  }

  function body() {
    const v = (id) => $(id).value.trim();
    const reaCalls = v("plan-rea-calls");
    return {
      follow_up_level: Number(v("plan-level")), language: v("plan-language"),
      risk_flags: [...document.querySelectorAll("[data-flag]:checked")].map((b) => b.value),
      night_start: v("plan-night-start"), night_end: v("plan-night-end"),
      dose_times: v("plan-doses") ? v("plan-doses").split(/[,\s]+/).filter(Boolean) : [],
      inactivity_hours: Number(v("plan-inactivity")),
      calling_start: v("plan-calling-start"), calling_end: v("plan-calling-end"),
      contacts: contacts.map((c) => ({ name: c.name.trim(), phone: c.phone.trim(), relation: (c.relation || "").trim(),
                                       key_holder: !!c.key_holder })),
      reablement: reaCalls ? { calls_per_week: Number(reaCalls), until: v("plan-rea-until") } : null,
    };
  }

  async function show(residentId, editable, onSaved) {
    const url = `/api/residents/${encodeURIComponent(residentId)}/care-plan`;
    render(await api("GET", url), editable);
    $("plan-readonly").hidden = editable;
    $("plan-form").onsubmit = async (e) => {
      e.preventDefault();
      try {
        const saved = await api("PUT", url, body());
        render(saved, editable);
        toast(saved.changed.length ? t("Care plan saved: {fields}", { fields: saved.changed.map((f) => t(f.replace(/_/g, " "))).join(", ") })
                                   : t("Nothing changed"));
        onSaved();
      } catch (err) {
        toast(err.message, true);
      }
    };
  }

  window.residentPlan = { show };
})();
