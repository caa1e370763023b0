// Sign-in page: POST /api/session, then go where the user was heading (same-origin paths only).
"use strict";

(function () {
  const $ = (id) => document.getElementById(id);
  const t = (msgid, params) => window.telecareUI.t(msgid, params); // ui.js: the page's language

  // Where to go after sign-in: ?next= when given (a local path only), else the user's own start page.
  function nextPath(landing) {
    const next = new URLSearchParams(location.search).get("next");
    // Only a local path: "//host" or "/\host" would leave the site (open redirect).
    if (next && /^\/(?![\/\\])/.test(next)) return next;
    return landing || "/";
  }

  function csrfToken() {
    const part = document.cookie.split("; ").find((c) => c.startsWith("telecare_csrf="));
    return part ? decodeURIComponent(part.slice("telecare_csrf=".length)) : "";
  }

  function showError(el, text) {
    el.textContent = text;
    el.hidden = !text;
  }

  function showSignedIn(principal) {
    $("signin").hidden = true;
    $("signed-in").hidden = false;
    $("signed-in-name").textContent = principal.display_name || principal.name;
    $("signed-in-roles").textContent = principal.roles.map((r) => window.telecareUI.term(r)).join(", ");
    $("continue").href = nextPath(principal.landing);
  }

  async function detail(response) {
    try {
      const body = await response.json();
      return typeof body.detail === "string" ? body.detail : t("The request was refused.");
    } catch (_) {
      return t("The server answered {status}.", { status: response.status });
    }
  }

  async function signIn(event) {
    event.preventDefault();
    const name = $("login-name").value.trim();
    const password = $("login-password").value;
    if (!name || !password) {
      showError($("login-error"), t("Enter your user name and password."));
      return;
    }
    $("login-submit").disabled = true;
    showError($("login-error"), "");
    try {
      const response = await fetch("/api/session", {
        method: "POST", credentials: "same-origin",
        headers: {"Content-Type": "application/json"}, body: JSON.stringify({name, password}),
      });
      if (response.ok) {
        const body = await response.json();
        location.assign(nextPath(body.landing));
        return;
      }
      $("login-password").value = "";
      showError($("login-error"), response.status === 401 ? t("Wrong name or password.") : await detail(response));
    } catch (_) {
      showError($("login-error"), t("The server cannot be reached. Try again."));
    } finally {
      $("login-submit").disabled = false;
    }
  }

  async function signOut() {
    const response = await fetch("/api/session", {
      method: "DELETE", credentials: "same-origin", headers: {"X-CSRF-Token": csrfToken()},
    });
    if (response.ok || response.status === 401) {
      $("signed-in").hidden = true;
      $("signin").hidden = false;
      $("login-name").focus();
    } else {
      showError($("logout-error"), await detail(response));
    }
  }

  document.addEventListener("DOMContentLoaded", async () => {
    await window.telecareUI.words; // the form's words in the page's language first
    $("login-language").value = window.telecareUI.language();
    $("login-language").addEventListener("change", (e) => window.telecareUI.setLanguage(e.target.value));
    $("login-form").addEventListener("submit", signIn);
    $("logout").addEventListener("click", signOut);
    try {
      const me = await fetch("/api/session", {credentials: "same-origin"});
      if (me.ok) {
        showSignedIn(await me.json());
        return;
      }
    } catch (_) { /* not signed in, or offline: the form is shown */ }
    $("login-name").focus();
  });
})();
