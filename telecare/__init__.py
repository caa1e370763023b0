"""Telecare platform: the shared kernel (schema, settings, store, bus, clock, health, metrics); imports no component."""
