// Devices page (installers): register a gateway (its MQTT login shown once), and every gateway and its
// sensors from GET /api/devices, grouped by gateway, each gateway linking to its commissioning screen.
(() => {
  "use strict";
  const { $, el, emptyRow, api, ready, t, term } = window.telecareUI;
  const commissionUrl = (id) => `/commission?gateway=${encodeURIComponent(id)}`;

  async function load() {
    try {
      const devices = await api("GET", "/api/devices");
      devices.sort((a, b) => a.gateway_id.localeCompare(b.gateway_id) || (a.type === "gateway" ? -1 : 1)
                              || a.id.localeCompare(b.id));
      const body = $("device-rows");
      body.replaceChildren();
      if (!devices.length) body.append(emptyRow(5, t("No devices registered yet.")));
      for (const d of devices) {
        const tr = el("tr", { "data-device-id": d.id, "data-type": d.type });
        const link = el("td");
        if (d.type === "gateway") link.append(el("a", { class: "btn small", href: commissionUrl(d.id) }, t("Commission")));
        tr.append(el("td", {}, d.gateway_id), el("td", {}, d.id), el("td", {}, term(d.type)),
                  el("td", {}, d.resident_id), link);
        body.append(tr);
      }
      const gateways = devices.filter((d) => d.type === "gateway").length;
      $("devices-count").textContent = t("{gateways} gateways, {sensors} sensors",
                                         { gateways, sensors: devices.length - gateways });
    } catch (err) {
      $("devices-error").textContent = err.message;
      $("devices-error").hidden = false;
    }
  }

  async function register(event) {
    event.preventDefault();
    const value = (id) => $(id).value.trim();
    const rooms = value("gw-rooms").split(",").map((r) => r.trim()).filter(Boolean);
    const body = { id: value("gw-id"), serial: value("gw-serial"), resident_id: value("gw-resident"),
                   address: value("gw-address"), rooms };
    $("register-error").hidden = true;
    try {
      const done = await api("POST", "/api/gateways", body);
      $("mqtt-login").hidden = !done.mqtt;
      if (done.mqtt) {
        $("mqtt-username").textContent = done.mqtt.username;
        $("mqtt-password").textContent = done.mqtt.password;
        $("mqtt-next").href = commissionUrl(done.id);
      } else {
        location.assign(commissionUrl(done.id)); // already registered: its login was shown when it was new
        return;
      }
      $("register-form").reset();
      await load();
    } catch (err) {
      $("register-error").textContent = err.message;
      $("register-error").hidden = false;
    }
  }

  document.addEventListener("DOMContentLoaded", () => {
    $("register-form").addEventListener("submit", register);
    ready.catch(() => null).finally(load);
  });
})();
