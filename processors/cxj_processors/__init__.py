"""The OTLP processor: journey SLOs, experience scores and attribution from telemetry."""
