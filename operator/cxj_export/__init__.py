"""Exports of a CxJourney's SLO for existing SLO stacks: OpenSLO documents and Prometheus rules."""
