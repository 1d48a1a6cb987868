"""``logger=[csv]``: metrics.csv, a spreadsheet view of metrics.jsonl.

Columns are the union of every event's keys (epoch and step first, then in order of first
appearance); a key an event lacks is an empty cell. Rows are appended while the columns stay
the same; when an event brings a new key (the first validation record, say) the file is
rewritten from metrics.jsonl, which the writer has always updated first. The first write of a
process rewrites too, so a resumed run's CSV matches its truncated metrics.jsonl.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Mapping
from typing import Any

from dltrain.loggers.base import Logger, LoggerRun
from dltrain.registry import LOGGERS
from dltrain.train.run_files import write_text_atomic

LEADING = ("epoch", "step")


@LOGGERS.register("csv")
class CSVLogger(Logger):
    def __init__(self, run: LoggerRun) -> None:
        super().__init__(run)
        self.path = run.run_dir / "metrics.csv"
        self.source = run.run_dir / "metrics.jsonl"
        self.columns: list[str] | None = None

    def log(self, event: Mapping[str, Any], kind: str) -> None:
        if self.columns is None or not set(event) <= set(self.columns):
            self._rewrite()
            return
        with self.path.open("a", encoding="utf-8", newline="") as handle:
            csv.DictWriter(handle, self.columns, lineterminator="\n").writerow(_row(event))

    def _rewrite(self) -> None:
        events = [json.loads(line) for line in self.source.read_text().splitlines() if line]
        columns = [c for c in LEADING if any(c in e for e in events)]
        for event in events:
            columns += [key for key in event if key not in columns]
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, columns, lineterminator="\n")
        writer.writeheader()
        writer.writerows(_row(e) for e in events)
        write_text_atomic(self.path, buffer.getvalue())
        self.columns = columns


def _row(event: Mapping[str, Any]) -> dict[str, Any]:
    return {key: ("" if value is None else value) for key, value in event.items()}
