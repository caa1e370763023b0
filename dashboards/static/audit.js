// Audit page: searches GET /api/audit by resident, user, action and time; newest first.
(() => {
  "use strict";
  const { $, el, emptyRow, api, ready, dateTime, t, term } = window.telecareUI;
  const row = (...cells) => { const tr = el("tr"); tr.append(...cells); return tr; };

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
      if (!rows.length) body.append(emptyRow(6, t("No audit rows match.")));
      for (const r of rows) {
        const tr = el("tr", { "data-audit-id": String(r.id), "data-outcome": r.outcome });
        tr.append(el("td", {}, dateTime(r.at)), el("td", {}, `${r.actor} (${r.actor_kind})`),
                  el("td", {}, r.action), el("td", {}, r.residents.join(", ")), el("td", {}, term(r.outcome)),
                  el("td", { title: r.user_agent }, r.client_addr));
        body.append(tr);
      }
    } catch (err) {
      $("audit-error").textContent = err.message;
      $("audit-error").hidden = false;
    }
  }

  // ---- a resident's data: export (a plain link: the session cookie goes with it), dry run, erase ----
  const residentId = () => $("g-resident").value.trim();
  let dryRunFor = null; // "Erase now" only after a dry run of the same resident

  function showError(err) {
    $("gdpr-error").textContent = err ? err.message : "";
    $("gdpr-error").hidden = !err;
  }

  function exportZip(event) {
    event.preventDefault();
    showError(null);
    window.location.assign(`/api/residents/${encodeURIComponent(residentId())}/export`);
  }

  async function erase(dryRun) {
    const id = residentId();
    if (!id) return;
    if (!dryRun && !window.confirm(t("Erase resident {id}? This cannot be undone.", { id }))) return;
    try {
      const report = await api("POST", `/api/residents/${encodeURIComponent(id)}/erase?dry_run=${dryRun}`);
      showError(null);
      $("gdpr-rows").replaceChildren(...report.tables.map((x) =>
        row(el("td", {}, x.table), el("td", {}, x.action), el("td", {}, String(x.rows)))));
      $("gdpr-report").hidden = false;
      dryRunFor = dryRun ? id : null;
      $("g-erase").disabled = !dryRun;
      if (!dryRun) search();
    } catch (err) {
      showError(err);
    }
  }

  async function retention() {
    try {
      const r = await api("GET", "/api/admin/retention");
      $("retention-rows").replaceChildren(...Object.entries(r.days).map(([kind, days]) =>
        row(el("th", {}, term(kind)), el("td", {}, t("{days} days", { days })),
            el("td", { class: "muted" }, r.settings[kind]))));
      $("retention-features").replaceChildren(el("li", {}, t("Enforced by {how}.", { how: r.enforced_by })),
                                             ...r.features.map((line) => el("li", {}, line)));
    } catch (err) {
      $("retention-features").replaceChildren(el("li", { class: "error" }, err.message));
    }
  }

  document.addEventListener("DOMContentLoaded", () => {
    $("audit-filters").addEventListener("submit", search);
    $("gdpr-form").addEventListener("submit", exportZip);
    $("g-dry-run").addEventListener("click", () => erase(true));
    $("g-erase").addEventListener("click", () => { if (dryRunFor === residentId()) erase(false); });
    $("g-resident").addEventListener("input", () => { $("g-erase").disabled = dryRunFor !== residentId(); });
    ready.finally(() => { search(); retention(); });
  });
})();
