"""Callbacks receive the loop's events; they, not the loop, log and show progress."""

from __future__ import annotations

import logging
import sys

from tqdm.auto import tqdm

from kanpde.result import ROW_FIELDS

log = logging.getLogger("kanpde")


class Callback:
    """Override any of these; each is called by the trainer at the named moment."""

    def on_train_start(self, total_steps: int) -> None: ...
    def on_stage_start(self, index: int, stage, grid: int | None) -> None: ...
    def on_log(self, row: dict) -> None: ...
    def on_stage_end(self, summary) -> None: ...
    def on_train_end(self, result) -> None: ...


class LogStages(Callback):
    """One log line per stage start and end."""

    def on_stage_start(self, index, stage, grid):
        log.info("stage %d: %s, %d steps, lr %g%s", index + 1, stage.optimizer, stage.steps,
                 stage.lr, f", grid {grid}" if grid else "")

    def on_stage_end(self, s):
        kept = "" if s.validation is None else f"; kept step {s.kept_step}, validation loss {s.validation:.3e}"
        log.info("stage %d done in %.1f s: loss %.3e -> %.3e%s%s", s.index + 1, s.seconds,
                 s.first_loss, s.last_loss, f" (stalled: ended after {s.steps} steps)" if s.stalled else "", kept)

    def on_train_end(self, result):
        level = logging.INFO if result.ok else logging.WARNING
        log.log(level, "training %s after %.1f s: %s", result.status, result.seconds, result.message)


class LogSteps(Callback):
    """One log line per logged step (every ``log_every`` steps): where the run is when no
    progress bar shows it, e.g. in a batch job's log."""

    def on_log(self, row):
        terms = ", ".join(f"{name} {value:.3e}" for name, value in row.items() if name not in ROW_FIELDS)
        log.info("step %d (stage %d, step %d): loss %.3e (%s), %.1f s", row["step"], row["stage"] + 1,
                 row["stage_step"], row["loss"], terms, row["time"])


class ProgressBar(Callback):
    """A tqdm bar over all steps of all stages, showing the latest loss."""

    def __init__(self, file=sys.stderr):
        self.file = file
        self.bar = None
        self.done = 0

    def on_train_start(self, total_steps):
        self.bar = tqdm(total=total_steps, file=self.file, unit="step", dynamic_ncols=True)

    def on_log(self, row):
        self.bar.update(row["step"] - self.done)
        self.done = row["step"]
        self.bar.set_postfix(stage=row["stage"] + 1, loss=f"{row['loss']:.2e}", refresh=False)

    def on_train_end(self, result):
        self.bar.close()
