"""Sweeps: each multirun job in a fresh process, job status files, pruning, resumable sweeps."""
