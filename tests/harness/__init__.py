"""Test harness: real Kubernetes control plane, OpenTelemetry Collector and helpers to run them."""
