// Care-team pages: worklist, call log, campaigns. Vanilla JS; all data goes into the DOM as text, never HTML.
// Times come from /static/ui.js (telecareUI): the service time zone, 24-hour, on every page.
(() => {
  "use strict";
  const ui = window.telecareUI;
  const { t, term } = ui; // every word through the catalogue (dashboards/locale)
  const $ = (id) => document.getElementById(id);

  function el(tag, attrs = {}, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs)) {
      if (k === "class") node.className = v;
      else if (k.startsWith("data-")) node.setAttribute(k, v);
      else node[k] = v;
    }
    for (const c of children) node.append(c instanceof Node ? c : document.createTextNode(c ?? ""));
    return node;
  }

  function showError(message) {
    const box = $("error");
    if (!box) return;
    box.textContent = message || "";
    box.hidden = !message;
  }

  const api = (...args) => ui.api(...args); // CSRF header and sign-in redirect: ui.js

  const fmt = (iso) => ui.dateTime(iso);
  const time = (iso) => ui.time(iso);
  const when = (iso) => ui.dayTime(iso);

  // ---- worklist ---------------------------------------------------------------------------------
  function worklistPage() {
    const caller = $("caller"), team = $("team"), myPhone = $("my-phone");
    // The caller box filters calls assigned to a name; the call itself is always made as the signed-in user.
    caller.value = localStorage.getItem("care.caller") || "";
    team.value = localStorage.getItem("care.team") || "";
    myPhone.value = localStorage.getItem("care.phone") || "";
    let current = null;

    async function load() {
      localStorage.setItem("care.caller", caller.value.trim());
      localStorage.setItem("care.team", team.value.trim());
      localStorage.setItem("care.phone", myPhone.value.trim());
      const q = new URLSearchParams();
      if (caller.value.trim()) q.set("caller", caller.value.trim());
      if (team.value.trim()) q.set("team", team.value.trim());
      try {
        render(await api("GET", `/api/worklist?${q}`));
        showError("");
      } catch (err) { showError(err.message); }
    }

    function render(items) {
      const list = $("list");
      list.replaceChildren(...items.map((it) => {
        const flags = it.risk_flags.map((f) => el("span", { class: "badge warn" }, term(f)));
        const pending = it.status === "pending" && !current;
        const start = el("button", { class: "btn primary", "data-task": String(it.task_id),
                                     disabled: !it.callable_now || !pending }, t("Call"));
        start.setAttribute("aria-label", t("Call {name}", { name: it.name }));
        start.addEventListener("click", () => startCall(it, false));
        const actions = el("div", { class: "actions" }, start);
        const details = el("div", {},
          el("div", { class: "who" }, it.name, " ", ...flags),
          el("div", { class: "meta" },
            `${term(it.purpose)} · ${it.reason || ""} · ${when(it.not_before)}–${time(it.not_after)}`
            + " · " + t("attempt {n} of {max}", { n: it.attempts + 1, max: it.max_attempts })
            + (it.status === "dialing" ? " · " + t("in a call") : "")));
        if (it.waits_until && it.status === "pending") {
          // Say until when, not just a grey button: the caller can plan, or decide it cannot wait.
          details.append(el("div", { class: "waits", "data-waits-for": it.waits_for || "" },
            it.waits_for === "calling_hours" ? t("Waits for calling hours until {time}", { time: when(it.waits_until) })
                                             : t("Next try from {time}", { time: when(it.waits_until) })));
          if (it.waits_for === "calling_hours") {
            const urgent = el("button", { class: "btn danger small", "data-urgent-task": String(it.task_id),
                                          disabled: !pending }, t("Urgent: call now"));
            urgent.setAttribute("aria-label", t("Urgent call to {name} outside calling hours", { name: it.name }));
            urgent.addEventListener("click", () => startCall(it, true));
            actions.append(urgent);
          }
        }
        return el("article", { class: "card worklist-item", "data-task-id": String(it.task_id) }, details, actions);
      }));
      $("empty").hidden = items.length > 0;
      if (!items.length) explainEmpty();
    }

    // Calls are assigned to a named caller or a team: when the filter finds none, say what the service
    // has today and offer the whole list, with the assignees as suggestions for the fields.
    async function explainEmpty() {
      let all = [];
      try { all = await api("GET", "/api/worklist"); } catch (err) { return; }
      const names = [...new Set(all.map((it) => it.assigned_to).filter(Boolean))].sort();
      $("assignees").replaceChildren(...names.map((n) => el("option", { value: n })));
      const filtered = caller.value.trim() || team.value.trim();
      $("show-all").hidden = !(filtered && all.length);
      $("empty-text").textContent = !all.length ? t("No calls are due today.")
        : filtered ? t("No calls due for {who} today; {count} are due for the service.", { who: filtered, count: all.length })
        : t("No calls due today.");
    }

    $("show-all").addEventListener("click", () => { caller.value = ""; team.value = ""; load(); });

    async function startCall(item, urgent) {
      try {
        const body = { task_id: item.task_id };
        if (urgent) body.urgent = true;
        if (myPhone.value.trim()) body.caller_phone = myPhone.value.trim();
        const started = await api("POST", "/api/calls/start", body);
        current = { ...started, name: item.name };
        $("in-call-name").textContent = item.name;
        $("in-call-phone").textContent = started.phone;
        $("in-call-mode").textContent = started.click_to_call ? t("(your phone rings first, then we connect you)") : "";
        $("note").value = "";
        $("urgent").checked = false;
        $("in-call").hidden = false;
        $("note").focus();
        showError("");
        await load();
      } catch (err) { showError(err.message); await load(); }
    }

    for (const button of document.querySelectorAll("[data-outcome]")) {
      button.addEventListener("click", async () => {
        if (!current) return;
        try {
          await api("POST", `/api/calls/${current.call_id}/outcome`, {
            outcome: button.dataset.outcome, note: $("note").value, urgent: $("urgent").checked,
          });
          current = null;
          $("in-call").hidden = true;
          showError("");
          await load();
        } catch (err) { showError(err.message); }
      });
    }
    $("who").addEventListener("submit", (e) => { e.preventDefault(); load(); });
    load();
    setInterval(() => { if (!current) load(); }, 15000);
  }

  // ---- call log ---------------------------------------------------------------------------------
  function callsPage() {
    const form = $("filters");
    const params = new URLSearchParams(location.search);
    for (const [k, v] of params) { const input = form.elements.namedItem(k); if (input) input.value = v; }

    async function load() {
      const q = new URLSearchParams();
      for (const input of form.querySelectorAll("input, select")) if (input.value) q.set(input.name, input.value);
      if (params.get("campaign_id")) q.set("campaign_id", params.get("campaign_id"));
      $("csv").href = `/api/calls.csv?${q}`;
      try {
        const rows = await api("GET", `/api/calls?${q}`);
        $("rows").replaceChildren(...rows.map((c) => el("tr", { "data-call-id": String(c.id) },
          el("td", {}, fmt(c.started_at)), residentCell(c), purposeCell(c),
          el("td", {}, c.caller), el("td", {}, String(c.attempt)), el("td", {}, c.outcome ? term(c.outcome) : (c.ended_at ? "" : t("in progress"))),
          el("td", {}, c.not_done_reason || ""), el("td", {}, c.digits || ""), el("td", {}, c.note || ""))));
        showError("");
      } catch (err) { showError(err.message); }
    }
    form.addEventListener("submit", (e) => { e.preventDefault(); load(); });
    load();
  }

  // The name only reaches signed-in users (the server audits the read); everyone else sees the id.
  function residentCell(c) {
    const td = el("td", { "data-resident-id": c.resident_id }, c.resident_name || c.resident_id);
    if (c.resident_name) td.append(el("span", { class: "muted" }, ` · ${c.resident_id}`));
    return td;
  }

  // An escalation call belongs to an alert: show which one (its history opens from the operator queue).
  function purposeCell(c) {
    const td = el("td", {}, term(c.purpose));
    if (c.alert_id != null) {
      td.append(" · ", el("a", { href: `/api/alerts/${c.alert_id}/history`, "data-alert-id": String(c.alert_id) },
                         t("alert #{id}", { id: c.alert_id })));
    }
    if (c.urgent) td.append(" ", el("span", { class: "badge warn", title: t("Started outside calling hours") }, t("urgent")));
    return td;
  }

  // ---- campaigns --------------------------------------------------------------------------------
  function bar(p) {
    const total = Math.max(p.total, 1);
    return el("div", { class: "progress", title: t("{done}/{total} done", { done: p.done, total: p.total }) },
      Object.assign(el("div", { class: "answered" }), { style: `width:${100 * p.answered / total}%` }),
      Object.assign(el("div", { class: "unreached" }), { style: `width:${100 * p.unreached / total}%` }));
  }

  // Calls that cannot be made yet (outside calling hours, or a retry later): say how many and until when.
  function waitingText(p) {
    if (!p.waiting || !p.waiting_until) return "";
    return " · " + t("{count} waiting until {time}", { count: p.waiting, time: when(p.waiting_until) });
  }

  function campaignsPage() {
    async function load() {
      try {
        const list = await api("GET", "/api/campaigns");
        $("rows").replaceChildren(...list.map((c) => el("tr", {},
          el("td", {}, el("a", { href: `/care/campaigns/${c.id}` }, c.title)), el("td", {}, term(c.kind)),
          el("td", {}, term(c.status)), el("td", {}, bar(c.progress), `${c.progress.done}/${c.progress.total}`, waitingText(c.progress)),
          el("td", {}, fmt(c.created_at)))));
      } catch (err) { showError(err.message); }
    }
    async function created(promise) {
      try {
        const s = await promise;
        const why = s.note || t("this warning was already ingested");
        $("done").textContent = s.created ? t("Campaign “{title}” created with {count} calls.", { title: s.title, count: s.tasks })
                                          : t("Nothing new: {why}.", { why });
        showError("");
        await load();
        if (s.created && s.campaign_id) location.href = `/care/campaigns/${s.campaign_id}`;
      } catch (err) { showError(err.message); }
    }
    $("cap-sample").addEventListener("click", () => created(api("POST", "/api/campaigns/weather?sample=true")));
    $("cap-upload").addEventListener("click", async () => {
      const file = $("cap-file").files[0];
      if (!file) { showError(t("Choose a CAP XML file first.")); return; }
      created(api("POST", "/api/campaigns/weather", await file.text(), { "Content-Type": "application/xml" }));
    });
    $("info").addEventListener("submit", (e) => {
      e.preventDefault();
      const flags = $("i-flags").value.split(",").map((s) => s.trim()).filter(Boolean);
      created(api("POST", "/api/campaigns/information", {
        title: $("i-title").value, message: $("i-message").value,
        audience: flags.length ? { risk_flags: flags } : {} }));
    });
    load();
    setInterval(load, 5000);
  }

  function campaignPage() {
    const id = location.pathname.split("/").pop();
    $("calls-link").href = `/care/calls?campaign_id=${encodeURIComponent(id)}`;
    async function load() {
      try {
        const c = await api("GET", `/api/campaigns/${encodeURIComponent(id)}`);
        const p = c.progress, total = Math.max(p.total, 1);
        $("title").textContent = c.title;
        $("meta").textContent = `${term(c.kind)} · ${term(c.status)} · ${c.severity || ""} ${c.event || ""} · `
          + t("created {time}", { time: fmt(c.created_at) });
        for (const k of ["done", "answered", "unreached", "pending", "total"]) $(`n-${k}`).textContent = p[k];
        $("bar-answered").style.width = `${100 * p.answered / total}%`;
        $("bar-unreached").style.width = `${100 * p.unreached / total}%`;
        $("bar-other").style.width = `${100 * (p.done - p.answered - p.unreached) / total}%`;
        $("bar").setAttribute("aria-valuenow", String(Math.round(100 * p.done / total)));
        $("waiting").textContent = p.waiting && p.waiting_until
          ? (p.waiting === 1 ? t("1 call waiting for calling hours or a retry until {time}.", { time: when(p.waiting_until) })
            : t("{count} calls waiting for calling hours or a retry until {time}.", { count: p.waiting, time: when(p.waiting_until) }))
          : "";
        showError("");
      } catch (err) { showError(err.message); }
    }
    load();
    setInterval(load, 2000);
  }

  const pages = { worklist: worklistPage, calls: callsPage, campaigns: campaignsPage, campaign: campaignPage };
  document.addEventListener("DOMContentLoaded", () => {
    const page = pages[document.body.dataset.page] || (() => {});
    // Format nothing before the service zone is known; if it cannot be read, say so and show the data anyway.
    ui.ready.catch((err) => showError(t("Times cannot be shown: {reason}", { reason: err.message }))).finally(page);
  });
})();
