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
Every other edge is masked. ``terms`` > 1 sums that many such products, each with its own
edges (``sin(x - t) = sin x cos t - cos x sin t`` takes two). One input gives the plain
KAN [1, m]: ``u_k = f_k(x)``.
"""

from __future__ import annotations

import torch

from kanpde.errors import KanpdeError
from kanpde.model import KAN, KANConfig
from kanpde.model.fixed import FixedEdge, FixedEdges
from kanpde.symbolic.library import function_library


def separable_kan(input_bounds, outputs: int, config: KANConfig = KANConfig(), *, terms: int = 1,
                  generator: torch.Generator | None = None, dtype: torch.dtype | None = None,
                  device=None) -> KAN:
    """The separable ansatz over ``input_bounds`` (d, 2) with ``outputs`` components, a sum
    of ``terms`` products (each its own chain of product nodes), ``u = sum_k c_k P_k + e``."""
    d = len(input_bounds)
    if not (isinstance(terms, int) and terms >= 1):
        raise KanpdeError(f"the separable ansatz needs terms >= 1 (products summed); got {terms!r}")
    options = dict(generator=generator, dtype=dtype, device=device)
    if d == 1:
        return KAN([1, outputs], input_bounds, config, **options)
    carried = list(range(d - 2, -1, -1))  # per term, sum nodes of hidden layer l: the inputs not yet used
    model = KAN([d, *(terms * w for w in carried), outputs], input_bounds, config, mult=[terms] * (d - 1),
                **options)
    identity = function_library(["x"])[0]
    with torch.no_grad():
        for index, layer in enumerate(model.layers[:-1]):
            w = carried[index]
            sums = terms * w  # then the products; product k's two factors are outputs sums + 2k, + 1
            layer.mask.zero_()
            carries = []
            for k in range(terms):
                factors = sums + 2 * k
                if index == 0:  # inputs x_0 .. x_{d-1}: two spline factors, the rest carried
                    layer.mask[0, factors] = layer.mask[1, factors + 1] = 1.0
                    carries += [FixedEdge(2 + j, k * w + j, identity, frozen=True) for j in range(w)]
                else:  # inputs: each term's carried x_{index+1} .. x_{d-1}, then the products
                    first = k * (w + 1)  # this term's carried x_{index+1}
                    layer.mask[first, factors + 1] = 1.0  # the spline factor X_{index+1}
                    carries += [FixedEdge(first + 1 + j, k * w + j, identity, frozen=True) for j in range(w)]
                    carries.append(FixedEdge(terms * (w + 1) + k, factors, identity, frozen=True))  # product k
            if carries:
                layer.fixed = FixedEdges(layer.in_dim, layer.out_dim, carries, dtype=layer.coef.dtype,
                                         device=layer.coef.device)
        last = model.layers[-1]
        last.mask.zero_()
        last.fixed = FixedEdges(terms, outputs, [FixedEdge(k, o, identity) for k in range(terms)
                                                 for o in range(outputs)],
                                dtype=last.coef.dtype, device=last.coef.device)
    return model
