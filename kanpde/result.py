"""TrainResult: what a training run produced, with a status that says what to do next."""

from __future__ import annotations

from dataclasses import dataclass, field


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


@dataclass
class TrainResult:
    """status: "ok", "nan" (stopped on a non-finite loss) or "interrupted".

    history: one row per logged step (stage, step, grid, loss and each loss term, time);
    state: the model's state_dict at the end (the last good one after a NaN).
    """

    status: str
    message: str
    history: list[dict] = field(default_factory=list)
    stages: list[StageSummary] = field(default_factory=list)
    seconds: float = 0.0
    metrics: dict = field(default_factory=dict)
    state: dict | None = None

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    @property
    def final_loss(self) -> float:
        return self.history[-1]["loss"] if self.history else float("nan")
