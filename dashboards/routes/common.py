"""Request pieces shared by the routes: validated names, ids and text."""
from __future__ import annotations

import re
from typing import Annotated

from fastapi import Path
from pydantic import AfterValidator, Field, StringConstraints

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_CONTROL_BUT_LINES = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def no_control_chars(value: str) -> str:
    """A name or id: no NUL or other control characters (PostgreSQL refuses NUL; logs and CSV break)."""
    if _CONTROL.search(value):
        raise ValueError("must not contain control characters (such as NUL or a line break)")
    return value


def plain_text(value: str) -> str:
    """Free text (a note, a message): line breaks and tabs are fine, NUL and other control characters not."""
    if _CONTROL_BUT_LINES.search(value):
        raise ValueError("must not contain control characters such as NUL")
    return value


# An operator's name as typed at sign-in or sent as `by`.
OperatorName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=80),
                         AfterValidator(no_control_chars)]
Name = OperatorName
ShortText = Annotated[str, AfterValidator(no_control_chars)]
Text = Annotated[str, AfterValidator(plain_text)]
# Database ids are bigserial: outside 1..2^63-1 a number cannot name a row (and PostgreSQL would refuse it).
MAX_ROW_ID = 2**63 - 1
RowId = Annotated[int, Field(ge=1, le=MAX_ROW_ID)]
PathRowId = Annotated[int, Path(ge=1, le=MAX_ROW_ID)]
# Resident, device and gateway ids as the registry accepts them.
ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.:-]*$"
PathId = Annotated[str, Path(min_length=1, max_length=64, pattern=ID_PATTERN)]


def sse(event: str, data: str) -> str:
    """One Server-Sent Events frame (data must be a single line of JSON)."""
    return f"event: {event}\ndata: {data}\n\n"
