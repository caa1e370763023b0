// Shared nav bar and sign-in helpers for every Telecare page.
// Include with <script src="/static/nav.js" defer></script>; it fills <header class="topbar"> (or adds one)
// and exposes window.telecare.{user, signIn, signOut} so pages share the operator name (cookie telecare_user).
(() => {
  "use strict";
  const COOKIE = "telecare_user";
  const LINKS = [
    ["/", "Operator queue"],
    ["/care/worklist", "Worklist"],
    ["/care/calls", "Call log"],
    ["/care/campaigns", "Campaigns"],
    ["/phones", "Phone simulator"],
    ["/docs", "API"],
  ];

  function user() {
    const hit = document.cookie.split("; ").find((c) => c.startsWith(COOKIE + "="));
    if (!hit) return null;
    const name = decodeURIComponent(hit.slice(COOKIE.length + 1)).trim();
    return name || null;
  }

  function signIn(name) {
    const clean = String(name || "").trim().slice(0, 80);
    if (!clean) return false;
    // 12 h: one shift. SameSite=Lax keeps it off cross-site requests.
    document.cookie = `${COOKIE}=${encodeURIComponent(clean)}; path=/; max-age=43200; samesite=lax`;
    renderUser();
    document.dispatchEvent(new CustomEvent("telecare:user", { detail: clean }));
    return true;
  }

  function signOut() {
    document.cookie = `${COOKIE}=; path=/; max-age=0; samesite=lax`;
    renderUser();
    document.dispatchEvent(new CustomEvent("telecare:user", { detail: null }));
  }

  function el(tag, attrs = {}, text = "") {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
    if (text) node.textContent = text;
    return node;
  }

  function renderUser() {
    const box = document.querySelector(".topbar .user");
    if (!box) return;
    box.replaceChildren();
    const name = user();
    if (!name) {
      box.append(el("span", {}, "Not signed in"));
      return;
    }
    box.append(el("span", { "data-user": name }, `Signed in as ${name}`));
    const out = el("button", { type: "button" }, "Sign out");
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
    header.append(el("a", { class: "brand", href: "/" }, "Telecare"));
    const nav = el("nav", { "aria-label": "Main" });
    const list = el("ul");
    const here = location.pathname;
    for (const [href, label] of LINKS) {
      const a = el("a", { href }, label);
      const current = href === "/" ? here === "/" : here === href || here.startsWith(href + "/");
      if (current) a.setAttribute("aria-current", "page");
      const li = el("li");
      li.append(a);
      list.append(li);
    }
    nav.append(list);
    header.append(nav, el("div", { class: "user" }));
    renderUser();
  }

  window.telecare = Object.assign(window.telecare || {}, { user, signIn, signOut });
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", build);
  else build();
})();
