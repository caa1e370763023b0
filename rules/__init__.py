"""Rules: the pure rule engine, its catalogue, persisted rule state and the runner that hosts them."""
