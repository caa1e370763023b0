// Shared nav bar for every Telecare page: asks /api/session who is signed in, shows the links their roles
// open, and a sign-out button. Include with <script src="/static/nav.js" defer></script>; it fills
// <header class="topbar"> (or adds one) and exposes window.telecare.{user, session, signOut}.
// user() is the signed-in user's name (null until /api/session answered); session is that promise.
// Its words go through telecareUI.t (ui.js loads after this file: the bar is built once the words are in),
// and it holds the language selector (telecareUI.setLanguage keeps the choice for the user).
(() => {
  "use strict";
  const N_ = (msgid) => msgid; // marks a message id for the extractor; t() translates it when shown
  const LINKS = [
    // Labels are message ids (translated with t() when the bar is built).
    ["/", N_("Operator queue"), ["operator"]],
    ["/residents", N_("Residents"), ["operator", "care_team", "coordinator"]],
    ["/care/worklist", N_("Worklist"), ["care_team", "coordinator"]],
    ["/care/calls", N_("Call log"), ["care_team", "coordinator"]],
    ["/care/campaigns", N_("Campaigns"), ["care_team", "coordinator"]],
    ["/devices", N_("Devices"), ["installer", "admin"]],
    ["/fleet", N_("Fleet"), ["installer", "admin"]],
    ["/quality", N_("Service quality"), ["admin", "auditor", "coordinator"]],
    ["/phones", N_("Phone simulator"), ["operator", "care_team", "coordinator", "admin"]],
    ["/audit", N_("Audit"), ["admin", "auditor"]],
    ["/docs", N_("API"), null],
  ];
  const LANGUAGE_NAMES = { ca: "Català", es: "Español", en: "English" }; // each in its own language
  let me = null;
  const ui = () => window.telecareUI || null;
  const t = (msgid, params = {}) => (ui() ? ui().t(msgid, params)
    : msgid.replace(/\{(\w+)\}/g, (whole, key) => (key in params ? String(params[key]) : whole)));

  function csrfToken() {
    const part = document.cookie.split("; ").find((c) => c.startsWith("telecare_csrf="));
    return part ? decodeURIComponent(part.slice("telecare_csrf=".length)) : "";
  }

  const session = fetch("/api/session", { credentials: "same-origin", headers: { Accept: "application/json" } })
    .then((r) => (r.ok ? r.json() : null))
    .catch(() => null)
    .then((principal) => {
      me = principal;
      if (document.readyState !== "loading") start();
      document.dispatchEvent(new CustomEvent("telecare:user", { detail: principal }));
      return principal;
    });

  const user = () => (me ? me.name : null);

  async function signOut() {
    await fetch("/api/session", { method: "DELETE", credentials: "same-origin",
                                  headers: { "X-CSRF-Token": csrfToken() } }).catch(() => null);
    location.assign("/login");
  }

  function el(tag, attrs = {}, text = "") {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
    if (text) node.textContent = text;
    return node;
  }

  function renderUser(box) {
    if (!me) {
      const a = el("a", { href: "/login?next=" + encodeURIComponent(location.pathname) }, t("Sign in"));
      box.append(el("span", {}, t("Not signed in") + " "), a);
      return;
    }
    box.append(el("span", { "data-user": me.name }, t("Signed in as {name}", { name: me.display_name || me.name })));
    const out = el("button", { type: "button", "data-sign-out": "" }, t("Sign out"));
    out.addEventListener("click", signOut);
    box.append(out);
  }

  // The language selector: each language named in itself; a change is kept and the page reloads in it.
  function languageSelect() {
    const current = ui() ? ui().language() : "en";
    const select = el("select", { id: "language-select", "data-language-select": "", "aria-label": t("Language") });
    for (const [code, name] of Object.entries(LANGUAGE_NAMES)) {
      const option = el("option", { value: code, lang: code }, name);
      if (code === current) option.selected = true;
      select.append(option);
    }
    select.addEventListener("change", () => {
      ui().setLanguage(select.value).catch((err) => { select.value = current; alert(err.message); });
    });
    return select;
  }

  function build() {
    let header = document.querySelector("header.topbar");
    if (!header) {
      header = el("header", { class: "topbar" });
      document.body.prepend(header);
    }
    header.replaceChildren();
    header.append(el("a", { class: "brand", href: me ? me.landing : "/" }, "Telecare"));
    const nav = el("nav", { "aria-label": t("Main") });
    const list = el("ul");
    const here = location.pathname;
    const roles = me ? me.roles : [];
    for (const [href, label, need] of LINKS) {
      if (need && !need.some((r) => roles.includes(r))) continue;
      const a = el("a", { href }, t(label));
      const current = href === "/" ? here === "/" : here === href || here.startsWith(href + "/");
      if (current) a.setAttribute("aria-current", "page");
      const li = el("li");
      li.append(a);
      list.append(li);
    }
    nav.append(list);
    const box = el("div", { class: "user" });
    renderUser(box);
    if (ui()) box.prepend(languageSelect());
    header.append(nav, box);
  }

  window.telecare = Object.assign(window.telecare || {}, { user, session, signOut });
  // Build once the words are in (ui.js has run by DOMContentLoaded: deferred scripts run in order before it).
  function start() {
    if (ui()) ui().words.finally(build);
    else build();
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
