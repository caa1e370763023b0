// Operator queue: live alerts over SSE, waiting clocks, acknowledge/resolve, the audited resident card.
(() => {
  "use strict";
  const SEVERITY_RANK = { critical: 0, high: 1, medium: 2, technical: 3 };
  const AMBER_AFTER = 45; // seconds; the answer target is 60 s
  const RED_AFTER = 60;
  const TYPE_LABELS = {
    help_button: "Help button", fall: "Fall", bed_exit_no_return: "Out of bed, not back",
    medication_missed: "Medication missed", inactivity: "No activity", device_offline: "Device offline",
    low_battery: "Low battery", welfare_check: "Welfare check",
  };
  const OUTCOMES = [
    ["resolved_by_phone", "Resolved by phone"], ["contact_attended", "Contact / key-holder attended"],
    ["mobile_unit_sent", "Mobile unit sent"], ["emergency_services", "Emergency services"],
    ["false_alarm", "False alarm"], ["technical_fixed", "Technical issue fixed"], ["other", "Other"],
  ];
  const { $, el, cell, emptyRow, toast, api } = window.telecareUI;
  const alerts = new Map(); // id -> {a: alert view, base: waiting seconds when received, at: performance.now()}
  let source = null;
  let audio = null;
  let resolving = null;
  const escalations = new Map(); // alert id -> {escalated_tier, state} from outreach's escalator
  const ESCALATION_LABELS = {
    2: ["Second tier", "Not acknowledged in time: the second tier has been alerted"],
    3: ["Key-holders called", "Not acknowledged in time: key-holders are being called"],
  };

  const label = (type) => TYPE_LABELS[type] || type.replace(/_/g, " ");
  const cap = (s) => s.charAt(0).toUpperCase() + s.slice(1);
  const user = () => window.telecare.user();

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
    const open = entry.a.status === "open";
    node.classList.toggle("wait-amber", open && secs >= AMBER_AFTER && secs < RED_AFTER);
    node.classList.toggle("wait-red", open && secs >= RED_AFTER);
  }

  function tick() {
    for (const node of document.querySelectorAll("#queue-body [data-wait]")) {
      const entry = alerts.get(Number(node.dataset.wait));
      if (entry) paintClock(node, entry);
    }
  }

  // ---- the queue --------------------------------------------------------------------------------
  function ordered() {
    return [...alerts.values()].sort((x, y) =>
      (SEVERITY_RANK[x.a.severity] - SEVERITY_RANK[y.a.severity])
      || (Date.parse(x.a.raised_at) - Date.parse(y.a.raised_at)) || (x.a.id - y.a.id));
  }

  function row(entry) {
    const a = entry.a;
    const tr = el("tr", { "data-alert-id": a.id, "data-severity": a.severity, "data-status": a.status,
                          "data-resident-id": a.resident_id, class: `sev-row-${a.severity}` });
    if (a.delayed) tr.dataset.delayed = "true";
    tr.append(cell(el("span", { class: `badge sev-${a.severity}` }, cap(a.severity))));

    const what = el("td", { class: "alert-type" });
    const title = el("strong", {}, label(a.type));
    if (a.count > 1) title.append(` ×${a.count}`);
    what.append(title);
    if (a.delayed) {
      what.append(el("span", { class: "badge delayed", title: "The event reached us late: the incident may not be happening now" }, "Delayed"));
    }
    const esc = escalations.get(a.id);
    if (esc && a.status === "open") {
      const [text, hint] = esc.state === "accepted" ? ["Key-holder going", "A key-holder accepted and is on the way"]
        : ESCALATION_LABELS[Math.min(esc.escalated_tier, 3)] || [null, null];
      if (text) what.append(el("span", { class: "badge escalated", "data-escalated-tier": esc.escalated_tier, title: hint }, text));
    }
    if (a.reason) what.append(el("span", { class: "reason" }, a.reason));
    tr.append(what);

    const who = el("td");
    const open = el("button", { type: "button", class: "linklike", "data-open-resident": a.resident_id },
                    a.resident_name || a.resident_id);
    open.addEventListener("click", () => window.telecareResident.show(a.resident_id));
    who.append(open);
    tr.append(who);

    const clock = el("span", { class: "wait", "data-wait": a.id, role: "timer", "aria-label": "waiting time" });
    paintClock(clock, entry);
    tr.append(cell(clock));

    tr.append(el("td", {}, a.status === "open" ? "Open" : `Taken by ${a.acknowledged_by || "?"}`));

    const actions = el("td");
    const box = el("div", { class: "actions" });
    if (a.status === "open") {
      const ack = el("button", { type: "button", class: "btn primary small", "data-action": "acknowledge" }, "Acknowledge");
      ack.addEventListener("click", () => acknowledge(a.id, ack));
      box.append(ack);
    }
    const resolve = el("button", { type: "button", class: "btn small", "data-action": "resolve" }, "Resolve");
    resolve.addEventListener("click", () => openResolve(a.id));
    box.append(resolve);
    actions.append(box);
    tr.append(actions);
    return tr;
  }

  // Escalation tiers come from outreach (absent when the web process runs without it).
  async function refreshEscalations() {
    let rows;
    try {
      const resp = await fetch("/api/escalations");
      if (!resp.ok) return;
      rows = await resp.json();
    } catch (err) { return; }
    const before = JSON.stringify([...escalations]);
    escalations.clear();
    for (const r of rows) if (r.escalated_tier > 1 || r.state === "accepted") escalations.set(r.alert_id, r);
    if (JSON.stringify([...escalations]) !== before) render();
  }

  function render() {
    const body = $("queue-body");
    const entries = ordered();
    body.replaceChildren(...entries.map(row));
    if (!entries.length) body.append(emptyRow(6, "No active alerts."));
    const open = entries.filter((e) => e.a.status === "open").length;
    $("counts").textContent = `${open} open · ${entries.length - open} in progress`;
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

  function announceCritical(a) {
    beep();
    const banner = $("banner");
    banner.textContent = `New critical alert: ${label(a.type)} — ${a.resident_name || a.resident_id}`;
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
    if (live) setLive("on", "Live");
    else setLive("off", "Not receiving…");
  }

  function connect() {
    if (source) source.close();
    source = new EventSource("/api/alerts/stream");
    // "Live" only once the server says its stream is receiving (snapshot.live / status frames).
    source.addEventListener("open", () => setLive("connecting", "Connecting…"));
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
    });
    // The server dropped us (we fell behind, or it restarts): start again from a fresh snapshot.
    source.addEventListener("reload", () => { setLive("off", "Reloading…"); setTimeout(connect, 500); });
    source.addEventListener("error", () => {
      setLive("off", "Reconnecting…");
      // EventSource retries by itself unless the server refused outright; then we retry.
      if (source.readyState === EventSource.CLOSED) setTimeout(connect, 3000);
    });
  }

  // ---- actions --------------------------------------------------------------------------------------
  async function acknowledge(id, button) {
    button.disabled = true;
    try {
      put(await api("POST", `/api/alerts/${id}/acknowledge`, { by: user() }));
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
      const body = { by: user(), outcome: $("resolve-outcome").value, note: $("resolve-note").value };
      put(await api("POST", `/api/alerts/${resolving}/resolve`, body));
      render();
      $("resolve-dialog").close();
      toast("Alert resolved.");
    } catch (err) {
      $("resolve-error").textContent = err.message;
    }
  }

  // ---- resident card --------------------------------------------------------------------------------
  // ---- start ------------------------------------------------------------------------------------------
  function showApp() {
    const signedIn = Boolean(user());
    $("signin").hidden = signedIn;
    $("operator").hidden = !signedIn;
    if (signedIn && !source) connect();
    if (!signedIn) {
      if (source) { source.close(); source = null; }
      window.telecareResident.close();
      $("signin-name").focus();
    }
  }

  function init() {
    for (const [value, text] of OUTCOMES) $("resolve-outcome").append(el("option", { value }, text));
    $("signin-form").addEventListener("submit", (e) => {
      e.preventDefault();
      ensureAudio(); // a click is the user gesture browsers require before sound
      window.telecare.signIn($("signin-name").value);
    });
    document.addEventListener("telecare:user", showApp);
    document.addEventListener("click", ensureAudio, { once: true });
    $("resolve-form").addEventListener("submit", submitResolve);
    $("resolve-cancel").addEventListener("click", () => $("resolve-dialog").close());
    setInterval(tick, 500);
    refreshEscalations();
    setInterval(refreshEscalations, 5000);
    showApp();
  }

  init();
})();
