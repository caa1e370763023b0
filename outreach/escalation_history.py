"""The escalation's lines in an alert's history: who was called (name and relation, never the phone), what happened."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from outreach.call_vocabulary import CallOutcome
from outreach.escalation_steps import EscalationState, StepKind
from telecare.alerts import HistoryKind
from telecare.store import Database

ACTOR = "escalation"
_KINDS = {StepKind.SECOND_TIER: HistoryKind.SECOND_TIER, StepKind.CALL_KEY_HOLDER: HistoryKind.KEY_HOLDER_CALLED,
          StepKind.EXHAUSTED: HistoryKind.EXHAUSTED, StepKind.REPEAT: HistoryKind.REPEATED}
# Call outcomes as a sentence for the operator taking over.
_RESULTS = {CallOutcome.ACCEPTED: "accepted and is going", CallOutcome.NO_ANSWER: "did not answer",
            CallOutcome.BUSY: "line busy", CallOutcome.DECLINED: "answered but did not accept",
            CallOutcome.WRONG_NUMBER: "number not reachable", CallOutcome.FAILED: "the call failed"}


def who(holder: Any) -> str:
    """"Núria Puig (daughter)": a key-holder as the history names them."""
    if holder is None:
        return "a key-holder no longer on record"
    relation = getattr(holder, "relation", "")
    return f"{holder.name} ({relation})" if relation else holder.name


def step_line(kind: StepKind, state: EscalationState, holder: Any) -> tuple[HistoryKind, str, dict[str, Any]] | None:
    """(kind, text, detail) of one escalation step, or None for steps not worth a line (waits, stops)."""
    history_kind = _KINDS.get(kind)
    if history_kind is None:
        return None
    detail: dict[str, Any] = {"tier": state.tier, "round": state.round}
    if history_kind is HistoryKind.SECOND_TIER:
        text = "Not acknowledged in time: second tier alerted"
    elif history_kind is HistoryKind.KEY_HOLDER_CALLED:
        detail.update(contact=who(holder), position=state.contact_index + 1)
        text = f"Calling key-holder #{state.contact_index + 1}: {who(holder)}"
    elif history_kind is HistoryKind.EXHAUSTED:
        text = f"Nobody reached (round {state.round}): send the mobile unit / call 112"
    else:
        text = f"Still not acknowledged: key-holders called again (round {state.round}), operators re-alerted"
    return history_kind, text, detail


def result_line(outcome: CallOutcome | None, holder: Any, state: EscalationState) -> tuple[HistoryKind, str, dict[str, Any]]:
    """(kind, text, detail) for a key-holder call that ended."""
    said = _RESULTS.get(outcome or "", outcome or "no result")
    return (HistoryKind.KEY_HOLDER_RESULT, f"Key-holder #{state.contact_index + 1} {who(holder)}: {said}",
            {"contact": who(holder), "outcome": outcome, "round": state.round, "position": state.contact_index + 1})


async def append(db: Database, alert_id: int, at: datetime, line: tuple[HistoryKind, str, dict[str, Any]]) -> None:
    """Write one escalation line into alert_history (the escalator owns these rows)."""
    kind, text, detail = line
    await db.execute("INSERT INTO alert_history (alert_id, at, kind, actor, text, detail) VALUES (%s,%s,%s,%s,%s,%s)",
                     (alert_id, at, kind.value, ACTOR, text, detail))
