"""Fixtures shared by the test folders."""

import pytest
import torch


@pytest.fixture
def single_thread():
    """Run a test on one intra-op thread (restored afterwards). On a small, busy CPU,
    torch's thread pool spinning on tiny batched tensors (LAPACK calls, per-edge fits)
    made such tests several times slower than single-threaded."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
