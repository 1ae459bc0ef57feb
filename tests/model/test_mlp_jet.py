"""The MLP's analytic jet against autograd's, for every activation."""

import pytest
import torch

from kanpde.jet import JetRequest, autograd_jet
from kanpde.model import MLP


@pytest.mark.parametrize("periodic", [(), (0,)])
@pytest.mark.parametrize("activation", ["tanh", "sin", "silu", "gelu"])
def test_the_mlp_jet_equals_autograd(activation, periodic):
    model = MLP([2, 5, 5, 2], [[0.0, 1.0], [-1.0, 2.0]], activation, periodic=periodic,
                generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    x = torch.rand(7, 2, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    request = JetRequest.of(first=(0, 1), second=((0, 1),), laplacian=(0, 1), third=[(0, 0, 0), (0, 1, 1)])
    jet = model.jet(x, request).data.detach()
    reference = autograd_jet(model, x, request).data.detach()
    assert torch.allclose(jet, reference, rtol=0, atol=1e-12)
    assert torch.allclose(jet[0], model(x).detach(), rtol=0, atol=1e-15)  # the values are the forward pass
