"""Telecare platform: shared kernel (schema, settings, store, bus, clock, metrics) and the CLI."""
