"""Step executors: one async function per step kind, each returning a StepOutcome."""
