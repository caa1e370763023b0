"""Insights: rollups of the events table for the resident page's plots, and the service-quality board."""
