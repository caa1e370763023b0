// Shared nav bar for every Telecare page: asks /api/session who is signed in, shows the links their roles
// open, and a sign-out button. Include with <script src="/static/nav.js" defer></script>; it fills
// <header class="topbar"> (or adds one) and exposes window.telecare.{user, session, signOut}.
// user() is the signed-in user's name (null until /api/session answered); session is that promise.
(() => {
  "use strict";
  const LINKS = [
    ["/", "Operator queue", ["operator"]],
    ["/residents", "Residents", ["operator", "care_team", "coordinator"]],
    ["/care/worklist", "Worklist", ["care_team", "coordinator"]],
    ["/care/calls", "Call log", ["care_team", "coordinator"]],
    ["/care/campaigns", "Campaigns", ["care_team", "coordinator"]],
    ["/devices", "Devices", ["installer", "admin"]],
    ["/fleet", "Fleet", ["installer", "admin"]],
    ["/quality", "Service quality", ["admin", "auditor", "coordinator"]],
    ["/phones", "Phone simulator", ["operator", "care_team", "coordinator", "admin"]],
    ["/audit", "Audit", ["admin", "auditor"]],
    ["/docs", "API", null],
  ];
  let me = null;

  function csrfToken() {
    const part = document.cookie.split("; ").find((c) => c.startsWith("telecare_csrf="));
    return part ? decodeURIComponent(part.slice("telecare_csrf=".length)) : "";
  }

  const session = fetch("/api/session", { credentials: "same-origin", headers: { Accept: "application/json" } })
    .then((r) => (r.ok ? r.json() : null))
    .catch(() => null)
    .then((principal) => {
      me = principal;
      if (document.readyState !== "loading") build();
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
      const a = el("a", { href: "/login?next=" + encodeURIComponent(location.pathname) }, "Sign in");
      box.append(el("span", {}, "Not signed in "), a);
      return;
    }
    box.append(el("span", { "data-user": me.name }, `Signed in as ${me.display_name || me.name}`));
    const out = el("button", { type: "button", "data-sign-out": "" }, "Sign out");
    out.addEventListener("click", signOut);
    box.append(out);
  }

  function build() {
    let header = document.querySelector("header.topbar");
    if (!header) {
      header = el("header", { class: "topbar" });
      document.body.prepend(header);
    }
    header.replaceChildren();
    header.append(el("a", { class: "brand", href: me ? me.landing : "/" }, "Telecare"));
    const nav = el("nav", { "aria-label": "Main" });
    const list = el("ul");
    const here = location.pathname;
    const roles = me ? me.roles : [];
    for (const [href, label, need] of LINKS) {
      if (need && !need.some((r) => roles.includes(r))) continue;
      const a = el("a", { href }, label);
      const current = href === "/" ? here === "/" : here === href || here.startsWith(href + "/");
      if (current) a.setAttribute("aria-current", "page");
      const li = el("li");
      li.append(a);
      list.append(li);
    }
    nav.append(list);
    const box = el("div", { class: "user" });
    renderUser(box);
    header.append(nav, box);
  }

  window.telecare = Object.assign(window.telecare || {}, { user, session, signOut });
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", build);
  else build();
})();
