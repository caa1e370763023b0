// Fleet page (installers): every gateway and sensor from GET /api/fleet, filtered and paged; the visit list
// link downloads the same filter as CSV (address included, no phone, no health data).
(() => {
  "use strict";
  const { $, el, emptyRow, api, t, dayTime } = window.telecareUI;
  const TYPES = { gateway: "Gateway", pendant: "Pendant", fall_sensor: "Fall sensor", bed_sensor: "Bed sensor",
                  medication_dispenser: "Medication dispenser", motion_sensor: "Motion sensor", door_sensor: "Door sensor" };
  let page = 1;

  async function load() {
    const status = $("fleet-status").value;
    $("fleet-csv").href = `/api/fleet.csv?status=${encodeURIComponent(status)}`;
    $("fleet-error").hidden = true;
    try {
      const data = await api("GET", `/api/fleet?status=${encodeURIComponent(status)}&page=${page}`);
      const rows = data.devices.map((d) => {
        const tr = el("tr", { "data-device-id": d.device_id, "data-online": String(d.online),
                              "data-low-battery": String(d.low_battery), "data-commissioned": String(d.commissioned) });
        const gw = el("td");
        gw.append(el("a", { href: `/commission?gateway=${encodeURIComponent(d.gateway_id)}` }, d.gateway_id));
        const state = el("td");
        state.append(el("span", { class: `badge ${d.online ? "ok" : "warn"}` }, d.online ? t("Online") : t("Offline")));
        if (d.low_battery) state.append(" ", el("span", { class: "badge warn" }, t("Low battery")));
        tr.append(gw, el("td", {}, d.device_id), el("td", {}, t(TYPES[d.type] || d.type)), el("td", {}, d.room),
                  el("td", {}, d.type === "gateway" ? d.address : ""),
                  el("td", {}, d.last_seen ? dayTime(d.last_seen) : t("never")),
                  el("td", { class: "num" }, d.battery === null ? "—" : `${d.battery} %`), state,
                  el("td", {}, d.commissioned ? t("Yes") : t("No")),
                  el("td", {}, [d.firmware, d.model].filter(Boolean).join(" / ") || "—"));
        return tr;
      });
      $("fleet-rows").replaceChildren(...rows);
      if (!rows.length) $("fleet-rows").append(emptyRow(10, t("No devices match.")));
      $("fleet-count").textContent = t("{total} devices", { total: data.total });
      $("fleet-page").textContent = t("Page {page} of {pages}", { page: data.page, pages: data.pages });
      $("fleet-prev").disabled = data.page <= 1;
      $("fleet-next").disabled = data.page >= data.pages;
    } catch (err) {
      $("fleet-error").textContent = err.message;
      $("fleet-error").hidden = false;
    }
  }

  document.addEventListener("DOMContentLoaded", () => {
    $("fleet-filters").addEventListener("submit", (e) => e.preventDefault());
    $("fleet-status").addEventListener("change", () => { page = 1; load(); });
    $("fleet-prev").addEventListener("click", () => { page -= 1; load(); });
    $("fleet-next").addEventListener("click", () => { page += 1; load(); });
    load();
  });
})();
