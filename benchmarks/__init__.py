"""Benchmarks: run from the project root as `python -m benchmarks.<name>`; each prints ratios measured side by side."""
