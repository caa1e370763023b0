"""The care record's vocabulary: visits (purpose, outcome) and notes, each tagged with its organisation."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any


class VisitPurpose(StrEnum):
    ROUTINE = "routine"
    WELFARE_CHECK = "welfare_check"  # after an unreached call or a worry
    AFTER_ALERT = "after_alert"
    REABLEMENT = "reablement"
    ASSESSMENT = "assessment"
    EQUIPMENT = "equipment"


class VisitOutcome(StrEnum):
    SEEN_WELL = "seen_well"
    SEEN_CONCERN = "seen_concern"
    NOT_HOME = "not_home"
    DECLINED = "declined"  # answered the door, did not want the visit


# A visit that saw the resident is contact, like a reached call: the follow-up cadence starts again from it.
CONTACT_OUTCOMES = frozenset({VisitOutcome.SEEN_WELL, VisitOutcome.SEEN_CONCERN})


@dataclass(frozen=True, slots=True)
class NewVisit:
    """A visit as a care worker records it."""

    resident_id: str
    at: datetime
    visitor: str
    purpose: VisitPurpose
    outcome: VisitOutcome
    note: str = ""


@dataclass(frozen=True, slots=True)
class Visit:
    """A stored visit."""

    id: int
    resident_id: str
    at: datetime
    visitor: str
    purpose: VisitPurpose
    outcome: VisitOutcome
    note: str
    recorded_by: str
    organisation: str
    recorded_at: datetime

    @property
    def contact(self) -> bool:
        """The resident was seen."""
        return self.outcome in CONTACT_OUTCOMES

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {"id": self.id, "resident_id": self.resident_id, "at": self.at.isoformat(), "visitor": self.visitor,
                "purpose": self.purpose.value, "outcome": self.outcome.value, "note": self.note,
                "recorded_by": self.recorded_by, "organisation": self.organisation,
                "recorded_at": self.recorded_at.isoformat(), "contact": self.contact}


@dataclass(frozen=True, slots=True)
class Note:
    """A note on the resident's shared record."""

    id: int
    resident_id: str
    at: datetime
    author: str
    organisation: str
    text: str

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {"id": self.id, "resident_id": self.resident_id, "at": self.at.isoformat(), "author": self.author,
                "organisation": self.organisation, "text": self.text}
