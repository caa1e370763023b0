"""Outreach: proactive wellbeing, birthday and weather calls, escalation and the call log."""
