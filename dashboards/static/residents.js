// Residents directory (operators, care teams): GET /api/residents with the search box and filters, by name,
// a page at a time. The query lives in the address bar, so Back and a shared link show the same page.
(() => {
  "use strict";
  const { $, el, emptyRow, api, t } = window.telecareUI;
  const FIELDS = ["q", "flag", "level"];
  const CHECKS = ["open_alerts", "unreached"];

  function query() {
    const params = new URLSearchParams(location.search);
    return { params, page: Math.max(1, Number(params.get("page") || 1)) };
  }

  function fillForm(params) {
    for (const f of FIELDS) $(f).value = params.get(f) || "";
    for (const c of CHECKS) $(c).checked = params.get(c) === "true";
  }

  function fromForm(page) {
    const params = new URLSearchParams();
    for (const f of FIELDS) if ($(f).value.trim()) params.set(f, $(f).value.trim());
    for (const c of CHECKS) if ($(c).checked) params.set(c, "true");
    if (page > 1) params.set("page", String(page));
    return params;
  }

  function row(r) {
    const tr = el("tr", { "data-resident-id": r.id });
    const link = el("a", { href: `/residents/${encodeURIComponent(r.id)}` }, r.name);
    const name = el("td");
    name.append(link);
    const flags = el("td");
    for (const f of r.risk_flags) flags.append(el("span", { class: "badge muted" }, t(f.replace(/_/g, " "))), " ");
    const alerts = el("td");
    if (r.open_alerts) alerts.append(el("span", { class: "badge sev-high" }, t("{n} open", { n: r.open_alerts })));
    if (r.unreached_this_week) alerts.append(" ", el("span", { class: "badge warn" }, t("unreached")));
    tr.append(name, el("td", {}, r.id), el("td", {}, r.address || "—"), el("td", {}, r.phones[0] || "—"),
              el("td", {}, r.team || "—"), el("td", { class: "num" }, String(r.level)), flags, alerts);
    return tr;
  }

  let asked = 0; // a slower, older answer must not replace the newer search's rows

  async function load() {
    const mine = ++asked;
    const { params, page } = query();
    fillForm(params);
    $("residents-error").hidden = true;
    try {
      const found = await api("GET", "/api/residents?" + params.toString());
      if (mine !== asked) return;
      const body = $("resident-rows");
      body.replaceChildren(...found.residents.map(row));
      if (!found.residents.length) body.append(emptyRow(8, t("No resident matches.")));
      $("residents-count").textContent = found.total_capped
        ? t("More than {n} residents match", { n: found.total })
        : t("{n} residents match", { n: found.total });
      $("page-no").textContent = t("Page {page}", { page });
      $("prev").disabled = page <= 1;
      $("next").disabled = !found.has_more;
    } catch (err) {
      $("residents-error").textContent = err.message;
      $("residents-error").hidden = false;
    }
  }

  function go(page) {
    history.pushState(null, "", "/residents?" + fromForm(page).toString());
    load();
  }

  document.addEventListener("DOMContentLoaded", () => {
    $("search").addEventListener("submit", (e) => { e.preventDefault(); go(1); });
    $("prev").addEventListener("click", () => go(query().page - 1));
    $("next").addEventListener("click", () => go(query().page + 1));
    window.addEventListener("popstate", load);
    load();
  });
})();
