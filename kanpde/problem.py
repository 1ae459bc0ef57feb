"""The Problem record, and loading problems from files.

A problem file (``problems/<name>.py`` in the repository, or any path) defines a function
``problem(**params) -> Problem`` whose keyword arguments are the PDE's parameters.
"""

from __future__ import annotations

import importlib.util
import inspect
import math
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from kanpde.conditions import Condition
from kanpde.errors import KanpdeError, user_code_error
from kanpde.files import shipped
from kanpde.geometry import Domain, SpaceTime
from kanpde.jet import Jet, JetRequest, PointCache, autograd_jet
from kanpde.operators import Coords, Field

if TYPE_CHECKING:  # a problem names its reference solver's result type only; the solvers stand beside it
    from kanpde.reference.solution import GridSolution

PROBLEMS_DIR = shipped("problems")


class Params(dict):
    """Named PDE parameters with attribute access: ``p.nu`` or ``p["nu"]``.

    ``estimates``: name -> trainable tensor theta for the parameters an inverse problem
    recovers; reading one gives its current estimate exp(theta) (a tensor that carries
    gradients), while the stored value (``dict(p)``) stays the true one, for reports.
    """

    def __init__(self, values=(), estimates: dict[str, torch.Tensor] | None = None):
        super().__init__(values)
        self.estimates = estimates if estimates is not None else {}

    def __getitem__(self, name: str):
        if name in self.estimates:
            return self.estimates[name].exp()
        return super().__getitem__(name)

    def __getattr__(self, name: str):
        try:
            return self[name]
        except KeyError:
            raise AttributeError(f"unknown parameter {name!r}; the parameters are: "
                                 f"{', '.join(self) or '(none)'}") from None


@dataclass
class Problem:
    """A PDE: domain, residual operator, conditions, parameters, optional exact solution.

    residual(u: Field, x: Coords, p: Params) -> (N,) or (N, k) for k equations.
    exact(x: Coords, p: Params) -> (N,) or (N, m) for m components.
    reference(p: Params) -> GridSolution: a reference solver (``kanpde.reference``) for a
    problem without an exact solution; the error is measured on its grid points.
    unknowns: name -> initial guess of the positive parameters an inverse problem recovers
    (from PointData observations); ``params[name]`` is the true value, used only to report
    the error. Training optimises log(estimate) with the network.
    equations: how many equations the residual returns (None: one per component); more
    than the components make an overdetermined system, which must be declared.
    transform(x: (N, d)) -> (shift, scale), each (N, m): the solution is
    ``shift + scale * net(x)``, an affine output transform (e.g. a hard constraint, see
    kanpde.constraints); None: the network's output is the solution.
    symmetry: (coordinate, "odd" | "even"): the solution is odd or even under the mirror
    image of that coordinate about the middle of its range, u(R x) = -u(x) or u(x) (every
    component alike; the PDE and the conditions are invariant). ``hard_symmetry`` builds
    it into the network (kanpde.constraints).
    """

    name: str
    domain: Domain
    residual: Callable[[Field, Coords, Params], torch.Tensor]
    conditions: Sequence[Condition] = ()
    components: Sequence[str] = ("u",)
    params: Params = field(default_factory=Params)  # any mapping name -> value; a Params once built
    exact: Callable[[Coords, Params], torch.Tensor] | None = None
    reference: Callable[[Params], GridSolution] | None = None
    unknowns: Mapping[str, float] = field(default_factory=dict)
    equations: int | None = None
    transform: Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor]] | None = None
    symmetry: tuple[str, str] | None = None
    _jets: PointCache = field(default_factory=lambda: PointCache(8), init=False, repr=False, compare=False)

    def __post_init__(self):
        self.components = tuple(self.components)
        if self.equations is None:
            self.equations = len(self.components)
        self.conditions = tuple(self.conditions)
        bad = {name: guess for name, guess in self.unknowns.items() if name not in self.params or guess <= 0}
        if bad:
            raise KanpdeError(f"problem {self.name!r}: unknowns {bad} must be parameters of the problem "
                              f"({', '.join(self.params) or 'none'}) with a positive initial guess")
        estimates = {name: torch.tensor(math.log(guess), dtype=torch.float64, requires_grad=True)
                     for name, guess in self.unknowns.items()}
        self.params = Params(self.params, estimates)
        for condition in self.conditions:
            if not isinstance(condition, Condition):
                raise KanpdeError(f"problem {self.name!r}: {condition!r} is not a condition; use "
                                  "Dirichlet, Neumann, Robin, Periodic, Initial or PointData")
            try:
                condition.check(self.domain, self.components)
            except KanpdeError as error:
                raise KanpdeError(f"problem {self.name!r}, condition {condition.label}: {error}") from None
        labels = [c.label for c in self.conditions]
        if len(set(labels)) != len(labels):
            raise KanpdeError(f"problem {self.name!r}: two conditions share a name ({labels}); "
                              "give them distinct name=...")

    @property
    def space(self) -> tuple[str, ...]:
        """Coordinates that grad/div/laplacian act on."""
        return self.domain.space.names if isinstance(self.domain, SpaceTime) else self.domain.names

    def solution(self, model: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor) -> torch.Tensor:
        """The solution the model represents at x: (N, d) -> (N, m)."""
        values = model(x)
        if self.transform is None:
            return values
        shift, scale = self.transform(x)
        return shift + scale * values

    def field(self, x: torch.Tensor, model: Callable[[torch.Tensor], torch.Tensor],
              request: JetRequest | None = None) -> Field:
        """The solution field of ``model`` at x: (N, d).

        With a ``request`` and a model that has an analytic jet (``model.jet(x, request)``,
        as the KAN does), the field's derivatives come from that one forward pass;
        otherwise (no request, or e.g. an MLP) from autograd on x.
        """
        if request is None or not hasattr(model, "jet"):
            x = x.detach().requires_grad_(True)
            return Field(x, self.solution(model, x), self.domain.names, self.components, self.space)
        return self.field_from_jet(x, self.solution_jet(model, x, request))

    def field_from_jet(self, x: torch.Tensor, jet: Jet) -> Field:
        return Field.from_jet(x, jet, self.domain.names, self.components, self.space)

    def solution_jet(self, model, x: torch.Tensor, request: JetRequest) -> Jet:
        """The solution's jet at x from the model's (channels (C, N, m)), output transform included."""
        jet = model.jet(x, request)
        if self.transform is not None:
            m = jet.value.shape[1]
            factors = self._transform_jet(self.transform, x, request)  # (C, N, 2m)
            jet = factors.with_data(factors.data[..., :m]) + factors.with_data(factors.data[..., m:]) * jet
        return jet

    def _transform_jet(self, transform: Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor]],
                       x: torch.Tensor, request: JetRequest) -> Jet:
        """Jet of (shift, scale) = transform(x) at x, by autograd: they depend on x alone, so
        the jet is kept for the last few point sets (a training batch is reused step after step)."""
        return self._jets.get(x, request, lambda: autograd_jet(lambda z: torch.cat(transform(z), dim=1), x, request))

    def coords(self, x: torch.Tensor) -> Coords:
        return Coords(x, self.domain.names)

    def exact_values(self, x: torch.Tensor) -> torch.Tensor | None:
        """The exact solution at x: (N, m), or None when the problem has none."""
        if self.exact is None:
            return None
        try:
            values = self.exact(self.coords(x), self.params)
        except Exception as error:  # noqa: BLE001 - user code may raise anything: reported as its own error
            raise user_code_error(error, f"the exact solution of problem {self.name!r}") from None
        m = len(self.components)
        accepted = {(len(x), m)} | ({(len(x),)} if m == 1 else set())
        if not isinstance(values, torch.Tensor) or tuple(values.shape) not in accepted:
            shape = tuple(values.shape) if isinstance(values, torch.Tensor) else type(values).__name__
            raise KanpdeError(f"problem {self.name!r}: the exact solution returned {shape} for {len(x)} points; "
                              f"expected a tensor of shape ({len(x)},)" + (f" or ({len(x)}, 1)" if m == 1 else
                                                                          f" or ({len(x)}, {m})") +
                              f": one value per point and component ({', '.join(self.components)})")
        return values.reshape(len(x), m)

    def unknown_tensors(self, dtype: torch.dtype, device) -> list[torch.Tensor]:
        """The trainable log-estimates of the unknowns, moved to dtype/device (in place of
        the old ones, so that Params reads the moved ones)."""
        estimates = self.params.estimates
        for name, theta in estimates.items():
            if theta.dtype != dtype or theta.device != torch.device(device):
                estimates[name] = theta.detach().to(dtype=dtype, device=device).requires_grad_(True)
        return list(estimates.values())

    def recovered(self) -> dict[str, float]:
        """Current estimates of the unknowns: name -> value."""
        return {name: float(theta.detach().exp()) for name, theta in self.params.estimates.items()}

    def with_params(self, **overrides) -> Problem:
        unknown = set(overrides) - set(self.params)
        if unknown:
            raise KanpdeError(f"problem {self.name!r} has no parameter {sorted(unknown)}; its "
                              f"parameters are: {', '.join(self.params) or '(none)'}")
        return replace(self, params=Params({**self.params, **overrides}))


def known_problems() -> list[str]:
    """Names of the problems shipped in problems/."""
    return sorted(p.stem for p in PROBLEMS_DIR.glob("*.py") if not p.stem.startswith("_"))


def _problem_path(source: str) -> Path:
    path = Path(source).expanduser()
    if path.suffix == ".py" or path.parent != Path("."):
        if not path.is_file():
            raise KanpdeError(f"problem file {str(path)!r} does not exist")
        return path
    builtin = PROBLEMS_DIR / f"{source}.py"
    if not builtin.is_file():
        raise KanpdeError(f"unknown problem {source!r}; the known problems are: "
                          f"{', '.join(known_problems())}; or pass a path to a .py file that "
                          "defines problem(**params)")
    return builtin


def load_problem(source: str, params: Mapping[str, object] | None = None) -> Problem:
    """Build the problem named ``source`` (shipped) or defined in the file ``source``.

    Any exception in the file's own code (a syntax error, a failed import, ``problem()``
    raising) comes back as a KanpdeError naming the file, the line and the message."""
    path = _problem_path(source)
    spec = importlib.util.spec_from_file_location(f"kanpde_problem_{path.stem}", path)
    if spec is None or spec.loader is None:
        raise KanpdeError(f"cannot load {path} as a Python module")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # importable by name, as torch.compile's tracing needs
    try:
        spec.loader.exec_module(module)
    except Exception as error:  # noqa: BLE001 - user code may raise anything: reported as its own error
        sys.modules.pop(spec.name, None)
        raise user_code_error(error, f"loading the problem file {path}") from None
    factory = getattr(module, "problem", None)
    if not callable(factory):
        raise KanpdeError(f"{path} must define a function problem(**params) -> Problem")
    params = dict(params or {})
    _check_params(path.stem, inspect.signature(factory).parameters, params)
    try:
        built = factory(**params)
    except Exception as error:  # noqa: BLE001 - user code may raise anything: reported as its own error
        raise user_code_error(error, f"problem() in {path}") from None
    if not isinstance(built, Problem):
        raise KanpdeError(f"problem() in {path} returned {type(built).__name__}, not a Problem")
    return built


def _check_params(name: str, accepted: Mapping[str, inspect.Parameter], params: Mapping[str, object]) -> None:
    """Parameters the problem does not take, or a value whose type does not fit the
    parameter's default (a string for a number), are refused by name."""
    takes_any = any(a.kind is inspect.Parameter.VAR_KEYWORD for a in accepted.values())
    unknown = set(params) - set(accepted)
    if unknown and not takes_any:
        raise KanpdeError(f"problem {name!r} has no parameter {sorted(unknown)}; its "
                          f"parameters are: {', '.join(accepted) or '(none)'}")
    for key, value in params.items():
        default = accepted[key].default if key in accepted else inspect.Parameter.empty
        if isinstance(default, bool) or default is inspect.Parameter.empty or default is None:
            continue
        numeric = isinstance(value, (int, float)) and not isinstance(value, bool)
        if isinstance(default, (int, float)) and not numeric:
            raise KanpdeError(f"problem.params.{key}={value!r}: the parameter {key} of problem {name!r} is a "
                              f"number (default {default!r}); give a number")
