"""Request bodies of the resident page: care plan, visit, note (pydantic: a bad field is a 422 naming it)."""
from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints, model_validator

from carerecord.model import NewVisit, VisitOutcome, VisitPurpose
from devices.care_plan import LANGUAGES, CarePlanEdit
from devices.records import parse_hhmm
from telecare.people import Contact, Reablement, RiskFlag

from dashboards.routes.common import OperatorName, no_control_chars, plain_text

HHMM = Annotated[str, StringConstraints(pattern=r"^([01]\d|2[0-3]):[0-5]\d$")]
Phone = Annotated[str, StringConstraints(strip_whitespace=True, pattern=r"^\+?[0-9][0-9 ]{5,19}$")]
Line = Annotated[str, StringConstraints(strip_whitespace=True, max_length=120), AfterValidator(no_control_chars)]
Language = Literal[LANGUAGES]  # type: ignore[valid-type]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ContactBody(Strict):
    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=120),
                    AfterValidator(no_control_chars)]
    phone: Phone
    relation: Line = ""
    key_holder: bool = False


class ReablementBody(Strict):
    calls_per_week: int = Field(ge=1, le=14)
    until: date


class CarePlanBody(Strict):
    """The whole editable care plan; contacts and key-holders in the order they are called."""

    follow_up_level: int = Field(ge=1, le=3, description="1/2/3: a follow-up call every 15/30/45 days")
    risk_flags: list[RiskFlag] = Field(default_factory=list, max_length=len(RiskFlag))
    night_start: HHMM
    night_end: HHMM
    dose_times: list[HHMM] = Field(default_factory=list, max_length=8)
    inactivity_hours: float = Field(ge=1, le=72)
    calling_start: HHMM
    calling_end: HHMM
    language: Language
    contacts: list[ContactBody] = Field(default_factory=list, max_length=10)
    reablement: ReablementBody | None = None

    @model_validator(mode="after")
    def _consistent(self) -> CarePlanBody:
        if self.calling_start >= self.calling_end:
            raise ValueError("calling hours must start before they end")
        if self.night_start == self.night_end:
            raise ValueError("the night window must not be empty")
        if len(set(self.dose_times)) != len(self.dose_times):
            raise ValueError("dose times must not repeat")
        if len({c.phone.replace(" ", "") for c in self.contacts}) != len(self.contacts):
            raise ValueError("a phone number appears for two contacts")
        return self

    def edit(self) -> CarePlanEdit:
        """The registry's edit record."""
        return CarePlanEdit(
            follow_up_level=self.follow_up_level, risk_flags=frozenset(self.risk_flags),
            night_start=parse_hhmm(self.night_start), night_end=parse_hhmm(self.night_end),
            dose_times=tuple(parse_hhmm(t) for t in self.dose_times), inactivity_hours=self.inactivity_hours,
            calling_start=parse_hhmm(self.calling_start), calling_end=parse_hhmm(self.calling_end),
            language=self.language,
            contacts=tuple(Contact(c.name, c.phone.replace(" ", ""), c.relation, i, c.key_holder)
                           for i, c in enumerate(self.contacts, start=1)),
            reablement=Reablement(self.reablement.calls_per_week, self.reablement.until) if self.reablement else None)


class VisitBody(Strict):
    at: AwareDatetime = Field(description="when the visit happened (with its offset)")
    visitor: OperatorName = Field(description="who visited")
    purpose: VisitPurpose
    outcome: VisitOutcome
    note: Annotated[str, StringConstraints(max_length=2000), AfterValidator(plain_text)] = ""

    def visit(self, resident_id: str) -> NewVisit:
        """The care record's new visit."""
        return NewVisit(resident_id, self.at, self.visitor, self.purpose, self.outcome, self.note.strip())


class NoteBody(Strict):
    text: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=4000),
                    AfterValidator(plain_text)]
