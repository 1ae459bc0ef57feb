"""Time marching: the time range cut into windows, one network per window, trained in order.

A solution that builds up structure over time (KdV's solitons, Allen–Cahn's interfaces)
asks one network to represent all of it at once, and the residual of the late times
cannot be fitted before the early times are right. Marching trains a network on
``[t_0, t_1]``, then a fresh one on ``[t_1, t_2]`` whose initial value is the first
network's solution at ``t_1`` (and its initial rate that solution's ``u_t``, for an
equation second order in time), and so on. Each window's problem is the original one on
a shorter time range; with ``hard_initial`` its network meets the previous window's
solution exactly at the window's start, so the marched solution is continuous in time.

``time_windows(problem, count, make)`` builds the windows' problems and networks (a
``TimeWindows`` module: (N, d) -> (N, m), the solution itself); ``march(windows,
curriculum, ...)`` trains them with ``solve``, each with the whole curriculum.
"""

from __future__ import annotations

import copy
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import cast

import torch
from torch import nn

from kanpde.conditions import Initial
from kanpde.errors import KanpdeError
from kanpde.geometry import SpaceTime
from kanpde.operators import Coords
from kanpde.problem import Problem
from kanpde.result import Status, TrainResult
from kanpde.training.curriculum import Stage
from kanpde.training.trainer import solve

log = logging.getLogger(__name__)

# make(window problem) -> (the problem as trained, e.g. with hard constraints; its network)
MakeWindow = Callable[[Problem], tuple[Problem, nn.Module]]


class TimeWindows(nn.Module):
    """The marched solution: window k's network, through its problem's output transform,
    on ``edges[k] < t <= edges[k + 1]`` (the first window includes its start): each window
    up to and including its end, where the next one starts from it.

    problems, models: one per window; ``reach``: the end of the time range trained or in
    training so far (errors measured during marching look no further)."""

    def __init__(self, edges: Sequence[float], problems: Sequence[Problem], models: Sequence[nn.Module]):
        super().__init__()
        self.edges = [float(t) for t in edges]
        self.problems = list(problems)
        self.models = nn.ModuleList(models)
        self.reach = self.edges[-1]

    def __len__(self) -> int:
        return len(self.models)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(N, d) -> (N, m); differentiable in x (autograd) within each window."""
        inner = torch.tensor(self.edges[1:-1], dtype=x.dtype, device=x.device)
        window = torch.bucketize(x[:, -1].contiguous(), inner)  # (N,) index 0 .. K-1
        out = x.new_zeros(len(x), len(self.problems[0].components))
        for k, (problem, model) in enumerate(zip(self.problems, self.models)):
            rows = window == k
            if bool(rows.any()):
                out[rows] = problem.solution(model, x[rows])
        return out


def window_problem(problem: Problem, t0: float, t1: float,
                   previous: tuple[Problem, nn.Module] | None = None) -> Problem:
    """``problem`` on ``[t0, t1]``; with ``previous`` (the last window's problem and
    network), its initial values and rates are that window's solution and u_t at t0."""
    domain = problem.domain
    assert isinstance(domain, SpaceTime)  # checked by time_windows
    conditions = list(problem.conditions)
    if previous is not None:
        conditions = [_continued(c, problem, *previous, t0) if isinstance(c, Initial) else c for c in conditions]
    return replace(problem, domain=SpaceTime(domain.space, t0, t1, domain.time_name), conditions=conditions,
                   reference=None)


def _continued(condition: Initial, problem: Problem, before: Problem, model: nn.Module, t0: float) -> Initial:
    """The initial condition whose value is the previous window's solution (derivative 0)
    or its time derivative (derivative 1) at t0, as a function of the space coordinates
    (differentiable in them: a hard initial value needs its derivatives)."""
    if condition.derivative > 1:
        raise KanpdeError(f"problem {problem.name!r}: time marching continues initial values and rates (Initial "
                          f"derivative 0 or 1); the condition {condition.label!r} has derivative "
                          f"{condition.derivative}")
    index = problem.components.index(condition.component) if condition.component else 0

    def value(x: Coords, p) -> torch.Tensor:
        space = x.tensor[:, :-1]
        t = torch.full((len(space), 1), t0, dtype=space.dtype, device=space.device,
                       requires_grad=condition.derivative == 1)
        u = before.solution(model, torch.cat([space, t], dim=1))[:, index]
        if condition.derivative == 0:
            return u
        return torch.autograd.grad(u.sum(), t, create_graph=True)[0][:, 0]

    return replace(condition, value=value)


def time_windows(problem: Problem, count: int, make: MakeWindow) -> TimeWindows:
    """``count`` windows of equal length over the problem's time range, each problem
    made by ``make`` (its hard constraints and its network) in order."""
    if not isinstance(problem.domain, SpaceTime):
        raise KanpdeError(f"time marching (train.windows={count}) cuts the time range into windows; problem "
                          f"{problem.name!r} has no time axis (its domain is {problem.domain!r}): set train.windows=1")
    if problem.unknowns:
        raise KanpdeError(f"time marching (train.windows={count}) trains a network per window; problem "
                          f"{problem.name!r} recovers parameters ({', '.join(problem.unknowns)}) that all windows "
                          "share: set train.windows=1")
    if not any(isinstance(c, Initial) for c in problem.conditions):
        raise KanpdeError(f"time marching (train.windows={count}) hands each window's solution on as the next "
                          f"one's initial value; problem {problem.name!r} has no Initial condition")
    t0, t1 = problem.domain.t_bounds
    edges = [t0 + (t1 - t0) * k / count for k in range(count)] + [t1]
    problems: list[Problem] = []
    models: list[nn.Module] = []
    for k in range(count):
        previous = (problems[-1], models[-1]) if k else None
        trained, model = make(window_problem(problem, edges[k], edges[k + 1], previous))
        problems.append(trained)
        models.append(model)
    return TimeWindows(edges, problems, models)


def march(windows: TimeWindows, curriculum: Sequence[Stage], *, time_limit: float = 0.0,
          **options) -> TrainResult:
    """Train the windows in order, each with ``solve`` and the whole curriculum (options:
    solve's keywords). One history: stages and steps numbered across the windows, each
    stage summary naming its window. Stops at the first window that does not end ok (its
    status and message, the windows after it untrained) or at the time limit (shared)."""
    start = time.perf_counter()
    history: list[dict] = []
    stages = []
    status, message = Status.OK, ""
    steps = 0
    for k, (problem, model) in enumerate(zip(windows.problems, windows.models)):
        spent = time.perf_counter() - start
        span = f"window {k + 1} of {len(windows)} ({cast(SpaceTime, problem.domain).time_name} in " \
               f"[{windows.edges[k]:g}, {windows.edges[k + 1]:g}])"
        log.info("%s", span)
        windows.reach = windows.edges[k + 1]
        try:
            # the window before ended inside the limit: this one gets what is left (at least a step)
            left = max(time_limit - spent, 1e-9) if time_limit else 0.0
            result = solve(problem, model, curriculum, time_limit=left, **options)
        except KanpdeError as error:  # refused before its first step: nothing of it trained
            if not k:
                raise  # nor of any window: bad input
            status, message = Status.FAILED, f"{span} was refused before training: {error}; the windows " \
                                             "from there on are untrained"
            break
        offset = k * len(curriculum)  # stages, steps and times run on from the windows before
        history += [{**row, "stage": row["stage"] + offset, "step": row["step"] + steps,
                     "time": row["time"] + spent} for row in result.history]
        stages += [replace(s, index=s.index + offset, window=k) for s in result.stages]
        steps += sum(s.steps for s in result.stages)
        status = result.status
        later = "" if k + 1 == len(windows) else "; the windows after it are untrained"
        if not result.ok:
            message = f"{span}: {result.message}{later}"
            break
        if time_limit and time.perf_counter() - start >= time_limit:
            message = f"stopped at the time limit of {time_limit:g} s in {span}, {steps} steps in all{later}"
            break
    else:
        message = f"{len(windows)} windows of {len(curriculum)} stages, {steps} steps"
    windows.reach = windows.edges[-1]
    log.info("time marching: %s", message)
    return TrainResult(status, message, history, stages, time.perf_counter() - start,
                       state=copy.deepcopy(windows.state_dict()))
