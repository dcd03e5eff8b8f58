"""The CxJourney contract: the CRD schema, validation and the typed journey model."""

__version__ = "0.1.0"
