// Operator queue: live alerts over SSE (each with its escalation), waiting clocks, filters and the resolved views,
// acknowledge/resolve, an alert's history and notes, the audited resident card.
(() => {
  "use strict";
  const SEVERITY_RANK = { critical: 0, high: 1, medium: 2, technical: 3 };
  const AMBER_AFTER = 45; // seconds; the answer target is 60 s
  const RED_AFTER = 60;
  const { $, el, cell, emptyRow, toast, api, dayTime, t, N_, term, reason, ready } = window.telecareUI;
  // The alert types the filter offers (labels: telecareUI.term, in the page's language).
  const ALERT_TYPES = ["help_button", "fall", "bed_exit_no_return", "medication_missed", "inactivity",
                       "device_offline", "low_battery", "welfare_check", "installation_test"];
  const OUTCOMES = [
    ["resolved_by_phone", N_("Resolved by phone")], ["contact_attended", N_("Contact / key-holder attended")],
    ["mobile_unit_sent", N_("Mobile unit sent")], ["emergency_services", N_("Emergency services")],
    ["false_alarm", N_("False alarm")], ["technical_fixed", N_("Technical issue fixed")], ["other", N_("Other")],
  ];
  const alerts = new Map(); // id -> {a: alert view, base: waiting seconds when received, at: performance.now()}
  let source = null;
  let audio = null;
  let resolving = null;
  let historyOf = null; // the alert whose history dialog is open
  let resolvedRows = null; // the resolved view's rows (null while the live queue is shown)

  const label = (type) => term(type);

  // ---- waiting clocks -------------------------------------------------------------------------
  function waiting(entry) {
    const extra = entry.a.status === "open" ? (performance.now() - entry.at) / 1000 : 0;
    return Math.max(0, entry.base + extra);
  }

  function formatWait(seconds) {
    const s = Math.floor(seconds);
    const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), r = s % 60;
    const mmss = `${String(m).padStart(h ? 2 : 1, "0")}:${String(r).padStart(2, "0")}`;
    return h ? `${h}:${mmss}` : mmss;
  }

  function paintClock(node, entry) {
    const secs = waiting(entry);
    node.textContent = formatWait(secs);
    // The answer target is for alarms; a technical alert only shows its age.
    const timed = entry.a.status === "open" && entry.a.answer_target !== false;
    node.classList.toggle("wait-amber", timed && secs >= AMBER_AFTER && secs < RED_AFTER);
    node.classList.toggle("wait-red", timed && secs >= RED_AFTER);
  }

  function tick() {
    for (const node of document.querySelectorAll("#queue-body [data-wait]")) {
      const entry = alerts.get(Number(node.dataset.wait));
      if (entry) paintClock(node, entry);
    }
  }

  // ---- the queue --------------------------------------------------------------------------------
  // The server's queue order: alarms before technical, nobody reached first, untouched above taken, severity, age.
  function key(a) {
    return [a.severity === "technical" ? 1 : 0, a.nobody_reached ? 0 : 1, a.status === "open" ? 0 : 1,
            SEVERITY_RANK[a.severity], Date.parse(a.raised_at), a.id];
  }

  function compare(x, y) {
    const kx = key(x.a), ky = key(y.a);
    for (let i = 0; i < kx.length; i++) if (kx[i] !== ky[i]) return kx[i] - ky[i];
    return 0;
  }

  function filters() {
    return { severity: $("filter-severity").value, type: $("filter-type").value,
             q: $("filter-search").value.trim().toLowerCase(), view: $("filter-view").value };
  }

  function matches(a, f) {
    if (f.severity && a.severity !== f.severity) return false;
    if (f.type && a.type !== f.type) return false;
    if (f.q && !`${a.resident_name || ""} ${a.resident_id}`.toLowerCase().includes(f.q)) return false;
    return true;
  }

  function ordered() {
    const f = filters();
    return [...alerts.values()].filter((e) => matches(e.a, f)).sort(compare);
  }

  function escalationBadge(a) {
    const esc = a.escalation;
    if (a.nobody_reached) {
      return el("span", { class: "badge nobody", "data-escalation": "nobody",
                          title: t("Every key-holder was tried and nobody accepted: send the mobile unit or call 112") },
                esc && esc.round > 1 ? t("Nobody reached · round {round}", { round: esc.round }) : t("Nobody reached"));
    }
    if (!esc || a.status !== "open") return null;
    if (esc.state === "accepted") {
      return el("span", { class: "badge escalated", "data-escalation": "accepted", title: t("A key-holder accepted and is on the way") }, t("Key-holder going"));
    }
    if (esc.tier >= 3) {
      return el("span", { class: "badge escalated", "data-escalation": "key_holders", title: t("Not acknowledged in time: key-holders are being called") }, t("Key-holders called"));
    }
    if (esc.tier === 2) {
      return el("span", { class: "badge escalated", "data-escalation": "second_tier", title: t("Not acknowledged in time: the second tier has been alerted") }, t("Second tier"));
    }
    return null;
  }

  function row(entry) {
    const a = entry.a;
    const tr = el("tr", { "data-alert-id": a.id, "data-severity": a.severity, "data-status": a.status,
                          "data-resident-id": a.resident_id,
                          class: `sev-row-${a.severity}${a.nobody_reached ? " row-nobody" : ""}` });
    if (a.escalation) tr.dataset.escalationState = a.escalation.state;
    if (a.delayed) tr.dataset.delayed = "true";
    const test = a.type === "installation_test"; // an installer's commissioning test: not an alarm
    if (test) tr.dataset.test = "true";
    tr.append(cell(test ? el("span", { class: "badge muted test", "data-test-badge": "" }, t("Test"))
                        : el("span", { class: `badge sev-${a.severity}` }, term(a.severity))));

    const what = el("td", { class: "alert-type" });
    const title = el("strong", {}, label(a.type));
    if (a.count > 1) title.append(` ×${a.count}`);
    what.append(title);
    if (a.delayed) {
      what.append(el("span", { class: "badge delayed", title: t("The event reached us late: the incident may not be happening now") }, t("Delayed")));
    }
    const badge = escalationBadge(a);
    if (badge) what.append(badge);
    if (a.reason) what.append(el("span", { class: "reason" }, reason(a)));
    tr.append(what);

    const who = el("td");
    const open = el("button", { type: "button", class: "linklike", "data-open-resident": a.resident_id },
                    a.resident_name || a.resident_id);
    open.addEventListener("click", () => window.telecareResident.show(a.resident_id));
    who.append(open);
    tr.append(who);

    const clock = el("span", { class: "wait", "data-wait": a.id, role: "timer", "aria-label": t("waiting time") });
    paintClock(clock, entry);
    tr.append(cell(clock));

    tr.append(el("td", {}, statusText(a)));

    const actions = el("td");
    const box = el("div", { class: "actions" });
    const hist = el("button", { type: "button", class: "btn small ghost", "data-action": "history" }, t("History"));
    hist.addEventListener("click", () => openHistory(a));
    box.append(hist);
    if (a.status === "resolved") {
      actions.append(box);
      tr.append(actions);
      return tr;
    }
    if (test) { // closed in one click: nothing to acknowledge, no outcome to choose
      const close = el("button", { type: "button", class: "btn small", "data-action": "close-test" },
                       t("Close test"));
      close.addEventListener("click", () => closeTest(a.id, close));
      box.append(close);
      actions.append(box);
      tr.append(actions);
      return tr;
    }
    if (a.status === "open") {
      const ack = el("button", { type: "button", class: "btn primary small", "data-action": "acknowledge" }, t("Acknowledge"));
      ack.addEventListener("click", () => acknowledge(a.id, ack));
      box.append(ack);
    }
    const resolve = el("button", { type: "button", class: "btn small", "data-action": "resolve" }, t("Resolve"));
    resolve.addEventListener("click", () => openResolve(a.id));
    box.append(resolve);
    actions.append(box);
    tr.append(actions);
    return tr;
  }

  function statusText(a) {
    if (a.status === "open") return t("Open");
    if (a.status === "acknowledged") return t("Taken by {name}", { name: a.acknowledged_by || "?" });
    const known = OUTCOMES.find(([v]) => v === a.outcome);
    const outcome = known ? t(known[1]) : a.outcome === "condition_cleared" ? t("Condition cleared") : a.outcome;
    return t("Resolved: {outcome}", { outcome });
  }

  // The loudest thing on the screen, shown until every such alarm is acknowledged (filters do not hide it).
  function renderNobody() {
    const waiting = [...alerts.values()].filter((e) => e.a.nobody_reached).sort(compare);
    $("nobody-list").replaceChildren(...waiting.map((e) =>
      el("li", { "data-alert-id": e.a.id }, `${label(e.a.type)} — ${e.a.resident_name || e.a.resident_id}`)));
    $("nobody-banner").hidden = waiting.length === 0;
  }

  function render() {
    renderNobody();
    const body = $("queue-body");
    if (resolvedRows) {
      const entries = resolvedRows.map((a) => ({ a, base: a.waiting_seconds || 0, at: performance.now() }));
      body.replaceChildren(...entries.map(row));
      if (!entries.length) body.append(emptyRow(6, t("No resolved alerts in this period.")));
      $("counts").textContent = t("{count} resolved", { count: entries.length });
      return;
    }
    const entries = ordered();
    body.replaceChildren(...entries.map(row));
    if (!entries.length) body.append(emptyRow(6, alerts.size ? t("No active alerts match the filters.") : t("No active alerts.")));
    const open = entries.filter((e) => e.a.status === "open").length;
    $("counts").textContent = t("{open} open · {taken} in progress", { open, taken: entries.length - open });
  }

  // The resolved views come from the API (the live stream carries the active queue only).
  async function applyFilters() {
    const f = filters();
    if (!f.view) {
      resolvedRows = null;
      render();
      return;
    }
    const params = new URLSearchParams({ resolved: f.view });
    if (f.severity) params.set("severity", f.severity);
    if (f.type) params.set("type", f.type);
    if (f.q) params.set("q", f.q);
    try {
      resolvedRows = await api("GET", `/api/alerts?${params}`);
      render();
    } catch (err) {
      toast(err.message, true);
    }
  }

  function put(a) {
    if (a.status === "resolved") alerts.delete(a.id);
    else alerts.set(a.id, { a, base: a.waiting_seconds || 0, at: performance.now() });
  }

  // ---- new critical alert: sound and flash ----------------------------------------------------
  function ensureAudio() {
    try {
      audio = audio || new (window.AudioContext || window.webkitAudioContext)();
      if (audio.state === "suspended") audio.resume();
    } catch (err) { audio = null; }
  }

  function beep() {
    if (!audio) return;
    const t = audio.currentTime;
    for (const offset of [0, 0.25, 0.5]) {
      const osc = audio.createOscillator(), gain = audio.createGain();
      osc.frequency.value = 880;
      gain.gain.setValueAtTime(0.0001, t + offset);
      gain.gain.exponentialRampToValueAtTime(0.3, t + offset + 0.02);
      gain.gain.exponentialRampToValueAtTime(0.0001, t + offset + 0.18);
      osc.connect(gain).connect(audio.destination);
      osc.start(t + offset);
      osc.stop(t + offset + 0.2);
    }
  }

  function announceCritical(a, text = t("New critical alert")) {
    beep();
    const banner = $("banner");
    banner.textContent = `${text}: ${label(a.type)} — ${a.resident_name || a.resident_id}`;
    banner.hidden = false;
    clearTimeout(announceCritical.timer);
    announceCritical.timer = setTimeout(() => { banner.hidden = true; }, 8000);
    const tr = document.querySelector(`#queue-body tr[data-alert-id="${a.id}"]`);
    if (tr) tr.classList.add("flash");
  }

  // ---- live stream --------------------------------------------------------------------------------
  function setLive(state, text) {
    const badge = $("live-status");
    badge.dataset.live = state;
    badge.textContent = text;
  }

  function showStream(live) {
    if (live) setLive("on", t("Live"));
    else setLive("off", t("Not receiving…"));
  }

  function connect() {
    if (source) source.close();
    source = new EventSource("/api/alerts/stream");
    // "Live" only once the server says its stream is receiving (snapshot.live / status frames).
    source.addEventListener("open", () => setLive("connecting", t("Connecting…")));
    source.addEventListener("snapshot", (e) => {
      const data = JSON.parse(e.data);
      alerts.clear();
      data.alerts.forEach(put);
      render();
      showStream(data.live !== false);
    });
    source.addEventListener("status", (e) => showStream(JSON.parse(e.data).live));
    source.addEventListener("change", (e) => {
      const { kind, alert } = JSON.parse(e.data);
      put(alert);
      render();
      if (kind === "raised" && alert.severity === "critical") announceCritical(alert);
      // Nobody reached (again): re-alert with sound and flash every time the escalation says so.
      if (kind === "escalated" && alert.nobody_reached) announceCritical(alert, t("Nobody reached"));
    });
    // The server dropped us (we fell behind, or it restarts): start again from a fresh snapshot.
    source.addEventListener("reload", () => { setLive("off", t("Reloading…")); setTimeout(connect, 500); });
    source.addEventListener("error", () => {
      setLive("off", t("Reconnecting…"));
      // EventSource retries by itself unless the server refused outright; then we retry.
      if (source.readyState === EventSource.CLOSED) setTimeout(connect, 3000);
    });
  }

  // ---- actions --------------------------------------------------------------------------------------
  async function acknowledge(id, button) {
    button.disabled = true;
    try {
      put(await api("POST", `/api/alerts/${id}/acknowledge`, {}));
      render();
    } catch (err) {
      toast(err.message, true);
      button.disabled = false;
    }
  }

  async function closeTest(id, button) {
    button.disabled = true;
    try {
      put(await api("POST", `/api/alerts/${id}/resolve`, { outcome: "technical_fixed", note: "" }));
      render();
    } catch (err) {
      toast(err.message, true);
      button.disabled = false;
    }
  }

  function openResolve(id) {
    const entry = alerts.get(id);
    if (!entry) return;
    resolving = id;
    $("resolve-summary").textContent = `${label(entry.a.type)} — ${entry.a.resident_name || entry.a.resident_id}`;
    $("resolve-error").textContent = "";
    $("resolve-note").value = "";
    $("resolve-outcome").value = entry.a.severity === "technical" ? "technical_fixed" : "resolved_by_phone";
    $("resolve-dialog").showModal();
  }

  async function submitResolve(event) {
    event.preventDefault();
    try {
      const body = { outcome: $("resolve-outcome").value, note: $("resolve-note").value };
      put(await api("POST", `/api/alerts/${resolving}/resolve`, body));
      render();
      $("resolve-dialog").close();
      toast(t("Alert resolved."));
    } catch (err) {
      $("resolve-error").textContent = err.message;
    }
  }

  // ---- history and notes ----------------------------------------------------------------------------
  async function openHistory(a) {
    historyOf = a.id;
    $("history-summary").textContent = `${label(a.type)} — ${a.resident_name || a.resident_id}`;
    $("note-error").textContent = "";
    $("note-text").value = "";
    $("history-list").replaceChildren(el("li", { class: "muted" }, t("Loading…")));
    if (!$("history-dialog").open) $("history-dialog").showModal();
    await loadHistory();
  }

  async function loadHistory() {
    try {
      const entries = await api("GET", `/api/alerts/${historyOf}/history`);
      $("history-list").replaceChildren(...entries.map((h) => {
        const li = el("li", { "data-kind": h.kind });
        li.append(el("time", { datetime: h.at, title: h.at }, dayTime(h.at)), el("span", {}, h.text),
                  el("span", { class: "who" }, h.actor));
        return li;
      }));
      if (!entries.length) $("history-list").append(el("li", { class: "muted" }, t("Nothing recorded yet.")));
    } catch (err) {
      $("history-list").replaceChildren(el("li", { class: "error" }, err.message));
    }
  }

  async function submitNote(event) {
    event.preventDefault();
    try {
      await api("POST", `/api/alerts/${historyOf}/notes`, { text: $("note-text").value });
      $("note-text").value = "";
      $("note-error").textContent = "";
      await loadHistory();
    } catch (err) {
      $("note-error").textContent = err.message;
    }
  }

  // ---- resident card --------------------------------------------------------------------------------
  // ---- start ------------------------------------------------------------------------------------------
  // The server sends anonymous browsers to /login before this page loads; here the session is known.
  function showApp(principal) {
    $("operator").hidden = !principal;
    if (principal && !source) connect();
  }

  function init() {
    // Nothing is written before the words are in (telecareUI.ready: the language and the service zone).
    ready.catch(() => null).finally(() => {
      for (const [value, text] of OUTCOMES) $("resolve-outcome").append(el("option", { value }, t(text)));
      for (const type of ALERT_TYPES) $("filter-type").append(el("option", { value: type }, term(type)));
      window.telecare.session.then(showApp);
    });
    document.addEventListener("click", ensureAudio, { once: true });
    $("resolve-form").addEventListener("submit", submitResolve);
    $("resolve-cancel").addEventListener("click", () => $("resolve-dialog").close());
    $("note-form").addEventListener("submit", submitNote);
    $("history-close").addEventListener("click", () => $("history-dialog").close());
    $("queue-filters").addEventListener("submit", (e) => e.preventDefault());
    for (const id of ["filter-view", "filter-severity", "filter-type"]) $(id).addEventListener("change", applyFilters);
    $("filter-search").addEventListener("input", () => {
      clearTimeout(applyFilters.timer);
      applyFilters.timer = setTimeout(applyFilters, 250); // one request per pause in typing, not per key
    });
    setInterval(tick, 500);
  }

  init();
})();
