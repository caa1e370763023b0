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

  document.addEventListener("DOMContentLoaded", () => {
    $("register-form").addEventListener("submit", register);
    ready.catch(() => null).finally(load);
  });
})();
