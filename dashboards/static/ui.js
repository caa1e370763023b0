// Small DOM and fetch helpers shared by Telecare pages: window.telecareUI.{$, el, cell, emptyRow, toast, api, csrfToken}
// and the one time formatter every page uses: window.telecareUI.{ready, time, dayTime, dateTime, zone}.
// toast() writes into an element with id "toast" (role=status) when the page has one.
// Times are shown in the service time zone (TELECARE_SERVICE_TIMEZONE, read from /api/config), 24-hour,
// whatever the browser's own zone: an operator in another zone must read the same "14:05" as the team.
(() => {
  "use strict";
  const $ = (id) => document.getElementById(id);

  function el(tag, attrs = {}, text = "") {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
    if (text !== "") node.textContent = text;
    return node;
  }

  function cell(child) {
    const td = el("td");
    td.append(child);
    return td;
  }

  function emptyRow(columns, text) {
    const tr = el("tr", { class: "empty" });
    tr.append(el("td", { colspan: String(columns) }, text));
    return tr;
  }

  function toast(message, bad = false) {
    const box = $("toast");
    if (!box) return;
    box.textContent = message;
    box.classList.toggle("bad", bad);
    box.hidden = false;
    clearTimeout(toast.timer);
    toast.timer = setTimeout(() => { box.hidden = true; }, 5000);
  }

  function csrfToken() {
    const part = document.cookie.split("; ").find((c) => c.startsWith("telecare_csrf="));
    return part ? decodeURIComponent(part.slice("telecare_csrf=".length)) : "";
  }

  // The one fetch wrapper: same-origin cookie, X-CSRF-Token on every state change, a 401 sends the browser
  // to the login page (and back here afterwards). `body`: an object (sent as JSON) or a string (as is).
  async function api(method, url, body, headers = {}) {
    const init = { method, headers: { Accept: "application/json", ...headers }, credentials: "same-origin" };
    if (!["GET", "HEAD"].includes(method)) init.headers["X-CSRF-Token"] = csrfToken();
    if (body !== undefined) {
      if (typeof body === "string") init.body = body;
      else { init.headers["Content-Type"] = "application/json"; init.body = JSON.stringify(body); }
    }
    const response = await fetch(url, init);
    if (response.status === 401) {
      location.assign("/login?next=" + encodeURIComponent(location.pathname + location.search));
      throw new Error("your session has ended: sign in again");
    }
    const data = await response.json().catch(() => ({}));
    if (!response.ok) {
      const d = data.detail;
      throw new Error(Array.isArray(d) ? d.map((e) => `${(e.loc || []).slice(-1)[0]}: ${e.msg}`).join("; ")
                                       : (typeof d === "string" ? d : `request failed (${response.status})`));
    }
    return data;
  }

  // ---- times ------------------------------------------------------------------------------------
  let zone = null;
  let formats = null;
  let skew = 0; // server clock minus browser clock: "today" is the service's today
  const now = () => Date.now() + skew;
  const ready = fetch("/api/config", { headers: { Accept: "application/json" }, credentials: "same-origin" })
    .then((r) => (r.ok ? r.json() : Promise.reject(new Error(`config: ${r.status}`))))
    .then((cfg) => {
      const server = Date.parse(cfg.server_time);
      if (!Number.isNaN(server)) skew = server - Date.now();
      useZone(cfg.service_timezone);
      return cfg;
    });

  function useZone(name) {
    const base = { timeZone: name, hourCycle: "h23" };
    formats = {
      time: new Intl.DateTimeFormat("en-GB", { ...base, hour: "2-digit", minute: "2-digit" }),
      dayTime: new Intl.DateTimeFormat("en-GB", { ...base, weekday: "short", hour: "2-digit", minute: "2-digit" }),
      dateTime: new Intl.DateTimeFormat("en-GB", { ...base, day: "numeric", month: "short", year: "numeric",
                                                   hour: "2-digit", minute: "2-digit" }),
      day: new Intl.DateTimeFormat("en-CA", { timeZone: name, year: "numeric", month: "2-digit", day: "2-digit" }),
    };
    zone = name;
    document.documentElement.dataset.serviceTimezone = name;
    for (const node of document.querySelectorAll("[data-service-zone]")) node.textContent = name;
  }

  // Until /api/config answers, a time is shown as "…" rather than in a zone that may be wrong.
  function format(kind, iso) {
    if (!iso) return "";
    if (!formats) return "…";
    const at = new Date(iso);
    return Number.isNaN(at.getTime()) ? "" : formats[kind].format(at);
  }
  const time = (iso) => format("time", iso); // 14:05
  const dateTime = (iso) => format("dateTime", iso); // 15 Jul 2026, 14:05
  // 14:05 on the service's today, else "Thu 14:05" (or the date when more than a week away).
  function dayTime(iso) {
    if (!iso || !formats) return format("time", iso);
    const at = new Date(iso);
    if (formats.day.format(at) === formats.day.format(new Date(now()))) return formats.time.format(at);
    return Math.abs(at - now()) < 6 * 86400000 ? formats.dayTime.format(at) : formats.dateTime.format(at);
  }

  // ---- words ------------------------------------------------------------------------------------
  // t("Open alerts for {name}", {name}) is the one way a page writes a sentence: the English text is the
  // message id of the gettext catalogue (dashboards/locale), placeholders in braces. HTML marks its static
  // text with data-i18n (the element's English text is the id). The catalogue loader replaces `words`.
  let words = {};
  function t(msgid, params = {}) {
    const text = Object.prototype.hasOwnProperty.call(words, msgid) && words[msgid] ? words[msgid] : msgid;
    return text.replace(/\{(\w+)\}/g, (whole, key) => (key in params ? String(params[key]) : whole));
  }

  window.telecareUI = { $, el, cell, emptyRow, toast, api, csrfToken, ready, time, dayTime, dateTime, t,
                        zone: () => zone };
})();
