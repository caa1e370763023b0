// Audit page: searches GET /api/audit by resident, user, action and time; newest first.
(() => {
  "use strict";
  const { $, el, emptyRow, api, ready, dateTime } = window.telecareUI;

  async function search(event) {
    if (event) event.preventDefault();
    const q = new URLSearchParams();
    for (const [key, id] of [["resident_id", "f-resident"], ["user", "f-user"], ["action", "f-action"],
                             ["since", "f-since"]]) {
      const v = $(id).value.trim();
      if (v) q.set(key, v);
    }
    const body = $("audit-rows");
    try {
      const rows = await api("GET", `/api/audit?${q}`);
      $("audit-error").hidden = true;
      body.replaceChildren();
      if (!rows.length) body.append(emptyRow(6, "No audit rows match."));
      for (const r of rows) {
        const tr = el("tr", { "data-audit-id": String(r.id), "data-outcome": r.outcome });
        tr.append(el("td", {}, dateTime(r.at)), el("td", {}, `${r.actor} (${r.actor_kind})`),
                  el("td", {}, r.action), el("td", {}, r.residents.join(", ")), el("td", {}, r.outcome),
                  el("td", { title: r.user_agent }, r.client_addr));
        body.append(tr);
      }
    } catch (err) {
      $("audit-error").textContent = err.message;
      $("audit-error").hidden = false;
    }
  }

  document.addEventListener("DOMContentLoaded", () => {
    $("audit-filters").addEventListener("submit", search);
    ready.finally(search);
  });
})();
