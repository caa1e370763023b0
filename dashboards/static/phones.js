// Phone simulator page: the demo residents' phones ring here (SSE from /api/phones/stream); times via telecareUI.
(() => {
"use strict";
const time = (iso) => window.telecareUI.time(iso);
const t = (msgid, params) => window.telecareUI.t(msgid, params);
const phones = document.getElementById("phones");
const statusLine = document.getElementById("status");

const N_ = (msgid) => msgid;
const STATES = { ringing: N_("ringing"), "in-progress": N_("in progress"), completed: N_("ended"),
                 "no-answer": N_("no answer"), busy: N_("busy"), failed: N_("failed"), canceled: N_("cancelled") };

function button(label, cls, enabled, action, body) {
  const b = document.createElement("button");
  b.textContent = label;
  b.className = cls;
  b.disabled = !enabled;
  b.dataset.action = action;
  b.addEventListener("click", async () => {
    b.disabled = true;
    const r = await fetch(b.closest(".phone").dataset.url + "/" + action, {
      method: "POST", credentials: "same-origin",
      headers: {"Content-Type": "application/json", "X-CSRF-Token": window.telecareUI.csrfToken()}, body: body ? JSON.stringify(body) : null});
    if (!r.ok) { statusLine.textContent = t("Could not do it: {reason}", { reason: (await r.json().catch(() => ({}))).detail || r.status }); }
  });
  return b;
}

function render(snapshot) {
  phones.replaceChildren();
  document.getElementById("empty").hidden = snapshot.calls.length > 0;
  for (const call of snapshot.calls) {
    const ringing = call.state === "ringing", talking = call.state === "in-progress";
    const card = document.createElement("section");
    card.className = "phone " + (ringing || talking ? call.state : "ended");
    card.dataset.callId = call.call_id;
    card.dataset.state = call.state;
    card.dataset.url = "/api/phones/" + encodeURIComponent(call.call_id);
    const number = document.createElement("div");
    number.className = "number";
    number.textContent = "☎ " + call.number + (call.leg === "operator" ? " " + t("(operator)") : "");
    const state = document.createElement("div");
    state.className = "state";
    state.textContent = [t(STATES[call.state] || call.state),
    call.answered_at ? t("answered {time}", { time: time(call.answered_at) }) : t("rang {time}", { time: time(call.placed_at) }),
    ...(call.ended_at ? [t("ended {time}", { time: time(call.ended_at) })] : []),
    ...(call.digits ? [t("pressed {digits}", { digits: call.digits })] : [])].join(" · ");
    const text = document.createElement("p");
    text.className = "text";
    text.textContent = talking || ringing ? (call.text ? "“" + call.text + "”" : t("(a person from the service is calling)")) : "";
    const buttons = document.createElement("div");
    buttons.className = "buttons";
    buttons.append(
      button(t("Answer"), "answer", ringing, "answer"),
      button("1", "key", talking && call.gather, "press", {digits: "1"}),
      button("2", "key", talking && call.gather, "press", {digits: "2"}),
      button(t("Hang up"), "hangup", ringing || talking, "hangup"),
      button(t("Let it ring out"), "ringout", ringing, "ringout"));
    card.append(number, state, text, buttons);
    phones.append(card);
  }
}

// The stream starts once the service time zone is known, so every time on the page is in it.
window.telecareUI.ready
  .catch(() => { statusLine.textContent = t("Times cannot be shown: no service time zone"); })
  .finally(() => {
    const source = new EventSource("/api/phones/stream");
    source.onopen = () => { statusLine.textContent = t("Live"); };
    source.onmessage = (e) => render(JSON.parse(e.data));
    source.onerror = () => { statusLine.textContent = t("Reconnecting…"); };
  });
})();
