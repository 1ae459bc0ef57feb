"""Tests for kanpde.reference.solution: the GridSolution container."""

import numpy as np
import pytest

from kanpde.errors import KanpdeError
from kanpde.reference.solution import GridSolution


def test_values_must_match_the_axes():
    x = np.linspace(0.0, 1.0, 9)
    with pytest.raises(KanpdeError, match=r"values of shape \(9, 8\) do not match axes of lengths \(9, 9\); "
                                          r"expected shape \(9, 9\)"):
        GridSolution((x, x), np.zeros((9, 8)), "test")
