"""The separable ansatz: a KAN whose every edge is readable and whose only form is a
product of one-variable functions, ``u_k = c_k X_0(x_0) X_1(x_1) ... X_{d-1}(x_{d-1}) + e_k``.

Separable solutions (a decaying sine ``e^{-t} sin(pi x)``, a Laplace eigenfunction
``sin(pi x) sin(pi y)``) have exactly this form, and a network confined to it cannot
fall into the local minima of a general KAN, where one input feeds both factors of a
product or the output edge bends a half-wave into a full one.

Layout for d inputs (product nodes multiply two outputs of their layer, see
``kanpde.model.KAN``): layer 0 multiplies the spline edges ``X_0(x_0) X_1(x_1)`` and
carries ``x_2 .. x_{d-1}`` on; layer l multiplies the running product by the spline edge
``X_{l+1}`` of the next carried input. Carries are frozen identity edges, so the product
stays exact; the output layer is one trainable affine edge per component (``c P + e``).
Every other edge is masked. One input gives the plain KAN [1, m]: ``u_k = f_k(x)``.
"""

from __future__ import annotations

import torch

from kanpde.model import KAN, KANConfig
from kanpde.model.fixed import FixedEdge, FixedEdges
from kanpde.symbolic.library import function_library


def separable_kan(input_bounds, outputs: int, config: KANConfig = KANConfig(), *,
                  generator: torch.Generator | None = None, dtype: torch.dtype | None = None,
                  device=None) -> KAN:
    """The separable ansatz over ``input_bounds`` (d, 2) with ``outputs`` components."""
    d = len(input_bounds)
    options = dict(generator=generator, dtype=dtype, device=device)
    if d == 1:
        return KAN([1, outputs], input_bounds, config, **options)
    carried = list(range(d - 2, -1, -1))  # sum nodes of hidden layer l: the d-2-l inputs not yet used
    model = KAN([d, *carried, outputs], input_bounds, config, mult=[1] * (d - 1), **options)
    identity = function_library(["x"])[0]
    with torch.no_grad():
        for index, layer in enumerate(model.layers[:-1]):
            w = carried[index]
            layer.mask.zero_()
            if index == 0:  # inputs x_0 .. x_{d-1}: two spline factors, the rest carried
                layer.mask[0, w] = layer.mask[1, w + 1] = 1.0
                carries = [FixedEdge(2 + node, node, identity, frozen=True) for node in range(w)]
            else:  # inputs: the carried x_{index+1} .. x_{d-1}, then the running product
                layer.mask[0, w + 1] = 1.0  # the spline factor X_{index+1}
                carries = [FixedEdge(1 + node, node, identity, frozen=True) for node in range(w)]
                carries.append(FixedEdge(w + 1, w, identity, frozen=True))  # the product
            if carries:
                layer.fixed = FixedEdges(layer.in_dim, layer.out_dim, carries, dtype=layer.coef.dtype,
                                         device=layer.coef.device)
        last = model.layers[-1]
        last.mask.zero_()
        last.fixed = FixedEdges(1, outputs, [FixedEdge(0, k, identity) for k in range(outputs)],
                                dtype=last.coef.dtype, device=last.coef.device)
    return model
