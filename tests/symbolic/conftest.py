"""Symbolic tests fit many tiny batched tensors: one intra-op thread (see tests/conftest.py)."""

import pytest


@pytest.fixture(autouse=True)
def _one_thread(single_thread):
    yield
