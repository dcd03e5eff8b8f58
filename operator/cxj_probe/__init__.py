"""The probe runner: runs a journey step by step and emits OpenTelemetry traces and metrics."""
