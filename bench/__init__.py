"""Benchmarks: `make bench` runs them all and writes bench/RESULTS.md. Never run as tests."""
