// Small DOM and fetch helpers shared by Telecare pages: window.telecareUI.{$, el, cell, emptyRow, toast, api, csrfToken}
// the one time formatter every page uses: window.telecareUI.{ready, time, dayTime, dateTime, zone}, and the
// words: window.telecareUI.{t, N_, term, reason, translate, words, setLanguage, language} (catalogue from /i18n/<lang>.json).
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
      throw new Error(t("Your session has ended: sign in again."));
    }
    const data = await response.json().catch(() => ({}));
    if (!response.ok) {
      const d = data.detail;
      throw new Error(Array.isArray(d) ? d.map((e) => `${(e.loc || []).slice(-1)[0]}: ${e.msg}`).join("; ")
                                       : (typeof d === "string" ? d : t("Request failed ({status})", { status: response.status })));
    }
    return data;
  }

  // ---- words ------------------------------------------------------------------------------------
  // t("Open alerts for {name}", {name}) is the one way a page writes a sentence: the English text is the
  // message id of the gettext catalogue (dashboards/locale, served as /i18n/<lang>.json), placeholders in
  // braces. HTML marks its static text with data-i18n (the element's English text is the id) and attributes
  // with data-i18n-placeholder / data-i18n-title / data-i18n-aria-label. N_("…") marks a label for the
  // extractor where it is defined; t(label) translates it where it is shown.
  const LANGUAGES = { ca: "ca-ES", es: "es-ES", en: "en-GB" }; // page language -> Intl locale
  let words = {};
  let language = "en";
  const N_ = (msgid) => msgid;
  function t(msgid, params = {}) {
    const text = Object.prototype.hasOwnProperty.call(words, msgid) && words[msgid] ? words[msgid] : msgid;
    return text.replace(/\{(\w+)\}/g, (whole, key) => (key in params ? String(params[key]) : whole));
  }

  // The service's vocabularies (alert and event types, severities, call purposes and outcomes, ...).
  const TERMS = {
    help_button: N_("Help button"), fall: N_("Fall"), bed_exit_no_return: N_("Out of bed, not back"),
    medication_missed: N_("Medication missed"), inactivity: N_("No activity"), device_offline: N_("Device offline"),
    low_battery: N_("Low battery"), welfare_check: N_("Welfare check"), installation_test: N_("Installation test"), bed_exit: N_("Out of bed"),
    bed_return: N_("Back in bed"), medication_taken: N_("Medication taken"), motion: N_("Movement"),
    door_open: N_("Door opened"), heartbeat: N_("Heartbeat"), tamper: N_("Tampering"),
    gateway_online: N_("Gateway online"), gateway_offline: N_("Gateway offline"),
    critical: N_("Critical"), high: N_("High"), medium: N_("Medium"), technical: N_("Technical"),
    gateway: N_("Gateway"), pendant: N_("Pendant"), fall_sensor: N_("Fall sensor"), bed_sensor: N_("Bed sensor"),
    medication_dispenser: N_("Medication dispenser"), motion_sensor: N_("Motion sensor"),
    door_sensor: N_("Door sensor"), device: N_("Device"),
    follow_up: N_("Follow-up"), birthday: N_("Birthday"), weather: N_("Weather"), information: N_("Information"),
    reminder: N_("Reminder"), escalation: N_("Escalation"), welfare: N_("Welfare"),
    fine: N_("Fine"), concern: N_("Concern"), callback_requested: N_("Callback requested"),
    no_key: N_("No key pressed"), accepted: N_("Accepted"), not_accepted: N_("Not accepted"),
    connected: N_("Connected"), no_answer: N_("No answer"), busy: N_("Busy"), voicemail: N_("Voicemail"),
    wrong_number: N_("Wrong number"), declined: N_("Declined"), failed: N_("Failed"), timeout: N_("Timed out"),
    active: N_("Active"), done: N_("Done"), cancelled: N_("Cancelled"), pending: N_("Pending"),
    dialing: N_("Dialling"), unreached: N_("Unreached"),
    lives_alone: N_("Lives alone"), heat_vulnerable: N_("Heat vulnerable"), cold_vulnerable: N_("Cold vulnerable"),
    dementia: N_("Dementia"), hearing_impaired: N_("Hearing impaired"), reduced_mobility: N_("Reduced mobility"),
    recent_discharge: N_("Recently discharged"),
    allowed: N_("Allowed"), denied: N_("Denied"), events: N_("Events"), dead_letters: N_("Rejected messages"),
    audit: N_("Audit log"),
    operator: N_("Operator"), care_team: N_("Care team"), coordinator: N_("Coordinator"), installer: N_("Installer"),
    admin: N_("Administrator"), auditor: N_("Auditor"),
  };
  // A vocabulary value in the page's language ("low_battery" -> "Bateria baixa"); unknown values readable as is.
  const term = (value) => (value in TERMS ? t(TERMS[value]) : String(value || "").replace(/_/g, " "));
  // An alert's reason line in the page's language: its template with the values (device types and call
  // purposes are vocabulary words), or the English line of an alert stored without one.
  const TERM_PARAMS = new Set(["device", "purpose"]);
  function reason(alert) {
    if (!alert.reason_template) return alert.reason;
    const params = {};
    for (const [k, v] of Object.entries(alert.reason_params || {})) params[k] = TERM_PARAMS.has(k) ? term(v) : v;
    return t(alert.reason_template, params);
  }

  // Translate the page's marked text and attributes (the English original kept as the id).
  function translate(root = document) {
    for (const node of root.querySelectorAll("[data-i18n]")) {
      if (!node.dataset.i18nId) node.dataset.i18nId = node.textContent.replace(/\s+/g, " ").trim();
      if (node.dataset.i18nId) node.textContent = t(node.dataset.i18nId);
    }
    for (const attr of ["placeholder", "title", "aria-label"]) {
      for (const node of root.querySelectorAll(`[data-i18n-${attr}]`)) {
        const key = `data-i18n-${attr}`;
        if (!node.getAttribute(key)) node.setAttribute(key, (node.getAttribute(attr) || "").replace(/\s+/g, " ").trim());
        if (node.getAttribute(key)) node.setAttribute(attr, t(node.getAttribute(key)));
      }
    }
  }

  // A user's own choice (GET /api/session .language), else this browser's last choice (the sign-in page's
  // selector), else the service's (TELECARE_SERVICE_LANGUAGE via /api/config).
  function pick(me, cfg) {
    const stored = (() => { try { return localStorage.getItem("telecare.language"); } catch (_) { return null; } })();
    const wanted = (me && me.language) || stored || (cfg && cfg.service_language) || "en";
    return wanted in LANGUAGES ? wanted : "en";
  }

  async function loadWords(me, cfg) {
    language = pick(me, cfg);
    document.documentElement.lang = language;
    if (language !== "en") {
      const r = await fetch(`/i18n/${language}.json`, { headers: { Accept: "application/json" }, credentials: "same-origin" });
      if (!r.ok) throw new Error(`catalogue ${language}: ${r.status}`);
      words = (await r.json()).messages || {};
    }
    translate();
    document.dispatchEvent(new CustomEvent("telecare:words", { detail: language }));
    return language;
  }

  // Pages choose a language from the top bar (nav.js): kept for the user, then the page is reloaded.
  async function setLanguage(lang) {
    try { localStorage.setItem("telecare.language", lang); } catch (_) { /* private mode: the user's row keeps it */ }
    const me = window.telecare && window.telecare.user ? window.telecare.user() : null;
    if (me) await api("PUT", "/api/session/language", { language: lang });
    location.reload();
  }

  // ---- times ------------------------------------------------------------------------------------
  let zone = null;
  let formats = null;
  let skew = 0; // server clock minus browser clock: "today" is the service's today
  const now = () => Date.now() + skew;
  const config = fetch("/api/config", { headers: { Accept: "application/json" }, credentials: "same-origin" })
    .then((r) => (r.ok ? r.json() : Promise.reject(new Error(`config: ${r.status}`))));
  // nav.js (loaded first) already asks who is signed in; a page without it (sign-in) asks here.
  const session = (window.telecare && window.telecare.session) || fetch("/api/session",
    { credentials: "same-origin", headers: { Accept: "application/json" } })
    .then((r) => (r.ok ? r.json() : null)).catch(() => null);
  // The words: English stays on screen (and the console says why) when the catalogue cannot be read.
  const wordsReady = Promise.all([session, config.catch(() => null)])
    .then(([me, cfg]) => loadWords(me, cfg))
    .catch((err) => { console.warn("telecare: words stay English:", err.message); translate(); return "en"; });
  // `ready`: the service zone is known and the words are loaded; pages format and write nothing before.
  const ready = Promise.all([config, wordsReady]).then(([cfg]) => {
    const server = Date.parse(cfg.server_time);
    if (!Number.isNaN(server)) skew = server - Date.now();
    useZone(cfg.service_timezone);
    return cfg;
  });

  function useZone(name) {
    const base = { timeZone: name, hourCycle: "h23" };
    const locale = LANGUAGES[language] || "en-GB";
    formats = {
      time: new Intl.DateTimeFormat(locale, { ...base, hour: "2-digit", minute: "2-digit" }),
      dayTime: new Intl.DateTimeFormat(locale, { ...base, weekday: "short", hour: "2-digit", minute: "2-digit" }),
      dateTime: new Intl.DateTimeFormat(locale, { ...base, day: "numeric", month: "short", year: "numeric",
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
  const dateTime = (iso) => format("dateTime", iso); // 15 Jul 2026, 14:05 (in the page's language)
  // 14:05 on the service's today, else "Thu 14:05" (or the date when more than a week away).
  function dayTime(iso) {
    if (!iso || !formats) return format("time", iso);
    const at = new Date(iso);
    if (formats.day.format(at) === formats.day.format(new Date(now()))) return formats.time.format(at);
    return Math.abs(at - now()) < 6 * 86400000 ? formats.dayTime.format(at) : formats.dateTime.format(at);
  }

  window.telecareUI = { $, el, cell, emptyRow, toast, api, csrfToken, ready, time, dayTime, dateTime, t, N_, term, reason,
                        translate, words: wordsReady, setLanguage, language: () => language,
                        languages: Object.keys(LANGUAGES), zone: () => zone };
})();
