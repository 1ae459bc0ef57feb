"""Networks: the KAN ansatz and an MLP baseline. Neither knows anything about PDEs:
they receive the input dimension and the input bounds (the domain's bounding box)."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar, cast

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from kanpde.errors import KanpdeError
from kanpde.jet import Jet, JetRequest, PointCache, input_jet
from kanpde.model.features import PeriodicFeatures
from kanpde.model.layer import KANLayer, _random, _silu_derivatives
from kanpde.model.reflection import Reflection

_Out = TypeVar("_Out", Tensor, Jet)


@dataclass(frozen=True)
class KANConfig:
    """Hyper-parameters shared by all layers of a KAN.

    ``grid_size`` is the *initial* grid size; after ``extend_grid`` the truth is
    ``KAN.grid_size``.
    """

    grid_size: int = 5
    order: int = 3
    grid_range: tuple[float, float] = (-1.0, 1.0)
    grid_eps: float = 0.02
    noise_scale: float = 0.1


class InputMap(nn.Module):
    """Affine map of each input from its bounds onto ``target``: (N, d) -> (N, d)."""

    scale: Tensor  # buffer (d,)
    shift: Tensor  # buffer (d,)

    def __init__(self, input_bounds, target: tuple[float, float], dtype=None, device=None):
        super().__init__()
        dtype = dtype or torch.get_default_dtype()
        bounds = torch.as_tensor(input_bounds, dtype=torch.float64)
        if bounds.ndim != 2 or bounds.shape[1] != 2 or not bool((bounds[:, 1] > bounds[:, 0]).all()):
            raise KanpdeError(
                f"input_bounds must be (d, 2) rows of (lower, upper) with lower < upper; got {bounds.tolist()}"
            )
        a, b = target
        scale = (b - a) / (bounds[:, 1] - bounds[:, 0])  # (d,)
        shift = a - bounds[:, 0] * scale  # (d,)
        self.register_buffer("scale", scale.to(dtype=dtype, device=device))
        self.register_buffer("shift", shift.to(dtype=dtype, device=device))

    @property
    def dim(self) -> int:
        return self.scale.shape[0]

    def forward(self, x: Tensor) -> Tensor:
        return x * self.scale + self.shift


class _Network(nn.Module):
    """forward and jet of a network whose subclass defines them on the points themselves
    (``_forward``, ``_jet``), around its optional mirror symmetry ``self.reflection``
    (model.reflection: evaluated on [x; R x], then combined)."""

    reflection: Reflection | None

    def forward(self, x: Tensor) -> Tensor:
        """x: (N, d) -> (N, m)."""
        if self.reflection is None:
            return self._forward(x)
        return self.reflection.combine(self._forward(self.reflection.points(x)))

    def jet(self, x: Tensor, request: JetRequest) -> Jet:
        """Values and the requested input derivatives in one forward pass:
        x: (N, d) -> Jet with channels (C, N, m)."""
        if self.reflection is None:
            return self._jet(x, request)
        return self.reflection.combine_jet(self._jet(self.reflection.points(x), request))

    def _forward(self, x: Tensor) -> Tensor:
        raise NotImplementedError

    def _jet(self, x: Tensor, request: JetRequest) -> Jet:
        raise NotImplementedError


class KAN(_Network):
    """Kolmogorov–Arnold network ``(N, d) -> (N, m)``; ``widths = [d, ..., m]``.

    Inputs are mapped affinely from ``input_bounds`` (d, 2) onto ``config.grid_range``
    before the first layer. ``periodic``: indices of inputs in which the network is exactly
    periodic over their bounds (each becomes a cos and a sin feature, see model.features;
    the first layer then has one more input per periodic one). ``mult[l]``: multiplication
    nodes of hidden layer l (as in KAN 2.0), after its ``widths[l + 1]`` sum nodes; each
    multiplies two outputs of the layer before it, so products of functions (separable
    solutions) are exactly representable. ``reflect = (axis, "odd" | "even")``: the
    network is odd or even in that input about the middle of its bounds (see
    model.reflection). Parameter names: ``layers.{l}.coef``, ``layers.{l}.w_base``,
    ``layers.{l}.w_spline``.
    """

    def __init__(
        self,
        widths: Sequence[int],
        input_bounds,
        config: KANConfig = KANConfig(),
        *,
        mult: Sequence[int] = (),
        periodic: Sequence[int] = (),
        reflect: tuple[int, str] | None = None,
        generator: torch.Generator | None = None,
        dtype: torch.dtype | None = None,
        device: torch.device | str | None = None,
    ):
        super().__init__()
        self.mult = _check_mult(mult, widths)
        self.reflection = None if reflect is None else Reflection(input_bounds, *reflect)
        self.features, bounds, widths = _input_features(input_bounds, _check_widths(widths, allow_empty=True),
                                                        periodic)
        self.config = config
        self.input_map = InputMap(bounds, config.grid_range, dtype, device)
        nodes = [w + m for w, m in zip(widths, (0, *self.mult, 0))]  # inputs of each layer
        outputs = [w + 2 * m for w, m in zip(widths[1:], (*self.mult, 0))]  # two per product
        layers = nn.ModuleList(
            KANLayer(
                w_in, w_out, config.grid_size, config.order, config.grid_range,
                noise_scale=config.noise_scale, generator=generator, dtype=dtype, device=device,
            )
            for w_in, w_out in zip(nodes[:-1], outputs)
        )
        self.layers = cast("Sequence[KANLayer]", layers)  # a ModuleList, typed by its items
        self._feature_memo = PointCache(4)  # see _input_features

    @property
    def widths(self) -> list[int]:
        """Nodes per layer: inputs, hidden nodes (sums and products), outputs."""
        return [layer.in_dim for layer in self.layers] + [self.layers[-1].out_dim]

    @property
    def grid_size(self) -> int:
        return self.layers[0].grid_size

    def _forward(self, x: Tensor) -> Tensor:
        h = self.mapped_inputs(x)
        for index, layer in enumerate(self.layers):
            h = self.nodes(index, layer(h))
        return h

    def nodes(self, index: int, out: _Out) -> _Out:
        """Layer ``index``'s outputs (N, w + 2m) (or their jet) -> its nodes (N, w + m):
        the sums pass, each product node multiplies two consecutive outputs after them."""
        m = self.mult[index] if index < len(self.mult) else 0
        if not m:
            return out
        if isinstance(out, Jet):
            w = out.data.shape[-1] - 2 * m
            products = out.with_data(out.data[..., w::2]) * out.with_data(out.data[..., w + 1::2])
            return out.with_data(torch.cat([out.data[..., :w], products.data], dim=-1))
        w = out.shape[-1] - 2 * m
        return torch.cat([out[..., :w], out[..., w::2] * out[..., w + 1::2]], dim=-1)

    def mapped_inputs(self, x: Tensor) -> Tensor:
        """What the first layer sees: x (N, d) through the features and onto the grid range."""
        return self.input_map(self.features(x) if self.features is not None else x)

    def _jet(self, x: Tensor, request: JetRequest) -> Jet:
        h = input_jet(x, request)
        if self.features is not None:
            h = self.features.jet(h)
        # the affine map: values mapped, derivatives scaled per column
        h = h.with_data(torch.cat([self.input_map(h.data[:1]), h.data[1:] * self.input_map.scale]))
        first_layer, *rest = self.layers
        if first_layer.runs_fused(h):
            h = first_layer.jet(h)
        else:
            h = first_layer.jet_combine(h, *self._input_features(x, h, request))
        h = self.nodes(0, h)
        for index, layer in enumerate(rest, start=1):
            h = self.nodes(index, layer.jet(h))
        return h

    def _input_features(self, x: Tensor, h: Jet, request: JetRequest) -> tuple[Tensor, Tensor, Tensor]:
        """The first layer's basis features depend on the points and its knots only, not on
        any parameter: for points that do not require grad (a training batch, used step
        after step) they are kept for the last few point sets."""
        layer = self.layers[0]
        if x.requires_grad:
            return layer.jet_features(h)
        knots, scale = layer.knots, self.input_map.scale
        key = (request, knots.data_ptr(), knots._version, scale._version)
        return self._feature_memo.get(x, key, lambda: layer.jet_features(h))

    def seen_points(self, x: Tensor) -> Tensor:
        """The points the layers see for x: (N, d), or with a reflection x and its mirror
        images (2N, d)."""
        return x if self.reflection is None else self.reflection.points(x)

    def layer_inputs(self, x: Tensor) -> list[Tensor]:
        """The input of every layer on ``x`` and, with a reflection, its mirror images
        (layer 0's after normalisation): [(N, w_l)] (2N rows with a reflection)."""
        inputs, h = [], self.mapped_inputs(self.seen_points(x))
        for index, layer in enumerate(self.layers):
            inputs.append(h)
            h = self.nodes(index, layer(h))
        return inputs


_ACTIVATIONS: dict[str, Callable[[Tensor], Tensor]] = {
    "tanh": torch.tanh,
    "silu": F.silu,
    "sin": torch.sin,
    "gelu": F.gelu,
}


class MLP(_Network):
    """Multilayer perceptron baseline ``(N, d) -> (N, m)``, inputs mapped onto [-1, 1].

    Xavier-uniform weights drawn through ``generator``, zero biases; ``periodic`` and
    ``reflect`` as for the KAN.
    """

    def __init__(
        self,
        widths: Sequence[int],
        input_bounds,
        activation: str = "tanh",
        *,
        periodic: Sequence[int] = (),
        reflect: tuple[int, str] | None = None,
        generator: torch.Generator | None = None,
        dtype: torch.dtype | None = None,
        device: torch.device | str | None = None,
    ):
        super().__init__()
        self.reflection = None if reflect is None else Reflection(input_bounds, *reflect)
        if activation not in _ACTIVATIONS:
            raise KanpdeError(
                f"unknown activation {activation!r}; accepted: {', '.join(sorted(_ACTIVATIONS))}"
            )
        self.features, bounds, widths = _input_features(input_bounds, _check_widths(widths), periodic)
        dtype = dtype or torch.get_default_dtype()
        self.activation = activation
        self._act = _ACTIVATIONS[activation]
        self.input_map = InputMap(bounds, (-1.0, 1.0), dtype, device)
        self.recording: list[tuple[Jet, Tensor]] | None = None  # see jet()
        self.linears = nn.ModuleList()
        for w_in, w_out in zip(widths[:-1], widths[1:]):
            linear = nn.Linear(w_in, w_out, dtype=dtype, device=device)
            bound = math.sqrt(6.0 / (w_in + w_out))
            u = _random(torch.rand, (w_out, w_in), generator, dtype, device)
            with torch.no_grad():
                linear.weight.copy_((2.0 * u - 1.0) * bound)
                linear.bias.zero_()
            self.linears.append(linear)

    def _forward(self, x: Tensor) -> Tensor:
        h = self.input_map(self.features(x) if self.features is not None else x)
        for linear in self.linears[:-1]:
            h = self._act(linear(h))
        return self.linears[-1](h)

    def _jet(self, x: Tensor, request: JetRequest) -> Jet:
        """A linear layer maps every channel (its bias only the value), the activation
        composes by the chain rule. When ``self.recording`` is a list, each linear layer
        appends (input jet, output channels (C, N, out)) to it (per-point Jacobians,
        training.jacobian)."""
        h = input_jet(x, request)
        if self.features is not None:
            h = self.features.jet(h)
        h = h.with_data(torch.cat([self.input_map(h.data[:1]), h.data[1:] * self.input_map.scale]))
        last = len(self.linears) - 1
        for index, linear in enumerate(cast("Sequence[nn.Linear]", self.linears)):
            out = h.data @ linear.weight.T  # (C, N, out)
            out = torch.cat([out[:1] + linear.bias, out[1:]])
            if self.recording is not None:
                self.recording.append((h, out))
            h = h.with_data(out)
            if index < last:
                h = h.with_data(h.compose(*_activation_derivatives(self.activation, h.value, request.order)))
        return h


def _activation_derivatives(name: str, x: Tensor, order: int) -> list[Tensor]:
    """The activation and its first ``order`` (<= 3) derivatives at x, elementwise."""
    if name == "tanh":
        t = torch.tanh(x)
        slope = 1 - t * t
        return [t, slope, -2 * t * slope, slope * (4 * t * t - 2 * slope)][:order + 1]
    if name == "sin":
        return [torch.sin(x), torch.cos(x), -torch.sin(x), -torch.cos(x)][:order + 1]
    if name == "silu":
        return _silu_derivatives(x, order)
    # gelu(x) = x Phi(x): gelu' = Phi + x phi, gelu'' = phi (2 - x^2), gelu^(3) = x phi (x^2 - 4)
    phi = torch.exp(-0.5 * x * x) / math.sqrt(2 * math.pi)
    cdf = 0.5 * (1 + torch.erf(x / math.sqrt(2)))
    return [x * cdf, cdf + x * phi, phi * (2 - x * x), x * phi * (x * x - 4)][:order + 1]


def count_parameters(model: nn.Module) -> int:
    """Number of trainable scalars."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def _check_widths(widths: Sequence[int], allow_empty: bool = False) -> list[int]:
    """Layer widths, all >= 1 (hidden ones >= 0 with ``allow_empty``: product nodes only)."""
    widths = [int(w) for w in widths]
    low = 0 if allow_empty else 1
    if len(widths) < 2 or min(widths[0], widths[-1]) < 1 or min(widths) < low:
        raise KanpdeError(f"widths must list at least input and output sizes, all >= 1; got {widths}")
    return widths


def _check_mult(mult: Sequence[int], widths: Sequence[int]) -> tuple[int, ...]:
    """Product nodes per hidden layer, padded with zeros: (len(widths) - 2,)."""
    hidden = len(widths) - 2
    mult = tuple(int(m) for m in mult)
    if len(mult) > hidden or any(m < 0 for m in mult):
        raise KanpdeError(f"mult gives the product nodes of each hidden layer (>= 0, at most {hidden} "
                          f"entries for widths {list(widths)}); got {list(mult)}")
    mult = mult + (0,) * (hidden - len(mult))
    empty = [layer + 1 for layer, (w, m) in enumerate(zip(widths[1:-1], mult)) if w + m < 1]
    if empty:
        raise KanpdeError(f"hidden layers {empty} have no nodes: give each hidden layer a width >= 1 "
                          "or product nodes (mult)")
    return mult


def _input_features(input_bounds, widths: list[int], periodic: Sequence[int]):
    """(periodic features or None, the bounds the input map sees, widths with the first
    layer's input size)."""
    rows = InputMap(input_bounds, (-1.0, 1.0)).dim  # checks the bounds' shape
    if rows != widths[0]:
        raise KanpdeError(
            f"input_bounds has {rows} rows but widths[0] = {widths[0]}; give one (lower, upper) per input"
        )
    if not periodic:
        return None, input_bounds, widths
    features = PeriodicFeatures(input_bounds, periodic)
    return features, features.out_bounds, [len(features.out_bounds), *widths[1:]]
