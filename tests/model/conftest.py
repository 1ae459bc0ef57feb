"""Model tests use tiny tensors: run them on one intra-op thread (restored afterwards).

On a small, busy CPU, torch's thread pool spinning on tiny batched LAPACK calls made these
tests several times slower than single-threaded.
"""

import pytest
import torch


@pytest.fixture(autouse=True)
def _single_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
