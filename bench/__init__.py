"""Benchmarks: scripts that print their figures (run as modules, e.g. python -m bench.emulator)."""
