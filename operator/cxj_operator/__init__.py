"""The kopf operator that reconciles CxJourney resources into probe Deployments."""
