"""Helpers the tests and benchmarks share: real components started for one run (no pytest here)."""
