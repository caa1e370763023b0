// Commissioning screen (installers): a gateway's site and sensors, adding sensors, and a live commissioning
// session: one prompt per device, ticked off as its test event arrives (SSE from the server, which re-reads
// the tables each second), the gateway's rejected messages in plain words, and the result on finishing.
(() => {
  "use strict";
  const { $, el, emptyRow, api, t, dayTime } = window.telecareUI;
  const TYPES = { gateway: "Gateway", pendant: "Pendant", fall_sensor: "Fall sensor", bed_sensor: "Bed sensor",
                  medication_dispenser: "Medication dispenser", motion_sensor: "Motion sensor", door_sensor: "Door sensor" };
  const typeName = (type) => t(TYPES[type] || type);
  const STALE_AFTER_MS = 12000; // the server sends a status frame every ~5 s
  const gatewayId = new URLSearchParams(location.search).get("gateway") || "";
  let session = null;
  let source = null;
  let lastFrame = 0;

  function fail(box, err) {
    $(box).textContent = err.message || String(err);
    $(box).hidden = false;
  }

  // ---- the gateway ------------------------------------------------------------------------------
  async function loadGateway() {
    const data = await api("GET", `/api/gateways/${encodeURIComponent(gatewayId)}`);
    const gw = data.gateway;
    $("gateway-id").textContent = gw.device_id;
    $("gateway-serial").textContent = gw.serial || "—";
    $("gateway-address").textContent = gw.address || "—";
    $("gateway-rooms").textContent = gw.rooms.length ? gw.rooms.join(", ") : "—";
    const state = [gw.online ? t("Online") : t("Offline")];
    if (gw.battery !== null) state.push(t("battery {level} %", { level: gw.battery }));
    if (gw.firmware || gw.model) state.push(t("firmware {firmware}, model {model}", { firmware: gw.firmware || "?", model: gw.model || "?" }));
    $("gateway-state").textContent = state.join(" · ");
    const room = $("sensor-room");
    room.replaceChildren(...(gw.rooms.length ? gw.rooms : [""]).map((r) => el("option", { value: r }, r || t("(no rooms listed)"))));
    const body = $("sensor-rows");
    body.replaceChildren(...data.sensors.map((s) => {
      const tr = el("tr", { "data-device-id": s.device_id });
      tr.append(el("td", {}, s.device_id), el("td", {}, typeName(s.type)), el("td", {}, s.serial), el("td", {}, s.room),
                el("td", {}, s.last_seen ? dayTime(s.last_seen) : t("never")),
                el("td", { class: "num" }, s.battery === null ? "—" : `${s.battery} %`),
                el("td", {}, [s.firmware, s.model].filter(Boolean).join(" / ") || "—"),
                el("td", { "data-commissioned": String(s.commissioned) }, s.commissioned ? t("Yes") : t("No")));
      return tr;
    }));
    if (!data.sensors.length) body.append(emptyRow(8, t("No sensors on this gateway yet.")));
    const open = data.commissioning && !data.commissioning.finished_at;
    $("commission-start").textContent = open ? t("Rejoin the open session") : t("Start commissioning");
  }

  async function addSensor(event) {
    event.preventDefault();
    $("sensor-error").hidden = true;
    try {
      await api("POST", `/api/gateways/${encodeURIComponent(gatewayId)}/sensors`, {
        id: $("sensor-id").value.trim(), type: $("sensor-type").value, serial: $("sensor-serial").value.trim(),
        room: $("sensor-room").value });
      $("sensor-form").reset();
      await loadGateway();
    } catch (err) {
      fail("sensor-error", err);
    }
  }

  // ---- the live session ---------------------------------------------------------------------------
  function setLive(state, text) {
    const badge = $("commission-live");
    badge.dataset.live = state;
    badge.textContent = text;
  }

  function render(state) {
    session = state.session;
    const over = Boolean(session.finished_at);
    const items = state.checks.map((c) => {
      const li = el("li", { "data-device-id": c.device_id, "data-type": c.type, "data-reported": String(c.reported) });
      li.append(el("span", { class: "tick", "aria-hidden": "true" }, c.reported ? "✓" : ""),
                el("span", { class: "prompt" }, t(c.prompt)),
                el("span", { class: "muted" }, `${typeName(c.type)} ${c.device_id}${c.room ? " · " + c.room : ""}`),
                el("span", { class: "when" }, c.reported ? t("reported at {time}", { time: dayTime(c.reported_at) })
                                                         : (over ? t("never reported") : t("waiting…"))));
      return li;
    });
    $("checklist").replaceChildren(...items);
    $("commission-progress").textContent = t("{reported} of {devices} devices reported",
                                             { reported: state.reported, devices: state.devices });
    const rows = state.rejected.map((r) => {
      const tr = el("tr", { "data-reason": r.reason });
      tr.append(el("td", {}, dayTime(r.received_at)), el("td", {}, r.device_id || "—"),
                el("td", { class: "reason" }, r.reason_field ? t("{reason} (field: {field})", { reason: t(r.reason_text), field: r.reason_field }) : t(r.reason_text)), el("td", { class: "muted" }, r.topic));
      return tr;
    });
    $("rejected-rows").replaceChildren(...rows);
    if (!rows.length) $("rejected-rows").append(emptyRow(4, t("Nothing rejected since the session started.")));
    const finished = Boolean(session.finished_at);
    $("commission-finish").hidden = finished;
    $("commission-start").hidden = !finished;
    if (finished) showResult(state);
  }

  function showResult(state) {
    const box = $("commission-result");
    box.hidden = false;
    box.classList.toggle("bad", state.missing.length > 0);
    box.replaceChildren();
    if (!state.missing.length) {
      box.append(el("p", { "data-missing": "" }, t("Every device reported. A test alert was sent to the operators.")));
      return;
    }
    box.append(el("p", {}, t("These devices never reported: check them before leaving.")));
    const list = el("ul");
    for (const m of state.missing) {
      list.append(el("li", { "data-missing": m.device_id },
                     t("{type} {id} in {room}", { type: typeName(m.type), id: m.device_id, room: m.room || "—" })));
    }
    box.append(list, el("p", { class: "muted" }, t("A test alert was sent to the operators.")));
  }

  function follow() {
    if (source) source.close();
    setLive("connecting", t("Connecting…"));
    source = new EventSource(`/api/gateways/${encodeURIComponent(gatewayId)}/commissioning/${session.id}/stream`);
    const seen = () => { lastFrame = Date.now(); };
    source.addEventListener("state", (e) => { seen(); render(JSON.parse(e.data)); });
    // "Live" only when the server says it is reading: never while the stream or the database is away.
    source.addEventListener("status", (e) => {
      seen();
      const s = JSON.parse(e.data);
      if (s.live) setLive("on", t("Live"));
      else setLive("off", t("Not receiving…"));
    });
    source.addEventListener("finished", () => {
      source.close();
      source = null;
      setLive("off", t("Finished"));
      loadGateway().catch((err) => fail("page-error", err));
    });
    source.addEventListener("error", () => {
      if (!source) return;
      setLive("off", t("Reconnecting…"));
      if (source.readyState === EventSource.CLOSED) setTimeout(follow, 3000);
    });
  }

  function watchdog() {
    if (source && lastFrame && Date.now() - lastFrame > STALE_AFTER_MS) setLive("off", t("Not receiving…"));
  }

  async function start() {
    $("commission-result").hidden = true;
    try {
      const state = await api("POST", `/api/gateways/${encodeURIComponent(gatewayId)}/commissioning`, {});
      render(state);
      follow();
    } catch (err) {
      fail("page-error", err);
    }
  }

  async function finish() {
    $("commission-finish").disabled = true;
    try {
      render(await api("POST", `/api/gateways/${encodeURIComponent(gatewayId)}/commissioning/${session.id}/finish`, {}));
    } catch (err) {
      fail("page-error", err);
    } finally {
      $("commission-finish").disabled = false;
    }
  }

  document.addEventListener("DOMContentLoaded", () => {
    for (const [value, text] of Object.entries(TYPES)) {
      if (value !== "gateway") $("sensor-type").append(el("option", { value }, t(text)));
    }
    $("sensor-form").addEventListener("submit", addSensor);
    $("commission-start").addEventListener("click", start);
    $("commission-finish").addEventListener("click", finish);
    setInterval(watchdog, 2000);
    if (!gatewayId) {
      fail("page-error", new Error(t("No gateway chosen: open this page from the devices list.")));
      return;
    }
    loadGateway().catch((err) => fail("page-error", err));
  });
})();
