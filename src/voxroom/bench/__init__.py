"""Benchmarks: real sessions against a real server process, figures as medians/p90."""
