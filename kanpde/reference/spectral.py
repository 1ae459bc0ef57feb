r"""Fourier pseudo-spectral solver with ETDRK4 time stepping for periodic 1-D problems.

.. math::
    u_t = \mathcal{L} u + \mathcal{N}(u), \qquad x \in [a, a + \ell) \text{ periodic},

where :math:`\mathcal{L}` is linear with constant coefficients, given by its Fourier symbol
:math:`\hat{\mathcal{L}}(k)` (e.g. :math:`-D k^2` for :math:`D u_{xx}`), and :math:`\mathcal{N}`
is evaluated pseudo-spectrally (products in physical space, derivatives in Fourier space).
Every Fourier mode is advanced by the exponential time-differencing Runge-Kutta scheme of
Cox & Matthews (2002): the stiff linear part is integrated exactly, the nonlinear part by
four Runge-Kutta-like stages whose weights :math:`h\varphi_i(hL)` are evaluated as contour
integrals (Kassam & Trefethen 2005), which avoids their cancellation at small :math:`|hL|`.

ORDER = 4 in time; spectral in space (faster than any power of 1/n for smooth solutions).

The problem solvers (:func:`allen_cahn`, :func:`kdv`, :func:`advection`) return a
:class:`GridSolution` on axes (x, t): x is the periodic grid :math:`x_j = a + j\ell/n`
*plus* the right end :math:`a + \ell` (a copy of :math:`x_0`, by periodicity), so that the
grid covers the closed interval a problem's domain is written on; t are the save times.
"""

from __future__ import annotations

import logging
import time
from typing import Callable

import numpy as np

from kanpde.errors import KanpdeError
from kanpde.reference.solution import GridSolution

log = logging.getLogger(__name__)

ORDER = 4
CONTOUR_POINTS = 64  # the trapezoidal rule on a circle converges geometrically: 64 is ample
FINE_POINTS = 2**20  # samples for the Fourier coefficients of u0 (see project_initial)
_STEP_SLACK = 1e-9  # relative rounding allowed when checking that dt divides a save time

Symbol = Callable[[np.ndarray], np.ndarray]
Nonlinear = Callable[[np.ndarray, np.ndarray], np.ndarray]
Initial = Callable[[np.ndarray], np.ndarray]


def wavenumbers(n: int, length: float) -> np.ndarray:
    """Angular wavenumbers of ``np.fft.rfft`` of n samples over a period ``length``: (n//2+1,)."""
    return 2.0 * np.pi / length * np.arange(n // 2 + 1)


def _check_grid(n: int, length: float) -> None:
    if not (isinstance(n, (int, np.integer)) and n >= 4 and n % 2 == 0):
        raise KanpdeError(f"n = {n!r} grid points: need an even integer >= 4")
    if not (np.isfinite(length) and length > 0):
        raise KanpdeError(f"period length = {length!r}: need a finite positive number")


def _step_counts(dt: float, save_times: np.ndarray) -> np.ndarray:
    """Steps of size dt to each save time: (s,) int. KanpdeError unless whole numbers."""
    if not (np.isfinite(dt) and dt > 0):
        raise KanpdeError(f"dt = {dt!r}: need a finite positive time step")
    if save_times.ndim != 1 or len(save_times) == 0 or not np.all(np.isfinite(save_times)):
        raise KanpdeError(f"save_times of shape {save_times.shape}: need a non-empty finite 1-D array")
    if save_times[0] < 0 or np.any(np.diff(save_times) <= 0):
        raise KanpdeError(f"save_times must be non-negative and strictly increasing; got first time "
                          f"{save_times[0]:g} and {int(np.sum(np.diff(save_times) <= 0))} "
                          "non-increasing steps")
    steps = save_times / dt
    counts = np.rint(steps).astype(np.int64)
    off = np.abs(steps - counts) > _STEP_SLACK * np.maximum(1.0, steps)
    if np.any(off):
        raise KanpdeError(f"dt = {dt!r} does not divide save time {save_times[off][0]:g}: "
                          "every save time must be a whole number of steps")
    return counts


def etdrk4_coefficients(hL: np.ndarray) -> tuple[np.ndarray, ...]:
    r"""ETDRK4 weights for z = h times the symbol, hL: (m,) -> six (m,) complex arrays.

    Returns :math:`e^{z}, e^{z/2}, Q = (e^{z/2}-1)/z` and

    .. math::
        f_1 = \frac{-4 - z + e^z(4 - 3z + z^2)}{z^3},\quad
        f_2 = \frac{2 + z + e^z(z - 2)}{z^3},\quad
        f_3 = \frac{-4 - 3z - z^2 + e^z(4 - z)}{z^3}

    (all four tend to finite limits at z = 0; multiply them by h to use them). Each is
    entire, so by Cauchy's formula its value at z is its mean over the circle
    :math:`z + e^{i\theta}`, whose points stay at distance 1 from the cancelling z = 0.
    """
    angles = 2.0 * np.pi * (np.arange(CONTOUR_POINTS) + 0.5) / CONTOUR_POINTS
    z = hL[:, None] + np.exp(1j * angles)[None, :]  # (m, M): one circle per mode
    ez = np.exp(z)
    q = np.mean((np.exp(z / 2) - 1.0) / z, axis=1)
    f1 = np.mean((-4.0 - z + ez * (4.0 - 3.0 * z + z**2)) / z**3, axis=1)
    f2 = np.mean((2.0 + z + ez * (z - 2.0)) / z**3, axis=1)
    f3 = np.mean((-4.0 - 3.0 * z - z**2 + ez * (4.0 - z)) / z**3, axis=1)
    return np.exp(hL), np.exp(hL / 2), q, f1, f2, f3


def etdrk4(u0: np.ndarray, length: float, symbol: Symbol, nonlinear: Nonlinear, dt: float,
           save_times, dealias: bool = False) -> np.ndarray:
    r"""Integrate :math:`u_t = \mathcal{L}u + \mathcal{N}(u)` from t = 0; u at the save times.

    u0: (n,) real values at :math:`x_j = a + j\ell/n`, n even; length: the period
    :math:`\ell`; symbol(k: (m,)) -> (m,): :math:`\hat{\mathcal L}(k)` at the angular
    wavenumbers of :func:`wavenumbers` (m = n//2+1); nonlinear(u_hat: (m,), k: (m,)) -> (m,):
    the ``rfft`` of :math:`\mathcal N(u)` where ``np.fft.irfft(u_hat)`` is u; dt: the time
    step, which must divide every save time; save_times: (s,), increasing, >= 0.
    dealias: zero the modes :math:`|j| \ge n/3` of u0 and of every :math:`\hat{\mathcal N}`
    (the 2/3 rule, exact for quadratic nonlinearities). The Nyquist mode is always zeroed:
    a real u has no well-defined odd derivative there. Returns u: (s, n).
    """
    u0 = np.asarray(u0, dtype=np.float64)
    if u0.ndim != 1:
        raise KanpdeError(f"u0 of shape {u0.shape}: need a 1-D array of grid values")
    n = len(u0)
    _check_grid(n, length)
    counts = _step_counts(float(dt), np.asarray(save_times, dtype=np.float64))
    k = wavenumbers(n, length)
    hL = dt * np.asarray(symbol(k), dtype=np.complex128)
    if hL.shape != k.shape:
        raise KanpdeError(f"symbol(k) has shape {hL.shape}: need one value per wavenumber, {k.shape}")
    keep = (3 * np.arange(len(k)) < n) if dealias else np.ones(len(k), dtype=bool)
    keep[-1] = False  # the Nyquist mode
    started = time.perf_counter()
    saved = _march(np.fft.rfft(u0) * keep, k, keep, etdrk4_coefficients(hL), nonlinear, dt, counts)
    log.debug("ETDRK4: n = %d, dt = %g, %d steps in %.2f s", n, dt, counts[-1],
              time.perf_counter() - started)
    if not np.all(np.isfinite(saved)):
        raise KanpdeError(f"the solution became non-finite with dt = {dt!r}, n = {n}: "
                          "reduce dt or increase n")
    return saved


def _march(v: np.ndarray, k: np.ndarray, keep: np.ndarray, coefficients: tuple,
           nonlinear: Nonlinear, dt: float, counts: np.ndarray) -> np.ndarray:
    """ETDRK4 steps of u_hat v: (m,) to each step count in counts: (s,); u there: (s, n)."""
    e, e2, q, f1, f2, f3 = coefficients
    q, f1, f2, f3 = dt * q, dt * f1, dt * f2, dt * f3
    n = 2 * (len(v) - 1)

    def n_hat(w):  # the dropped modes (Nyquist; the top third when dealiasing) stay zero
        return keep * nonlinear(w, k)

    saved, done = np.empty((len(counts), n)), 0
    for i, target in enumerate(counts):
        for _ in range(target - done):
            nv = n_hat(v)
            a = e2 * v + q * nv
            na = n_hat(a)
            b = e2 * v + q * na
            nb = n_hat(b)
            c = e2 * a + q * (2.0 * nb - nv)
            v = e * v + f1 * nv + 2.0 * f2 * (na + nb) + f3 * n_hat(c)
        done = target
        saved[i] = np.fft.irfft(v, n)
    return saved


def project_initial(initial: Initial, left: float, length: float, n: int) -> np.ndarray:
    r"""Values on the n-point grid of initial's Fourier series truncated to |j| < n/2: (n,).

    Sampling u0 at n points would alias its Fourier tail into the kept modes; for a u0 with
    a kink (such as Allen-Cahn's :math:`x^2\cos\pi x`, whose slope jumps at :math:`\pm 1`)
    that is an O(1/n^2) error, which diffusion never removes. The coefficients are instead
    taken from FINE_POINTS samples, aliasing O(1/FINE_POINTS^2) ~ 1e-12 into them.
    """
    fine = max(FINE_POINTS, 4 * n)
    x = left + length * np.arange(fine) / fine
    coefficients = np.fft.rfft(np.asarray(initial(x), dtype=np.float64))[: n // 2 + 1]
    coefficients[-1] = 0.0  # Nyquist: etdrk4 drops it too
    return np.fft.irfft(coefficients * (n / fine), n)


def _save_times(t_end: float, times: int) -> np.ndarray:
    """``times`` equispaced save times from 0 to t_end: (times,)."""
    if not (isinstance(times, (int, np.integer)) and times >= 2):
        raise KanpdeError(f"times = {times!r}: need an integer >= 2 (t = 0 and t_end at least)")
    if not (np.isfinite(t_end) and t_end > 0):
        raise KanpdeError(f"t_end = {t_end!r}: need a finite positive end time")
    return np.linspace(0.0, t_end, times)


def solve_periodic(initial: Initial, left: float, right: float, symbol: Symbol,
                   nonlinear: Nonlinear, *, t_end: float, times: int, n: int, dt: float,
                   dealias: bool, name: str) -> GridSolution:
    """u on (x, t): x = the n-point periodic grid of [left, right) plus right, t = ``times``
    equispaced save times in [0, t_end]; values (n+1, times). initial: x (N,) -> u0 (N,).

    Row t = 0 holds u0 itself: it is known exactly, whereas the truncated Fourier series of
    a u0 with a kink differs from it by O(1/n) near the kink.
    """
    length = right - left
    _check_grid(n, length)
    x = np.append(left + length * np.arange(n) / n, right)
    t = _save_times(t_end, times)
    u = etdrk4(project_initial(initial, left, length, n), length, symbol, nonlinear, dt, t, dealias)
    u[0] = initial(x[:-1])
    values = np.concatenate([u, u[:, :1]], axis=1).T  # (n+1, times): right end = left end
    method = f"Fourier pseudo-spectral, ETDRK4 ({name}), {n} modes, dt {dt:g}"
    return GridSolution((x, t), values, method + (", 2/3-rule dealiased" if dealias else ""))


def allen_cahn(D: float = 1e-4, n: int = 2048, dt: float = 2.5e-3, times: int = 101,
               t_end: float = 1.0) -> GridSolution:
    r"""Periodic Allen-Cahn, :math:`u_t = D u_{xx} + 5u - 5u^3` on :math:`x \in [-1, 1)`,
    :math:`u(x, 0) = x^2\cos\pi x`, t in [0, t_end]: values (n+1, times).

    The linear 5u goes into the symbol :math:`5 - Dk^2`. Two features set n (for D = 1e-4):
    u0's slope jumps at x = -1 (= 1), and at time t this kink is smoothed only over
    :math:`\sqrt{Dt}`; by t = 1 the interfaces are :math:`\tanh(x\sqrt{5/2D})` profiles of
    width ~0.006. The defaults are accurate to ~1e-9 at the save times t >= 0.01 (the save
    time 0.005 would need n = 4096 for 1e-7). Dealiasing is off: it would cut the resolution
    to 2/3, while the cubic's aliasing of a resolved solution is at round-off level anyway.
    """
    def nonlinear(u_hat, k):
        u = np.fft.irfft(u_hat)
        return -5.0 * np.fft.rfft(u * u * u)

    return solve_periodic(lambda x: x**2 * np.cos(np.pi * x), -1.0, 1.0, lambda k: 5.0 - D * k**2,
                          nonlinear, t_end=t_end, times=times, n=n, dt=dt, dealias=False,
                          name=f"Allen-Cahn, D {D:g}")


def kdv(alpha: float = 1.0, beta: float = 0.022**2, initial: Initial = lambda x: np.cos(np.pi * x),
        left: float = 0.0, right: float = 2.0, t_end: float = 1.0, n: int = 512,
        dt: float = 1e-4, times: int = 101) -> GridSolution:
    r"""Periodic Korteweg-de Vries, :math:`u_t + \alpha u u_x + \beta u_{xxx} = 0`: (n+1, times).

    The defaults are Zabusky & Kruskal's :math:`\alpha = 1, \beta = \delta^2, \delta = 0.022`,
    :math:`u_0 = \cos\pi x` on [0, 2); :math:`\alpha = 6, \beta = 1` is the normalised form
    with solitons :math:`\frac{c}{2}\,\mathrm{sech}^2(\frac{\sqrt c}{2}(x - ct - x_0))`.
    Symbol :math:`i\beta k^3`; :math:`\mathcal N = -\frac{\alpha}{2}(u^2)_x`, 2/3-dealiased
    (the quadratic is then free of aliasing). The defaults agree with n = 1024, dt = 5e-5
    to ~1e-9 (the time error; the spatial one is ~1e-13).
    """
    def nonlinear(u_hat, k):
        u = np.fft.irfft(u_hat)
        return -0.5j * alpha * k * np.fft.rfft(u * u)

    return solve_periodic(initial, left, right, lambda k: 1j * beta * k**3, nonlinear,
                          t_end=t_end, times=times, n=n, dt=dt, dealias=True,
                          name=f"KdV, alpha {alpha:g}, beta {beta:g}")


def advection(initial: Initial, speed: float = 1.0, left: float = -1.0, right: float = 1.0,
              t_end: float = 1.0, n: int = 128, times: int = 101) -> GridSolution:
    r"""Periodic linear advection :math:`u_t + c\,u_x = 0`, exact :math:`u_0(x - ct)`: (n+1, times).

    With :math:`\mathcal N = 0` ETDRK4 reduces to the exact propagator :math:`e^{-ickh}`, so
    one step per save interval suffices; the only error is the Fourier truncation of u0.
    """
    return solve_periodic(initial, left, right, lambda k: -1j * speed * k,
                          lambda u_hat, k: np.zeros_like(u_hat), t_end=t_end, times=times,
                          n=n, dt=_save_times(t_end, times)[1], dealias=False,
                          name=f"advection, speed {speed:g}")
