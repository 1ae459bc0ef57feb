"""A dense quasi-Newton optimizer: BFGS and the self-scaled BFGS / Broyden updates.

PINN and PIKAN studies (Urbán, Stefanou & Pons 2025, "Unveiling the optimization process
of physics-informed neural networks"; Kiyani et al. 2025) reach losses several orders of
magnitude below L-BFGS's with a full-memory quasi-Newton method whose inverse Hessian is
rescaled at every update (Al-Baali 1998, "Numerical experience with a class of
self-scaling quasi-Newton algorithms", JOTA 96). Small networks (a few thousand
parameters) make the dense n x n matrix affordable, and it keeps all the curvature that
L-BFGS's short history throws away.

The inverse-Hessian update of the self-scaled Broyden family (Urbán et al. 2025, eq. for
H_{k+1}; Al-Baali 1998), with s = x_{k+1} - x_k, y = g_{k+1} - g_k:

    H+ = (H - H y y^T H / (y^T H y) + phi (y^T H y) v v^T) / tau + s s^T / (y^T s),
    v  = s / (y^T s) - H y / (y^T H y).

phi = 1, tau = 1 is BFGS; phi = 0 would be DFP. The scalars come from
    b = s^T B s / y^T s = -t s^T g / y^T s   (B = H^-1; s = -t H g),
    h = y^T H y / y^T s,   a = b h - 1 >= 0   (Cauchy-Schwarz),
and are, per method:
    "bfgs":      phi = 1, tau = 1;
    "ssbfgs":    phi = 1, tau = min(1, 1/b)   (Al-Baali's scaling: only ever enlarge H,
                 where B overestimates the curvature along s);
    "ssbroyden": theta in [theta-, theta+] nearest (1 - b)/b, with
                 rho- = min(1, h (1 - sqrt(a / (1 + a)))), theta- = (rho- - 1)/a,
                 theta+ = 1/rho-, sigma = 1 + a theta, phi = (1 - theta)/sigma,
                 tau = min(rho sigma^(-1/(n-1)), sigma) if theta <= 0,
                 tau = rho min(sigma^(-1/(n-1)), 1/theta) otherwise, rho = min(1, 1/b).
On the first update after H = I every method uses tau = h / sigma (h for the BFGS
ones), which replaces the identity by the usual y^T s / y^T y scale.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from typing import Any

import torch
from torch.optim.lbfgs import _strong_wolfe

from kanpde.errors import KanpdeError
from kanpde.training.flat import assign, flatten, flatten_grads

log = logging.getLogger(__name__)

METHODS = ("ssbroyden", "ssbfgs", "bfgs")


def _bytes(size: float) -> str:
    unit = "B"
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            break
        size /= 1024
    return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"


class QuasiNewton:
    """Dense BFGS / self-scaled BFGS / self-scaled Broyden with a strong-Wolfe line search.

    A step is up to ``max_iter`` iterations. ``step(objective)`` takes a function returning
    the scalar loss (no backward: the optimizer differentiates it with
    ``torch.autograd.grad``) and returns the loss at the start of the step, like
    :class:`kanpde.training.optim.RescaledLBFGS`. The inverse Hessian ``H`` (n x n, on the
    parameters' device and dtype) carries over from step to step; the loss and gradient
    are evaluated afresh at the start of each step, because the objective may have been
    resampled in between.

    ``stalled`` is True when a whole step did not lower the loss. ``iterations`` counts
    the accepted iterations of all steps, ``evaluations`` the objective's evaluations.

    The update is skipped when y^T s <= ``curvature_eps`` |y| |s| (it would not keep H
    positive definite); ``H`` restarts at the identity when a line search fails, and a
    step ends when a line search from a fresh ``H`` fails too, or when the largest
    gradient entry is at most ``tolerance_grad`` (at an exact minimum the update would
    divide 0 by 0). ``max_hessian_bytes`` refuses a dense matrix larger than that.
    """

    def __init__(self, params, method: str = "ssbroyden", max_iter: int = 20, lr: float = 1.0,
                 c1: float = 1e-4, c2: float = 0.9, max_ls: int = 25, tolerance_grad: float = 1e-20,
                 tolerance_change: float = 1e-20, curvature_eps: float | None = None,
                 max_hessian_bytes: int = 2 * 1024 ** 3):
        if method not in METHODS:
            raise KanpdeError(f"QuasiNewton: unknown method {method!r}; accepted: {', '.join(METHODS)}")
        self.params = list(params)
        if not self.params:
            raise KanpdeError("QuasiNewton: no parameters to optimize")
        dtypes = {p.dtype for p in self.params}
        devices = {p.device for p in self.params}
        if len(dtypes) > 1 or len(devices) > 1:
            raise KanpdeError(f"QuasiNewton: the parameters must share one dtype and device, got "
                              f"{sorted(map(str, dtypes))} on {sorted(map(str, devices))}")
        self.dtype, self.device = dtypes.pop(), devices.pop()
        self.n = sum(p.numel() for p in self.params)
        size = self.n * self.n * torch.finfo(self.dtype).bits // 8
        if size > max_hessian_bytes:
            raise KanpdeError(
                f"QuasiNewton ({method}): the dense inverse Hessian of {self.n} parameters would take "
                f"{_bytes(size)} ({self.n} x {self.n} {str(self.dtype).removeprefix('torch.')}), over "
                f"the limit of {_bytes(max_hessian_bytes)} (max_hessian_bytes); use L-BFGS for a "
                "model this large, or raise the limit")
        self.method, self.max_iter, self.lr = method, max_iter, lr
        self.line_search: dict[str, Any] = dict(c1=c1, c2=c2, max_ls=max_ls, tolerance_change=tolerance_change)
        self.tolerance_grad = tolerance_grad
        self.curvature_eps = torch.finfo(self.dtype).eps if curvature_eps is None else curvature_eps
        self.H = torch.eye(self.n, dtype=self.dtype, device=self.device)
        self.fresh = True  # H is the identity: the next update sets its scale
        self.stalled = False
        self.iterations = 0
        self.evaluations = 0
        self.skipped = torch.zeros((), dtype=torch.long, device=self.device)  # a tensor: no sync

    def state_dict(self) -> dict[str, Any]:
        """Everything a resumed run needs: tensors and numbers."""
        return {"H": self.H, "fresh": self.fresh, "stalled": self.stalled, "iterations": self.iterations,
                "evaluations": self.evaluations, "skipped": self.skipped}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state["H"].shape != self.H.shape:
            raise KanpdeError(f"QuasiNewton: the saved inverse Hessian is {tuple(state['H'].shape)}, the "
                              f"parameters need {tuple(self.H.shape)}")
        self.H = state["H"].to(self.H)
        self.skipped = state["skipped"].to(self.skipped)
        self.fresh, self.stalled = bool(state["fresh"]), bool(state["stalled"])
        self.iterations, self.evaluations = int(state["iterations"]), int(state["evaluations"])

    def restart(self) -> None:
        """H = I: forget the curvature (its scale is set again by the next update)."""
        self.H = torch.eye(self.n, dtype=self.dtype, device=self.device)
        self.fresh = True

    def _evaluate(self, objective: Callable[[], torch.Tensor], x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Loss (0-d, detached) and flat gradient (n,) at ``x``."""
        assign(self.params, x)
        self.evaluations += 1
        with torch.enable_grad():
            loss = objective()
            grads: tuple[torch.Tensor | None, ...] = (None,) * len(self.params)
            if loss.requires_grad:  # else the loss does not depend on the parameters
                grads = torch.autograd.grad(loss, self.params, allow_unused=True)
        g = flatten_grads(grads, self.params)
        return loss.detach(), g

    def step(self, objective: Callable[[], torch.Tensor]) -> torch.Tensor:
        x = flatten(self.params)
        if x.numel() != self.n:  # parameters replaced in place by a different size
            raise KanpdeError(f"QuasiNewton: the parameters now have {x.numel()} entries, not {self.n}; "
                              "make a new optimizer after changing the model's shape")
        start, g = self._evaluate(objective, x)

        def line_function(x0: torch.Tensor, t: float, d: torch.Tensor) -> tuple[float, torch.Tensor]:
            loss, grad = self._evaluate(objective, x0 + t * d)
            value = float(loss)  # the line search compares Python floats anyway
            if not math.isfinite(value):
                # torch's search reads a NaN loss as neither too high nor too low; +inf is
                # too high, so it brackets and bisects back towards the finite side
                return math.inf, torch.full_like(grad, math.nan)
            return value, grad

        value = float(start)
        for _ in range(self.max_iter):
            if not math.isfinite(value) or float(g.abs().max()) <= self.tolerance_grad:
                break
            d = -(self.H @ g)
            gtd = g.dot(d)
            if not float(gtd) < 0:  # H lost positive definiteness to rounding: steepest descent
                self.restart()
                d, gtd = -g, -g.dot(g)
            # from the identity, a first step of length lr in the max norm (as torch's L-BFGS)
            t0 = min(1.0, 1.0 / float(g.abs().sum())) * self.lr if self.fresh else self.lr
            f_new, g_new, t, _ = _strong_wolfe(line_function, x, t0, d, value, g, gtd, **self.line_search)
            t = float(t)
            # Armijo is the part of Wolfe that says the step is worth taking; a non-finite
            # loss (or step) is never taken, so the parameters stay finite
            armijo = f_new <= value + self.line_search["c1"] * t * float(gtd)
            if not (math.isfinite(f_new) and math.isfinite(t) and armijo and bool(torch.isfinite(g_new).all())):
                if self.fresh:
                    log.debug("QuasiNewton: the line search failed from H = I; ending the step")
                    break
                log.debug("QuasiNewton: the line search failed; restarting H = I")
                self.restart()
                continue
            s = t * d
            self._update(s, g_new - g, t, g)
            x = x + s
            value, g = f_new, g_new
            self.iterations += 1
        assign(self.params, x)
        self.stalled = not value < float(start)
        return start

    @torch.no_grad()
    def _update(self, s: torch.Tensor, y: torch.Tensor, t: float, g: torch.Tensor) -> None:
        """Update H (n x n) in place with the step s (n,), the gradient change y (n,), the
        step length t and the gradient g (n,) at the start of the iteration. All scalars
        stay tensors, and a skipped update multiplies by 1 and adds zeros, so this never
        waits on the device."""
        H = self.H
        ys = y.dot(s)
        Hy = H @ y
        yHy = y.dot(Hy)
        tiny = torch.finfo(self.dtype).tiny
        ok = (ys > self.curvature_eps * y.norm() * s.norm()) & (yHy > 0) & torch.isfinite(ys) & torch.isfinite(yHy)
        one = torch.ones((), dtype=self.dtype, device=self.device)
        ys_ = torch.where(ok, ys, one)
        yHy_ = torch.where(ok, yHy, one)
        h = yHy_ / ys_
        b = (-t * s.dot(g) / ys_).clamp_min(tiny)  # s^T B s / y^T s, > 0 along a descent direction
        a = (b * h - 1).clamp_min(0.0)  # >= 0 in exact arithmetic
        if self.method == "ssbroyden":
            rho_minus = torch.minimum(one, h * (1 - torch.sqrt(a / (1 + a)))).clamp_min(tiny)
            # a = 0 (H y parallel to s) makes v = 0: theta then only enters through sigma = 1
            theta_minus = torch.where(a > 0, (rho_minus - 1) / a.clamp_min(tiny), torch.zeros_like(a))
            theta = torch.maximum(theta_minus, torch.minimum(1 / rho_minus, (1 - b) / b))
            sigma = (1 + a * theta).clamp_min(tiny)  # > 0 because theta >= theta- > -1/a
            phi = (1 - theta) / sigma
            rho = torch.minimum(one, 1 / b)
            root = sigma ** (-1.0 / max(self.n - 1, 1))
            tau = torch.where(theta <= 0, torch.minimum(rho * root, sigma),
                              rho * torch.minimum(root, 1 / theta.clamp_min(tiny)))
        else:
            sigma, phi = one, one
            tau = torch.minimum(one, 1 / b) if self.method == "ssbfgs" else one
        if self.fresh:
            tau = h / sigma
        tau = torch.where(ok, tau, one)
        v = s / ys_ - Hy / yHy_
        zero = torch.zeros((), dtype=self.dtype, device=self.device)
        H.div_(tau)
        H.sub_(torch.outer(torch.where(ok, 1 / (tau * yHy_), zero) * Hy, Hy))
        H.add_(torch.outer(torch.where(ok, phi * yHy_ / tau, zero) * v, v))
        H.add_(torch.outer(torch.where(ok, 1 / ys_, zero) * s, s))
        self.skipped += (~ok).long()
        # a skipped first update leaves H = I, to be scaled by the next one; this is the
        # one read of ``ok`` on the host, and only while H is fresh
        self.fresh = self.fresh and not bool(ok)
