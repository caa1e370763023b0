// The resident page (operators, care teams of the resident's team): card, plots, timeline (newest first,
// filter by kind, "Show older" pages by cursor), record a visit in a few taps, add a note, the care plan.
(() => {
  "use strict";
  const { $, el, api, t, term, toast, ready, dateTime } = window.telecareUI;
  const residentId = decodeURIComponent(location.pathname.split("/").filter(Boolean)[1] || "");
  const base = `/api/residents/${encodeURIComponent(residentId)}`;
  let next = null;
  let asked = 0; // only the newest timeline request may draw (a filter change while a page is loading)

  const org = (o) => el("span", { class: `badge org-${o}`, "data-organisation": o },
                        o === "municipal" ? t("municipal") : t("provider"));
  // A vocabulary value (alert type, severity, purpose, outcome, risk flag) through term(); others as before.
  const words = (s) => { const plain = String(s || "").replace(/_/g, " "), v = term(s); return v !== plain ? v : t(plain); };

  function show(err) {
    $("page-error").textContent = err.message;
    $("page-error").hidden = false;
  }

  async function card() {
    const c = await api("GET", base);
    document.title = `${c.name} · Telecare`;
    $("rp-name").textContent = c.name;
    $("rp-id").textContent = c.id;
    $("rp-age").textContent = c.age == null ? t("unknown") : String(c.age);
    $("rp-address").textContent = c.address || "—";
    $("rp-phones").replaceChildren(...(c.phones.length ? c.phones.map((p) => el("a", { href: `tel:${p}` }, p))
                                                       : [document.createTextNode("—")]));
    $("rp-contacts").textContent = c.contacts.map((x) => `${x.priority}. ${x.name} (${x.relation || "—"})`
      + (x.key_holder ? ` · ${t("key-holder")}` : "")).join("; ") || "—";
    $("rp-flags").replaceChildren(...c.risk_flags.map((f) => el("span", { class: "badge warn" }, words(f))));
  }

  function describe(i) {
    const detail = el("div", { class: "detail" });
    let what;
    if (i.kind === "alert") {
      what = t("Alert: {type} ({severity}), {status}", { type: words(i.type), severity: words(i.severity), status: words(i.status) });
      const steps = el("ul");
      for (const h of i.history) steps.append(el("li", {}, `${dateTime(h.at)} · ${words(h.kind)} · ${h.actor}: ${h.text}`));
      if (i.outcome) detail.append(t("Outcome: {outcome}", { outcome: words(i.outcome) }) + (i.note ? ` · ${i.note}` : ""));
      detail.append(steps);
    } else if (i.kind === "call") {
      what = t("Call ({purpose}) by {caller}: {outcome}", { purpose: words(i.purpose), caller: i.caller,
                                                            outcome: i.outcome ? words(i.outcome) : t("in progress") });
      if (i.note) detail.append(i.note);
    } else if (i.kind === "visit") {
      what = t("Visit ({purpose}) by {visitor}: {outcome}", { purpose: words(i.purpose), visitor: i.visitor, outcome: words(i.outcome) });
      detail.append(org(i.organisation), " ", t("recorded by {who}", { who: i.recorded_by }), i.note ? ` · ${i.note}` : "");
    } else if (i.kind === "note") {
      what = t("Note by {author}", { author: i.author });
      detail.append(org(i.organisation), " ", i.text);
    } else if (i.kind === "care_plan") {
      what = t("Care plan changed by {who}", { who: i.changed_by });
      const list = el("ul");
      for (const c of i.changes) list.append(el("li", {}, t("{field}: {before} → {after}", {
        field: words(c.field), before: JSON.stringify(c.before), after: JSON.stringify(c.after) })));
      detail.append(org(i.organisation), list);
    } else {
      what = t("Sensor activity on {day}: {total} events", { day: i.day, total: i.total });
      detail.append(Object.entries(i.counts).map(([k, n]) => `${words(k)} ${n}`).join(" · "));
    }
    const li = el("li", { "data-kind": i.kind, "data-id": String(i.id) });
    li.append(el("time", { datetime: i.at }, dateTime(i.at)), el("span", { class: "what" }, what), detail);
    return li;
  }

  async function timeline(more = false) {
    const mine = ++asked;
    const kinds = [...document.querySelectorAll("#kinds input:checked")].map((b) => b.value);
    const list = $("timeline");
    const params = new URLSearchParams(kinds.map((k) => ["kinds", k]));
    if (more && next) params.set("before", next);
    const page = kinds.length ? await api("GET", `${base}/timeline?${params}`) : { items: [], next_before: null };
    if (mine !== asked) return;
    if (!more) list.replaceChildren();
    list.append(...page.items.map(describe));
    if (!list.children.length) list.append(el("li", { class: "muted" }, t("Nothing recorded yet.")));
    next = page.next_before;
    $("older").hidden = !next;
  }

  function localInput(date) {
    const d = new Date(date.getTime() - date.getTimezoneOffset() * 60000);
    return d.toISOString().slice(0, 16);
  }

  async function addVisit(outcome) {
    try {
      const at = new Date($("visit-at").value);
      if (Number.isNaN(at.getTime())) throw new Error(t("Say when the visit happened"));
      await api("POST", `${base}/visits`, { at: at.toISOString(), visitor: $("visit-visitor").value.trim(),
                                            purpose: $("visit-purpose").value, outcome, note: $("visit-note").value });
      $("visit-note").value = "";
      toast(t("Visit recorded"));
      await timeline();
    } catch (err) { toast(err.message, true); }
  }

  async function addNote(e) {
    e.preventDefault();
    try {
      await api("POST", `${base}/notes`, { text: $("note-text").value });
      $("note-text").value = "";
      toast(t("Note added"));
      await timeline();
    } catch (err) { toast(err.message, true); }
  }

  document.addEventListener("DOMContentLoaded", async () => {
    for (const b of document.querySelectorAll("[data-outcome]")) b.addEventListener("click", () => addVisit(b.dataset.outcome));
    $("note-form").addEventListener("submit", addNote);
    $("kinds").addEventListener("change", () => timeline().catch(show));
    $("older").addEventListener("click", () => timeline(true).catch(show));
    $("range").addEventListener("change", () => window.residentCharts.draw(residentId, Number($("range").value)).catch(show));
    $("visit-at").value = localInput(new Date());
    try {
      const [me] = await Promise.all([window.telecare.session, ready]);
      const roles = (me && me.roles) || [];
      const care = roles.includes("care_team") || roles.includes("coordinator");
      $("visit-card").hidden = !care;
      $("visit-visitor").value = (me && (me.display_name || me.name)) || "";
      await Promise.all([card(), timeline(), window.residentCharts.draw(residentId, Number($("range").value)),
                         window.residentPlan.show(residentId, care, () => timeline())]);
      document.body.dataset.loaded = "true";
    } catch (err) { show(err); }
  });
})();
