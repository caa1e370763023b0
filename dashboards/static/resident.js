// Resident card panel of the operator page: the card, the last 24 h (alarms first, then activity, heartbeats
// counted per device), audited key-safe reveal. Times in the service zone (telecareUI.dayTime).
(() => {
  "use strict";
  const { $, el, emptyRow, toast, api, ready, dayTime, t, term } = window.telecareUI;
  let residentShown = null;
  let hideCodeTimer = null;

  function hideCode() {
    clearTimeout(hideCodeTimer);
    $("keysafe-code").textContent = "••••";
    $("keysafe-code").dataset.revealed = "false";
  }

  async function showResident(id) {
    try {
      const [card, day] = await Promise.all([
        api("GET", `/api/residents/${encodeURIComponent(id)}`),
        api("GET", `/api/residents/${encodeURIComponent(id)}/events?hours=24`),
        ready,
      ]);
      residentShown = id;
      hideCode();
      $("resident-name").textContent = card.name;
      $("resident-age").textContent = card.age == null ? t("unknown") : `${card.age}`;
      $("resident-address").textContent = card.address || "—";
      $("resident-phones").replaceChildren(...(card.phones.length ? card.phones.map((p) => {
        const a = el("a", { href: `tel:${p}` }, p);
        return a;
      }) : [document.createTextNode("—")]));
      [...$("resident-phones").children].slice(1).forEach((a) => a.before(", "));
      $("resident-home").textContent = card.at_home ? t("Yes") : t("No (away)");
      $("resident-flags").replaceChildren(...(card.risk_flags.length
        ? card.risk_flags.map((f) => el("span", { class: "badge warn" }, term(f)))
        : [document.createTextNode(t("none"))]));
      $("resident-contacts").replaceChildren(...(card.contacts.length ? card.contacts.map((c) => {
        const li = el("li", {}, `${c.priority}. ${c.name}${c.relation ? ` (${c.relation})` : ""} · `);
        li.append(el("a", { href: `tel:${c.phone}` }, c.phone));
        if (c.key_holder) li.append(" ", el("span", { class: "badge ok" }, t("key-holder")));
        return li;
      }) : [el("li", { class: "muted" }, t("No contacts on record"))]));
      $("keysafe").hidden = !card.has_key_safe;
      renderDay(day);
      $("resident-panel").hidden = false;
      $("operator").classList.add("with-card");
      $("resident-name").focus();
    } catch (err) {
      toast(err.message, true);
    }
  }

  function eventRow(ev, alarm) {
    const tr = el("tr", alarm ? { class: "alarm", "data-alarm": ev.type } : {});
    tr.append(el("td", {}, dayTime(ev.ts)), el("td", {}, term(ev.type)),
              el("td", { class: "muted" }, ev.device_id));
    return tr;
  }

  // Alarms first (all of them), then the latest activity; heartbeats only as a count per device, so a
  // chatty gateway can never push the morning's fall out of the list.
  function renderDay(day) {
    const rows = [...day.alarms.map((ev) => eventRow(ev, true)), ...day.activity.map((ev) => eventRow(ev, false))];
    if (day.activity_total > day.activity.length) {
      rows.push(emptyRow(3, t("… and {count} earlier activity events", { count: day.activity_total - day.activity.length })));
    }
    $("resident-events").replaceChildren(...(rows.length ? rows : [emptyRow(3, t("No alarms or activity in the last 24 hours."))]));
    $("resident-heartbeats").replaceChildren(...(day.heartbeats.length ? day.heartbeats.map((h) =>
      el("li", { "data-heartbeats": h.device_id }, (h.count === 1 ? t("{device}: 1 heartbeat, last {time}", { device: h.device_id, time: dayTime(h.last_seen) })
        : t("{device}: {count} heartbeats, last {time}", { device: h.device_id, count: h.count, time: dayTime(h.last_seen) }))))
      : [el("li", { class: "muted" }, t("No heartbeats in the last 24 hours"))]));
  }

  function closeResident() {
    hideCode();
    residentShown = null;
    $("resident-panel").hidden = true;
    $("operator").classList.remove("with-card");
  }

  async function reveal(event) {
    event.preventDefault();
    if (!residentShown) return;
    try {
      const data = await api("POST", `/api/residents/${encodeURIComponent(residentShown)}/key-safe`,
                             { reason: $("reveal-reason").value });
      $("keysafe-code").textContent = data.code;
      $("keysafe-code").dataset.revealed = "true";
      $("reveal-reason").value = "";
      // Hide it again after a minute: the screen may be seen by others.
      hideCodeTimer = setTimeout(hideCode, 60000);
    } catch (err) {
      toast(err.message, true);
    }
  }

  $("resident-close").addEventListener("click", closeResident);
  $("reveal-form").addEventListener("submit", reveal);
  window.telecareResident = { show: showResident, close: closeResident };
})();
