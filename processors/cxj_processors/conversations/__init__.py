"""Conversation signals: silence, talk-over, frustration, escalation, disclosures, repeats."""
