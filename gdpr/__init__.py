"""GDPR: subject access exports (JSON, CSV, FHIR R4), erasure with lawful exceptions, retention, breach reports."""
