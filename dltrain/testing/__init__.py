"""Fake data in the real formats, for tests and benchmarks (no downloads)."""
