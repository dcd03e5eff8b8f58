"""Benchmarks: each prints its figures and ratios against baselines measured in the same run."""
