"""Rules: the pure rule engine, its catalogue, persisted timers and the alert store."""
