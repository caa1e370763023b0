"""Ingest: MQTT gateways' messages validated, normalised, stored and handed to the rules."""
