"""``logger=[wandb]``: a Weights & Biases run, offline by default, its files in RUN_DIR/wandb.

W&B's own client (``wandb``) writes the run: offline it needs no account and no network, and
``wandb sync RUN_DIR/wandb/offline-run-*`` uploads it later; ``mode=online`` streams it
(credentials from ``wandb login`` or WANDB_API_KEY, checked in preflight: never a prompt).
The resolved config is the W&B config; every step and epoch value is logged at its optimizer
step under the names TensorBoard shows (``train/loss``, ``step/train_loss``, ``epoch/lr``,
``lr/group1``; a step event's wall-clock ``time`` is left to W&B's own timestamps). At the end
the tested metrics and the best values go into the run's summary (``val/*`` there is the best
checkpoint's, as in results.json) and RUN_DIR/plots/*.png (``plots=true``) are logged as
images. W&B's console output is off (``silent``, ``console="off"``): train.log gets one line
saying where the run is and how to upload it.

Resume: the W&B run id and the last step logged are kept in RUN_DIR/wandb/dltrain-run.json, so
a resumed run continues the same W&B run (``resume="allow"``). W&B refuses steps lower than
its last one, so the events a resumed run replays (between its checkpoint and the point where
the interrupted process stopped) are skipped: W&B keeps the values it had for those steps
(the same values under ``deterministic=true``), where TensorBoard's purge replaces them.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from dltrain.errors import UserError
from dltrain.loggers.base import Logger, LoggerRun
from dltrain.loggers.tensorboard_logger import WALL_CLOCK, finite_number, tag
from dltrain.registry import LOGGERS

log = logging.getLogger("dltrain")

MODES = ("offline", "online", "disabled")
STATE_FILE = "dltrain-run.json"  # {"id": W&B run id, "step": the last step W&B was given}
DEFAULT_PROJECT = "dltrain"


def check_options(section: Mapping[str, Any]) -> None:
    """Preflight: a known mode, text tags, and credentials for ``mode=online``."""
    mode = section.get("mode")
    if mode not in MODES:
        raise UserError(
            f"logger.wandb.mode={mode!r} is not a W&B mode: use offline, online or disabled."
        )
    tags = section.get("tags") or []
    if not all(isinstance(tag_, str) for tag_ in tags):
        raise UserError(
            f"logger.wandb.tags={list(tags)} must be a list of words, e.g. tags=[baseline,cnn]."
        )
    if mode == "online":
        import wandb

        if not wandb.login(prompt=False, verify=False):
            raise UserError(
                "logger.wandb.mode=online needs W&B credentials: run `wandb login` or set "
                "WANDB_API_KEY. Or keep the default mode=offline and upload later with "
                "`wandb sync`."
            )


@LOGGERS.register("wandb", requires=("wandb", "dltrain[wandb]"), check=check_options)
class WandbLogger(Logger):
    def __init__(
        self,
        run: LoggerRun,
        mode: str = "offline",
        project: str | None = None,
        entity: str | None = None,
        run_name: str | None = None,
        group: str | None = None,
        tags: Sequence[str] = (),
    ) -> None:
        super().__init__(run, mode=mode, project=project, entity=entity, run_name=run_name)
        self.options.update(group=group, tags=list(tags))
        check_options({"mode": mode, "tags": tags})
        self.folder = run.run_dir / "wandb"
        self.state = self.folder / STATE_FILE
        run_id, self.floor = _continued(self.state) if run.resumed else (None, -1)
        self.last_step, self.tested = self.floor, False
        self.wandb_run = _start(run, run_id, mode, project, entity, run_name, group, tags)
        self._remember()
        self._announce(mode)

    def log(self, event: Mapping[str, Any], kind: str) -> None:
        step = int(event["step"])
        if step <= self.floor:
            return  # the interrupted process logged this step already
        values = {
            tag(key, kind): value
            for key, value in event.items()
            if key not in ("step", WALL_CLOCK) and not (kind == "step" and key == "epoch")
            and finite_number(value)
        }  # fmt: skip
        self.wandb_run.log(values, step=step)
        self.last_step = step
        self._remember()

    def finish(self, results: Mapping[str, Any]) -> None:
        import wandb

        summary = {k: v for k, v in results.items() if finite_number(v) or isinstance(v, str)}
        self.wandb_run.summary.update(summary)
        step = int(results["step"])
        plots = sorted((self.run.run_dir / "plots").glob("*.png"))
        if plots and step > self.floor:
            images = {f"plots/{path.stem}": wandb.Image(str(path)) for path in plots}
            self.wandb_run.log(images, step=step)
        self.tested = True

    def close(self) -> None:
        """Finish the W&B run: ended before its test (a failure, an interrupt), it is marked
        failed; a resumed run continues it. ``finish`` returns before W&B's service process
        has written the run's files; ``teardown`` waits for it, so RUN_DIR/wandb is complete
        when the run returns (``wandb sync`` right after it, a run resumed in this process)."""
        import wandb

        if self.wandb_run is not None:
            self.wandb_run.finish(exit_code=0 if self.tested else 1)
            self.wandb_run = None
            if wandb.run is None:  # no other W&B run of this process is still open
                wandb.teardown()

    def _remember(self) -> None:
        """The run id and last step, for a resumed run (replaced whole, never half written)."""
        text = json.dumps({"id": self.wandb_run.id, "step": self.last_step})
        scratch = self.state.with_suffix(".tmp")
        scratch.write_text(text, encoding="utf-8")
        os.replace(scratch, self.state)

    def _announce(self, mode: str) -> None:
        where = f"{self.wandb_run.project}/{self.wandb_run.id}"
        if mode == "offline":
            log.info(
                f"wandb: offline run {where} in {self.folder}; upload it with "
                f"wandb sync {self.folder}/offline-run-*"
            )
        elif mode == "online":
            log.info(f"wandb: run {where} at {self.wandb_run.url}")


def _continued(state: Path) -> tuple[str | None, int]:
    """The W&B run id and last logged step of the run this one resumes (none: a new run)."""
    try:
        saved = json.loads(state.read_text(encoding="utf-8"))
        return str(saved["id"]), int(saved["step"])
    except (OSError, ValueError, KeyError, TypeError):
        return None, -1


def _start(
    run: LoggerRun,
    run_id: str | None,
    mode: str,
    project: str | None,
    entity: str | None,
    run_name: str | None,
    group: str | None,
    tags: Sequence[str],
) -> Any:
    import wandb

    run.run_dir.joinpath("wandb").mkdir(exist_ok=True)
    return wandb.init(
        dir=str(run.run_dir),
        mode=mode,
        project=project or DEFAULT_PROJECT,
        entity=entity,
        name=run_name or run.run_dir.name,
        group=group,
        tags=list(tags),
        id=run_id,  # None: W&B draws a new one
        resume="allow",
        config=dict(run.config),
        settings=wandb.Settings(silent=True, console="off"),
    )
