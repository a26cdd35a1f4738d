"""Benchmarks: speed and memory are measured here, as ratios within one run, never in tests."""
