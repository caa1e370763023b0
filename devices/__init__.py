"""Devices: the residents/devices registry (their one writer), file import and validated input shapes."""
