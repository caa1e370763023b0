"""Alerts: the lifecycle of alerts (the alerts table's one writer) and what raises and changes them."""
