"""Helpers shared by the tests: a `dltrain` subprocess, data, sweep and in-process-run helpers."""
