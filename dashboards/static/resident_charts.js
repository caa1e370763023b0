// The resident page's plots: every series of GET /api/residents/{id}/series/{name}, drawn with the vendored
// Apache ECharts (static/vendor/echarts, Apache-2.0). Each chart element gets data-points = values drawn.
// window.residentCharts.draw(id, days) -> Promise of {name: points}.
(() => {
  "use strict";
  const { $, el, api, t, dateTime } = window.telecareUI;
  const COLORS = ["#0f4c81", "#b45309", "#166534", "#6d28d9"];
  const charts = {};

  function chart(id, option, points) {
    const node = $(id);
    charts[id] = charts[id] || window.echarts.init(node, null, { renderer: "canvas" });
    charts[id].setOption({ color: COLORS, animation: false, tooltip: { trigger: "axis" },
                           grid: { left: 44, right: 44, top: 28, bottom: 28 }, ...option }, true);
    node.dataset.points = String(points);
    node.setAttribute("role", "img");
  }

  const legend = (names) => ({ top: 0, data: names });
  const short = (iso) => iso.slice(5);  // 2026-11-24 -> 11-24

  function bed(s) {
    const p = s.points;
    chart("chart-bed", {
      legend: legend([t("Bed exits"), t("Minutes out of bed")]),
      xAxis: { type: "category", data: p.map((x) => short(x.night)) },
      yAxis: [{ type: "value", minInterval: 1 }, { type: "value" }],
      series: [{ name: t("Bed exits"), type: "bar", data: p.map((x) => x.exits) },
               { name: t("Minutes out of bed"), type: "line", yAxisIndex: 1, data: p.map((x) => x.minutes_out_of_bed) }],
    }, p.length);
  }

  function doors(s) {
    const p = s.points;
    chart("chart-doors", {
      xAxis: { type: "category", data: p.map((x) => short(x.night)) }, yAxis: { type: "value", minInterval: 1 },
      series: [{ name: t("Door openings"), type: "bar", data: p.map((x) => x.door_openings) }],
    }, p.length);
  }

  function medication(s) {
    const p = s.points;
    chart("chart-medication", {
      xAxis: { type: "category", data: p.map((x) => short(x.week)) }, yAxis: { type: "value", min: 0, max: 100 },
      series: [{ name: t("Taken (%)"), type: "line", connectNulls: false,
                 data: p.map((x) => (x.adherence == null ? null : Math.round(x.adherence * 1000) / 10)) }],
    }, p.filter((x) => x.adherence != null).length);
  }

  function calls(s) {
    const p = s.points;
    chart("chart-calls", {
      legend: legend([t("Made"), t("Reached")]),
      xAxis: { type: "category", data: p.map((x) => x.month) }, yAxis: { type: "value", minInterval: 1 },
      series: [{ name: t("Made"), type: "bar", data: p.map((x) => x.made) },
               { name: t("Reached"), type: "bar", data: p.map((x) => x.reached) }],
    }, p.length);
  }

  function activity(s) {
    const h = s.heatmap;
    const cells = [];
    let max = 1;
    h.counts.forEach((row, d) => row.forEach((n, hour) => { cells.push([hour, d, n]); max = Math.max(max, n); }));
    chart("chart-activity", {
      tooltip: { position: "top" }, grid: { left: 70, right: 16, top: 10, bottom: 60 },
      xAxis: { type: "category", data: h.hours.map((x) => `${x}`), splitArea: { show: true } },
      yAxis: { type: "category", data: h.days.map(short), splitArea: { show: true } },
      visualMap: { min: 0, max, calculable: true, orient: "horizontal", left: "center", bottom: 0,
                   inRange: { color: ["#f8fafc", "#0f4c81"] } },
      series: [{ name: t("Activity events"), type: "heatmap", data: cells }],
    }, cells.length);
    const recent = h.hours.map((hour) => h.counts.reduce((sum, row) => sum + row[hour], 0) / (h.days.length || 1));
    chart("chart-usual", {
      legend: legend([t("Last 4 weeks"), t("Usual")]),
      xAxis: { type: "category", data: h.hours.map((x) => `${x}`) }, yAxis: { type: "value" },
      series: [{ name: t("Last 4 weeks"), type: "line", data: recent.map((x) => Math.round(x * 100) / 100) },
               { name: t("Usual"), type: "line", lineStyle: { type: "dashed" }, data: h.usual || [] }],
    }, recent.length);
  }

  function devices(s) {
    const days = [...new Set(s.devices.flatMap((d) => d.battery_by_day.map((b) => b[0])))].sort();
    const series = s.devices.filter((d) => d.battery_by_day.length).map((d) => {
      const by = Object.fromEntries(d.battery_by_day);
      return { name: d.device_id, type: "line", data: days.map((x) => (x in by ? by[x] : null)) };
    });
    chart("chart-devices", {
      legend: legend(series.map((x) => x.name)),
      xAxis: { type: "category", data: days.map(short) }, yAxis: { type: "value", min: 0, max: 100 }, series,
    }, series.reduce((n, x) => n + x.data.filter((v) => v != null).length, 0));
    $("device-list").replaceChildren(...s.devices.map((d) => el("li", { "data-device-id": d.device_id },
      t("{device} ({type}): last seen {seen}, battery {battery}", {
        device: d.device_id, type: t(d.type.replace(/_/g, " ")), seen: d.last_seen ? dateTime(d.last_seen) : t("never"),
        battery: d.battery == null ? "—" : `${d.battery}%` }) + (d.offline ? " · " + t("silent for more than 24 h") : ""))));
  }

  const DRAW = { bed, doors, medication, calls, activity, devices };

  async function draw(residentId, days) {
    const base = `/api/residents/${encodeURIComponent(residentId)}/series/`;
    const ask = { bed: days, doors: days, medication: days, devices: days, activity: 28, calls: 365 };
    const got = await Promise.all(Object.entries(ask).map(([name, d]) => api("GET", `${base}${name}?days=${d}`)));
    const out = {};
    for (const s of got) {
      DRAW[s.series](s);
      out[s.series] = s;
    }
    const through = got[0] && got[0].rollups_through;
    $("rollups").textContent = through ? t("Figures include events up to {at}.", { at: dateTime(through) })
                                       : t("No sensor figures yet: the rollups have not run.");
    return out;
  }

  window.addEventListener("resize", () => Object.values(charts).forEach((c) => c.resize()));
  window.residentCharts = { draw };
})();
