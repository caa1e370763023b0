// Small DOM and fetch helpers shared by Telecare pages: window.telecareUI.{$, el, cell, emptyRow, toast, api}.
// toast() writes into an element with id "toast" (role=status) when the page has one.
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

  async function api(method, url, body) {
    const init = { method, headers: { Accept: "application/json" }, credentials: "same-origin" };
    if (body !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    const response = await fetch(url, init);
    const data = await response.json().catch(() => ({}));
    if (!response.ok) throw new Error(typeof data.detail === "string" ? data.detail : `request failed (${response.status})`);
    return data;
  }

  window.telecareUI = { $, el, cell, emptyRow, toast, api };
})();
