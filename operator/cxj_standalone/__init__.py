"""Standalone mode: journeys, the processor and a simulated contact center on one machine."""
