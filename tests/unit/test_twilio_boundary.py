"""Only the Twilio adapter (and the test fake) may import the twilio library."""
from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ALLOWED = {Path("outreach/twilio_telephony.py"), Path("tests/fakes/fake_twilio.py")}
IMPORT = re.compile(r"^\s*(from\s+twilio[\s.]|import\s+twilio\b)", re.MULTILINE)


def test_twilio_is_imported_by_the_adapter_only() -> None:
    offenders = [path.relative_to(ROOT) for path in ROOT.rglob("*.py")
                 if not any(part.startswith(".") for part in path.relative_to(ROOT).parts)
                 and path.relative_to(ROOT) not in ALLOWED and IMPORT.search(path.read_text(encoding="utf-8"))]
    assert offenders == []
    assert all(IMPORT.search((ROOT / path).read_text(encoding="utf-8")) for path in ALLOWED)
