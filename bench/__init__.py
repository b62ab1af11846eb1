"""Benchmarks: `make bench` runs every bench_*.py module and prints ratios."""
