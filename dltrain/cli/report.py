"""``dltrain report SWEEP_DIR|RUN_DIR``: a sweep's jobs, best first (no torch)."""

from __future__ import annotations

from pathlib import Path

HELP = """\
Every job's overrides, status (completed, pruned, failed, ...) and final metrics, best objective
first; printed as a Markdown table and written as report.csv, report.md and report.png (each
job's validation curve) in the folder. Reads only the files jobs leave behind.
  dltrain report multirun/DATE/TIME"""


def run(args: list[str]) -> list[Path]:
    from dltrain.cli.options import parse_options
    from dltrain.sweep.report import write_report

    options, _ = parse_options("report", args, positional="dir", data=False)
    markdown, written = write_report(Path(options["dir"]))
    print(markdown, end="")
    print(f"dltrain: wrote {', '.join(str(p) for p in written)}")
    return written
