"""TrainResult: what a training run produced, with a status that says what to do next."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum


class Status(str, Enum):
    """How a run ended. Each status carries what it means and the exit code of the
    ``kanpde`` command (0 only for ``ok``); a ``str`` enum, so it compares and serialises
    as its name ("ok", "nan", ...)."""

    OK = ("ok", 0, "training ran every stage")
    INPUT_ERROR = ("input_error", 2, "bad input: a config value or the problem's code; nothing was trained")
    NAN = ("nan", 3, "stopped on a non-finite loss; the last good model is kept")
    DIVERGED = ("diverged", 4, "stopped when the loss grew by orders of magnitude; the best model is kept")
    FAILED = ("failed", 1, "an exception stopped training (in the problem's code or kanpde's); the last good "
              "model is kept")
    SYMBOLIC_FAILED = ("symbolic_failed", 5, "trained and written, but the symbolic stage failed")
    INTERRUPTED = ("interrupted", 130, "stopped by a signal (Ctrl-C, SIGTERM); the last good model is kept")

    exit_code: int  # set on each member by __new__
    meaning: str

    def __new__(cls, value: str, exit_code: int, meaning: str):
        member = str.__new__(cls, value)
        member._value_ = value
        member.exit_code = exit_code
        member.meaning = meaning
        return member

    def __str__(self) -> str:
        return self.value


@dataclass
class StageSummary:
    """One curriculum stage as it ran."""

    index: int
    optimizer: str
    grid: int | None
    steps: int
    first_loss: float
    last_loss: float
    seconds: float
    stalled: bool = False  # ended before its last step: the loss had stopped falling
    validation: float | None = None  # the kept model's validation loss (train.validation; None: off)
    kept_step: int | None = None  # the run's step whose model the stage kept (None: its last)
    window: int | None = None  # the time window it trained (train.windows; None: no marching)


# the fields of a history row besides its loss terms (one per term name)
ROW_FIELDS = ("stage", "step", "stage_step", "grid", "optimizer", "lr", "loss", "time")


@dataclass
class TrainResult:
    """status: how training ended (see Status); message: what happened and what to do.

    history: one row per logged step (stage, step, grid, loss and each loss term, time);
    state: the model's state_dict at the end (the last good one after a NaN or divergence).
    """

    status: Status
    message: str
    history: list[dict] = field(default_factory=list)
    stages: list[StageSummary] = field(default_factory=list)
    seconds: float = 0.0
    metrics: dict = field(default_factory=dict)
    state: dict | None = None

    def __post_init__(self):
        self.status = Status(self.status)

    @property
    def ok(self) -> bool:
        return self.status is Status.OK

    @property
    def final_loss(self) -> float:
        return self.history[-1]["loss"] if self.history else float("nan")
