// Service quality board: GET /api/quality drawn as figures, tables and plain CSS bars against the targets.
(() => {
  "use strict";
  const { $, el, emptyRow, api, t, dayTime, ready, zone } = window.telecareUI;
  const pct = (x) => (x === null || x === undefined ? "—" : `${(x * 100).toFixed(1)} %`);

  // Midnight of a service-zone day as ISO 8601 with that zone's offset (the API needs the offset).
  function dayStart(day) {
    const guess = new Date(`${day}T12:00:00Z`);
    const name = new Intl.DateTimeFormat("en-US", { timeZone: zone(), timeZoneName: "longOffset" })
      .formatToParts(guess).find((p) => p.type === "timeZoneName").value; // "GMT+01:00" or "GMT"
    const offset = name === "GMT" ? "Z" : name.replace("GMT", "");
    return `${day}T00:00:00${offset}`;
  }

  function nextDay(day) {
    const d = new Date(`${day}T12:00:00Z`);
    d.setUTCDate(d.getUTCDate() + 1);
    return d.toISOString().slice(0, 10);
  }

  // Widths through the CSSOM: the page's Content-Security-Policy refuses inline style attributes.
  function bar(share, target) {
    const box = el("div", { class: "bar", role: "img", "aria-label": pct(share) });
    if (share !== null) {
      box.dataset.met = String(share >= target);
      const fill = el("span", { class: "fill" });
      fill.style.width = `${(share * 100).toFixed(1)}%`;
      box.append(fill);
    }
    const mark = el("span", { class: "target", title: t("target") });
    mark.style.left = `calc(${(target * 100).toFixed(1)}% - 2px)`;
    box.append(mark);
    return box;
  }

  function table(id, head, rows, empty) {
    const node = $(id);
    const thead = el("thead"), tr = el("tr");
    for (const h of head) tr.append(el("th", {}, h));
    thead.append(tr);
    const body = el("tbody");
    body.append(...rows);
    if (!rows.length) body.append(emptyRow(head.length, empty));
    node.replaceChildren(thead, body);
  }

  function answerRows(groups, key, targets, label) {
    return groups.map((g) => {
      const tr = el("tr", { [`data-${key}`]: String(g[key]) });
      const b60 = el("td"), b180 = el("td");
      b60.append(bar(g.answered_within_60s, targets.answered_within_60s), el("span", { class: "muted" }, pct(g.answered_within_60s)));
      b180.append(bar(g.answered_within_180s, targets.answered_within_180s), el("span", { class: "muted" }, pct(g.answered_within_180s)));
      tr.append(el("td", {}, label(g[key])), el("td", { class: "num" }, String(g.alarms)), b60, b180);
      return tr;
    });
  }

  function figure(label, value, met) {
    const box = el("div", { class: "figure" });
    if (met !== undefined && met !== null) box.dataset.met = String(met);
    box.append(el("div", { class: "muted" }, label), el("div", { class: "value" }, value));
    return box;
  }

  function render(b) {
    const tg = b.targets;
    $("quality-scope").textContent = b.teams ? t("Your teams only: {teams}", { teams: b.teams.join(", ") })
                                             : t("The whole service");
    const f60 = b.answered_within_60s, f180 = b.answered_within_180s;
    const cards = [
      figure(t("Alarms"), String(b.alarms)),
      figure(t("Answered within 60 s (target {target})", { target: pct(tg.answered_within_60s) }), pct(f60),
             f60 === null ? null : f60 >= tg.answered_within_60s),
      figure(t("Answered within 180 s (target {target})", { target: pct(tg.answered_within_180s) }), pct(f180),
             f180 === null ? null : f180 >= tg.answered_within_180s),
      figure(t("Follow-up cadence met"), pct(b.cadence_met)),
      figure(t("Unreached today"), String(b.unreached_today.length)),
      figure(t("Devices offline > 24 h"), String(b.devices_offline.length)),
    ];
    cards[1].id = "figure-60"; cards[2].id = "figure-180"; cards[0].id = "figure-alarms";
    $("quality-figures").replaceChildren(...cards);
    const head = [t("When"), t("Alarms"), t("Within 60 s"), t("Within 180 s")];
    table("per-day", head, answerRows(b.per_day, "day", tg, (d) => d), t("No alarms in this period."));
    const hours = [...b.per_hour].sort((x, y) => x.hour - y.hour);
    table("per-hour", head, answerRows(hours, "hour", tg, (h) => `${String(h).padStart(2, "0")}:00`),
          t("No alarms in this period."));
    table("per-operator", [t("Operator"), ...head.slice(1)], answerRows(b.per_operator, "operator", tg, (o) => o),
          t("No alarms in this period."));
    table("cadence", [t("Level"), t("Every"), t("Residents"), t("Met")], b.cadence.by_level.map((l) => {
      const tr = el("tr", { "data-level": String(l.level) });
      const met = el("td");
      met.append(bar(l.cadence_met, 1), el("span", { class: "muted" }, pct(l.cadence_met)));
      tr.append(el("td", {}, String(l.level)), el("td", {}, t("{days} days", { days: l.every_days })),
                el("td", { class: "num" }, String(l.residents)), met);
      return tr;
    }), t("No residents."));
    table("unreached", [t("Resident"), t("Call"), t("When"), t("Welfare check")], b.unreached_today.map((u) => {
      const tr = el("tr", { "data-resident-id": u.resident_id, "data-welfare": String(u.welfare_check) });
      tr.append(el("td", {}, u.resident_id), el("td", {}, u.purpose.replace(/_/g, " ")),
                el("td", {}, dayTime(u.unreached_at)),
                el("td", {}, u.welfare_check ? t("Yes ({status})", { status: u.welfare_status }) : t("No")));
      return tr;
    }), t("Nobody unreached today."));
    table("campaigns", [t("Campaign"), t("Calls"), t("Reached")], b.campaigns.map((c) => {
      const tr = el("tr", { "data-campaign-id": String(c.id) });
      const reach = el("td");
      reach.append(bar(c.reach, 1), el("span", { class: "muted" }, pct(c.reach)));
      tr.append(el("td", {}, c.title), el("td", { class: "num" }, String(c.tasks)), reach);
      return tr;
    }), t("No campaigns in this period."));
    table("offline", [t("Device"), t("Type"), t("Resident"), t("Silent for")], b.devices_offline.map((d) => {
      const tr = el("tr", { "data-device-id": d.device_id });
      tr.append(el("td", {}, d.device_id), el("td", {}, d.type.replace(/_/g, " ")), el("td", {}, d.resident_id),
                el("td", { class: "num" }, t("{hours} h", { hours: d.silent_hours })));
      return tr;
    }), t("Every device reported within 24 hours."));
  }

  async function load() {
    const from = $("quality-from").value, to = $("quality-to").value;
    const params = new URLSearchParams();
    if (from) params.set("from", dayStart(from));
    if (to) params.set("to", dayStart(nextDay(to)));
    $("quality-error").hidden = true;
    try {
      render(await api("GET", `/api/quality${params.toString() ? "?" + params : ""}`));
    } catch (err) {
      $("quality-error").textContent = err.message;
      $("quality-error").hidden = false;
    }
  }

  document.addEventListener("DOMContentLoaded", () => {
    $("quality-range").addEventListener("submit", (e) => { e.preventDefault(); load(); });
    ready.then(load, load);
  });
})();
