"""Devices: the residents/devices registry, file import, the demo fleet and the home simulator."""
